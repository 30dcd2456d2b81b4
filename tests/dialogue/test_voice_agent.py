"""The Agent behind the live voice session: the transcript goes in as heard, the reply says what
it asked for, and a barge-in leaves only what the caller heard in the Agent's history."""

from __future__ import annotations

import asyncio

from dialogue.agent import Agent, AgentServices
from dialogue.voice_agent import AgentResponder
from fusion.types import Message
from tests.fakes import FakeNLU
from tests.voice.live.test_session import ToneASR, ToneTTS, timeline
from voice.live.clock import VirtualClock
from voice.live.replay import replay
from voice.live.session import SessionOptions, VoiceSession
from voice.live.stream_vad import EnergyStream, StreamVAD
from voice.types import Transcript

SCRIPT = {
    "I want to cancel an order": ("cancel_order", 0.97, ()),
    "bye": ("thanks_goodbye", 0.99, ()),
}


def agent(office) -> Agent:
    return Agent(AgentServices(nlu=FakeNLU(SCRIPT), office=office), session_id="v")


def test_respond_passes_the_transcript_and_says_what_it_asked_for(office):
    a = agent(office)
    r = AgentResponder(a)
    reply = r.respond(Transcript("I want to cancel an order", "en", 1.2))
    assert reply.expect == "email" and reply.language == "en" and not reply.end_call
    assert "nlu" in reply.timings_ms and reply.text == a.turns[-1].reply
    assert a.history[-2] == Message("user", "I want to cancel an order")
    r.played("Before I can look at your account…")
    assert a.history[-1] == Message("assistant", "Before I can look at your account…", True)
    assert a.turns[-1].reply == reply.text  # the record keeps what was said in full
    assert r.respond(Transcript("bye", "en", 0.5)).end_call


def test_a_barge_in_trims_the_agents_history(office):
    a = agent(office)
    clock = VirtualClock()
    asr = ToneASR({200: "I want to cancel an order", 250: "hang on a second"})
    session = VoiceSession(StreamVAD(EnergyStream()), asr, AgentResponder(a), ToneTTS(),
                           clock=clock)  # fmt: skip
    # the ask_auth reply (two sentences, ~7 s of tone) is interrupted 2.5 s in
    audio = timeline((0.3, None), (1.0, 200), (0.65 + 2.5, None), (1.2, 250), (3.0, None))
    result = asyncio.run(replay(session, audio))
    assert "barge_in" in [e.kind for e in result.events]
    cut = a.history[1]
    assert cut.interrupted and cut.content.endswith("…")
    assert a.turns[0].reply.startswith(cut.content[:-1])
    assert len(cut.content) < len(a.turns[0].reply)
    assert a.history[2] == Message("user", "hang on a second")


def test_a_writes_confirmation_asks_for_a_yes_or_a_no(office):
    """The reply that asks to confirm a write expects a yes or a no, so that "yeah" said over its
    question answers it (voice.live.agent_turn); the write still waits for that turn's yes."""
    script = {**SCRIPT, "my email is alice@example.com": ("order_status", 0.6, (("email", "alice@example.com"),)),
              "it's order #W1": ("order_status", 0.7, (("order_number", "#W1"),)),
              "I ordered it by mistake": ("deny", 0.6, ()), "yeah": ("affirm", 0.99, ())}  # fmt: skip
    a = Agent(AgentServices(nlu=FakeNLU(script), office=office), session_id="v")
    r = AgentResponder(a)
    said = ["I want to cancel an order", "my email is alice@example.com", "it's order #W1",
            "I ordered it by mistake"]  # fmt: skip
    expects = [r.respond(Transcript(t, "en", 1.0)).expect for t in said]
    assert expects == ["email", "order_number", "", "yes_no"]
    assert office.order("#W1")["status"] != "cancelled"
    done = r.respond(Transcript("yeah", "en", 0.4))
    assert done.expect == "" and office.order("#W1")["status"] == "cancelled"


class EagerResponder(AgentResponder):
    """Prepares its answer to the end before the session goes on (the session's clock is
    virtual, and the rehearsal's worker thread is not on it)."""

    def __init__(self, agent: Agent):
        super().__init__(agent)
        self.prepared: list[str] = []

    def prepare(self, transcript: Transcript) -> None:
        self.prepared.append(transcript.text)
        super().prepare(transcript)
        self._ahead.wait()


def test_the_session_answers_the_quick_transcript_ahead(office):
    """A quick transcript taken in the caller's pause is answered while the silence is timed; the
    turn that ends on those words takes that answer, and one the caller goes on with does not:
    the conversation is the same as without answering ahead."""
    script = {**SCRIPT, "I want to cancel an order bye": ("thanks_goodbye", 0.9, ())}
    words = {200: "I want to cancel an order", 300: "bye"}
    # a turn, the reply (~7 s of tone), a turn with a pause of 0.45 s inside (0.65 s ends a turn)
    audio = timeline((0.3, None), (1.0, 200), (9.0, None), (0.8, 200), (0.45, None), (0.5, 300),
                     (3.0, None))  # fmt: skip
    runs = {}
    for preemptive in (True, False):
        a = Agent(AgentServices(nlu=FakeNLU(script), office=office), session_id="v")
        r = EagerResponder(a)
        session = VoiceSession(StreamVAD(EnergyStream()), ToneASR(words), r, ToneTTS(),
                               SessionOptions(preemptive=preemptive), clock=VirtualClock())  # fmt: skip
        result = asyncio.run(replay(session, audio))
        replies = [e.text for e in result.events if e.kind == "reply"]
        runs[preemptive] = (replies, [t.transcript for t in a.turns], a.history, r.prepared)
        ahead = ["ahead" in m.responder_ms for m in result.metrics]
        if preemptive:
            # the 2nd in the pause the caller went on after (thrown away), the 3rd at its end
            assert r.prepared == ["I want to cancel an order"] * 2 + ["I want to cancel an order bye"]  # fmt: skip
            assert ahead == [True, True]
        else:
            assert r.prepared == [] and ahead == [False, False]
    assert runs[True][:3] == runs[False][:3]
    assert runs[True][1] == ["I want to cancel an order", "I want to cancel an order bye"]
