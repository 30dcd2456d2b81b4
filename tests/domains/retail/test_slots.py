"""What the customer's words give the shop's tasks: credentials, reasons, items, addresses."""

from __future__ import annotations

import pytest

from domains.retail.slots import collect_slots


@pytest.mark.parametrize(
    "text, entities, expect",
    [
        ("it's #w2611340", [{"type": "order_number", "value": "w2611340"}], {"order_id": "#W2611340"}),
        ("ORD-1 please", [{"type": "order_number", "value": "ORD-1"}], {"order_id": "ORD-1"}),
        ("My name is Noah Brown, zip 80279", [{"type": "zip_code", "value": "80279"}],
         {"first_name": "Noah", "last_name": "Brown", "zip_code": "80279"}),
        ("Isabella Lopez, zip code 85034.", [{"type": "zip_code", "value": "85034"}],
         {"first_name": "Isabella", "last_name": "Lopez", "zip_code": "85034"}),
        ("Omar Kim，邮编 32214", [{"type": "zip_code", "value": "32214"}],
         {"first_name": "Omar", "last_name": "Kim", "zip_code": "32214"}),
        ("姓名 Liam Silva，邮编是 95110", [{"type": "zip_code", "value": "95110"}],
         {"first_name": "Liam", "last_name": "Silva", "zip_code": "95110"}),
        ("I ordered it by mistake", [], {"reason": "ordered by mistake"}),
        ("我买错了", [], {"reason": "ordered by mistake"}),
        ("I changed my mind, I don't need it", [], {"reason": "no longer needed"}),
        ("不需要了", [], {"reason": "no longer needed"}),
        ("everything in that order", [], {"all_items": True}),
        ("return all of it", [], {"all_items": True}),
        ("全部都退", [], {"all_items": True}),
        ("The new address is 12 Oak Street, Suite 4, Springfield, IL, 62704.", [],
         {"address": {"address1": "12 Oak Street", "address2": "Suite 4", "city": "Springfield",
                      "state": "IL", "zip": "62704", "country": "USA"}}),
    ],
)  # fmt: skip
def test_collect_slots(text, entities, expect):
    slots: dict = {}
    assert collect_slots(slots, text, entities) is True
    assert slots == expect


@pytest.mark.parametrize(
    "text",
    [
        "i am very angry",
        "hello there",
        "what time is it",
        "thanks, that's all for now",
        "all good",
        "New York zip codes",
    ],
)
def test_nothing_said_is_nothing_kept(text):
    slots: dict = {}
    assert collect_slots(slots, text, []) is False and slots == {}


@pytest.mark.parametrize(
    "text, reason",
    [("我不要了", "no longer needed"), ("不想要了", "no longer needed"), ("不再需要", "no longer needed"),
     ("用不着了", "no longer needed"), ("I don't need it anymore", "no longer needed"),
     ("I don't want it anymore", "no longer needed"), ("no need for it anymore", "no longer needed"),
     ("买错了", "ordered by mistake"), ("下错单了", "ordered by mistake"), ("点错了", "ordered by mistake"),
     ("ordered by mistake", "ordered by mistake"), ("it was a mistake", "ordered by mistake"),
     ("I didn't mean to order it", "ordered by mistake")],
)  # fmt: skip
def test_a_cancel_reason_in_other_words(text, reason):
    slots: dict = {}
    assert collect_slots(slots, text, []) is True and slots == {"reason": reason}


@pytest.mark.parametrize("text", ["I don't want to cancel", "I don't want to talk to a bot", "不要取消"])  # fmt: skip
def test_not_wanting_something_else_is_no_reason(text):
    slots: dict = {}
    collect_slots(slots, text, [])
    assert "reason" not in slots
