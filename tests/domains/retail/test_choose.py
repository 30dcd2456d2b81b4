"""Choosing among the orders the agent offered: by the last digits, the status or the place in
the list, and the offer said aloud as a count by status instead of every id."""

from __future__ import annotations

import pytest

from dialogue.agent import Agent, AgentServices, CustomerTurn
from dialogue.policy.reply import render, render_spoken
from domains.retail.choose import by_status, pick_offered
from tests.fakes import FakeNLU

OFFERED = [("#W4817420", "pending"), ("#W6247578", "processed"), ("#W2378156", "delivered"),
           ("#W9912345", "delivered")]  # fmt: skip


@pytest.mark.parametrize(
    "text, picked",
    [
        ("the one ending in four two oh", "#W4817420"),
        ("578", "#W6247578"),
        ("尾号一五六", "#W2378156"),
        ("the pending one", "#W4817420"),
        ("待处理的那个", "#W4817420"),
        ("the processed order please", "#W6247578"),
        ("the second one", "#W6247578"),
        ("第三个", "#W2378156"),
        ("the delivered one", None),  # two are delivered: ask again
        ("ending in 5", None),  # one digit fits too many numbers
        ("the one ending in 999", None),
        ("my last order", None),  # "last" is left out: it means the newest
        ("I have 2 questions", None),
        ("", None),
    ],
)
def test_pick_offered(text, picked):
    assert pick_offered(text, OFFERED) == picked


def test_pick_offered_never_picks_outside_the_offer():
    for text in ("the fifth one", "第五个", "W1234567"):
        assert pick_offered(text, OFFERED) in (None, *[o for o, _ in OFFERED])
    assert pick_offered("the first one", []) is None


def test_the_offer_said_aloud_counts_by_status():
    assert by_status(OFFERED, "en") == "2 delivered, 1 pending and 1 processed"
    assert by_status(OFFERED, "zh") == "2个已送达、1个待处理和1个已处理"
    assert by_status(OFFERED[:1], "en") == "1 pending"
    slots = {"orders": ", ".join(o for o, _ in OFFERED), "count": 4, "by_status": by_status(OFFERED, "en")}  # fmt: skip
    spoken = render_spoken("ask_order_id", "en", slots)
    assert spoken.startswith("You have 4 orders: 2 delivered, 1 pending and 1 processed.")
    assert "#W" not in spoken and "#W4817420" in render("ask_order_id", "en", slots)
    assert "您有4个订单" in render_spoken("ask_order_id", "zh", {**slots, "by_status": by_status(OFFERED, "zh")})  # fmt: skip
    assert (
        render_spoken("ask_order_id", "en", {**slots, "count": 2}) == ""
    )  # short: read as written
    assert render_spoken("order_status", "en", slots) == ""  # no spoken form: the reply itself


SCRIPT = {
    "where is my order?": ("order_status", 0.97, ()),
    "my email is alice@example.com": ("order_status", 0.6, (("email", "alice@example.com"),)),
    "the processed one": ("order_status", 0.5, ()),
    "第四个": ("order_status", 0.5, ()),
    "the delivered one": ("order_status", 0.5, ()),
}


@pytest.mark.parametrize("answer, order", [("the processed one", "#W4"), ("第四个", "#W4"), ("the delivered one", "#W3")])  # fmt: skip
def test_a_caller_picks_an_order_from_the_spoken_offer(office, answer, order):
    a = Agent(AgentServices(nlu=FakeNLU(SCRIPT), office=office), session_id="t")
    a.respond(CustomerTurn(text="where is my order?"))
    ask = a.respond(CustomerTurn(text="my email is alice@example.com"))
    assert ask.decision.template == "ask_order_id"
    assert ask.spoken.startswith("You have 5 orders: 2 pending,") and ask.said() == ask.spoken
    assert "#W1" in ask.reply and "#W" not in ask.spoken  # the text keeps the list
    told = a.respond(CustomerTurn(text=answer))
    assert told.decision.template == "order_status" and order in told.reply
    assert told.spoken == "" and told.said() == told.reply
