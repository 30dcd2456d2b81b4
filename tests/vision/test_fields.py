"""Fields in OCR and ASR text: one table per kind, English and Chinese, plus the invariants
every answer keeps (spans point at the text, sorted, never overlapping)."""

from __future__ import annotations

import ast
from itertools import pairwise

import pytest

from tests.conftest import ROOT
from vision.fields import CORE_CUES, FIELD_KINDS, FieldCues, extract_fields, parse_chinese_number
from vision.pack_words import pack_words

# The tables are written for the sample shop, so they are read with its words (订单号, 快递单号,
# 退款...: its domain.toml [fields]) beside the core's; what the core reads alone is tested below.
SHOP = pack_words(ROOT / "domains" / "retail")[0]


def read(text, kinds=None):
    return extract_fields(text, kinds, SHOP)


# (text, kind, value): the text holds exactly this one field
ONE_FIELD = [
    # said by callers: a tracking cue a few words before its number, a month and day with no
    # year, yuan and jiao
    ("The tracking number on the box says 357962501027", "tracking_number", "357962501027"),
    ("I ordered it on March 3rd", "date", "--03-03"),
    ("it came on may 12th.", "date", "--05-12"),
    ("退款金额应该是二十九块九", "amount", "29.90 CNY"),
    ("两块五毛", "amount", "2.50 CNY"),
    ("29块9", "amount", "29.90 CNY"),
    # order numbers
    ("order 12345", "order_number", "12345"),
    ("Order No. W1234567", "order_number", "W1234567"),
    ("Order #A1B2C3 has shipped", "order_number", "A1B2C3"),
    ("Order ID: ord-12345", "order_number", "ORD-12345"),
    ("order number is A-1234", "order_number", "A-1234"),
    ("see ORDER-88812 for details", "order_number", "ORDER-88812"),
    ("ref #W1234567", "order_number", "W1234567"),
    ("订单号 20261129001", "order_number", "20261129001"),
    ("订单编号：A1B2C3", "order_number", "A1B2C3"),
    ("我的订单是 ORD-12345", "order_number", "ORD-12345"),
    ("单号20261129001", "order_number", "20261129001"),
    ("订单号一二三四五", "order_number", "12345"),
    ("订单号：ＡＢ１２３４", "order_number", "AB1234"),  # full-width OCR
    # error codes
    ("Error 0x80070005", "error_code", "0x80070005"),
    ("failed with 0x8007000e", "error_code", "0x8007000E"),
    ("net::ERR_CONNECTION_RESET", "error_code", "ERR_CONNECTION_RESET"),
    ("E1042 occurred", "error_code", "E1042"),
    ("error code 502", "error_code", "502"),
    ("Error: E-2001", "error_code", "E-2001"),
    ("404 Not Found", "error_code", "404"),
    ("HTTP/1.1 500 Internal Server Error", "error_code", "500"),
    ("HTTP error 503", "error_code", "503"),
    ("错误代码：E-1042", "error_code", "E-1042"),
    ("错误码 502", "error_code", "502"),
    ("报错 0x80070005 了", "error_code", "0x80070005"),
    # amounts
    ("$12.50", "amount", "12.50 USD"),
    ("USD 1,299.00", "amount", "1299.00 USD"),
    ("total €20", "amount", "20.00 EUR"),
    ("£5", "amount", "5.00 GBP"),
    ("12.5 dollars", "amount", "12.50 USD"),
    ("HK$100", "amount", "100.00 HKD"),
    ("A$5.5", "amount", "5.50 AUD"),
    ("C$7", "amount", "7.00 CAD"),
    ("JPY 500", "amount", "500.00 JPY"),
    ("99.999 EUR", "amount", "100.00 EUR"),
    ("¥128", "amount", "128.00 CNY"),
    ("￥128", "amount", "128.00 CNY"),
    ("实付128元", "amount", "128.00 CNY"),
    ("128 块", "amount", "128.00 CNY"),
    ("花了128块钱买的", "amount", "128.00 CNY"),
    ("人民币128元", "amount", "128.00 CNY"),
    ("RMB 128", "amount", "128.00 CNY"),
    ("一共一百二十八元", "amount", "128.00 CNY"),
    ("三点五元", "amount", "3.50 CNY"),
    ("3万5千元", "amount", "35000.00 CNY"),
    ("20美元", "amount", "20.00 USD"),
    ("500円", "amount", "500.00 JPY"),
    # dates
    ("2026-11-29", "date", "2026-11-29"),
    ("2026/11/29", "date", "2026-11-29"),
    ("due 11/29/2026", "date", "2026-11-29"),
    ("29/11/2026", "date", "2026-11-29"),  # first part > 12: day first
    ("29 Nov 2026", "date", "2026-11-29"),
    ("Nov 29, 2026", "date", "2026-11-29"),
    ("November 29th 2026", "date", "2026-11-29"),
    ("2026-11-29T10:00:00", "date", "2026-11-29"),
    ("2024-02-29", "date", "2024-02-29"),
    ("2026年11月29日", "date", "2026-11-29"),
    ("11月29日", "date", "--11-29"),
    ("11月29号", "date", "--11-29"),
    ("十一月二十九日", "date", "--11-29"),
    ("二〇二四年二月二十九日", "date", "2024-02-29"),
    ("２０２６－１１－２９", "date", "2026-11-29"),
    # emails
    ("Mail Jane.Doe@Example.COM now", "email", "jane.doe@example.com"),
    ("邮箱：zhang.wei@shop.com.cn", "email", "zhang.wei@shop.com.cn"),
    ("联系service+vip@qq.com获取", "email", "service+vip@qq.com"),
    # phones
    ("13812345678", "phone", "+8613812345678"),
    ("手机 138 1234 5678", "phone", "+8613812345678"),
    ("+86 138-1234-5678", "phone", "+8613812345678"),
    ("(415) 555-0134", "phone", "+14155550134"),
    ("call 415-555-0134", "phone", "+14155550134"),
    ("+1 415 555 0134", "phone", "+14155550134"),
    ("1-800-555-0199", "phone", "+18005550199"),
    ("+44 20 7946 0958", "phone", "+442079460958"),
    ("客服电话 400-820-8820", "phone", "+864008208820"),
    ("010-12345678", "phone", "+861012345678"),
    ("Tel: 5550134", "phone", "5550134"),
    # tracking numbers
    ("1Z999AA10123456784", "tracking_number", "1Z999AA10123456784"),
    ("9400100000000000000000", "tracking_number", "9400100000000000000000"),
    ("9400 1000 0000 0000 0000 00", "tracking_number", "9400100000000000000000"),
    ("tracking number 123456789012", "tracking_number", "123456789012"),
    ("Tracking #: 1z999aa10123456784", "tracking_number", "1Z999AA10123456784"),
    ("SF1234567890123", "tracking_number", "SF1234567890123"),
    ("EA123456789CN", "tracking_number", "EA123456789CN"),
    ("快递单号：SF1234567890123", "tracking_number", "SF1234567890123"),
    ("运单号 773012345678", "tracking_number", "773012345678"),
    ("物流单号是YT1234567890123", "tracking_number", "YT1234567890123"),
]

