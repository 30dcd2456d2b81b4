"""The rows of the conversation store's API: a turn to write (`TurnIn`), a turn read back
(`StoredTurn`), the two rows of a `dialogue.types.Turn`, and the email hash that finds a
customer."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dialogue.types import Turn


def email_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TurnIn:
    """One row to write: a customer or agent turn. Texts are redacted on the way in."""

    role: str  # "customer" or "agent"
    text: str = ""
    transcript: str | None = None  # what the ASR heard; encrypted
    screenshot_text: str | None = None  # OCR text of a screenshot; encrypted
    language: str = ""
    intent: str = ""
    entities: Sequence[dict[str, Any]] = ()
    sentiment: dict[str, Any] = field(default_factory=dict)
    actions: Sequence[dict[str, Any]] = ()
    latency: dict[str, float] = field(default_factory=dict)  # stage -> milliseconds
    errors: Sequence[str] = ()
    author: str | None = (
        None  # a person who wrote this agent turn (the agent desk); None: the agent
    )


@dataclass(frozen=True)
class StoredTurn:
    """A turn as read back: redacted text, decrypted transcript and screenshot text."""

    idx: int
    role: str
    text: str
    transcript: str | None
    screenshot_text: str | None
    language: str
    intent: str
    entities: list[dict[str, Any]]
    sentiment: dict[str, Any]
    actions: list[dict[str, Any]]
    latency: dict[str, float]
    errors: list[str]
    author: str | None = None  # a person who wrote this agent turn; None: the agent


def turn_rows(turn: Turn) -> tuple[TurnIn, TurnIn]:
    """The customer row and the agent row of one `dialogue.types.Turn`."""
    shots = "\n".join(str(sh.get("text", "")) for sh in turn.screenshots if sh.get("text"))
    customer = TurnIn(
        role="customer", text=turn.text, transcript=turn.transcript or None,
        screenshot_text=shots or None, language=turn.language, intent=turn.intent,
        entities=list(turn.entities), sentiment=dict(turn.sentiment),
    )  # fmt: skip
    agent = TurnIn(
        role="agent", text=turn.reply, language=turn.language,
        actions=[a.to_dict() for a in turn.actions], latency=dict(turn.timings_ms),
        errors=list(turn.errors),
    )  # fmt: skip
    return customer, agent
