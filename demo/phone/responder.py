"""The agent behind one phone call: heard, keypad and screenshot turns, and the summary for the
person who takes over."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from demo.phone.state import CallStateError
from demo.runtime import Conversation
from dialogue.voice_agent import AgentResponder
from fusion.types import TurnInput
from voice.live.session import Reply
from voice.types import Transcript

logger = logging.getLogger(__name__)


class CallResponder(AgentResponder):
    """The Agent for a phone call: heard turns (with any screenshot uploaded since the last turn),
    keypad turns, and a summary for the person who takes over. Thread-safe: the session's turns,
    keypad turns and uploads may arrive at once."""

    def __init__(self, conversation: Conversation, offer: Callable[[str], str] | None = None):
        super().__init__(conversation.agent)
        self.conversation = conversation  # demo.runtime: its turns go to the store, if any
        self.offer = offer  # the caller's words -> a sentence to add to the reply (or "")
        self._lock = threading.Lock()
        self._shots: list = []
        self.expect = ""
        # called (in the responding thread) once a turn is stored: the bridge shares the call's
        # memory again, now holding the records' redaction of that turn (demo.phone.resume);
        # also (in the records' writer thread) for a turn stored only after its reply went out
        self.on_turn: Callable[[], None] | None = None
        conversation.on_stored = lambda: self.on_turn() if self.on_turn is not None else None

    def respond(self, transcript: Transcript, say: Callable[[str, str], None] | None = None) -> Reply:  # fmt: skip
        return self._turn(TurnInput(transcript=transcript), say)

    def prepare(self, transcript: Transcript) -> None:
        if not self._shots:  # a screenshot waiting joins the turn: it is answered as it ends
            super().prepare(transcript)

    def respond_text(self, text: str) -> Reply:
        return self._turn(TurnInput(text=text))

    def add_screenshots(self, shots) -> None:
        with self._lock:
            self._shots += list(shots)

    @property
    def pending_screenshots(self) -> int:
        return len(self._shots)

    def respond_screenshots(self) -> Reply | None:
        """A turn of its own for screenshots no caller turn has taken yet (None if none left)."""
        with self._lock:
            if not self._shots:
                return None
        return self._turn(TurnInput())

    def _turn(self, turn: TurnInput, say: Callable[[str, str], None] | None = None) -> Reply:
        with self._lock:
            shots, self._shots = tuple(self._shots), []
            # a turn answered ahead (AgentResponder.prepare) is taken if it ends on its words and
            # no screenshot came meanwhile; anything else stops it and is answered now
            if turn.transcript is not None and not shots:
                taken = self.take(turn.transcript, say)  # None: nothing left running
            else:
                self.settle()
                taken = None
            if taken is None:
                t = self.conversation.respond(
                    TurnInput(turn.text, turn.transcript, screenshots=shots), say=say
                )
            else:
                t = taken[0]
                self.conversation.keep(t)
            reply = self.reply_of(t)
            self.expect = reply.expect
        if self.on_turn is not None:
            self.on_turn()
        said = turn.text or (turn.transcript.text if turn.transcript else "")
        try:
            extra = (
                self.offer(said) if self.offer is not None and said and not reply.handoff else ""
            )
        except CallStateError as e:  # the shared state down or silent: no link, the reply goes on
            logger.error("no upload link offered: %s", e)
            extra = ""
        if extra and say is not None:
            say(extra, reply.language)
        return replace(reply, text=f"{reply.text} {extra}") if extra else reply

    def played(self, heard: str) -> None:
        with self._lock:
            super().played(heard)

    @property
    def turns(self) -> list:
        return list(self.agent.turns)

    def summary(self) -> dict[str, Any]:
        """For the person taking over: the last intent, the order ids, the caller's language."""
        turns = self.agent.turns
        orders: list[str] = []
        for t in turns:
            values = [e["value"] for e in t.entities if e.get("type") == "order_number"]
            values += [
                v for s in t.screenshots for v in s.get("fields", {}).get("order_number", [])
            ]
            orders += [v for v in values if v not in orders]
        intents = [t.intent for t in turns if t.intent and t.intent != "out_of_scope"]
        return {"intent": intents[-1] if intents else "", "orders": orders,
                "language": turns[-1].language if turns else "", "turns": len(turns),
                "last_said": (turns[-1].text or turns[-1].transcript) if turns else ""}  # fmt: skip


def summary_line(summary: dict[str, Any]) -> str:
    orders = ",".join(summary.get("orders", [])) or "-"
    return f"intent={summary.get('intent') or '-'};orders={orders};lang={summary.get('language') or '-'}"