# texts that hold no field at all
NOTHING = [
    "may I ask what happened in March 2026?",  # "may" is a month only before a day
    "the tracking page says it is on its way",
    "12345678",  # a plain number is no phone, amount or error code
    "Version 2.0, build 1042",
    "room 404",
    "call me at 12",
    "+1 555",  # too few digits for a phone
    "Order 123 items",
    "Order Confirmation",
    "Order date: not yet",
    "Error: file not found",
    "订单详情",
    "订单已发货",
    "一块手表",  # one watch, not one yuan
    "2026",
    "2026-02-30",  # no February 30
    "Feb 30, 2026",
    "2月30日",
    "13/13/2026",
    "二〇二六年二月二十九日",  # 2026 is no leap year
    "the price is 128",  # amounts need a currency
    "",
]

# (text, [(kind, value), ...]): overlapping matches keep the more specific one
OVERLAPS = [
    ("order12345@shop.com", [("email", "order12345@shop.com")]),
    ("contact 13812345678@163.com", [("email", "13812345678@163.com")]),
    ("tracking number 13812345678", [("tracking_number", "13812345678")]),
    ("运单号 13812345678", [("tracking_number", "13812345678")]),
    ("订单号 13812345678", [("order_number", "13812345678")]),
    ("Order 4155550134", [("order_number", "4155550134")]),
    ("¥13812345678", [("phone", "+8613812345678")]),  # a phone beats a bare amount
    ("快递单号 SF1234567890123", [("tracking_number", "SF1234567890123")]),  # not 单号
    ("人民币128元", [("amount", "128.00 CNY")]),  # one amount, not 128元 inside it
    ("Error 0x80070005", [("error_code", "0x80070005")]),  # cue and shape agree: one field
    ("HTTP 503 Service Unavailable", [("error_code", "503")]),
    (
        "order 12345 on 2026-11-29 cost $12.50",
        [("order_number", "12345"), ("date", "2026-11-29"), ("amount", "12.50 USD")],
    ),
]

