"""A turn answered ahead of time (dialogue.rehearsal, AgentResponder.prepare): what it leaves when
kept is what answering the turn would have left, and when thrown away, nothing; it never writes."""

from __future__ import annotations

import threading
import time

import pytest

from dialogue.agent import Agent, AgentServices
from dialogue.rehearsal import Abandoned, CancellableGenerator, Rehearsal
from dialogue.voice_agent import AgentResponder
from fusion.fuse import Fusion
from tests.conftest import tiny_tokenizer
from tests.fakes import FakeGenerator, FakeNLU
from voice.types import Transcript

SCRIPT = {
    "I want to cancel an order": ("cancel_order", 0.97, ()),
    "my email is alice@example.com": ("order_status", 0.6, (("email", "alice@example.com"),)),
    "it's order #W1": ("order_status", 0.7, (("order_number", "#W1"),)),
    "I ordered it by mistake": ("deny", 0.6, ()),
    "yeah": ("affirm", 0.99, ()),
    "bye": ("thanks_goodbye", 0.99, ()),
}
TO_CANCEL = ["I want to cancel an order", "my email is alice@example.com", "it's order #W1",
             "I ordered it by mistake"]  # fmt: skip


def agent(office, generator=None) -> Agent:
    fusion = Fusion(tiny_tokenizer()) if generator is not None else None
    services = AgentServices(nlu=FakeNLU(SCRIPT), office=office, generator=generator, fusion=fusion)
    return Agent(services, session_id="r")


def heard(text: str) -> Transcript:
    return Transcript(text, "en", 1.0)


def state_of(a: Agent) -> tuple:
    s = a.state
    return (s.language, s.task, dict(s.slots), s.last_task, s.failures, s.handed_off,
            s.tools.user_id, s.tools.pending, [m.content for m in a.history],
            [(t.intent, t.reply, t.reply_source, t.decision) for t in a.turns])  # fmt: skip


def test_a_kept_rehearsal_leaves_what_answering_the_turn_leaves(office):
    plain, ahead = agent(office), agent(office)
    r_plain, r_ahead = AgentResponder(plain), AgentResponder(ahead)
    for text in TO_CANCEL:
        want = r_plain.respond(heard(text))
        r_ahead.prepare(heard(text))
        said: list[str] = []
        got = r_ahead.respond(r_ahead._ahead.transcript, lambda t, lang, said=said: said.append(t))
        assert "ahead" in got.timings_ms  # the prepared answer was taken
        assert (got.text, got.expect, got.language) == (want.text, want.expect, want.language)
        assert " ".join(said) == got.text
    assert state_of(ahead)[:-1] == state_of(plain)[:-1]
    assert [t.reply for t in ahead.turns] == [t.reply for t in plain.turns]
    assert ahead.state.tools.pending is not None  # the cancellation waits for a yes


def test_a_rehearsal_changes_nothing_until_it_is_kept(office):
    a = agent(office)
    r = AgentResponder(a)
    r.respond(heard("I want to cancel an order"))
    before = state_of(a)
    tools = a.state.tools
    r.prepare(heard("my email is alice@example.com"))  # authenticates, in the copy
    r._ahead.wait()
    assert state_of(a) == before and a.state.tools.user_id is None
    r.discard()
    reply = r.respond(heard("bye"))  # the caller said something else
    assert "ahead" not in reply.timings_ms
    assert [t.transcript for t in a.turns] == ["I want to cancel an order", "bye"]
    assert a.state.tools is tools and tools.user_id is None


def test_other_final_words_throw_the_rehearsal_away(office):
    a = agent(office)
    r = AgentResponder(a)
    r.prepare(heard("I want to cancel"))  # a pause, then the caller went on
    reply = r.respond(heard("I want to cancel an order"))
    assert "ahead" not in reply.timings_ms and reply.expect == "email"
    assert [t.transcript for t in a.turns] == ["I want to cancel an order"]
    assert len(a.history) == 2


