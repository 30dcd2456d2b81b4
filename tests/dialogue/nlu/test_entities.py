"""Entities of a turn and the spoken forms under them: tables in English and Chinese, and the
invariants every answer keeps (spans point at the original surface, sorted, never overlapping)."""

from __future__ import annotations

from itertools import pairwise

import pytest

from dialogue.nlu.entities import ENTITY_TYPES, MAX_ENTITY_TEXT, extract_entities
from dialogue.nlu.spoken import normalise_spoken
from tests.conftest import ROOT
from vision.pack_words import pack_words

SHOP = pack_words(ROOT / "domains" / "retail")[0]  # the sample shop's cue words: 订单号, 退款...

CATALOGUE = ("T-Shirt", "Wireless Earbuds", "Earbuds", "Mechanical Keyboard", "蓝牙耳机", "耳机")

# (text, type, value, surface): the text holds exactly this one entity
ONE_ENTITY = [
    # amounts said in number words, and the fields callers say
    ("It cost me one hundred and twenty dollars", "amount", "120.00 USD", "one hundred and twenty dollars"),
    ("it was a hundred bucks", "amount", "100.00 USD", "a hundred bucks"),
    ("it was forty-nine dollars", "amount", "49.00 USD", "forty-nine dollars"),
    ("Twenty Dollars", "amount", "20.00 USD", "Twenty Dollars"),
    ("退款金额应该是二十九块九", "amount", "29.90 CNY", "二十九块九"),
    ("I ordered it on March 3rd", "date", "--03-03", "March 3rd"),
    # as Whisper writes what callers say (heard back from spoken phrases)
    ("The order is W as in whiskey, two six one one three four zero", "order_number", "W2611340", "W as in whiskey, two six one one three four zero"),
    ("The order is W as in whiskey, 2611340.", "order_number", "W2611340", "W as in whiskey, 2611340"),
    ("order number is b for bravo one two three four", "order_number", "B1234", "b for bravo one two three four"),
    ("My number is double five five, one two three, four five six seven", "phone", "+15551234567", "double five five, one two three, four five six seven"),
    ("My number is double 551234567.", "phone", "+15551234567", "double 551234567"),
    ("My number is W551234567.", "phone", "+15551234567", "W551234567"),  # "double" heard as "W"
    ("yeah five five five, one two three, four five six seven", "phone", "+15551234567", "five five five, one two three, four five six seven"),
    ("my number is 5551234567", "phone", "+15551234567", "5551234567"),
    ("The tracking number on the box says 357-962-501027.", "tracking_number", "357962501027", "357-962-501027"),
    ("My email is Ivan.Santosatexample.com", "email", "ivan.santos@example.com", "Ivan.Santosatexample.com"),
    ("my email is ivan dot santos3158 at example dot com", "email", "ivan.santos3158@example.com", "ivan dot santos3158 at example dot com"),
    ("退款三百五", "amount", "350.00 CNY", "三百五"),
    ("一共花了一千二", "amount", "1200.00 CNY", "一千二"),
    ("The tracking number on the box says 357962501027", "tracking_number", "357962501027", "357962501027"),
    # order numbers, tau-bench style and through vision.fields
    ("where is my order #W2611340?", "order_number", "W2611340", "W2611340"),
    ("order W2611340 please", "order_number", "W2611340", "W2611340"),
    ("it's W2611340", "order_number", "W2611340", "W2611340"),
    ("my order is W two six one one three four zero", "order_number", "W2611340", "W two six one one three four zero"),
    ("order number double five one two three", "order_number", "55123", "double five one two three"),
    ("order one two three four five", "order_number", "12345", "one two three four five"),
    ("订单号一二三四五", "order_number", "12345", "一二三四五"),
    ("订单号幺三八二四六", "order_number", "138246", "幺三八二四六"),
    ("我的订单是W2611340", "order_number", "W2611340", "W2611340"),
    ("My order number is W 6247578. Can you check?", "order_number", "W6247578", "W 6247578"),  # as Whisper writes it
    ("my order is W, six two four seven five seven eight", "order_number", "W6247578", "W, six two four seven five seven eight"),
    ("订单号是 W 6247578", "order_number", "W6247578", "W 6247578"),
    # emails, phones
    ("email me at Yusuf.Rossi@Example.com", "email", "yusuf.rossi@example.com", "Yusuf.Rossi@Example.com"),
    ("my phone is +86 138 1234 5678", "phone", "+8613812345678", "+86 138 1234 5678"),
    ("手机号13812345678", "phone", "+8613812345678", "13812345678"),
    ("手机号幺三八一二三四五六七八", "phone", "+8613812345678", "幺三八一二三四五六七八"),
    ("call me on plus eight six one three eight one two three four five six seven eight", "phone", "+8613812345678", "plus eight six one three eight one two three four five six seven eight"),
    ("my number is 415-555-0134", "phone", "+14155550134", "415-555-0134"),
    # amounts and dates
    ("I paid $49.99", "amount", "49.99 USD", "$49.99"),
    ("退了128元", "amount", "128.00 CNY", "128元"),
    ("花了一百二十八元", "amount", "128.00 CNY", "一百二十八元"),
    ("ordered on Nov 29, 2026", "date", "2026-11-29", "Nov 29, 2026"),
    ("十一月二十九日下的单", "date", "--11-29", "十一月二十九日"),
    # tracking numbers
    ("tracking number 1Z999AA10123456784", "tracking_number", "1Z999AA10123456784", "1Z999AA10123456784"),
    ("快递单号SF1234567890123", "tracking_number", "SF1234567890123", "SF1234567890123"),
    # zip codes
    ("my zip code is 94103", "zip_code", "94103", "94103"),
    ("zip 94103-1234", "zip_code", "94103-1234", "94103-1234"),
    ("postal code: 10001", "zip_code", "10001", "10001"),
    # five spoken digits as Whisper writes them
    ("My name is Bob Jones and my zip code is 94,105.", "zip_code", "94105", "94,105"),
    ("zip is nine four one oh three", "zip_code", "94103", "nine four one oh three"),
    ("445 Maple Drive, Fort Worth, TX 76165", "zip_code", "76165", "76165"),
    ("Fort Worth, Texas 76165", "zip_code", "76165", "76165"),
    ("邮编100080", "zip_code", "100080", "100080"),
    ("邮政编码：200120", "zip_code", "200120", "200120"),
    ("邮编是幺零零零八零", "zip_code", "100080", "幺零零零八零"),
    # products from the catalogue
    ("I want to return the wireless earbuds", "product", "Wireless Earbuds", "wireless earbuds"),
    ("two t shirts please", "product", "T-Shirt", "t shirts"),
    ("the MECHANICAL KEYBOARD is broken", "product", "Mechanical Keyboard", "MECHANICAL KEYBOARD"),
    ("我想退蓝牙耳机", "product", "蓝牙耳机", "蓝牙耳机"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "kind", "value", "surface"), ONE_ENTITY)
