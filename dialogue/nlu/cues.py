"""What a turn says about the conversation itself, read from cue lists per language: a request for
a person, a question about the business's rules, a vague opening, the tasks it names and the tasks
it says no to ("no, I don't want to freeze it", "不想冻结").

The intent model reads what a turn is about; these cues read how it is meant, where the model is
weakest (a question about a rule is not a request; "not freeze" is not a freeze). They are data:
`CUES` (act -> language -> patterns) holds the core's, which know no business; a pack adds its own
words in a cues file (`CueBook.load`: the words that name each task, its business's topic, what
makes a question about one case of the customer's). `CueBook.read(text, entities) -> Cues`;
`read_cues` reads with the core's alone. Both languages' cues apply to every turn, so a mixed
turn ("转人工 please") is read too. A cue counts only when
no negation governs it in its own clause ("I don't want to talk to a human" asks for no one).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CUES: dict[str, dict[str, tuple[str, ...]]] = {
    "person": {  # an explicit request for a person: hand over at once
        "en": (
            r"\b(?:talk|speak|chat)(?:ing)? (?:to|with) (?:a |an |some |your |the )?(?:real |live |actual )?(?:human|person|people|agent|representative|rep|operator|someone|somebody|manager|supervisor)\b",
            r"\b(?:real|live|actual) (?:person|human|agent)\b",
            r"\bhuman (?:agent|being|please)\b",
            r"\bget me (?:a |an |your )?(?:human|person|agent|representative|manager|supervisor|someone|somebody)\b",
            r"\b(?:transfer|connect|put) me (?:to|through|with)\b",
            r"\bi (?:just |only )?want (?:a |an |to (?:talk|speak) to )?(?:human|person|agent|representative|manager)\b",
        ),
        "zh": (
            "转人工", "人工客服", "人工服务", "人工坐席", "找人工", "要人工", "真人", "转接客服",
            "找客服", r"找(?:你们的?)?(?:经理|主管|负责人)", "接线员",
        ),
    },
    "negation": {  # said just before a cue, in its clause, it says no to it (anchored at the end)
        "en": (
            r"\b(?:don['’]?t|do not|didn['’]?t|did not|not|never|no need to|won['’]?t)\s+"
            r"(?:(?:really|actually|even)\s+)?(?:(?:want|wanna|need|mean|meant|trying|try|going|"
            r"like|wish|asking|ask|looking)\s+(?:to\s+|for\s+)?)?(?:(?:to|an?|the|my|it|this|that)\s+)?$",
        ),
        "zh": (r"(?:不是|不要|不用|不想|不需要|别|并不|没想|没有要)(?:要|想|去|是|帮我|给我|再)?$",),
    },
    "unwanted": {  # anywhere before a cue in its clause, it says no to the whole clause
        "en": (r"\b(?:don['’]?t|do not|never)\s+(?:really\s+)?(?:want|wanna|need|wish)\s+to\b",),
        "zh": ("不想", "不要", "不用", "不需要", "没想"),
    },
    "question": {
        "en": (r"\?", r"(?:^|[.!?]\s+)(?:how|what|when|which|can|could|do|does|is|are|will|would|should|may)\b"),
        "zh": (r"[？?吗么呢]", "多久", "多长时间", "几天", "怎么", "怎样", "如何", "什么", "能不能", "可不可以", "能否", "是否", "有没有"),
    },
    "general": {  # the question is about a rule, not about one case
        "en": (
            r"\bhow long\b", r"\bhow many (?:business |working )?days\b", r"\bhow soon\b",
            r"\bhow quickly\b", r"\bwhen (?:will|do|does|would|can) (?:i|you|we|it|they) (?:get|see|receive)\b",
            r"\bpolic(?:y|ies)\b", r"\brules?\b", r"\bin general\b", r"\bgenerally\b",
            r"\busually\b", r"\bnormally\b", r"\btypically\b", r"\bonce\b",
            r"\bafter (?:it|an?|the|i|they)\b", r"\bif (?:i|an?|the|it|they)\b", r"\bstill\b",
            r"\bdo you (?:offer|accept|allow|charge|take|ship)\b", r"\bis it possible\b",
            r"\bwhat happens\b", r"\ballowed\b", r"\bdo (?:i|we) (?:need|have) to\b",
        ),
        "zh": ("一般", "通常", "多久", "多长时间", r"几个?工作日", "几天", "政策", "规定", "规则", "之后", "以后", "后还", "如果", "的话", "允许", "还能", "还可以", "需不需要", "要不要", "必须"),
    },
    "trouble": {  # a problem, not yet said which
        "en": (r"\b(?:problem|issue|trouble)s?\b", r"\bsomething(?:['’]s| is)? wrong\b", r"\bnot right\b", r"\bnot working\b", r"\bwent wrong\b", r"\b(?:not happy|unhappy|disappointed) with\b"),
        "zh": ("问题", "不对劲", "出了点", "出错", "不太对", "不满意"),
    },
    "settled": {  # no problem after all: not a vague opening
        "en": (r"\bno (?:other |more |further )?(?:problems?|issues?|questions?)\b", r"\bnot a problem\b"),
        "zh": (r"没(?:有)?(?:别的|其他|什么)?问题", "没事"),
    },
    "help": {  # a request for help, not yet said with what
        "en": (r"\bhelp\b", r"\bquestion\b", r"\bassist", r"\bsupport\b", r"\bconcern\b"),
        "zh": ("帮忙", "帮助", "帮帮", "咨询", "请教", "麻烦"),
    },
}  # fmt: skip


_CLAUSE = re.compile(r"[,.;!?，。；！？\n]")


def _compile(table: dict[str, tuple[str, ...]]) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for lang in sorted(table) for p in table[lang]), re.I)


_ACTS = {act: _compile(table) for act, table in CUES.items()}


@dataclass(frozen=True)
class Cues:
    """How a turn is meant, beyond its intent.

    person: asks for a person ("let me talk to a human", "转人工")
    rule_question: asks how the business works (a question, general, about the pack's topic when
        it has one, and about no case of theirs: "how long does a dispute take?", "一般要几天？")
    vague: "trouble" or "help" when the turn says it has a problem or wants help but names no
        task ("I've got a problem with something"), else ""
    named: the tasks the turn names and does not negate
    negated: the tasks it says no to ("I don't want to freeze it" -> freeze_card)
    question: it asks something (a question mark, "how", "can", "吗", "多久"...)
    """

    person: bool = False
    rule_question: bool = False
    vague: str = ""
    named: frozenset[str] = frozenset()
    negated: frozenset[str] = frozenset()
    question: bool = False


def _negated(text: str, start: int) -> bool:
    clause = _CLAUSE.split(text[:start])[-1]
    return bool(_ACTS["negation"].search(clause) or _ACTS["unwanted"].search(clause))


def said(pattern: re.Pattern, text: str) -> tuple[bool, bool]:
    """(said plainly somewhere, said under a negation somewhere): "I don't want to freeze my
    card" and "我不想冻结" say a freeze cue only under a negation."""
    plain = negated = False
    for m in pattern.finditer(text):
        if _negated(text, m.start()):
            negated = True
        else:
            plain = True
    return plain, negated


