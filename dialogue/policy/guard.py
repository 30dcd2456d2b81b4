"""The guard between the dialogue model and the customer: a draft reply is sent only when it
says nothing the turn's context does not back.

`check_draft(draft, context) -> str` gives "" when the draft may be sent, else the reason it may
not; `dialogue.policy.reply.phrase` then sends the template instead and records
"template (REASON)" as the turn's `reply_source`. The checks, in order:

- degenerate (`degenerate`, which the evaluations count too): empty, longer than
  `MAX_REPLY_CHARS`, carrying an unfilled slot, a special token or a redaction mark such as
  <EMAIL> (training text is redacted; a model may echo the mark), or repeating itself (a
  sentence said twice, or the same 4 words, 4 Chinese characters, three times);
- in the wrong language;
- states an order id, tracking number, amount, date, email or phone that is in neither the
  customer's words, the tool results, the passages nor the template;
- carries an instruction, the kind a quoted data block (a screenshot, a passage) may hold;
- promises what no tool gave this turn: a discount, a cancellation or a delivery date
  (`PROMISES`), or a kind the pack declares ([promises] in its domain.toml: the sample shop's
  money back and returns), each allowed by the pack's tools that grant it (`promises_of` the
  serving pack, carried by the context; the default pack's when it carries none);
- for a confirmation: drops the question, or the ids and amounts of the action's summary. The
  customer must hear exactly what a yes will do;
- echoes the prompt: its markup, or 8 words (16 Chinese characters) of its instructions or the
  customer's words that are not in a tool result, a passage or the template;
- says the customer is being handed to a person when the policy did not hand over;
- drops a number the template says (a date, an amount, "5-7 business days"), that a write the
  customer said no to will not be done, the apology the
  template opens with for an upset customer, or any slot value the template says (the order,
  the status, the passage that answers a rule question): the model chooses the words, not the
  facts;
- for a template with no facts in it (`OPEN_TEMPLATES`: a greeting, an offer of help, a
  clarifying question, a polite refusal): shares less than `MIN_OVERLAP` of its content words
  (Chinese: character pairs) or of its own, i.e. says something else.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dialogue.domain.pack import PACK_FILE, DomainError, DomainPack
from dialogue.lm.redact import PLACEHOLDERS
from dialogue.nlu.entities import extract_entities
from dialogue.paths import default_domain
from dialogue.types import Action, Decision

MAX_REPLY_CHARS = 700
CHECKED_FACTS = ("order_number", "tracking_number", "amount", "date", "email", "phone")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SENTENCES = re.compile(r"[^.!?。！？\n]+[.!?。！？]*")
_LEFTOVER = re.compile(  # a slot no one filled, a chat template's token, a redaction mark
    r"\{[a-z_]+\}|<\|[^|<>]{1,40}\|>|<(?:start_of_turn|end_of_turn|bos|eos|pad|unk|image)>"
    + "|"
    + "|".join(map(re.escape, PLACEHOLDERS.values()))
)
PROMISES = {  # the core's; a pack adds its own kinds and the tools that grant each (`promises`)
    "discount": re.compile(
        r"\bdiscount|\bcoupon|\bvoucher|\bcompensat|折扣|优惠券|补偿|代金券", re.I
    ),
    "cancelled": re.compile(r"\b(?:have|has|was|been) cancell?ed\b|已(?:经)?取消|已为您取消", re.I),
    "delivery_date": re.compile(
        r"\b(?:arrive|deliver(?:ed)?|ship(?:ped)?)\b[^.?!]{0,30}\b(?:by|on|tomorrow|today|within)\b|"
        r"(?:明天|今天|后天|\d+天内)(?:送达|到货|发货)",
        re.I,
    ),
}
Promise = tuple[re.Pattern[str], frozenset[str]]  # what says it, the tools that may grant it


def promises_of(pack: DomainPack) -> dict[str, Promise]:
    """Every promise the guard holds a draft of `pack`'s agent to: the pack's [promises]
    (`DomainPack.promises`) and the core's `PROMISES`, kind -> (pattern, the tools of which one
    must have succeeded this turn for the draft to say it). DomainError names the fix."""
    out: dict[str, Promise] = {}
    for kind, (pattern, tools) in pack.promises().items():  # the pack's first: its reasons win
        if not pattern and kind not in PROMISES:
            raise DomainError(f"{pack.root / PACK_FILE}: [promises.{kind}] needs pattern = '...': the core has no {kind!r} (it has {sorted(PROMISES)})")  # fmt: skip
        out[kind] = (re.compile(pattern, re.I) if pattern else PROMISES[kind], frozenset(tools))
    for kind, pattern in PROMISES.items():
        out.setdefault(kind, (pattern, frozenset()))
    return out


@functools.lru_cache(maxsize=4)
def _promises_of(folder: Path) -> dict[str, Promise]:
    return promises_of(DomainPack.load(folder))


def promises() -> dict[str, Promise]:
    """The default pack's promises (`promises_of`, `default_domain`): what a draft whose context
    names none is held to."""
    return _promises_of(default_domain())


@dataclass(frozen=True)
class DraftContext:
    """Everything a draft may draw on this turn."""

    decision: Decision
    language: str  # "en" or "zh": the customer's
    template: str  # the template's words for the decision: what the reply must at least say
    actions: Sequence[Action] = ()  # the tools that ran this turn
    facts: str = ""  # tool results and knowledge passages, as the model was given them
    customer: str = ""  # what the customer said or showed, this turn and before
    prompt: str = ""  # the whole prompt the model was given (its instructions, the history)
    # what the draft may promise only when a tool did it (`promises_of` the serving pack);
    # None: the default pack's (`promises`)
    promises: Mapping[str, Promise] | None = None


def _repeats(text: str) -> str:
    sentences = [s.strip().lower() for s in _SENTENCES.findall(text) if len(s.strip()) >= 8]
    seen = set()
    for s in sentences:
        if s in seen:
            return f"repeats itself ({s[:40]!r} twice)"
        seen.add(s)
    units = _CJK.findall(text) if len(_CJK.findall(text)) > len(text) // 3 else text.lower().split()
    grams: dict[tuple[str, ...], int] = {}
    for i in range(len(units) - 3):
        g = tuple(units[i : i + 4])
        grams[g] = grams.get(g, 0) + 1
        if grams[g] >= 3:
            return (
                f"repeats itself ({''.join(g) if _CJK.match(g[0]) else ' '.join(g)!r} three times)"
            )
    return ""


def wrong_language(text: str, language: str) -> str:
    """ "" when `text` is in `language` for a customer: Chinese holds Chinese, English is at most
    a quarter Chinese (ids, product names and quoted English may stand in a Chinese reply)."""
    if language == "zh" and not _CJK.search(text):
        return "not in Chinese"
    if language == "en" and len(_CJK.findall(text)) > len(text) // 4:
        return "not in English"
    return ""


def _digits(value: str) -> str:
    return re.sub(r"[^0-9a-z@.]", "", value.lower())


def _unsupported(text: str, ctx: DraftContext) -> str:
    backing = " ".join((ctx.customer, ctx.facts, ctx.template))
    known = {_digits(e.value) for e in extract_entities(backing[:100_000])}
    plain = _digits(backing)
    for e in extract_entities(text):
        if e.type in CHECKED_FACTS:
            v, surface = _digits(e.value), text[e.start : e.end]
            if v not in known and _digits(surface) not in plain and v not in plain:
                return f"states {e.type.replace('_', ' ')} {surface!r}, which is not in the context"
    return ""


def _promises(text: str, ctx: DraftContext) -> str:
    succeeded = {a.tool for a in ctx.actions if a.ok}
    held = ctx.promises if ctx.promises is not None else promises()
    for kind, (pattern, granted_by) in held.items():
        if pattern.search(text) and not (
            succeeded & granted_by or pattern.search(ctx.facts) or pattern.search(ctx.template)
        ):
            return f"promises a {kind.replace('_', ' ')} that no tool gave"
    return ""


def _instruction(text: str, ctx: DraftContext) -> str:
    from fusion.fuse import looks_like_instruction

    return (
        "carries an instruction from the data it was shown" if looks_like_instruction(text) else ""
    )


def _confirmation(text: str, ctx: DraftContext) -> str:
    if ctx.decision.kind != "confirm":
        return ""
    if not re.search(r"[?？]|吗|是否", text):
        return "drops the confirmation question"
    said = _digits(text)
    for e in extract_entities(ctx.template):
        summary = e.type in ("order_number", "amount", "product")
        surface = ctx.template[e.start : e.end]
        if summary and _digits(e.value) not in said and _digits(surface) not in said:
            return f"drops {surface!r} from the confirmation's summary"
    return ""


def degenerate(reply: str) -> str:
    """ "" when a reply is fit to send to a person, else what is wrong with it: empty, too long,
    repeating itself, or carrying a template's slot or a model's special token."""
    text = reply.strip()
    if not text:
        return "empty"
    if len(text) > MAX_REPLY_CHARS:
        return f"too long ({len(text)} characters)"
    leftover = _LEFTOVER.search(text)
    if leftover:
        return f"carries {leftover.group(0)!r}"
    return _repeats(text)


_MARKUP = re.compile(r"</?data\b|(?m:^(?:system|user|assistant|model)\s*$)", re.I)
_APOLOGY = re.compile(r"\bsorry\b|\bapologi[sz]e|抱歉|对不起|不好意思", re.I)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _windows(text: str) -> list[str]:
    """Spans long enough that finding one in the prompt means it was copied: 8 words, or 16
    Chinese characters."""
    cjk = "".join(_CJK.findall(text))
    words = text.split()
    return [" ".join(words[i : i + 8]) for i in range(len(words) - 7)] + [
        cjk[i : i + 16] for i in range(0, max(len(cjk) - 15, 0), 4)
    ]


def _echo(text: str, ctx: DraftContext) -> str:
    """The draft reads out the prompt: its markup, or a stretch of its instructions or of the
    customer's words (quoting a tool result, a passage or the template is fine)."""
    if _MARKUP.search(text):
        return "echoes the prompt's markup"
    if not ctx.prompt:
        return ""
    allowed = " ".join((ctx.facts, ctx.template))
    prompt_cjk, allowed_cjk = ("".join(_CJK.findall(t)) for t in (ctx.prompt, allowed))
    for w in _windows(text):
        source, quotable = (prompt_cjk, allowed_cjk) if _CJK.match(w) else (ctx.prompt, allowed)
        if w in source and w not in quotable:
            return f"echoes the prompt ({w[:40]!r})"
    return ""


