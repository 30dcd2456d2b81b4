"""Conversations for training the dialogue model: one JSON object a line (JSONL).

    {"id": "bank-en-00042", "source": "bank", "language": "en",
     "turns": [
       {"role": "customer", "text": "I lost my card.", "intent": "lost_or_stolen_card"},
       {"role": "agent", "text": "Sure. What is the email on your account, and the card's last four digits?"},
       {"role": "customer", "text": "It's <EMAIL>, ending 4821.", "intent": "lost_or_stolen_card"},
       {"role": "agent", "text": "Thank you, Noah, you are verified. ...",
        "action": {"tool": "verify_customer", "args": {"email": "<EMAIL>", "last4": "4821"},
                   "result": {"customer_id": "c_1042"}}},
       ...],
     "meta": {"group": "bank:customer:c_1042", "task": "report_lost", "outcome": "done"}}

Fields:
- id: unique in a data set; source: where it came from ("stc3", "abcd", a pack's name);
  language: "en" or "zh", the language the customer writes in.
- turns: at least one, and at least one agent turn. Each has a role ("customer" or "agent") and
  text. Optional: transcript (what the ASR heard of a spoken turn, text being what was meant),
  screenshot_text (the OCR text of a screenshot sent with the turn), image (its path), intent
  (customer turns only; one of the default pack's intents; a turn that only gives details such as
  an email or an order number carries the intent of the task it serves) and action (agent turns
  only): the tool the agent calls at that point, before it says `text`, as {"tool", "args"} and
  optionally "result" (what the tool returned, so that the reply can be grounded in it); facts
  (agent turns only): what the agent was given for that reply, as [{"source", "text"}] in the
  order the Agent quotes them ("policy:decision" first, then "tool:NAME" and "kb:SOURCE"); when
  present they replace the action's result in the training prompt (`dialogue.lm.guided`); slots
  (agent turns only): the decision's slot values, {"name": "value"}; the reply trained on has
  each value said in text as its {name}, as the model writes it (`dialogue.policy.reply.fill`). An agent
  turn's text may be empty only when it carries an action (the agent acted and said nothing), a
  customer turn's only when it carries a transcript, screenshot_text or image.
- meta: anything else. meta["group"] names conversations that are near-duplicates (the English
  and Chinese versions of one STC-3 dialogue, a pack's conversations of one customer); they
  always land in the same split (`group_key`, `split_conversations`).

`read_jsonl` checks every line and raises `ConvDataError` naming the file and line; `write_jsonl`
writes atomically (a temporary file, then a rename), so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

ROLES = ("customer", "agent")
LANGUAGES = ("en", "zh")
SPLITS = ("train", "dev", "test")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)
_TURN_KEYS = (
    "role",
    "text",
    "transcript",
    "screenshot_text",
    "image",
    "intent",
    "action",
    "facts",
    "slots",
)
_FACT_KEYS = ("source", "text")
_CONV_KEYS = ("id", "source", "language", "turns", "meta")
_ACTION_KEYS = ("tool", "args", "result")


class ConvDataError(ValueError):
    """A malformed conversation; the message names where (file:line, turn) and what to fix."""


def _fail(where: str, message: str) -> ConvDataError:
    return ConvDataError(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class TurnAction:
    """A tool call of the agent: the tool's name, its arguments and (optionally) its result."""

    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tool": self.tool, "args": self.args}
        if self.result is not None:
            out["result"] = self.result
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "") -> TurnAction:
        if not isinstance(d, dict):
            raise _fail(where, f'action must be an object {{"tool", "args"}}, got {d!r:.60}')
        _no_unknown(d, _ACTION_KEYS, where, "action")
        tool, args, result = d.get("tool"), d.get("args", {}), d.get("result")
        if not isinstance(tool, str) or not tool.strip():
            raise _fail(where, f"action needs a tool name (a non-empty string), got {tool!r:.60}")
        if not isinstance(args, dict):
            raise _fail(where, f"action args must be an object, got {args!r:.60}")
        if result is not None and not isinstance(result, dict):
            raise _fail(where, f"action result must be an object, got {result!r:.60}")
        return cls(tool, args, result)