@dataclass(frozen=True)
class CueBook:
    """The core's cues (`CUES`) with a pack's words added: more patterns for an act ("general",
    and the pack's own "topic" and "personal"), the words that name each of its tasks, and the
    entity types that make a question personal. `CueBook.load(cues.toml)` reads a pack's file."""

    acts: dict[str, re.Pattern]
    tasks: dict[str, re.Pattern]
    personal_entities: tuple[str, ...] = ()

    @classmethod
    def build(cls, acts: dict | None = None, tasks: dict | None = None,
              personal_entities: Sequence[str] = ()) -> CueBook:  # fmt: skip
        merged = {act: dict(table) for act, table in CUES.items()}
        for act, table in (acts or {}).items():
            for lang, patterns in table.items():
                table_of = merged.setdefault(act, {})
                table_of[lang] = (*table_of.get(lang, ()), *patterns)
        return cls(
            {act: _compile(table) for act, table in merged.items()},
            {name: _compile(table) for name, table in (tasks or {}).items()},
            tuple(personal_entities),
        )

    @classmethod
    def load(cls, path: Path) -> CueBook:
        """A pack's cues file: personal_entities = [...], [acts.ACT] and [tasks.TASK] tables of
        en = [...], zh = [...] regular expressions. ValueError naming the file if it is bad."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
            return cls.build(data.get("acts"), data.get("tasks"), data.get("personal_entities", ()))
        except (OSError, tomllib.TOMLDecodeError, re.error, AttributeError, TypeError) as e:
            raise ValueError(f"{path}: {e}; a cues file holds [acts.*] and [tasks.*] tables of en/zh patterns") from e  # fmt: skip

    def read(self, text: str, entities: Sequence[dict[str, Any]] = ()) -> Cues:
        """The cues of one turn; `entities` are its NLU entities ({"type", ...}), which make a
        question personal when one is of `personal_entities`."""
        acts = self.acts
        named, negated = set(), set()
        for intent, pattern in self.tasks.items():
            plain, no = said(pattern, text)
            if plain:
                named.add(intent)
            elif no:
                negated.add(intent)
        person = said(acts["person"], text)[0]
        personal = bool("personal" in acts and acts["personal"].search(text)) or any(
            e.get("type") in self.personal_entities for e in entities
        )
        question = bool(acts["question"].search(text))
        about = [k for k in ("general", "topic") if k in acts]  # a pack's topic, when it has one
        rule = question and not personal and all(acts[k].search(text) for k in about)
        vague = ""
        if not (named or person or rule or acts["settled"].search(text)):
            vague = next((k for k in ("trouble", "help") if acts[k].search(text)), "")
        return Cues(person, rule, vague, frozenset(named), frozenset(negated), question)


GENERIC = CueBook.build()  # the core's cues alone: no task words, no business topic


def read_cues(text: str, entities: Sequence[dict[str, Any]] = (), book: CueBook = GENERIC) -> Cues:
    """The cues of one turn, read with `book` (default: the core's alone)."""
    return book.read(text, entities)