# (text, [(kind, text, value), ...]): one realistic OCR page per language
PAGES = [
    (
        "Order Confirmation\n"
        "Order #: ORD-20261129\n"
        "Placed on Nov 29, 2026\n"
        "Total: $1,299.00\n"
        "Ship to: Jane Doe, (415) 555-0134\n"
        "Email: jane.doe@example.com\n"
        "Tracking number: 1Z999AA10123456784",
        [
            ("order_number", "ORD-20261129", "ORD-20261129"),
            ("date", "Nov 29, 2026", "2026-11-29"),
            ("amount", "$1,299.00", "1299.00 USD"),
            ("phone", "(415) 555-0134", "+14155550134"),
            ("email", "jane.doe@example.com", "jane.doe@example.com"),
            ("tracking_number", "1Z999AA10123456784", "1Z999AA10123456784"),
        ],
    ),
    (
        "订单详情\n"
        "订单编号：20261129001\n"
        "下单时间：2026年11月29日 14:32\n"
        "实付款：￥128.00\n"
        "收货人：张伟 138 1234 5678\n"
        "快递单号：SF1234567890123\n"
        "客服邮箱：service@shop.cn",
        [
            ("order_number", "20261129001", "20261129001"),
            ("date", "2026年11月29日", "2026-11-29"),
            ("amount", "￥128.00", "128.00 CNY"),
            ("phone", "138 1234 5678", "+8613812345678"),
            ("tracking_number", "SF1234567890123", "SF1234567890123"),
            ("email", "service@shop.cn", "service@shop.cn"),
        ],
    ),
    (
        "Windows Update\n"
        "Something went wrong. Error 0x80070005\n"
        "Access is denied.\n"
        "Details: HTTP 503 Service Unavailable\n"
        "Try again after 11/30/2026 or contact support@contoso.com",
        [
            ("error_code", "0x80070005", "0x80070005"),
            ("error_code", "503", "503"),
            ("date", "11/30/2026", "2026-11-30"),
            ("email", "support@contoso.com", "support@contoso.com"),
        ],
    ),
    (
        "支付失败\n"
        "错误代码：E-1042\n"
        "订单号 20261129001 支付 ¥128 未成功\n"
        "请于 11月30日 前重试，或拨打客服电话 400-820-8820",
        [
            ("error_code", "E-1042", "E-1042"),
            ("order_number", "20261129001", "20261129001"),
            ("amount", "¥128", "128.00 CNY"),
            ("date", "11月30日", "--11-30"),
            ("phone", "400-820-8820", "+864008208820"),
        ],
    ),
]

