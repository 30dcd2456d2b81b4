"""dialogue.lm.redact: typed placeholders for emails, phones, cards, addresses and zip codes, in
English and Chinese; order and tracking numbers kept; counts in the report."""

from __future__ import annotations

import pytest

from dialogue.lm.redact import (
    PLACEHOLDERS,
    RedactionReport,
    is_card_number,
    luhn_ok,
    redact,
    redact_value,
    redact_with_report,
)

# text, redacted text, the counts that are not zero
CASES = [
    # emails and phones, found by vision.fields
    ("Mail me at ann.lee@example.com please", "Mail me at <EMAIL> please", {"email": 1}),
    ("call (415) 555-0134 or 415-555-0199", "call <PHONE> or <PHONE>", {"phone": 2}),
    ("+1 415 555 0134", "<PHONE>", {"phone": 1}),
    (
        "我的手机号是13812345678，邮箱 wang.li@163.com",
        "我的手机号是<PHONE>，邮箱 <EMAIL>",
        {"phone": 1, "email": 1},
    ),  # fmt: skip
    ("+86 138 1234 5678 找我", "<PHONE> 找我", {"phone": 1}),
    ("电话：010-12345678", "电话：<PHONE>", {"phone": 1}),
    # cards: issuer prefix, length and Luhn
    ("card 4111 1111 1111 1111 ok", "card <CARD> ok", {"card": 1}),
    ("card 5555-5555-5555-4444", "card <CARD>", {"card": 1}),
    ("amex 3782 822463 10005", "amex <CARD>", {"card": 1}),
    ("退款到6222020511009268521", "退款到<CARD>", {"card": 1}),
    ("not Luhn 4111 1111 1111 1112", "not Luhn 4111 1111 1111 1112", {}),
    (
        "seven-digit groups 1300752 1304618 1310798",
        "seven-digit groups 1300752 1304618 1310798",
        {},
    ),  # fmt: skip
    # addresses and zip codes
    (
        "Ship to 986 Sunset Drive, Suite 259, Denver, CO 80279, USA.",
        "Ship to <ADDRESS>.",
        {"address": 1},
    ),  # fmt: skip
    ("I live at 12 Oak Street.", "I live at <ADDRESS>.", {"address": 1}),
    ("6821 1st ave  san mateo, ny 75227", "<ADDRESS>", {"address": 1}),
    ("my zip code is 80279", "my zip code is <ZIP>", {"zip": 1}),
    (
        "我住在北京市朝阳区建国路88号3号楼，邮编100020",
        "我住在<ADDRESS>，邮编<ZIP>",
        {"address": 1, "zip": 1},
    ),  # fmt: skip
    ("请寄到上海市浦东新区世纪大道100号", "请寄到<ADDRESS>", {"address": 1}),
    ("邮编是 10001", "邮编是 <ZIP>", {"zip": 1}),
    # kept: order and tracking numbers, plain numbers, everyday words
    (
        "Order #W2611340, tracking number 357962501027",
        "Order #W2611340, tracking number 357962501027",
        {},
    ),  # fmt: skip
    ("订单号 13812345678 还没到", "订单号 13812345678 还没到", {}),
    ("订单号1312121338444,EMS运单", "订单号1312121338444,EMS运单", {}),
    ("tracking 1Z999AA10123456784", "tracking 1Z999AA10123456784", {}),
    ("I bought 2 shirts on the way home", "I bought 2 shirts on the way home", {}),
    ("it cost $536.65 on 2024-05-01", "it cost $536.65 on 2024-05-01", {}),
    ("", "", {}),
]


@pytest.mark.parametrize(("text", "expected", "counts"), CASES)
def test_redact(text, expected, counts):
    out, report = redact_with_report(text)
    assert out == expected
    assert {k: v for k, v in report.to_dict().items() if v} == counts
    assert redact(text) == expected


@pytest.mark.parametrize(("text", "expected", "counts"), CASES)
def test_redacting_twice_changes_nothing_more(text, expected, counts):
    once = redact(text)
    assert redact(once) == once
    assert redact_with_report(once)[1].total == 0


def test_placeholders_are_the_same_for_every_value():
    a = redact("a@x.com and b@y.org")
    assert a == "<EMAIL> and <EMAIL>"  # typed, never numbered: nothing can be mapped back


@pytest.mark.parametrize(
    ("digits", "luhn", "card"),
    [
        ("4111111111111111", True, True),
        ("4111111111111112", False, False),
        ("378282246310005", True, True),  # Amex, 15
        ("1312121338444", True, False),  # Luhn-valid, but no issuer starts with 1
        ("4222222222222", True, True),  # 13-digit Visa
        ("5555555555554444", True, True),
        ("55555555555544", False, False),
    ],
)
def test_cards(digits, luhn, card):
    assert luhn_ok(digits) is luhn
    assert is_card_number(digits) is card


def test_report_adds_up():
    r = RedactionReport(email=1, zip=2) + RedactionReport(email=3, card=1)
    assert {k: v for k, v in r.to_dict().items() if v} == {"email": 4, "card": 1, "zip": 2}
    assert r.total == 7
    assert set(r.to_dict()) == set(PLACEHOLDERS)


def test_redact_value_by_key_and_by_content():
    args = {
        "email": "noah@example.com",
        "zip": "80279",
        "address1": "1 Main St",
        "address2": "",
        "city": "Denver",
        "order_id": "#W2611340",
        "item_ids": ["1008292230"],
        "note": "call 415-555-0134",
        "n": 3,
    }
    out, report = redact_value(args)
    assert out == {
        "email": "<EMAIL>",
        "zip": "<ZIP>",
        "address1": "<ADDRESS>",
        "address2": "",
        "city": "Denver",
        "order_id": "#W2611340",
        "item_ids": ["1008292230"],
        "note": "call <PHONE>",
        "n": 3,
    }
    assert {k: v for k, v in report.to_dict().items() if v} == {
        "email": 1,
        "phone": 1,
        "address": 1,
        "zip": 1,
    }
    assert redact_value(out)[0] == out  # placeholders are not counted again
    assert redact_value(None) == (None, RedactionReport())