@dataclass(frozen=True)
class ConvTurn:
    """One turn of a conversation (see the module docstring for the fields)."""

    role: str
    text: str
    transcript: str | None = None
    screenshot_text: str | None = None
    image: str | None = None
    intent: str | None = None
    action: TurnAction | None = None
    facts: tuple[tuple[str, str], ...] | None = None  # (source, text): what the agent was given
    slots: dict[str, str] | None = None  # the decision's slot values said in text

    def __post_init__(self):
        _check_turn(self)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "text": self.text}
        for key in ("transcript", "screenshot_text", "image", "intent"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.action is not None:
            out["action"] = self.action.to_dict()
        if self.facts is not None:
            out["facts"] = [{"source": src, "text": text} for src, text in self.facts]
        if self.slots is not None:
            out["slots"] = dict(self.slots)
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "") -> ConvTurn:
        if not isinstance(d, dict):
            raise _fail(where, f"a turn must be an object, got {type(d).__name__} {d!r:.60}")
        _no_unknown(d, _TURN_KEYS, where, "turn")
        for key in ("role", "text"):
            if key not in d:
                raise _fail(where, f"turn is missing {key!r}")
        for key in ("role", "text", "transcript", "screenshot_text", "image", "intent"):
            if key in d and d[key] is not None and not isinstance(d[key], str):
                raise _fail(where, f"turn field {key!r} must be a string, got {d[key]!r:.60}")
        values = {k: d.get(k) for k in _TURN_KEYS}
        if values["action"] is not None:
            values["action"] = TurnAction.from_dict(values["action"], where)
        if values["facts"] is not None:
            values["facts"] = _facts_from(values["facts"], where)
        slots = values["slots"]
        if slots is not None and not (
            isinstance(slots, dict) and all(isinstance(v, str) for v in slots.values())
        ):
            raise _fail(where, f"slots must be an object of strings, got {slots!r:.60}")
        try:
            return cls(**values)
        except ConvDataError as e:
            raise _fail(where, str(e)) from None


def _facts_from(facts: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(facts, list):
        raise _fail(
            where, f'facts must be a list of {{"source", "text"}} objects, got {facts!r:.60}'
        )
    out = []
    for f in facts:
        if not isinstance(f, dict):
            raise _fail(where, f'a fact must be an object {{"source", "text"}}, got {f!r:.60}')
        _no_unknown(f, _FACT_KEYS, where, "fact")
        if not all(isinstance(f.get(k), str) for k in _FACT_KEYS):
            raise _fail(where, f"a fact needs a string source and text, got {f!r:.60}")
        out.append((f["source"], f["text"]))
    return tuple(out)


def _check_turn(t: ConvTurn) -> None:
    if t.role not in ROLES:
        raise ConvDataError(f"role {t.role!r} is not one of {ROLES}")
    if not isinstance(t.text, str):
        raise ConvDataError(f"text must be a string, got {t.text!r:.60}")
    heard_or_seen = t.role == "customer" and (t.transcript or t.screenshot_text or t.image)
    if not t.text.strip() and not (t.role == "agent" and t.action is not None or heard_or_seen):
        raise ConvDataError(f"empty text in a {t.role} turn (only an agent turn with an action, or a customer turn with a transcript, screenshot_text or image, may be empty)")  # fmt: skip
    if t.intent is not None:
        if t.role != "customer":
            raise ConvDataError(f"intent {t.intent!r} on an agent turn; intents label customer turns")  # fmt: skip
        from dialogue.domain.pack import default_pack  # its intents are those a turn may carry

        if t.intent not in (labels := default_pack().labels()):
            raise ConvDataError(f"intent {t.intent!r} is not one of the default pack's intents {list(labels)}")  # fmt: skip
    if t.action is not None and t.role != "agent":
        raise ConvDataError(f"action {t.action.tool!r} on a customer turn; only the agent acts")
    if (t.facts is not None or t.slots is not None) and t.role != "agent":
        raise ConvDataError("facts or slots on a customer turn; they are what the agent was given")


@dataclass(frozen=True)
class Conversation:
    """One conversation (see the module docstring for the fields)."""

    id: str
    source: str
    language: str
    turns: tuple[ConvTurn, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "turns", tuple(self.turns))
        _check_conversation(self)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "language": self.language,
            "turns": [t.to_dict() for t in self.turns],
        }
        if self.meta:
            out["meta"] = self.meta
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "") -> Conversation:
        if not isinstance(d, dict):
            raise _fail(where, f"a conversation must be an object, got {type(d).__name__}")
        _no_unknown(d, _CONV_KEYS, where, "conversation")
        for key in ("id", "source", "language", "turns"):
            if key not in d:
                raise _fail(where, f"missing field {key!r}; a conversation has {_CONV_KEYS}")
        for key in ("id", "source", "language"):
            if not isinstance(d[key], str):
                raise _fail(where, f"field {key!r} must be a string, got {d[key]!r:.60}")
        if not isinstance(d["turns"], list):
            raise _fail(where, f"turns must be a list, got {type(d['turns']).__name__}")
        meta = d.get("meta", {})
        if not isinstance(meta, dict):
            raise _fail(where, f"meta must be an object, got {meta!r:.60}")
        turns = tuple(
            ConvTurn.from_dict(t, f"{where}: turn {i}" if where else f"turn {i}")
            for i, t in enumerate(d["turns"])
        )
        try:
            return cls(d["id"], d["source"], d["language"], turns, meta)
        except ConvDataError as e:
            raise _fail(where, str(e)) from None


