"""The Agent behind a live voice session: `voice.live.session.Responder` over `dialogue.agent.Agent`.

    session = VoiceSession(vad, asr, AgentResponder(Agent(services)), tts, ...)

`respond(transcript)` hands the already recognised transcript to the Agent (a `TurnInput`, so the
Agent does not run its own ASR) and turns its `Turn` into a `Reply`: the reply text and language,
the Agent's stage timings, a handoff, the end of the call after a goodbye, and what the reply asked
for (an email, an order number, an address), which lets the session wait longer for it.
`played(heard)` after a barge-in replaces the last assistant message of the Agent's history with
what the caller heard, marked `interrupted`, so the next reply builds on what was said; the
`Turn` record keeps the full reply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dialogue.agent import Agent
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

    def respond(self, transcript: Transcript, say: Callable[[str, str], None] | None = None) -> Reply:  # fmt: skip
        return self.reply_of(self.agent.respond(TurnInput(transcript=transcript), say=say))

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