def test_one_entity(text, kind, value, surface):
    entities = extract_entities(text, CATALOGUE, SHOP)
    assert [(e.type, e.value) for e in entities] == [(kind, value)]
    e = entities[0]
    assert text[e.start : e.end] == surface


# text with no entity in it: words that look like numbers, ids or products but are not
NO_ENTITY = [
    "one dollar is not much",  # a lone digit word stays a word
    "one and a half",
    "I want to return one item",
    "oh no, my order is late",
    "two, three weeks ago",
    "I have 2 3 items",
    "我要两件",
    "十一月",
    "earbudsy and t-shirtless",
    "Is it 5 days?",
    "it costs 5.99 one time",  # a price is not a digit reading
    "A for effort, I guess",  # a spelled letter with no digits after it
    "my number is not important",
    "我买了三个",
    "等了十五天",
    "大概三百五吧",  # a numeral with no word about money
    "",
]


@pytest.mark.parametrize("text", NO_ENTITY)
def test_no_entity(text):
    assert extract_entities(text, CATALOGUE, SHOP) == []


def test_longest_catalogue_match_wins():
    text = "my Wireless Earbuds and the 耳机 and 蓝牙耳机"
    got = [(e.value, text[e.start : e.end]) for e in extract_entities(text, CATALOGUE, SHOP)]
    assert got == [
        ("Wireless Earbuds", "Wireless Earbuds"),
        ("耳机", "耳机"),
        ("蓝牙耳机", "蓝牙耳机"),
    ]


MANY = [
    "Hi, I'm Yusuf, email yusuf.rossi@example.com, zip 19122, order #W2611340 for $12.50",
    "my order W two six one one three four zero, call plus one four one five five five five zero one three four",
    "订单号W2611340，手机幺三八一二三四五六七八，邮编100080，退款128元",
    "订单一二三四五 和 一二三四六 都没到，十一月二十九日下的单，蓝牙耳机坏了",
    "double five triple seven oh one, zip code nine four one oh three, TX 76165",
]


@pytest.mark.parametrize("text", MANY)
def test_invariants(text):
    entities = extract_entities(text, CATALOGUE, SHOP)
    assert entities, "each of these holds several entities"
    for e in entities:
        assert e.type in ENTITY_TYPES
        assert 0 <= e.start < e.end <= len(text)
        assert text[e.start : e.end] == text[e.start : e.end].strip()
        assert e.to_dict() == {"type": e.type, "value": e.value, "start": e.start, "end": e.end}
    for a, b in pairwise(entities):
        assert a.end <= b.start  # sorted, never overlapping


def test_many_in_one_turn():
    text = MANY[0]
    got = {e.type: e.value for e in extract_entities(text, cues=SHOP)}
    assert got == {
        "email": "yusuf.rossi@example.com",
        "zip_code": "19122",
        "order_number": "W2611340",
        "amount": "12.50 USD",
    }


def test_bad_input():
    with pytest.raises(TypeError, match="wants a str"):
        extract_entities(b"order 12345")
    with pytest.raises(ValueError, match="limit"):
        extract_entities("a" * (MAX_ENTITY_TEXT + 1))
    assert extract_entities("\x00\x01\x02 order \ufffd") == []