ALL_TEXTS = [t for t, _, _ in ONE_FIELD] + NOTHING + [t for t, _ in OVERLAPS + PAGES]


def pairs(text: str) -> list[tuple[str, str]]:
    return [(f.kind, f.value) for f in read(text)]


@pytest.mark.parametrize(("text", "kind", "value"), ONE_FIELD)
def test_one_field(text, kind, value):
    assert pairs(text) == [(kind, value)]


@pytest.mark.parametrize("text", NOTHING)
def test_nothing(text):
    assert read(text) == ()


@pytest.mark.parametrize(("text", "expected"), OVERLAPS)
def test_overlaps_keep_the_more_specific_field(text, expected):
    assert pairs(text) == expected


@pytest.mark.parametrize(("text", "expected"), PAGES)
def test_ocr_pages(text, expected):
    assert [(f.kind, f.text, f.value) for f in read(text)] == expected


@pytest.mark.parametrize("text", ALL_TEXTS)
def test_spans_point_at_the_text_sorted_and_disjoint(text):
    fields = read(text)
    for f in fields:
        assert f.kind in FIELD_KINDS
        assert 0 <= f.span[0] < f.span[1] <= len(text)
        assert text[f.span[0] : f.span[1]] == f.text
        assert f.value
    for a, b in pairwise(fields):
        assert a.span[1] <= b.span[0]


@pytest.mark.parametrize(
    ("text", "field_text"),
    [
        ("order 12345", "12345"),
        ("订单号：20261129001", "20261129001"),
        ("Error code: 502", "502"),
        ("快递单号：SF1234567890123", "SF1234567890123"),
        ("$12.50", "$12.50"),
        ("人民币128元", "人民币128元"),
    ],
)
def test_a_field_is_its_value_without_the_cue(text, field_text):
    (f,) = read(text)
    assert f.text == field_text


@pytest.mark.parametrize("kinds", [("phone",), ("order_number", "amount"), FIELD_KINDS, ()])
@pytest.mark.parametrize("text", [t for t, _ in OVERLAPS + PAGES])
def test_kinds_filter_is_the_full_answer_with_other_kinds_left_out(text, kinds):
    full = read(text)
    assert read(text, kinds) == tuple(f for f in full if f.kind in kinds)


def test_one_kind_may_be_given_as_a_string():
    assert pairs("order 12345, $5") == [("order_number", "12345"), ("amount", "5.00 USD")]
    assert read("order 12345, $5", "amount") == read("order 12345, $5", ["amount"])


@pytest.mark.parametrize("kinds", [["phone_number"], ["email", "mail"], "orders"])
def test_unknown_kinds_raise_and_list_the_choices(kinds):
    with pytest.raises(ValueError, match="choose from") as info:
        read("order 12345", kinds)
    assert all(kind in str(info.value) for kind in FIELD_KINDS)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("零", 0),
        ("十", 10),
        ("十五", 15),
        ("二十", 20),
        ("一百二十八", 128),
        ("一百零五", 105),
        ("一千零二十", 1020),
        ("两千", 2000),
        ("三百五", 350),  # spoken short form
        ("两万五", 25000),
        ("十万", 100000),
        ("3万5千", 35000),
        ("1.5万", 15000),
        ("一亿二千万", 120000000),
        ("壹佰贰拾捌", 128),
        ("叁仟肆佰", 3400),
        ("一二三四五", 12345),
        ("二〇二六", 2026),
        ("三点五", 3.5),
        ("三点一四", 3.14),
        ("十二点五", 12.5),
        ("12.5", 12.5),
        (" 128 ", 128),
    ],
)
def test_parse_chinese_number(text, value):
    got = parse_chinese_number(text)
    assert got == value
    assert type(got) is type(value)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "abc", "一百abc", "二三百", "十百", "万", "点五", "三点", "一点二点三", "三点十"],
)
def test_parse_chinese_number_rejects_junk_and_says_what_to_write(text):
    with pytest.raises(ValueError, match="cannot read .* as a number.*一百二十八"):
        parse_chinese_number(text)