def _drops(text: str, ctx: DraftContext) -> str:
    """The draft leaves out what the template says: a number (a date, an amount, a count of
    days), or the apology the template opens with for an upset customer."""
    said = re.sub(r"[,\s]", "", text)
    for n in _NUMBER.findall(ctx.template):
        if re.sub(r"[,\s]", "", n) not in said:
            return f"drops {n!r}, which the template says"
    if _APOLOGY.search(ctx.template[:80]) and not _APOLOGY.search(text):
        return "drops the apology the template opens with"
    if ctx.decision.slots.get("opening") == "ack_dropped" and not _NOT_DOING.search(text):
        return "drops that the action the customer said no to will not be done"
    for name, value in ctx.decision.slots.items():
        value = str(value) if name != "opening" and value not in (None, "") else ""
        if len(value) >= 2 and value in ctx.template and value not in text:
            return f"drops the {name} the template says ({value[:30]!r})"
    return ""


# saying that a write the customer turned down is off ("All right, I won't do that", "那就不办理了")
_NOT_DOING = re.compile(
    r"\b(?:won't|will not|not|no longer|don't|leave it)\b|[不没]|取消了", re.IGNORECASE
)
_WORD = re.compile(r"[a-z]{4,}")
_STOP = frozenset((
    "that", "this", "with", "your", "have", "what", "from", "they", "will", "would", "could",
    "there", "their", "about", "which", "when", "where", "been", "also", "just", "than", "them",
    "then", "into", "some", "more", "here", "very", "does", "were", "like",
))  # fmt: skip
MIN_OVERLAP = 0.3  # of the template's content words (Chinese: character pairs) the draft says


