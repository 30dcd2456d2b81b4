"""The record of one agent turn: what came in, what was understood, what was done, what was said."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fusion.types import Fact

# A tool result quoted to the model is cut here: the decision's words already carry what the reply
# says, and every quoted token is read on each turn (time on a CPU). The guard checks a draft
# against the whole result (`evidence`).
MAX_TOOL_FACT_CHARS = 400


@dataclass(frozen=True)
class Action:
    """One tool call the agent made this turn, and what came back."""

    tool: str
    args: dict[str, Any]
    ok: bool
    result: dict[str, Any]  # the tool's data, or {"error": ..., "code": ...}

    def to_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "args": self.args, "ok": self.ok, "result": self.result}


@dataclass(frozen=True)
class Decision:
    """What the dialogue policy chose to do this turn, before the reply is phrased.

    kind: "answer" (from knowledge), "ask" (for something missing), "confirm" (a write waits for
        a yes), "done" (a tool ran), "refuse" (outside policy), "clarify", "handoff", "smalltalk",
        "error" (a stage failed)
    template: the key of the reply template that says it deterministically
    slots: the values the template and the language model may use (and nothing else)
    """

    kind: str
    template: str
    slots: dict[str, Any] = field(default_factory=dict)
    handoff: bool = False
    reason: str = ""  # why, for logs and the turn record


@dataclass(frozen=True)
class Turn:
    """One customer turn and the agent's answer: what `cca chat --json` prints per turn."""

    session_id: str
    index: int
    text: str  # typed text
    transcript: str  # what the ASR heard ("" when no audio)
    language: str
    intent: str
    confidence: float
    entities: tuple[dict[str, Any], ...]
    sentiment: dict[str, Any]
    screenshots: tuple[dict[str, Any], ...]  # source, kind, language, fields, text (OCR) each
    actions: tuple[Action, ...]
    decision: Decision
    reply: str
    reply_source: str  # "model" or "template" (and why, when the model's draft was rejected)
    handoff: bool
    timings_ms: dict[str, float]
    errors: tuple[str, ...] = ()  # a stage that failed, with its message; the turn still answered
    spoken: str = (
        ""  # the reply as said aloud, when it differs (a long list summarised for the ear)
    )

    def said(self) -> str:
        """What a voice says: `spoken` when there is one, else the reply."""
        return self.spoken or self.reply

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "turn": self.index,
            "text": self.text,
            "transcript": self.transcript,
            "language": self.language,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "entities": list(self.entities),
            "sentiment": self.sentiment,
            "screenshots": list(self.screenshots),
            "actions": [a.to_dict() for a in self.actions],
            "decision": {"kind": self.decision.kind, "reason": self.decision.reason},
            "reply": self.reply,
            "reply_source": self.reply_source,
            "handoff": self.handoff,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "errors": list(self.errors),
            "spoken": self.spoken,
        }


def tool_fact(tool: str, result: Any) -> Fact:
    """A tool's result as the model is shown it, at run time and in training alike: compact
    JSON, cut at MAX_TOOL_FACT_CHARS."""
    text = json.dumps(result, ensure_ascii=False, default=str, separators=(",", ":"))
    if len(text) > MAX_TOOL_FACT_CHARS:
        text = text[:MAX_TOOL_FACT_CHARS] + " ..."
    return Fact(f"tool:{tool}", text)


def evidence(actions, facts) -> str:
    """What a draft may state, for the guard: every tool result whole, and the other facts."""
    return "\n".join(
        [json.dumps(a.result, ensure_ascii=False, default=str) for a in actions]
        + [f.text for f in facts if not f.source.startswith("tool:")]
    )