# spoken forms: (text, normalised)
SPOKEN = [
    ("one two three four", "1234"),
    ("double five", "55"),
    ("triple seven", "777"),
    ("zero oh one", "001"),
    ("oh, one two three", "oh, 123"),
    ("W two six one one", "W2611"),
    ("W 2 6 one 1", "W2611"),
    ("five, six, seven", "567"),
    ("plus four four double seven", "+4477"),
    ("return one item", "return one item"),
    ("one-day shipping for two", "one-day shipping for two"),
    ("I one two three four", "I 1234"),  # "I" is a word, not an id's letter
    ("幺三八", "138"),
    ("一二三四", "1234"),
    ("我要两件", "我要2件"),
    ("二〇二六年", "2026年"),
    ("一百二十八元", "一百二十八元"),
    ("两百块", "两百块"),
    ("十一月二十九日", "十一月二十九日"),
    ("一二", "一二"),  # two plain digits stay words ("一二" is also "one or two")
]


@pytest.mark.parametrize(("text", "normalised"), SPOKEN)
def test_spoken_forms(text, normalised):
    n = normalise_spoken(text)
    assert n.text == normalised
    assert n.original == text
    for ns, ne, os_, oe in n.pieces:
        assert n.to_original(ns, ne) == (os_, oe)


def test_spoken_offsets_map_back_everywhere():
    text = "ab one two three cd 幺三八 ef"
    n = normalise_spoken(text)
    assert n.text == "ab 123 cd 138 ef"
    assert n.to_original(0, 2) == (0, 2)  # before any rewrite
    assert n.to_original(3, 6) == (3, 16)  # the whole rewrite
    assert n.to_original(4, 5) == (3, 16)  # inside a rewrite: grows to all its words
    assert n.to_original(7, 9) == (17, 19)  # between rewrites
    assert n.to_original(14, 16) == (24, 26)  # after the last one
    assert n.to_original(16, 16) == (26, 26)
    with pytest.raises(ValueError, match="outside"):
        n.to_original(0, 99)


@pytest.mark.parametrize(
    "said, address",
    [
        ("Alice at example.com.", "alice@example.com"),  # as Whisper writes it
        ("my email is alice dot smith at example dot com", "alice.smith@example.com"),
        ("it's bob_2 at mail dot example dot co dot uk", "bob_2@mail.example.co.uk"),
        ("邮箱是 alice at example dot com", "alice@example.com"),
    ],
)
def test_a_spoken_email_is_an_email(said, address):
    found = [e for e in extract_entities(said) if e.type == "email"]
    assert [e.value for e in found] == [address]


@pytest.mark.parametrize("said", ["look at example.com", "I am at home", "meet me at noon dot"])
def test_at_is_not_always_an_email(said):
    assert not [e for e in extract_entities(said) if e.type == "email"]


# Said by the packaged Piper voice and heard back by packaged Whisper base: the entity must come
# out of what ASR really writes ("W is in Whiskey 2611340.", "555-123-4567", "357-962-501027").
# The voice speaks with no sampling noise, so the audio, and what Whisper hears, is the same on
# every run. None: the value is whatever digits Whisper heard (it may mishear one).
HEARD = [
    ("The order is W as in whiskey, two six one one three four zero.", "order_number", "W2611340"),
    ("My number is double five five, one two three, four five six seven.", "phone", "+15551234567"),
    ("The tracking number on the box says three five seven nine six two five zero one zero two seven.", "tracking_number", None),
    ("I ordered it on March third.", "date", "--03-03"),
    ("It cost me one hundred and twenty dollars.", "amount", "120.00 USD"),
    ("My email is ivan dot santos at example dot com.", "email", "ivan.santos@example.com"),
]  # fmt: skip


@pytest.mark.weights
def test_entities_in_what_whisper_hears_from_spoken_phrases():
    import numpy as np

    from dialogue.records.redactor import Redactor
    from voice.asr.whisper import WhisperASR
    from voice.codec import resample
    from voice.tts import piper
    from voice.types import SAMPLE_RATE, Audio

    if not piper.packaged_available():
        pytest.skip("the packaged Piper voice is not installed")
    asr = WhisperASR.from_pretrained("packaged:base")
    voice = piper.PiperTTS.from_packaged(piper.PiperOptions(noise_scale=0.0, noise_w=0.0))
    for said, kind, value in HEARD:
        audio = voice.synthesize(said, "en")
        x = np.asarray(resample(audio.samples, audio.sample_rate, SAMPLE_RATE), np.float32)
        heard = asr.transcribe(Audio(x, SAMPLE_RATE, "phrase")).text.strip()
        value = value or "".join(ch for ch in heard if ch.isdigit())
        assert (kind, value) in [(e.type, e.value) for e in extract_entities(heard, cues=SHOP)], (
            heard
        )
        redacted = Redactor().redact(heard).text
        if kind in ("phone", "email"):
            assert f"[{kind.upper()}]" in redacted, heard
        else:
            assert "[" not in redacted, heard  # ids, dates and amounts stay readable
