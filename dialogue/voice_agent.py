"""The Agent behind a live voice session: `voice.live.session.Responder` over `dialogue.agent.Agent`.

    session = VoiceSession(vad, asr, AgentResponder(Agent(services)), tts, ...)

`respond(transcript)` hands the already recognised transcript to the Agent (a `TurnInput`, so the
Agent does not run its own ASR) and turns its `Turn` into a `Reply`: the reply text and language,
the Agent's stage timings, a handoff, the end of the call after a goodbye, and what the reply asked
for (an email, an order number, an address), which lets the session wait longer for it.
`played(heard)` after a barge-in replaces the last assistant message of the Agent's history with
what the caller heard, marked `interrupted`, so the next reply builds on what was said; the
`Turn` record keeps the full reply.

`prepare(transcript)` starts answering a quick transcript while the session still times the
caller's silence (dialogue.rehearsal: on a copy of the conversation, no write, in one worker
thread); `respond` with the same words then takes that answer, its clauses said at once, and
anything else throws it away (`discard()` as soon as the caller speaks again).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

from dialogue.agent import Agent
from dialogue.rehearsal import Abandoned, Rehearsal
from fusion.types import Message, TurnInput
from voice.live.endpoint import YES_NO
from voice.live.session import Reply
from voice.types import Transcript

logger = logging.getLogger(__name__)

# reply template -> what it asks the caller for (voice.live.endpoint.EXPECTS)
EXPECT = {
    "ask_auth": "email",
    "auth_failed": "email",
    "ask_order_id": "order_number",
    "order_not_on_account": "order_number",
    "ask_address": "address",
}
END_CALL = {"goodbye"}


def expect_of(turn) -> str:
    """What the reply asks the caller for: an identifier (EXPECT), or a yes or a no when a write
    waits for one (any decision of kind "confirm"): "yeah" over that question answers it."""
    if turn.decision.kind == "confirm":
        return YES_NO
    return EXPECT.get(turn.decision.template, "")


class AgentResponder:
    streams = True  # the model's clauses go to `say` as the guard releases them

    def __init__(self, agent: Agent):
        self.agent = agent
        self._ahead: _Ahead | None = None
        self._worker: ThreadPoolExecutor | None = None  # one rehearsal at a time, in order

    def respond(self, transcript: Transcript, say: Callable[[str, str], None] | None = None) -> Reply:  # fmt: skip
        taken = self.take(transcript, say)
        if taken is None:
            return self.reply_of(self.agent.respond(TurnInput(transcript=transcript), say=say))
        turn, ahead_ms = taken
        keep = getattr(self.agent, "keep", None)  # a demo.runtime.Conversation stores it
        if keep is not None:
            keep(turn)
        reply = self.reply_of(turn)  # timings: "ahead", how long before the turn's end it began
        return replace(reply, timings_ms={**reply.timings_ms, "ahead": ahead_ms})

    def prepare(self, transcript: Transcript) -> None:
        """Start answering `transcript`, the caller's words so far, in the background; returns at
        once. A later `prepare`, `respond` with other words or `discard` throws it away."""
        self.discard()
        agent = self._core()
        if agent is None:
            return
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="rehearsal")
        ahead = _Ahead(transcript, threading.Event())
        ahead.future = self._worker.submit(ahead.run, agent)
        self._ahead = ahead

    def discard(self) -> None:
        """Stop the answer being prepared, if any (the caller spoke again); returns at once."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.cancel()

    def settle(self) -> None:
        """Discard any answer being prepared and wait until it has stopped: the models and the
        conversation are then this thread's."""
        self.discard()
        if self._worker is not None:
            self._worker.submit(_nothing).result()

    def take(self, transcript: Transcript, say: Callable[[str, str], None] | None = None):
        """(the Agent's Turn, ms it began before this call) when an answer prepared for exactly
        these words can stand, adopted into the Agent and said through `say`; else None, with
        nothing left running, and the turn is to be answered as usual."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.transcript == transcript:
            turn = ahead.take(say)
            if turn is not None:
                return turn, ahead.head_start_ms
        if ahead is not None:
            ahead.cancel()
        self.settle()
        return None

    def _core(self) -> Agent | None:
        """The Agent a rehearsal copies (`agent` itself, or the one a Conversation holds)."""
        agent = self.agent if isinstance(self.agent, Agent) else getattr(self.agent, "agent", None)
        return agent if isinstance(agent, Agent) else None

    @staticmethod
    def reply_of(turn) -> Reply:
        """The session's Reply for the Agent's `Turn`."""
        return Reply(
            text=turn.said(),  # a long list summarised for the ear
            language=turn.language,
            timings_ms=dict(turn.timings_ms),
            handoff=turn.handoff,
            end_call=turn.decision.template in END_CALL,
            expect=expect_of(turn),
        )

    def played(self, heard: str) -> None:
        history = self.agent.history
        for i in range(len(history) - 1, -1, -1):
            if history[i].role == "assistant":
                history[i] = Message("assistant", heard, interrupted=True)
                return
        logger.warning("played() with no assistant message in the history")


class _Ahead:
    """A reply prepared for `transcript`: its clauses wait in `pieces` until `take` hands them on."""

    def __init__(self, transcript: Transcript, cancelled: threading.Event):
        self.transcript, self.cancelled = transcript, cancelled
        self.future: Future | None = None
        self.pieces: list[tuple[str, str]] = []
        self.say: Callable[[str, str], None] | None = None
        self.lock = threading.Lock()
        self.rehearsal: Rehearsal | None = None
        self.t0 = time.perf_counter()
        self.head_start_ms = 0.0  # from `prepare` to `take`
        self.started = threading.Event()  # `run` has copied the Agent, or will not

    def run(self, agent: Agent):
        try:
            with self.lock:
                if self.cancelled.is_set():
                    return None
                self.rehearsal = Rehearsal(agent, self.cancelled)
        finally:
            self.started.set()
        try:
            return self.rehearsal.twin.respond(
                TurnInput(transcript=self.transcript), say=self._said
            )
        except Abandoned as why:
            logger.debug("rehearsal abandoned: %s", why)
            return None

    def _said(self, text: str, language: str) -> None:
        with self.lock:
            if self.say is None:
                self.pieces.append((text, language))
                return
        self.say(text, language)

    def take(self, say: Callable[[str, str], None] | None):
        """The prepared turn, adopted into the Agent, its clauses said through `say` (those ready
        at once, the rest as they come); None when it was abandoned, or the conversation moved
        on since it started: the turn is then answered as usual."""
        self.head_start_ms = (time.perf_counter() - self.t0) * 1000
        self.started.wait()  # behind a rehearsal still stopping: it copies the Agent as it is now
        with self.lock:
            rehearsal = self.rehearsal
            usable = rehearsal is not None and rehearsal.fresh()
            if not usable:
                self.cancelled.set()
            elif say is not None:
                pieces, self.pieces, self.say = self.pieces, [], say
                for text, language in pieces:
                    say(text, language)
        turn = self.wait()
        if not usable or turn is None:
            return None
        if not rehearsal.fresh():  # changed while it ran, by a thread other than the session's
            logger.warning("the conversation changed while a prepared reply was said; kept")
        rehearsal.adopt()
        return turn

    def cancel(self) -> None:
        self.cancelled.set()

    def wait(self):
        """The rehearsed turn once it is done; None if it was abandoned or failed."""
        try:
            return None if self.future is None else self.future.result()
        except Exception:  # the Agent records its stages' failures: this is a bug
            logger.exception("a prepared reply failed")
            return None


def _nothing() -> None:
    return None
