"""A domain pack's intent model: the head on the hashing encoder blended with a tiny fine-tuned
BERT, trained in the test; the split that keeps dev apart; save and load, and the fallback to the
head alone when the fine-tuned encoder is missing; `cca nlu train/eval --domain` and
`cca nlu TEXT --domain --json` on a small pack."""

from __future__ import annotations

import io
import json
import logging
import sys

import numpy as np
import pytest

from dialogue.domain.cli import new_pack
from dialogue.domain.pack import IntentExample
from dialogue.embed import HashingEncoder
from dialogue.nlu.finetune import FinetuneConfig
from dialogue.nlu.intents import IntentClassifier, IntentHeadConfig
from dialogue.nlu.pack_cli import split_pack
from dialogue.nlu.pack_intents import (
    BlendOptions,
    PackIntents,
    PackTrainConfig,
    stratified_split,
    train_pack_intents,
)
from dialogue.nlu.understand import NLU, main
from tests.dialogue.nlu.test_finetune import TURNS, tiny_bert

OOS = ["what's the weather", "tell me a joke", "book a flight", "天气怎么样", "讲个笑话"]
ZH = {"card_lost": ["我的卡丢了", "卡被偷了"], "pin": ["忘记密码了", "改密码"], "fees": ["手续费多少", "收费吗"]}  # fmt: skip
ROWS = [(t, i, "en") for i, ts in TURNS.items() for t in ts]
ROWS += [(t, i, "zh") for i, ts in ZH.items() for t in ts]
ROWS += [(t, "out_of_scope", "zh" if ord(t[0]) > 127 else "en") for t in OOS]
CONFIG = PackTrainConfig(
    head=IntentHeadConfig(lr=0.05, batch_size=8),
    finetune=FinetuneConfig(epochs=30, batch_size=4, lr=5e-3, head_lr=5e-2, min_steps=0),
    head_epochs_without_tune=60,
)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CCA_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import os

    os.environ["CCA_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    return train_pack_intents(ROWS, [], HashingEncoder(), CONFIG, base=tiny_bert())


def test_the_blend_learns_its_turns_and_keeps_chinese_on_the_head(model):
    assert isinstance(model, IntentClassifier)
    assert model.labels == ("card_lost", "fees", "pin", "out_of_scope")
    texts, langs = [r[0] for r in ROWS], [r[2] for r in ROWS]
    got = [p.intent for p in model.classify(texts, langs)]
    assert np.mean([g == r[1] for g, r in zip(got, ROWS, strict=True)]) >= 0.9
    head_only = model.head.probabilities(model.encoder.embed(["我的卡丢了"]))
    assert np.allclose(model.probabilities(["我的卡丢了"], ["zh"]), head_only)
    assert not np.allclose(model.probabilities(["I lost my card"], ["en"]),
                           model.head.probabilities(model.encoder.embed(["I lost my card"])))  # fmt: skip


def test_save_load_and_the_fallback_without_the_encoder(model, tmp_path, caplog):
    model.options = BlendOptions(0.5, ("en",), 0.2)
    model.save(tmp_path / "model")
    loaded = PackIntents.load(tmp_path / "model", encoder=HashingEncoder())
    assert loaded.finetuned is not None and loaded.options == model.options
    texts = ["I lost my card", "忘记密码了"]
    assert np.allclose(loaded.probabilities(texts, ["en", "zh"]),
                       model.probabilities(texts, ["en", "zh"]), atol=1e-5)  # fmt: skip
    import shutil

    shutil.rmtree(tmp_path / "model" / "encoder")
    with caplog.at_level(logging.WARNING):
        alone = PackIntents.load(tmp_path / "model", encoder=HashingEncoder())
    assert alone.finetuned is None and "cca nlu train --domain" in caplog.text


def test_stratified_split_holds_out_each_intent_and_is_repeatable():
    intents = ["a"] * 20 + ["b"] * 10 + ["c"] * 2
    kept, held = stratified_split(intents, 0.1, seed=0)
    assert sorted(kept + held) == list(range(32))
    assert [intents[i] for i in held].count("a") == 2 and [intents[i] for i in held].count("c") == 1
    assert stratified_split(intents, 0.1, seed=0) == (kept, held)
    assert stratified_split(intents, 0.1, seed=1) != (kept, held)


def test_split_pack_keeps_dev_out_of_training_and_samples_shots():
    rows = [IntentExample(f"text {i} {k}", k, "en", i) for k in "abc" for i in range(60)]
    rows += [IntentExample(f"other {i}", "out_of_scope", "en", i) for i in range(30)]
    splits = split_pack(rows)
    dev = {r.text for r in splits["dev"]}
    assert len(dev) == 21 and not dev & {r.text for r in splits["train"] + splits["tune"]}
    shots = split_pack(rows, shots=5)
    assert {r.text for r in shots["dev"]} == dev
    counts = {k: sum(r.intent == k for r in shots["train"]) for k in ("a", "b", "c")}
    assert counts == {"a": 5, "b": 5, "c": 5}
    assert sum(r.intent == "out_of_scope" for r in shots["train"]) > 5  # kept whole


def test_cli_trains_evaluates_and_answers_for_a_pack(tmp_path, monkeypatch, capsys):
    pack = new_pack("shop", tmp_path)
    with open(pack / "intents.csv", "a", encoding="utf-8") as f:
        f.writelines(f"{t},{i},{lang}\n" for t, i, lang in ROWS)
    train = ["train", "--domain", str(pack), "--encoder", "hashing", "--base", "none"]
    assert main(train) == 0
    out = capsys.readouterr().out
    assert "dev split of intents.csv" in out and "hashing head (baseline)" in out
    assert (pack / "model" / "intent_head.npz").is_file()
    assert main(["eval", "--domain", str(pack)]) == 0
    assert "per intent" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("I lost my card\n\n忘记密码了\n"))
    assert main(["-", "--domain", str(pack), "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["language"] for x in lines] == ["en", "zh"]
    assert set(lines[0]) == {"language", "intent", "confidence", "out_of_scope", "entities", "sentiment"}  # fmt: skip


def test_a_pack_without_a_model_says_what_to_run(tmp_path, capsys):
    pack = new_pack("shop", tmp_path)
    assert main(["hello", "--domain", str(pack)]) == 2
    assert f"cca nlu train --domain {pack}" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="cca nlu train --domain"):
        NLU.from_domain(pack)
    assert main(["eval", "--domain", str(pack)]) == 2
    assert f"cca nlu train --domain {pack}" in capsys.readouterr().err


def test_the_threshold_turns_away_few_in_scope_turns(model):
    from dialogue.nlu.pack_intents import MAX_FALSE_REJECTION, _best_threshold

    # 40 in-scope turns with best probabilities 0.30..0.99 and one out-of-scope turn at 0.5
    k = len(model.labels)
    best = np.linspace(0.30, 0.99, 40)
    probs = np.full((41, k), 1.0 / k)
    probs[:40, 0] = best
    probs[:40, 1:] = ((1 - best) / (k - 1))[:, None]
    gold = [model.labels[0]] * 40 + ["out_of_scope"]
    t = _best_threshold(model.head, probs, gold)
    assert np.mean(best < t) <= MAX_FALSE_REJECTION


def test_label_names_join_the_examples():
    config = PackTrainConfig(base="", label_names=True, head_epochs_without_tune=5)
    m = train_pack_intents(ROWS, [], HashingEncoder(), config)
    assert m.labels == ("card_lost", "fees", "pin", "out_of_scope") and m.finetuned is None