def _check_conversation(c: Conversation) -> None:
    if not isinstance(c.id, str) or not c.id.strip():
        raise ConvDataError(f"id must be a non-empty string, got {c.id!r:.60}")
    if not isinstance(c.source, str) or not c.source.strip():
        raise ConvDataError(f"conversation {c.id}: source must be a non-empty string")
    if c.language not in LANGUAGES:
        raise ConvDataError(f"conversation {c.id}: language {c.language!r} is not one of {LANGUAGES}")  # fmt: skip
    if not c.turns:
        raise ConvDataError(f"conversation {c.id}: turns is empty; a conversation needs turns")
    if not all(isinstance(t, ConvTurn) for t in c.turns):
        raise ConvDataError(f"conversation {c.id}: turns must be ConvTurn objects")
    if not any(t.role == "agent" for t in c.turns):
        raise ConvDataError(f"conversation {c.id}: no agent turn; there is nothing to learn from it")  # fmt: skip
    if not isinstance(c.meta, dict):
        raise ConvDataError(f"conversation {c.id}: meta must be a dict")


def _no_unknown(d: dict, allowed: Sequence[str], where: str, what: str) -> None:
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise _fail(where, f"unknown {what} field {unknown[0]!r}; a {what} has {tuple(allowed)}")


# ---------------------------------------------------------------- files


def iter_jsonl(path: str | Path) -> Iterator[Conversation]:
    """The conversations of a JSONL file, checked one line at a time; blank lines are skipped."""
    path = Path(path)
    if not path.is_file():
        raise ConvDataError(f"{path}: no such file; write one with write_jsonl or `build`")
    seen: dict[str, int] = {}
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            where = f"{path}:{lineno}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ConvDataError(f"{where}: not UTF-8 ({e.reason} at byte {e.start})") from None
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConvDataError(
                    f"{where}: not valid JSON at column {e.colno}: {e.msg}"
                ) from None
            conv = Conversation.from_dict(data, where)
            if conv.id in seen:
                raise ConvDataError(f"{where}: id {conv.id!r} was already used on line {seen[conv.id]}")  # fmt: skip
            seen[conv.id] = lineno
            yield conv


def read_jsonl(path: str | Path) -> list[Conversation]:
    """Every conversation of a JSONL file; raises `ConvDataError` naming file:line on the first
    malformed line (bad JSON, a missing or invalid field, no agent turn, a repeated id)."""
    return list(iter_jsonl(path))


def dumps(conv: Conversation) -> str:
    """One JSONL line (without the newline): compact, UTF-8 kept as is."""
    return json.dumps(conv.to_dict(), ensure_ascii=False, separators=(",", ":"))


@contextmanager
def atomic_writer(path: str | Path) -> Iterator[TextIO]:
    """A text file that appears at `path` whole or not at all: written beside it under a
    temporary name (with the usual permissions), then renamed over it. The folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("x", encoding="utf-8", newline="\n") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_jsonl(path: str | Path, conversations: Iterable[Conversation]) -> int:
    """Write conversations atomically (`atomic_writer`); returns how many were written."""
    n = 0
    with atomic_writer(path) as f:
        for conv in conversations:
            f.write(dumps(conv) + "\n")
            n += 1
    return n


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- splits


def group_key(conv: Conversation) -> str:
    """What keeps near-duplicates together: meta["group"] (the source dialogue id, the customer)
    when the converter set one, else the conversation's own id."""
    group = conv.meta.get("group")
    return group if isinstance(group, str) and group else f"{conv.source}:{conv.id}"


def check_ratios(ratios: Sequence[float]) -> tuple[float, ...]:
    """The train/dev/test shares as floats; ValueError unless three, >= 0, summing to 1."""
    r = tuple(float(x) for x in ratios)
    if len(r) != len(SPLITS) or any(x < 0 for x in r) or abs(sum(r) - 1.0) > 1e-6:
        raise ValueError(
            f"split ratios {tuple(ratios)} must be {len(SPLITS)} numbers >= 0 for {SPLITS} "
            "that sum to 1, e.g. (0.8, 0.1, 0.1)"
        )
    return r


def split_of(key: str, seed: int = 0, ratios: Sequence[float] = DEFAULT_RATIOS) -> str:
    """The split of a group key: a hash of (seed, key) read as a number in [0, 1). The same key
    and seed always give the same split, whatever else is in the data set."""
    r = check_ratios(ratios)
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    edge = 0.0
    for name, share in zip(SPLITS, r, strict=True):
        edge += share
        if u < edge:
            return name
    return next(name for name, share in zip(SPLITS[::-1], r[::-1], strict=True) if share > 0)


def split_conversations(
    conversations: Iterable[Conversation],
    seed: int = 0,
    ratios: Sequence[float] = DEFAULT_RATIOS,
) -> dict[str, list[Conversation]]:
    """train/dev/test by `group_key`: near-duplicates never straddle two splits. Conversations
    keep their input order within a split."""
    r = check_ratios(ratios)
    out: dict[str, list[Conversation]] = {name: [] for name in SPLITS}
    for conv in conversations:
        out[split_of(group_key(conv), seed, r)].append(conv)
    return out