def test_many_fields_in_a_long_text_stay_fast_and_disjoint():
    line = "订单号 20261129001 支付 ¥128 11月30日 400-820-8820 Error 0x80070005 a@b.com\n"
    fields = read(line * 500)
    assert len(fields) == 6 * 500
    assert all(a.span[1] <= b.span[0] for a, b in pairwise(fields))


def test_the_module_imports_only_the_stdlib_vision_types_and_its_numerals():
    tree = ast.parse((ROOT / "vision" / "fields.py").read_text(encoding="utf-8"))
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    ours = {
        name
        for name in imported
        if name.split(".")[0] in {"voice", "vision", "fusion", "dialogue", "demo"}
    }
    assert ours == {"vision.types", "vision.numerals"}
    assert "NLU" in (ast.get_docstring(tree) or "")


@pytest.mark.parametrize(
    "text, value",
    [
        ("number TBA774503991994.", "TBA774503991994"),
        ("JJD370410987873298994", "JJD370410987873298994"),
    ],
)
def test_carrier_shapes_without_a_cue(text, value):
    assert [(f.kind, f.value) for f in read(text)] == [("tracking_number", value)]


# ---------------------------------------------------------------- a business's own cue words


@pytest.mark.parametrize(
    ("text", "core", "shop"),
    [
        ("订单编号：A1B2C3", [], [("order_number", "A1B2C3")]),
        ("退款三百五", [], [("amount", "350.00 CNY")]),
        ("物流编号 7731234567", [], [("tracking_number", "7731234567")]),
        # the core's own: 单号 (an order, unless the value has a carrier's shape), 运单号, 花了
        ("单号 12345678", [("order_number", "12345678")], [("order_number", "12345678")]),
        ("快递单号 SF1234567890123", [("tracking_number", "SF1234567890123")], [("tracking_number", "SF1234567890123")]),
        ("运单号 123456789012", [("tracking_number", "123456789012")], [("tracking_number", "123456789012")]),
        ("一共花了三百五", [("amount", "350.00 CNY")], [("amount", "350.00 CNY")]),
    ],
)  # fmt: skip
def test_a_business_adds_its_cue_words_to_the_cores(text, core, shop):
    assert [(f.kind, f.value) for f in extract_fields(text)] == core
    assert [(f.kind, f.value) for f in extract_fields(text, cues=SHOP)] == shop


def test_cue_words_are_words_not_patterns():
    """A word with regex characters is matched as written: "No.(" names an order, "." nothing."""
    cues = FieldCues(order_number=("No.(", "卡号"))
    assert [(f.kind, f.value) for f in extract_fields("No.( A12345", cues=cues)] == [("order_number", "A12345")]  # fmt: skip
    assert [(f.kind, f.value) for f in extract_fields("卡号 62284801", cues=cues)] == [("order_number", "62284801")]  # fmt: skip
    assert extract_fields("NoX( A12345", cues=cues) == ()
    assert extract_fields("订单编号：A1B2C3", cues=CORE_CUES) == ()


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"order": ["订单号"]}, r"domain.toml: \[fields\] no field kind \['order'\]"),
        ({"order_number": "订单号"}, "give a list of words"),
        ({"amount": ["退款", ""]}, "give a tuple of words"),
        ({"tracking_number": [3]}, "give a tuple of words"),
    ],
)
def test_bad_cue_words_say_where_and_how_to_fix(table, match):
    with pytest.raises(ValueError, match=match):
        FieldCues.from_table(table)


def test_cue_words_are_compiled_once_per_set():
    extract_fields("订单号 12345", cues=SHOP)
    from vision.fields import _rules

    assert _rules(SHOP) is _rules(pack_words(ROOT / "domains" / "retail")[0])
