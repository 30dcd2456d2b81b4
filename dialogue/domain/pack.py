"""A domain pack: the folder a business writes so the agent serves its own customers.

    domain.toml    name, languages, persona, handoff number/URI; [intents]; room for [tools],
                   [policy], [slots] and [templates]
    intents.csv    text,intent[,language]: a few examples per intent, or thousands;
                   intent `out_of_scope` marks turns the business does not handle
    [intents.labels]  optional: each intent in words per language, as people read it (the
                   demo's panel and desk), e.g. card_lost = { en = "Lost card",
                   zh = "银行卡丢失" }; an intent without one reads as its code made readable
                   ("Card lost")
    knowledge/     Markdown, JSON and CSV files for the knowledge base (`cca kb add --domain`)
    model/         what `cca nlu train --domain` writes: intent_head.npz (small), and the
                   fine-tuned encoder in model/encoder/ (large: made on the user's machine)
    [cues]         file = "cues.toml": the pack's words for the cue reader (dialogue.nlu.cues)
    [templates]    file = "templates.toml": the pack's replies, [key] en = "..." zh = "...",
                   said over the core's of the same key (dialogue.policy.reply), and
                   [spoken.key] for a reply said aloud otherwise than written
    [promises]     what a model's draft may promise only when one of the pack's tools did it
                   this turn (dialogue.policy.guard), each kind = { pattern = '...' (a regex),
                   tools = ["..."] }; a kind of the core's (cancelled, discount, delivery_date)
                   may give tools alone
    [fields]       the words that name a field before its value, beside the core's
                   (vision.fields.FieldCues): order_number, tracking_number, amount = ["..."]
    [kinds]        the words that tell a kind of picture, beside the core's (vision.kind),
                   e.g. order_page = ["账单"]
    [screens]      file = "screens.toml": the words of the pack's synthetic screenshots
                   (vision.synth_vocab), for tests and benchmarks of the screenshot reader
    [check]        turns = ["..."] (and screenshot = "file") that `cca demo --check` sends;
                   default: the first turn of the pack's eval/conversations.json
    [code]         for a pack whose parts are Python: what the core calls, each "module:name"
                   (`DomainPack.code(name)`), e.g. services = "mypack.services:build_services"

`DomainPack.load(folder)` reads domain.toml; `read_intents(path)` reads intents.csv. Both raise
`DomainError` naming the file and line and saying how to fix it. `dialogue.domain.check` goes
further and lists every problem of a pack at once.
"""

from __future__ import annotations

import csv
import functools
import importlib
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialogue.nlu.cues import GENERIC, CueBook
from dialogue.paths import default_domain
from vision.fields import FieldCues
from vision.pack_words import words_of

PACK_FILE = "domain.toml"
INTENT_COLUMNS = ("text", "intent", "language")
LANGUAGES = ("en", "zh")
OUT_OF_SCOPE = "out_of_scope"
# tables of domain.toml that only a pack declaring its tools uses (dialogue.policy.declare)
LATER_TABLES = ("tools", "policy", "slots")
KNOWN_TABLES = ("domain", "handoff", "intents", "knowledge", "model", "code", "check", "cues",
                "templates", "promises", "screens", "fields", "kinds", *LATER_TABLES)  # fmt: skip
Words = dict[str, str]  # language -> text with {slot} marks


class DomainError(ValueError):
    """A pack that cannot be used; the message names the file (and line) and the fix."""


@dataclass(frozen=True)
class Handoff:
    number: str = ""  # phone number a caller is transferred to (E.164, e.g. +15551234567)
    uri: str = ""  # or a SIP/web address of the team that takes over


@dataclass(frozen=True)
class IntentExample:
    text: str
    intent: str
    language: str  # "en" or "zh"; detected from the text when the column is empty
    line: int  # line of intents.csv, for messages


