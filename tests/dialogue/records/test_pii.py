"""dialogue.records.pii and redactor: typed placeholders for every kind of personal value, in
English and Chinese, written, spoken or split over turns; look-alikes kept; audio silenced."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from dialogue.nlu.digits import digits_of
from dialogue.records.checksums import cn_id_check_char, is_cn_id
from dialogue.records.pii import TYPES, find_pii, redact
from dialogue.records.privacy_cases import load_cases
from dialogue.records.privacy_eval import STRUCTURED, evaluate, generate, main
from dialogue.records.redactor import RedactingFilter, Redactor, silence_spans, words_text
from voice.types import Word

# text, redacted
CASES = [
    ("card 4111 1111 1111 1111 ok", "card [CARD] ok"),
    ("pay with 5555-5555-5555-4444", "pay with [CARD]"),
    (
        "my card number is four one one one one one one one one one one one one one one one",
        "my card number is [CARD]",
    ),
    ("卡号四一一一一一一一一一一一一一一一一", "卡号[CARD]"),
    ("card is 4111 1111 1111 1111, exp 03/27, cvv 123", "card is [CARD], exp [EXPIRY], cvv [CVV]"),
    ("the security code is seven four two", "the security code is [CVV]"),
    ("安全码是三二一，有效期至2027年3月", "安全码是[CVV]，有效期至[EXPIRY]"),
    ("valid thru March 2028", "valid thru [EXPIRY]"),
    ("call (415) 555-0134 or +44 20 7946 0958", "call [PHONE] or [PHONE]"),
    ("手机号 13812345678，座机 (021) 5555 1234", "手机号 [PHONE]，座机 [PHONE]"),
    ("我的手机是幺三八一二三四五六七八", "我的手机是[PHONE]"),
    ("call me at four one five five five five zero one three four", "call me at [PHONE]"),
    ("mail ann.lee@example.com or ann dot lee at gmail dot com", "mail [EMAIL] or [EMAIL]"),
    ("身份证号 11010519491231002X", "身份证号 [CN_ID]"),
    (
        "account number 12345678, 账号 6212 3456 7890 1234 5",
        "account number [BANK_ACCOUNT], 账号 [BANK_ACCOUNT]",
    ),
    ("IBAN GB82 WEST 1234 5698 7654 32", "IBAN [BANK_ACCOUNT]"),
    ("Ship to 986 Sunset Drive, Suite 259, Denver, CO 80279, USA.", "Ship to [ADDRESS]."),
    ("i live at 12 oak street", "i live at [ADDRESS]"),
    ("我住在北京市朝阳区建国路88号3号楼，邮编100020", "我住在[ADDRESS]，邮编[ZIP]"),
    ("My name is Noah Brown and I need help", "My name is [NAME] and I need help"),
    ("hi, this is Sarah speaking", "hi, this is [NAME] speaking"),
    ("我叫王小明，想查订单", "我叫[NAME]，想查订单"),
    ("你好，我是李先生", "你好，我是[NAME]先生"),
    ("我的名字是陈静", "我的名字是[NAME]"),
]
KEPT = [
    "Order #W2611340, tracking number 357962501027",
    "订单号 12345 还没到",
    "订单号 13812345678 还没到",
    "it cost $536.65 on 2024-05-01",
    "tracking 1Z999AA10123456784, SF1234567890123",
    "error code E1234 and 0x80070005",
    "I bought 2 shirts for 128元 on 11月29日",
    "not Luhn 4111 1111 1111 1112",
    "I'm sorry, I am Looking for my parcel",
    "我是想问一下退货",
    "item 1008292230 is out of stock",
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_redact(text, expected):
    r = redact(text)
    assert r.text == expected
    assert sum(r.counts.values()) == len(r.spans) == r.text.count("[")
    assert all(s.type in TYPES for s in r.spans)
    assert redact(r.text).text == r.text  # placeholders are never redacted again


@pytest.mark.parametrize("text", KEPT)
def test_look_alikes_are_kept(text):
    assert redact(text).text == text


def test_spans_index_the_original_and_do_not_overlap():
    text = "card 4111 1111 1111 1111, mail a@b.co, 我叫张伟"
    spans = find_pii(text)
    assert [text[s.start : s.end] for s in spans] == ["4111 1111 1111 1111", "a@b.co", "张伟"]
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))


def test_language_picks_the_name_rules():
    assert redact("我叫王小明", language="en").text == "我叫王小明"
    assert redact("我叫王小明", language="zh").text == "我叫[NAME]"
    with pytest.raises(ValueError, match="choose from"):
        redact("x", language="fr")


def test_cn_id_checksum():
    first17 = "11010519491231002"
    assert cn_id_check_char(first17) == "X" and is_cn_id(first17 + "X")
    assert not is_cn_id(first17 + "1")  # a wrong check character
    assert redact(f"ID {first17}1").text == f"ID {first17}1"


@pytest.mark.parametrize(
    "turns",
    [
        ["my card number is 4111 1111", "1111 1111"],
        ["4111 1111 1111", "and 1111"],
        ["my card number is four one one one one one one one", "one one one one one one one one"],
        ["我的卡号是四一一一", "一一一一一一一一一一一一"],
    ],
)
def test_a_card_split_over_turns_is_caught(turns):
    r = Redactor()
    out = [r.redact(t).text for t in turns[:-1]]
    r.redact("go on", role="agent")  # the agent in between changes nothing
    out.append(r.redact(turns[-1]).text)
    assert all("[CARD]" in o for o in out)
    assert all(len(digits_of(o)) == 0 for o in out)


def test_a_cue_at_the_end_of_a_turn_covers_the_next():
    r = Redactor()
    assert r.redact("my security code is").text == "my security code is"
    assert r.redact("123").text == "[CVV]"
    assert r.redact("thanks, my order is #W1234567").text == "thanks, my order is #W1234567"


# what callers really say across turns: (role, text, redacted)
ACROSS_TURNS = [
    [  # a card read in two halves, with no card cue
        ("customer", "ok the first half is 4929 1234", "ok the first half is [CARD]"),
        ("customer", "and then 5678 9015 is the rest", "and then [CARD] is the rest"),
    ],
    [  # the customer's own question is the cue; the value comes in the next turn
        ("customer", "what's the security code? oh it's on the back", "what's the security code? oh it's on the back"),
        ("customer", "seven three seven", "[CVV]"),
    ],
    [  # the agent asks; the next customer turn opens with the value
        ("agent", "And the three digits on the back of the card?", None),
        ("customer", "uh it's 4 1 9", "uh it's [CVV]"),
    ],
    [
        ("agent", "Go ahead with the long number on the front of the card.", None),
        ("customer", "5425 2334", "[CARD]"),
        ("customer", "3010 9903", "[CARD]"),
    ],
    [
        ("agent", "请告诉我卡背面的三位安全码。", None),
        ("customer", "五八二", "[CVV]"),
    ],
    [  # a cue wins over the checksum: one digit of this ID was misheard
        ("customer", "身份证号码是320102198506151237", "身份证号码是[CN_ID]"),
    ],
    [  # what the agent asked for does not swallow what the customer says instead
        ("agent", "What is the card number?", None),
        ("customer", "sorry which order is this about, I have 2 orders", "sorry which order is this about, I have 2 orders"),
        ("customer", "actually just check order W2611340 first", "actually just check order W2611340 first"),
    ],
    [
        ("customer", "the first half of my order came yesterday, 3 items", "the first half of my order came yesterday, 3 items"),
    ],
    [
        ("customer", "call me back on plus one six five zero, five five five, zero one nine eight", "call me back on [PHONE]"),
        ("customer", "My email is Ivan.Santosatexample.com", "My email is [EMAIL]"),
    ],
]  # fmt: skip


@pytest.mark.parametrize("turns", ACROSS_TURNS)
def test_what_callers_say_across_turns(turns):
    r = Redactor()
    for role, text, want in turns:
        got = r.redact(text, role=role).text
        if want is not None:
            assert got == want, text


def test_partial_hypotheses_hide_a_card_being_read_and_keep_no_state():
    r = Redactor()
    assert r.redact("it's 4111 1111", final=False).text == "it's [CARD]"
    assert r.redact("hello").text == "hello"


def test_logging_filter_redacts_messages_and_arguments(caplog):
    log = logging.getLogger("test_pii.filter")
    f = RedactingFilter()
    log.addFilter(f)
    try:
        with caplog.at_level(logging.INFO, logger="test_pii.filter"):
            log.info("customer said %s", "call me at 415-555-0134, card 4111111111111111")
    finally:
        log.removeFilter(f)
    assert caplog.records[-1].getMessage() == "customer said call me at [PHONE], card [CARD]"


def test_silence_spans_zeroes_the_words_of_a_span():
    sr = 1000
    audio = np.ones(4 * sr, dtype=np.float32)
    words = [
        Word(0.0, 0.5, " call", 1.0),
        Word(0.5, 1.0, " me", 1.0),
        Word(1.0, 2.0, " 415-555-0134", 1.0),
        Word(2.5, 3.0, " thanks", 1.0),
    ]
    spans = redact(words_text(words)).spans
    assert [s.type for s in spans] == ["PHONE"]
    out = silence_spans(audio, sr, words, spans, pad_s=0.0)
    assert out.shape == audio.shape and audio.min() == 1  # a copy; the input is untouched
    assert (out[1000:2000] == 0).all() and (out[:1000] == 1).all() and (out[2000:] == 1).all()
    stereo = silence_spans(np.ones((4 * sr, 2)), sr, words, spans)
    assert (stereo[1000:2000] == 0).all()


def test_privacy_eval_meets_the_structured_targets(capsys):
    report = evaluate(generate(600, seed=0))
    assert report["utterances"] >= 500
    assert {t for t, r in report["types"].items() if r["gold"]} >= set(STRUCTURED)
    for t in STRUCTURED:
        assert report["types"][t]["recall"] >= 0.99, (t, report["misses"])
    assert report["whole_cards_in_input"] > 0 and report["whole_cards_left_after_redaction"] == 0
    assert generate(50, seed=3) == generate(50, seed=3)  # deterministic
    assert main(["--n", "100"]) == 0
    assert "CARD" in capsys.readouterr().out


def test_the_written_cases_leak_nothing_and_keep_what_is_not_personal():
    conversations = load_cases()
    report = evaluate(conversations)
    assert report["conversations"] >= 40 and report["utterances"] >= 40
    assert {t for t, r in report["types"].items() if r["gold"]} >= set(STRUCTURED)
    assert report["leaks"] == 0, report["misses"]
    assert report["keep"] >= 10 and report["kept"] == report["keep"]


def test_a_bad_case_file_names_the_line(tmp_path, capsys):
    bad = tmp_path / "cases.jsonl"
    bad.write_text(
        '{"id": "a", "turns": [{"text": "hi"}]}\n{"id": "b", "turns": [{"text": "card 4111", "secrets": {"CARD": ["4112"]}}]}\n'
    )
    with pytest.raises(ValueError, match=r"cases.jsonl:2: '4112' is not in the turn"):
        load_cases(bad)
    assert main(["--set", "written", "--cases", str(bad)]) == 2
    assert "cases.jsonl:2" in capsys.readouterr().err


def test_every_log_line_of_the_process_is_redacted(caplog):
    import logging

    from dialogue.records.redactor import redact_all_logging

    old = logging.getLogRecordFactory()
    try:
        redact_all_logging()
        with caplog.at_level(logging.INFO):
            logging.getLogger("demo.anything").info(
                "caller said %s", "my card is 4111 1111 1111 1111"
            )
        assert "4111" not in caplog.text and "[CARD]" in caplog.text
    finally:
        logging.setLogRecordFactory(old)
        import dialogue.records.redactor as r

        r._REDACTING_FACTORY_INSTALLED = False