def _content(text: str) -> set[str]:
    cjk = "".join(_CJK.findall(text))
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP} | {
        cjk[i : i + 2] for i in range(len(cjk) - 1)
    }


OPEN_TEMPLATES = frozenset({"greeting", "goodbye", "offer_help", "clarify", "out_of_scope", "kb_none"})  # fmt: skip


def _off_topic(text: str, ctx: DraftContext) -> str:
    """A template with no facts to hold the draft to (a greeting, an offer of help, a clarifying
    question, a polite refusal) still says something: the draft must share words with it (at
    least `MIN_OVERLAP` of the template's content words, or of its own), or it says something
    else ("请回答是或否" for "what would you like to do?")."""
    if ctx.decision.template not in OPEN_TEMPLATES:
        return ""
    want, said = _content(ctx.template), _content(text)
    if len(want) < 4:
        return ""
    share = max(len(want & said) / len(want), len(want & said) / max(len(said), 1))
    return f"says something else than the template ({share:.0%} shared)" if share < MIN_OVERLAP else ""  # fmt: skip


_HANDOFF_CLAIM = re.compile(  # saying the customer is being handed over (an offer is a question)
    r"\b(?:I'm|I am|I'll|I will|let me)\s+(?:now\s+)?(?:connect|transfer|put)(?:ing)?\s+you\b"
    r"|\btransferring you\b|正在(?:为您)?转接|(?:马上|现在|已经?)为您转接",
    re.I,
)


def _handoff(text: str, ctx: DraftContext) -> str:
    """The draft says the customer is being handed to a person when the policy did not hand over."""
    if not ctx.decision.handoff and _HANDOFF_CLAIM.search(text):
        return "claims a handoff the policy did not make"
    return ""


def check_draft(draft: str, ctx: DraftContext) -> str:
    """ "" when the model's draft may be sent, else the reason it may not (see the module)."""
    text = draft.strip()
    return (
        degenerate(text)
        or wrong_language(text, ctx.language)
        or _echo(text, ctx)
        or _unsupported(text, ctx)
        or _instruction(text, ctx)
        or _promises(text, ctx)
        or _confirmation(text, ctx)
        or _handoff(text, ctx)
        or _drops(text, ctx)
        or _off_topic(text, ctx)
    )
