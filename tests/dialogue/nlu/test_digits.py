"""The one reader of digits: the NLU and the redaction read the same tokens, and the strict
readings the NLU keeps are always inside the loose runs the redaction sees."""

from __future__ import annotations

import random

import pytest

from dialogue.nlu.digits import (
    EN_DIGITS,
    HAN_DIGITS,
    chinese_readings,
    digit_runs,
    digits_of,
    english_readings,
)


@pytest.mark.parametrize(
    "text, digits",
    [
        ("4111 1111", "41111111"),
        ("4111-1111", "41111111"),
        ("four one one one", "4111"),
        ("double one triple seven", "11777"),
        ("oh three", "03"),
        ("四一一一", "4111"),
        ("幺三八 洞拐", "1380"),  # 洞 is 0; 拐 (7 in radio speech) is no digit here
        ("４１１１", "4111"),
        ("double 5", "55"),
    ],
)
def test_every_form_reads_as_digits(text, digits):
    assert digits_of(text) == digits


@pytest.mark.parametrize(
    "text, phrases",
    [
        ("double five five, one two three, four five six seven", ("555", "123", "4567")),
        ("555 123 4567", ("555", "123", "4567")),
        ("four one one one one one one one", ("41111111",)),
        ("4-9-29-1234", ("4", "9", "29", "1234")),
    ],
)
def test_phrases_follow_the_customers_pauses(text, phrases):
    runs = digit_runs(text)
    assert len(runs) == 1 and runs[0].phrases() == phrases
    assert "".join(phrases) == runs[0].digits


@pytest.mark.parametrize(
    "text, readings",
    [
        ("return one item", []),  # a lone "one" is a word
        ("oh, one two three", ["123"]),  # "oh" at the edge is an interjection
        ("two, three weeks ago", []),  # across a comma a reading needs three digits
        ("it costs 5.99 one time", []),  # a price does not join a reading
        ("W two six one one three four zero", ["2611340"]),
        ("double five five, one two three", ["555123"]),
    ],
)
def test_english_readings_keep_only_clear_digit_by_digit_speech(text, readings):
    assert [r.digits for r in english_readings(text)] == readings


@pytest.mark.parametrize(
    "text, readings",
    [
        ("一二三四", ["1234"]),
        ("两件", ["2"]),
        ("一百二十八", []),
        ("三点五", []),
        ("幺三", ["13"]),
        ("二三", []),
    ],
)
def test_chinese_readings_leave_numerals_with_units(text, readings):
    assert [r.digits for r in chinese_readings(text)] == readings


@pytest.mark.parametrize("seed", range(20))
def test_strict_readings_lie_inside_the_loose_runs(seed):
    """Whatever the NLU reads as digits, the redaction sees as digits at the same place."""
    rng = random.Random(seed)
    words = [
        *EN_DIGITS,
        "double",
        "and",
        "item",
        ",",
        "3",
        "12",
        "5.99",
        "one",
        *HAN_DIGITS,
        "件",
        "百",
    ]
    text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 25)))
    loose = digit_runs(text)
    for r in english_readings(text) + chinese_readings(text):
        assert any(
            run.start <= r.start and r.end <= run.end and r.digits in run.digits for run in loose
        ), text
