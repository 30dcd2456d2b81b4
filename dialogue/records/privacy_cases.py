"""The cases `cca privacy eval` scores: one utterance type, and the written set.

The written set (`privacy_cases.jsonl`) is conversations as callers and agents say them and as
ASR writes them, written apart from the detector: cards read in halves, a security code given
in the turn after the question, IDs with a misheard digit, numbers said in groups with no cue,
and values that must stay readable (order and tracking numbers, amounts, dates, counts). One
JSON object per line:

    {"id": "...", "turns": [{"role": "agent", "text": "What is the card number?"},
                            {"text": "four five three two, ...", "secrets": {"CARD": ["four five three two, ..."]},
                             "keep": ["W2611340"]}]}

`role` is "customer" unless given; `secrets` maps a type to the substrings that must be hidden,
`keep` lists substrings no span may touch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dialogue.records.pii import TYPES, Span

CASES = Path(__file__).with_name("privacy_cases.jsonl")


@dataclass(frozen=True)
class Utterance:
    """One turn of a conversation, with where its personal values are."""

    text: str
    gold: tuple[Span, ...]
    language: str
    role: str = "customer"
    keep: tuple[tuple[int, int], ...] = ()  # spans that are not personal and must stay


def _span(path: Path, line: int, text: str, value: str) -> tuple[int, int]:
    at = text.find(value)
    if at < 0:
        raise ValueError(f"{path}:{line}: {value!r} is not in the turn {text!r}; copy it exactly")
    return at, at + len(value)


def load_cases(path: Path = CASES) -> list[list[Utterance]]:
    """The conversations of a written case file (see the module doc)."""
    conversations = []
    for n, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            case = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not JSON ({e.msg}); one conversation per line") from e
        turns = []
        for t in case["turns"]:
            text = t["text"]
            gold = []
            for kind, values in t.get("secrets", {}).items():
                if kind not in TYPES:
                    raise ValueError(f"{path}:{n}: unknown type {kind!r}; choose from {TYPES}")
                gold += [Span(kind, *_span(path, n, text, v)) for v in values]
            keep = tuple(_span(path, n, text, v) for v in t.get("keep", []))
            language = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"
            role = t.get("role", "customer")
            turns.append(Utterance(text, tuple(gold), language, role, keep))
        conversations.append(turns)
    return conversations
