"""Guided training conversations: the Agent's facts land on the agent turns, the script's words
are kept only where the guard lets them through, a diverging script stops, and the facts reach
the training prompt."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from dialogue.agent import AgentServices
from dialogue.lm.convdata import ConvDataError, Conversation, ConvTurn, TurnAction
from dialogue.lm.converters import redact_conversation
from dialogue.lm.examples import turn_facts, turn_messages
from dialogue.lm.guided import DECISION, OpenScript, guide, guide_open
from fusion.fuse import Fusion
from tests.conftest import tiny_tokenizer
from tests.fakes import FakeNLU

NLU = FakeNLU(
    {
        "Where is my order?": ("order_status", 0.95, ()),
        "It's alice@example.com": ("order_status", 0.95, (("email", "alice@example.com"),)),
        "hello": ("greeting", 0.99, ()),
    }
)


def _conv(*turns: ConvTurn) -> Conversation:
    return Conversation("c1", "retail", "en", turns, {"group": "g"})


@pytest.fixture
def services(office):
    return AgentServices(nlu=NLU, office=office)


def test_the_scripts_words_are_kept_with_the_facts_the_agent_was_given(services):
    conv = _conv(
        ConvTurn("customer", "Where is my order?"),
        ConvTurn("agent", "Happy to check. What's the email on your account?"),
        ConvTurn("customer", "It's alice@example.com"),
        ConvTurn("agent", "", action=TurnAction("find_user_id_by_email", {"email": "alice@example.com"})),
        ConvTurn("agent", "Thanks, I found your account: #W1 (pending), #W2 (pending), #W3 (delivered), #W4 (processed), #W5 (cancelled)."),
        ConvTurn("agent", "Which one do you mean?"),
    )  # fmt: skip
    notes = Counter()
    got = guide(conv, services, notes)
    agent = [t for t in got.turns if t.role == "agent"]
    assert [t.text for t in agent] == [
        "Happy to check. What's the email on your account?",
        "Thanks, I found your account: #W1 (pending), #W2 (pending), #W3 (delivered), #W4 (processed), #W5 (cancelled). Which one do you mean?",
    ], notes
    assert (
        agent[1].slots["orders"].startswith("#W1 (pending)")
    )  # the training target says {orders}  # the two scripted turns of the second reply are one, as the Agent says one reply
    for t in agent:
        assert t.facts and t.facts[0][0] == DECISION
    # the facts the Agent showed its model: the decision, not the tools' results (those went to
    # the guard), unless the services quote them (AgentServices.tool_results_in_prompt)
    assert not any(src.startswith("tool:") for src, _ in agent[1].facts)
    quoted = guide(conv, dataclasses.replace(services, tool_results_in_prompt=True), Counter())
    shown = [t for t in quoted.turns if t.role == "agent"][1].facts
    assert any(src == "tool:find_user_id_by_email" for src, _ in shown)
    assert "ask_auth" in agent[0].facts[0][1] or "verify" in agent[0].facts[0][1].lower()
    assert notes["script's words"] == 2 and got.meta["guided"] is True


def test_words_the_guard_rejects_become_the_agents_reply(services):
    conv = _conv(
        ConvTurn("customer", "Where is my order?"),
        ConvTurn("agent", "I've refunded $500.00 to your card already."),
    )
    notes = Counter()
    got = guide(conv, services, notes)
    reply = got.turns[1].text
    assert "$500" not in reply and reply.strip()
    assert sum(v for k, v in notes.items() if k.startswith("template:")) == 1


def test_a_script_that_acts_otherwise_stops_there(services):
    conv = _conv(
        ConvTurn("customer", "Where is my order?"),
        ConvTurn("agent", "", action=TurnAction("cancel_pending_order", {"order_id": "#W1"})),
        ConvTurn("agent", "Cancelled."),
        ConvTurn("customer", "hello"),
        ConvTurn("agent", "Hi!"),
    )
    notes = Counter()
    got = guide(conv, services, notes)
    assert [t.role for t in got.turns] == ["customer", "agent"]
    assert got.turns[1].text != "Cancelled." and notes["template: the script acted otherwise; stopped"] == 1  # fmt: skip


def test_conversations_with_audio_or_screenshots_are_left_out(services):
    conv = _conv(ConvTurn("customer", "hi", transcript="hi"), ConvTurn("agent", "Hello!"))
    notes = Counter()
    assert guide(conv, services, notes) is None and sum(notes.values()) == 1


def test_an_open_script_gets_the_agents_replies(services):
    got = guide_open(OpenScript("o1", "en", ("hello",), "small_talk"), services, Counter())
    assert [t.role for t in got.turns] == ["customer", "agent"]
    assert got.turns[1].text and got.turns[1].facts[0][0] == DECISION


def test_facts_replace_the_tool_result_in_the_training_prompt():
    fusion = Fusion(tiny_tokenizer())
    facts = ((DECISION, "answer: It takes 5-7 business days."), ("kb:faq.csv#r", "5-7 business days"))  # fmt: skip
    turn = ConvTurn("agent", "About a week.", action=TurnAction("t", {}, {"x": 1}), facts=facts)
    assert [(f.source, f.text) for f in turn_facts(turn)] == list(facts)
    messages = turn_messages(_conv(ConvTurn("customer", "refund?"), turn), fusion)
    system, customer, reply = messages[0]
    assert customer.content.startswith("refund?")  # the facts follow the customer's words
    assert "5-7 business days" in customer.content and "policy:decision" in customer.content
    assert "policy:decision" not in system.content and reply.content == "About a week."


def test_facts_round_trip_and_are_checked():
    turn = ConvTurn("agent", "ok", facts=((DECISION, "greeting: Hi"),))
    assert ConvTurn.from_dict(turn.to_dict()) == turn
    with pytest.raises(ConvDataError, match="line 3"):
        ConvTurn.from_dict({"role": "agent", "text": "ok", "facts": [{"source": 1}]}, "line 3")
    with pytest.raises(ConvDataError, match="facts or slots on a customer turn"):
        ConvTurn("customer", "hi", facts=())
    slotted = ConvTurn("agent", "Order #W1 is pending.", slots={"order_id": "#W1"})
    assert ConvTurn.from_dict(slotted.to_dict()) == slotted
    with pytest.raises(ConvDataError, match="slots must be an object of strings"):
        ConvTurn.from_dict({"role": "agent", "text": "ok", "slots": {"n": 1}})


def test_the_model_is_trained_to_write_slot_marks_and_sees_the_values_said_before():
    fusion = Fusion(tiny_tokenizer())
    said = ConvTurn("agent", "Order #W1 is pending.", slots={"order_id": "#W1", "status": "pending"})  # fmt: skip
    conv = _conv(ConvTurn("customer", "where is #W1?"), said, ConvTurn("customer", "thanks"),
                 ConvTurn("agent", "Bye!"))  # fmt: skip
    first, second = turn_messages(conv, fusion)
    assert first[-1].content == "Order {order_id} is {status}."
    assert second[-3].content == "Order #W1 is pending."  # the history as the customer saw it


def test_facts_are_redacted():
    conv = _conv(
        ConvTurn("customer", "hi"),
        ConvTurn("agent", "ok", facts=(("tool:find", "email bob.smith@example.com"),)),
    )
    redacted, report = redact_conversation(conv)
    assert "bob.smith@example.com" not in redacted.turns[1].facts[0][1]
    assert report.to_dict()


def test_the_build_notes_count_kinds_of_reasons_not_values():
    from dialogue.lm.guided import _kind

    a = _kind("template (drops '1006327', which the template says)")
    b = _kind("template (drops '2378156', which the template says)")
    assert a == b == "drops '…', which the template says"
    assert _kind("template (states amount '$98.25', which is not in the context)") == "states amount '…', which is not in the context"  # fmt: skip