@dataclass(frozen=True)
class DomainPack:
    """What domain.toml says, with paths resolved against the pack's folder."""

    root: Path  # the pack's folder
    name: str  # a short identifier, e.g. "bank"
    languages: tuple[str, ...]  # languages the pack serves
    persona: str  # how the agent presents itself to customers
    handoff: Handoff
    intents_file: Path  # intents.csv
    intents_build: str  # a command that writes intents_file when it is not shipped ("" if shipped)
    knowledge_dir: Path  # knowledge/
    model_dir: Path  # model/: the trained intent model
    # [intents.labels]: intent -> {language: words}, e.g. {"card_lost": {"zh": "银行卡丢失"}}
    intent_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    tables: dict = field(default_factory=dict)  # every table of domain.toml, later ones too

    @property
    def head_path(self) -> Path:
        return self.model_dir / "intent_head.npz"

    @property
    def encoder_dir(self) -> Path:
        return self.model_dir / "encoder"

    @classmethod
    def load(cls, folder: str | Path) -> DomainPack:
        root = Path(folder)
        path = root / PACK_FILE
        if not path.is_file():
            hint = "" if root.is_dir() else f" (no folder {root})"
            raise DomainError(
                f"{path}: not found{hint}; a pack is a folder with a {PACK_FILE}: "
                f"make one with `cca domain new NAME`"
            )
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise DomainError(f"{path}: {e}; fix the TOML syntax") from e
        return cls.from_dict(root, data)

    @classmethod
    def from_dict(cls, root: Path, data: dict) -> DomainPack:
        where = root / PACK_FILE
        domain = _table(data, "domain", where)
        name = domain.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DomainError(f'{where}: [domain] needs name = "..." (a short identifier)')
        languages = domain.get("languages", ["en"])
        bad = [x for x in languages if x not in LANGUAGES] if isinstance(languages, list) else 1
        if bad or not languages:
            raise DomainError(
                f"{where}: [domain] languages = {languages!r}; give a list from {list(LANGUAGES)}"
            )
        handoff = _table(data, "handoff", where)
        intents = _table(data, "intents", where)
        return cls(
            root=root,
            name=name.strip(),
            languages=tuple(languages),
            persona=str(domain.get("persona", "")),
            handoff=Handoff(str(handoff.get("number", "")), str(handoff.get("uri", ""))),
            intents_file=root / str(intents.get("file", "intents.csv")),
            intents_build=str(intents.get("build", "")),
            knowledge_dir=root / str(_table(data, "knowledge", where).get("dir", "knowledge")),
            model_dir=root / str(_table(data, "model", where).get("dir", "model")),
            intent_labels=_intent_labels(intents.get("labels", {}), where),
            tables=data,
        )

    def intents(self) -> list[IntentExample]:
        """The examples of intents.csv; raises DomainError (with the build command) if absent."""
        if not self.intents_file.is_file():
            how = f"; build it with `{self.intents_build}`" if self.intents_build else ""
            raise DomainError(f"{self.intents_file}: not found{how}")
        return list(read_intents(self.intents_file))

    def cue_book(self) -> CueBook:
        """The core's cues with the pack's words ([cues] file, e.g. cues.toml), or the core's alone."""
        name = self.tables.get("cues", {}).get("file")
        if not name:
            return GENERIC
        try:
            return CueBook.load(self.root / name)
        except ValueError as e:
            raise DomainError(str(e)) from None

    def reading_words(self) -> tuple[FieldCues, dict[str, tuple[str, ...]]]:
        """(the words that name a field, the words that tell a kind of picture) of the pack's
        [fields] and [kinds] tables, beside the core's (`vision.pack_words`)."""
        try:
            return words_of(self.tables, self.root / PACK_FILE)
        except ValueError as e:
            raise DomainError(str(e)) from None

    def reply_templates(self) -> tuple[dict[str, Words], dict[str, Words]]:
        """(replies, spoken forms) of the [templates] file: key -> language -> text, from its
        [key] and [spoken.key] tables (its [values] are the declared policy's); ({}, {}) when it
        names none. DomainError names the file and the fix."""
        name = self.tables.get("templates", {}).get("file")
        if not name:
            return {}, {}
        path = self.root / name
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise DomainError(f"{path}: {e}; [templates] file names it; fix the TOML") from None
        data.pop("values", None)
        spoken = data.pop("spoken", {})
        return _replies(data, path, ""), _replies(spoken, path, "spoken.")

    def promises(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """[promises]: kind -> (its regex, or "" to keep the core's; the tools that grant it);
        DomainError names the kind and the fix."""
        where, out = self.root / PACK_FILE, {}
        for kind, spec in _table(self.tables, "promises", where).items():
            example = f"[promises.{kind}] pattern = '...' tools = [\"tool_name\"]"
            pattern, tools = (spec.get("pattern", ""), spec.get("tools", [])) if isinstance(spec, dict) else (None, None)  # fmt: skip
            if not isinstance(pattern, str) or not isinstance(tools, list):
                raise DomainError(f"{where}: [promises] {kind} = {spec!r}; write {example}")
            try:
                re.compile(pattern)
            except re.error as e:
                raise DomainError(f"{where}: [promises.{kind}] pattern: bad regex ({e})") from None
            out[str(kind)] = (pattern, tuple(str(t) for t in tools))
        return out

    def screen_words(self) -> dict[str, dict[str, Any]]:
        """The words vision.synth draws the pack's pages with ([screens] file), per language;
        DomainError when it names none or the file lacks some (`vision.synth_vocab.read_words`)."""
        from vision.synth_vocab import read_words

        name = self.tables.get("screens", {}).get("file")
        if not name:
            raise DomainError(f'{self.root / PACK_FILE}: no [screens] file = "screens.toml"; this pack draws no screenshots')  # fmt: skip
        try:
            return read_words(self.root / name, self.languages)
        except ValueError as e:
            raise DomainError(str(e)) from None

    def labels(self) -> tuple[str, ...]:
        """The pack's intents (those of intents.csv, and out_of_scope), sorted."""
        return _labels(self.intents_file, self.intents_file.stat().st_mtime_ns)

    def intent_label(self, intent: str, language: str) -> str:
        """The intent in words for `language` (`intent_words`)."""
        return intent_words(intent, language, self.intent_labels)

    def check_turns(self) -> tuple[str, ...]:
        """What `cca demo --check` says to the pack's agent: [check] turns, else the first
        customer turn of its suite (eval/conversations.json), else a greeting."""
        turns = self.tables.get("check", {}).get("turns")
        if turns:
            return tuple(str(t) for t in turns)
        suite = self.root / "eval" / "conversations.json"
        try:
            first = json.loads(suite.read_text(encoding="utf-8"))[0]["turns"][0]["text"]
        except (OSError, ValueError, LookupError, TypeError):
            return ("Hello",)
        return (first,)

    def check_screenshot(self) -> Path | None:
        """[check] screenshot, relative to the pack, or None."""
        name = self.tables.get("check", {}).get("screenshot")
        return self.root / name if name else None

    def has_code(self, name: str) -> bool:
        return bool(self.tables.get("code", {}).get(name))

    def code(self, name: str) -> Any:
        """What [code] `name` = "module:attribute" names, imported; DomainError if not declared
        or not importable. The core reaches a pack's Python only through this."""
        where = self.root / PACK_FILE
        spec = self.tables.get("code", {}).get(name)
        if not spec:
            raise DomainError(
                f'{where}: [code] has no {name} = "module:name"; this pack does not provide it'
            )
        module_name, _, attr = str(spec).partition(":")
        try:
            module = importlib.import_module(module_name)
            return getattr(module, attr) if attr else module
        except (ImportError, AttributeError) as e:
            raise DomainError(
                f"{where}: [code] {name} = {spec!r} cannot be loaded ({e}); give an importable "
                '"module:name"'
            ) from None


@functools.lru_cache(maxsize=8)
def _labels(path: Path, mtime_ns: int) -> tuple[str, ...]:
    return tuple(sorted({e.intent for e in read_intents(path)} | {OUT_OF_SCOPE}))


def readable(intent: str) -> str:
    """An intent's code made readable: "card_lost" -> "Card lost"."""
    words = intent.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def intent_words(intent: str, language: str, labels: dict[str, dict[str, str]]) -> str:
    """The words for `intent` in `language`: its label there ([intents.labels]), else its English
    label, else its code made readable ("Card lost")."""
    mine = labels.get(intent) or {}
    return mine.get(language) or mine.get("en") or readable(intent)


def _intent_labels(value: Any, where: Path) -> dict[str, dict[str, str]]:
    """[intents.labels] checked: intent = { en = "...", zh = "..." }; DomainError with the fix."""
    example = '[intents.labels] card_lost = { en = "Lost card", zh = "银行卡丢失" }'
    if not isinstance(value, dict):
        raise DomainError(f"{where}: [intents] labels must be a table, e.g. {example}")
    out = {}
    for intent, words in value.items():
        if not isinstance(words, dict) or not words:
            raise DomainError(f"{where}: [intents.labels] {intent} = {words!r}; give the words per language, e.g. {example}")  # fmt: skip
        for language, text in words.items():
            if language not in LANGUAGES or not isinstance(text, str) or not text.strip():
                raise DomainError(f"{where}: [intents.labels] {intent}.{language} = {text!r}; give non-empty words for a language of {list(LANGUAGES)}")  # fmt: skip
        out[str(intent)] = {language: text.strip() for language, text in words.items()}
    return out


def _replies(tables: dict, path: Path, prefix: str) -> dict[str, Words]:
    out = {}
    for key, words in tables.items():
        if not isinstance(words, dict) or not words.get("en") or not all(isinstance(t, str) for t in words.values()):  # fmt: skip
            raise DomainError(f'{path}: [{prefix}{key}] must give the reply\'s words per language, at least en = "..." (zh = "...")')  # fmt: skip
        out[key] = dict(words)
    return out


def default_pack() -> DomainPack:
    """The pack the commands serve when none is named (`dialogue.paths.default_domain`)."""
    return DomainPack.load(default_domain())


def _table(data: dict, name: str, where: Path) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise DomainError(f"{where}: {name} must be a table ([{name}]), not {value!r}")
    return value


def detect_language(text: str) -> str:
    cjk = sum("\u3400" <= c <= "\u9fff" for c in text)
    latin = sum(c.isascii() and c.isalpha() for c in text)
    return "zh" if cjk and cjk * 3 >= latin else "en"


def read_intents(path: Path) -> Iterator[IntentExample]:
    """Rows of an intents.csv (header text,intent[,language]); DomainError at the first bad row."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        if (
            header[:2] != ["text", "intent"]
            or len(header) > 3
            or header[2:] not in ([], ["language"])
        ):
            raise DomainError(
                f"{path}:1: header {header!r}; the first line must be text,intent or "
                "text,intent,language"
            )
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < 2 or len(row) > len(header):
                raise DomainError(
                    f"{path}:{line}: {len(row)} fields, expected {len(header)} "
                    '(quote a text with a comma in it: "...")'
                )
            text, intent = row[0].strip(), row[1].strip()
            language = row[2].strip() if len(row) > 2 else ""
            if not text or not intent:
                raise DomainError(f"{path}:{line}: empty text or intent")
            if not intent.replace("_", "").replace("-", "").isalnum() or intent != intent.strip():
                raise DomainError(
                    f"{path}:{line}: intent {intent!r} should be a single word like card_lost"
                )
            if language and language not in LANGUAGES:
                raise DomainError(f"{path}:{line}: language {language!r} not in {LANGUAGES}")
            yield IntentExample(text, intent, language or detect_language(text), line)
