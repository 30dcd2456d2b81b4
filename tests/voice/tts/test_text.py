"""Text for speech: ids, phones, amounts, dates, emails and abbreviations, en and zh; sentences and
script runs for streaming and for routing mixed text."""

from __future__ import annotations

import pytest

from voice.tts.text import (
    guess_language,
    normalize,
    say_number_en,
    say_number_zh,
    say_ordinal_en,
    script_runs,
    split_sentences,
)

CASES = [
    # (language, written, said)
    (
        "en",
        "Your order #W2378156 shipped.",
        "Your order W two three seven eight one five six shipped.",
    ),
    ("en", "order 12345", "order one two three four five"),
    ("en", "It costs $12.50.", "It costs twelve dollars and fifty cents."),
    ("en", "$1", "one dollar"),
    ("en", "$0.99", "ninety-nine cents"),
    ("en", "$1,234.05", "one thousand two hundred thirty-four dollars and five cents"),
    ("en", "¥128.5", "one hundred twenty-eight point five yuan"),
    ("en", "Call 555-123-4567.", "Call five five five, one two three, four five six seven."),
    (
        "en",
        "+86 138 0013 8000",
        "plus eight six, one three eight, zero zero one three, eight zero zero zero",
    ),
    (
        "en",
        "card 4111 1111 1111 1111",
        "card four one one one, one one one one, one one one one, one one one one",
    ),
    ("en", "on 2026-03-04", "on March fourth, twenty twenty-six"),
    ("en", "john.doe@example.com", "john dot doe at example dot com"),
    ("en", "Dr. Lee, approx. 3.5 hours", "Doctor Lee, approximately three point five hours"),
    ("en", "your ID please", "your I D please"),
    ("en", "at 10:05 today", "at ten oh five today"),
    ("en", "20% off", "twenty percent off"),
    ("en", "the 21st", "the twenty-first"),
    ("zh", "¥128.5", "一百二十八点五元"),
    ("zh", "128.5元", "一百二十八点五元"),
    ("zh", "退款128.50元", "退款一百二十八点五元"),
    ("zh", "3月4日", "三月四日"),
    ("zh", "2026-03-04", "二零二六年三月四日"),
    ("zh", "2026年3月4日", "二零二六年三月四日"),
    ("zh", "请拨打13800138000。", "请拨打幺三八，零零幺三，八零零零。"),
    ("zh", "热线是400-820-1234", "热线是四零零，八二零，幺二三四"),
    ("zh", "订单W2378156已发货", "订单W二三七八一五六已发货"),
    ("zh", "单号是W237-8156已发货", "单号是W二三七八一五六已发货"),
    ("zh", "订单号12345", "订单号一二三四五"),
    ("zh", "您的订单#W2378156已发货", "您的订单W二三七八一五六已发货"),
    ("zh", "邮箱john@example.com", "邮箱john艾特example点com"),
    ("zh", "优惠20%", "优惠百分之二十"),
    ("zh", "共3.5小时", "共三点五小时"),
]


@pytest.mark.parametrize(("language", "written", "said"), CASES)
def test_normalize(language, written, said):
    assert normalize(written, language) == said


@pytest.mark.parametrize(
    ("n", "en", "zh"),
    [(0, "zero", "零"), (10, "ten", "十"), (15, "fifteen", "十五"), (105, "one hundred five", "一百零五"),
     (1005, "one thousand five", "一千零五"), (10005, "ten thousand five", "一万零五"),
     (120000, "one hundred twenty thousand", "十二万"), (100000000, "one hundred million", "一亿")],
)  # fmt: skip
def test_cardinals(n, en, zh):
    assert say_number_en(n) == en
    assert say_number_zh(n) == zh


@pytest.mark.parametrize(
    ("n", "said"), [(1, "first"), (12, "twelfth"), (21, "twenty-first"), (30, "thirtieth")]
)
def test_ordinals(n, said):
    assert say_ordinal_en(n) == said


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Hello Dr. Smith. Your refund is 3.5 dollars! Is that OK?",
         ["Hello Dr. Smith.", "Your refund is 3.5 dollars!", "Is that OK?"]),
        ("Write to a.b@example.com. Thanks", ["Write to a.b@example.com.", "Thanks"]),
        ("e.g. this one. And J. Smith too.", ["e.g. this one.", "And J. Smith too."]),
        ("您好。退款已处理！还有问题吗？谢谢", ["您好。", "退款已处理！", "还有问题吗？", "谢谢"]),
        ("Hi there.\n您好", ["Hi there.", "您好"]),
        ("  ", []),
    ],
)  # fmt: skip
def test_split_sentences(text, sentences):
    assert split_sentences(text) == sentences


@pytest.mark.parametrize(
    ("text", "runs"),
    [
        ("hello world", [("en", "hello world")]),
        ("您好", [("zh", "您好")]),
        ("您的 tracking number 是 ok。", [("zh", "您的"), ("en", "tracking number"), ("zh", "是"), ("en", "ok。")]),
        ("请登录 App，然后重试", [("zh", "请登录"), ("en", "App，"), ("zh", "然后重试")]),
        ("123", [("zh", "123")]),
    ],
)  # fmt: skip
def test_script_runs(text, runs):
    assert script_runs(text, "zh") == runs


def test_guess_language():
    assert guess_language("hello") == "en"
    assert guess_language("hello 您好") == "zh"


@pytest.mark.parametrize(
    "text, pieces",
    [
        ("在查看您的账户之前，我需要先核实您的身份。", ["在查看您的账户之前，", "我需要先核实您的身份。"]),
        ("Before I can look at your account, I need to verify who you are.", ["Before I can look at your account,", "I need to verify who you are."]),
        ("Your total is 1,200 dollars and it shipped today.", ["Your total is 1,200 dollars and it shipped today."]),
        ("好的。请稍等。", ["好的。", "请稍等。"]),
        ("Order #W2378156 is pending. It contains: T-Shirt.", ["Order #W2378156 is pending.", "It contains: T-Shirt."]),
    ],
)  # fmt: skip
def test_a_long_first_sentence_is_cut_at_a_clause_for_the_first_audio(text, pieces):
    from voice.tts.text import speech_pieces

    assert speech_pieces(text) == pieces