def test_a_rehearsal_never_writes_the_real_turn_writes_once(office):
    a = agent(office)
    r = AgentResponder(a)
    for text in TO_CANCEL:
        r.respond(heard(text))
    audits = len(office.audit())
    r.prepare(heard("yeah"))  # would confirm the cancellation: abandoned before writing
    assert r._ahead.wait() is None
    assert office.order("#W1")["status"] != "cancelled"
    done = r.respond(r._ahead.transcript)
    assert "ahead" not in done.timings_ms
    assert office.order("#W1")["status"] == "cancelled"
    assert [t.decision.kind for t in a.turns][-1] != "confirm"
    assert len(office.audit()) == audits + 1  # one write, by the real turn


def test_a_conversation_that_moved_on_is_answered_afresh(office):
    """A barge-in marks the last reply as cut after the rehearsal copied the history: the
    rehearsal built on the uncut reply is not used."""
    a = agent(office)
    r = AgentResponder(a)
    r.respond(heard("I want to cancel an order"))
    r.prepare(heard("bye"))
    r._ahead.wait()
    r.played("Before I can…")
    reply = r.respond(r._ahead.transcript)
    assert "ahead" not in reply.timings_ms and reply.end_call
    assert a.history[1].interrupted and len(a.turns) == 2


def test_the_models_clauses_are_said_in_order_once(office):
    gen = FakeGenerator(reply="I can help with that. What is the email on your account?")
    a = agent(office, gen)
    r = AgentResponder(a)
    r.prepare(heard("I want to cancel an order"))
    r._ahead.wait()  # all of it written before the turn ends: said at once, in order
    said: list[str] = []
    reply = r.respond(r._ahead.transcript, lambda t, lang: said.append(t))
    assert "ahead" in reply.timings_ms
    assert " ".join(said).split() == reply.text.split()
    assert len(gen.prompts) == 1  # the model wrote the reply once
    assert a.turns[-1].reply_source.startswith("model")


class SlowGenerator(FakeGenerator):
    """Writes one word every `delay_s`, and records whether its stream was closed."""

    delay_s = 0.05

    def stream(self, prompt: str):
        self.prompts.append(prompt)
        self.closed = False
        try:
            for word in self.reply.split(" "):
                time.sleep(self.delay_s)
                yield word + " "
        finally:
            self.closed = True


def test_cancelling_stops_the_model_between_two_tokens():
    gen = SlowGenerator(reply=" ".join(["word"] * 100))
    cancelled = threading.Event()
    wrapped = CancellableGenerator(gen, cancelled)
    pieces = wrapped.stream("prompt")
    assert next(pieces) == "word "
    cancelled.set()
    with pytest.raises(Abandoned):
        next(pieces)
    assert gen.closed  # the engine's stream is closed at once: its lock is free
    with pytest.raises(Abandoned):
        wrapped.generate("prompt")
    assert wrapped.name == gen.name  # everything else is the model's


def test_a_cancelled_rehearsal_ends_soon_and_the_turn_is_answered(office):
    gen = SlowGenerator(reply=" ".join(["word"] * 200))  # 10 s of writing
    a = agent(office, gen)
    r = AgentResponder(a)
    r.prepare(heard("I want to cancel an order"))
    time.sleep(0.3)
    t0 = time.perf_counter()
    r.discard()
    gen.reply = "Sure."
    reply = r.respond(heard("bye"))
    assert time.perf_counter() - t0 < 2.0  # not the 10 s the rehearsal would have written for
    assert reply.end_call and [t.transcript for t in a.turns] == ["bye"]


def test_rehearsal_copies_are_independent(office):
    a = agent(office)
    a.state.slots["order_id"] = {"nested": ["x"]}
    rehearsal = Rehearsal(a, threading.Event())
    rehearsal.twin.state.slots["order_id"]["nested"].append("y")
    rehearsal.twin.state.tools.user_id = "someone"
    rehearsal.twin.history.append(object())
    assert a.state.slots["order_id"] == {"nested": ["x"]}
    assert a.state.tools.user_id is None and a.history == []
    assert rehearsal.fresh()
    rehearsal.adopt()
    assert a.state.tools.user_id == "someone" and a.state.slots["order_id"]["nested"] == ["x", "y"]
