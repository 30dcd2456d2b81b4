"""The dialogue policy's inputs: one conversation's state and the turn as the policy sees it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DialogueState:
    """One conversation's memory (mutable, owned by one Agent)."""

    # the conversation's tool session: call(name, args), confirm(yes), user_id, pending
    # (dialogue.policy.toolkit.ToolSession, or a pack's dialogue.policy.pack_tools.PackSession)
    tools: Any
    language: str = "en"
    task: str | None = None  # the account task being served, kept across turns
    slots: dict[str, Any] = field(
        default_factory=dict
    )  # what the task in hand has gathered: ids, a reason ...
    last_task: str | None = None  # the task finished last, for a follow-up that names no task
    failures: int = 0  # turns in a row where the agent could not help
    handed_off: bool = False


@dataclass(frozen=True)
class Understood:
    """The turn as the policy sees it."""

    text: str
    language: str
    intent: str
    confidence: float
    out_of_scope: bool
    entities: Sequence[dict[str, Any]]  # {"type", "value", ...}, screenshot fields included
    anger: float = 0.0
    frustration: float = 0.0
    sentiment: str = "neutral"
    passages: Sequence[Any] = ()  # knowledge passages for this turn (source, title, text, score)
