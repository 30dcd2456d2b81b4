"""The intent data: the shipped hand-written files, the label mapping, splits built from a small
fake Bitext/Banking77 folder, the embedding cache, and `cca nlu train` end to end on them."""

from __future__ import annotations

import collections
import csv
import json

import numpy as np
import pytest

from dialogue.embed import HashingEncoder
from dialogue.nlu.embed_cache import cache_dir
from dialogue.nlu.intents import OUT_OF_SCOPE, IntentHead
from dialogue.nlu.understand import main
from domains.retail import intent_data
from domains.retail.intent_data import (
    BANKING77_DEV_OOS,
    BANKING77_EXCLUDED,
    BANKING77_TEST_OOS,
    BITEXT_TO_LABEL,
    HANDWRITTEN,
    LABELS,
    TRANSLATED,
    build_dataset,
    embed_cached,
)


def test_handwritten_file_covers_every_label_in_both_languages():
    rows = [json.loads(line) for line in HANDWRITTEN.read_text(encoding="utf-8").splitlines()]
    counts = collections.Counter((r["intent"], r["lang"], r["split"]) for r in rows)
    for label in LABELS:
        for lang in ("en", "zh"):
            assert counts[(label, lang, "train")] >= 15, (label, lang)
            assert counts[(label, lang, "test")] >= 5, (label, lang)
    assert len({r["text"].lower() for r in rows}) == len(rows), "no duplicate turns"


def test_translations_are_chinese_test_rows_with_their_source():
    rows = [json.loads(line) for line in TRANSLATED.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 50
    for r in rows:
        assert r["lang"] == "zh" and r["split"] == "test" and r["intent"] in LABELS
        assert r["source_text"] and any("\u4e00" <= c <= "\u9fff" for c in r["text"])


def test_mapping_targets_are_labels():
    assert {v for v in BITEXT_TO_LABEL.values() if v} <= set(LABELS) - {OUT_OF_SCOPE}
    assert not (BANKING77_DEV_OOS & BANKING77_TEST_OOS)
    assert not ((BANKING77_DEV_OOS | BANKING77_TEST_OOS) & BANKING77_EXCLUDED)


BITEXT_ROWS = {
    "track_order": ["where is order {n}", "status of purchase {n}", "track my order {n}"],
    "cancel_order": ["cancel order {n}", "I want to cancel purchase {n}", "help cancelling {n}"],
    "review": ["leave a review {n}"],
}


@pytest.fixture
def data_root(tmp_path):
    """A folder shaped like shared/data/intents, with a few rows per source."""
    fields = ["utterance", "intent", "entity_type", "entity_value", "start_offset", "end_offset",
              "category", "tags"]  # fmt: skip
    (tmp_path / "bitext").mkdir()
    for split, name in (("train", "Training"), ("dev", "Validation"), ("test", "Testing")):
        path = tmp_path / "bitext" / f"Bitext_Sample_Customer_Service_{name}_Dataset.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            for intent, templates in BITEXT_ROWS.items():
                for i, t in enumerate(templates):
                    w.writerow({"utterance": t.format(n=f"{split}{i}"), "intent": intent})
    (tmp_path / "banking77").mkdir()
    with open(tmp_path / "banking77" / "train.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "category"])
        categories = [*BANKING77_EXCLUDED, *BANKING77_DEV_OOS, *BANKING77_TEST_OOS, "top_up_failed"]
        for c in categories:
            for i in range(12):
                w.writerow([f"bank question {i} on {c.replace('_', ' ')} | {c}", c])
    return tmp_path


def test_build_dataset(data_root):
    splits = build_dataset(data_root)
    assert set(splits) == {"train", "dev", "test"}
    texts = collections.defaultdict(set)
    for split, examples in splits.items():
        for e in examples:
            assert e.intent in LABELS and e.split == split
            texts[split].add(e.text.lower())
    assert not (texts["train"] & (texts["dev"] | texts["test"]))
    bank = [e for s in splits.values() for e in s if e.source == "banking77"]
    assert all(e.intent == OUT_OF_SCOPE for e in bank)
    assert not any("refund" in e.text for e in bank)  # excluded categories stay out
    held_out = {e.text.split(" | ")[1] for e in bank if e.split == "test"}
    assert held_out == BANKING77_TEST_OOS  # every test category, none of it in training
    assert not any("review" in e.text for s in splits.values() for e in s)  # dropped intent


def test_build_dataset_errors(data_root, tmp_path_factory):
    with pytest.raises(FileNotFoundError, match="--data DIR or set CCA_INTENT_DATA"):
        build_dataset(tmp_path_factory.mktemp("empty"))
    path = data_root / "bitext" / "Bitext_Sample_Customer_Service_Training_Dataset.csv"
    with open(path, "a", encoding="utf-8") as f:
        f.write("buy a boat,buy_boat,,,,,,\n")
    with pytest.raises(ValueError, match="'buy_boat' is not in BITEXT_TO_LABEL"):
        build_dataset(data_root)


class CountingEncoder(HashingEncoder):
    def __init__(self):
        super().__init__(dim=64)
        self.calls = 0

    def embed(self, texts, kind="query"):
        self.calls += len(texts)
        return super().embed(texts, kind)


def test_embed_cache(tmp_path):
    enc = CountingEncoder()
    texts = ["hello", "我要退货", "hello", "cancel my order"]
    first = embed_cached(enc, texts, tmp_path, progress=False, shard_size=2)
    assert enc.calls == 3 and first.shape == (4, 64)
    np.testing.assert_array_equal(first[0], first[2])
    again = embed_cached(enc, [*texts, "new one"], tmp_path, progress=False)
    assert enc.calls == 4  # only the new text was embedded
    np.testing.assert_allclose(again[:4], first)
    assert len(list((tmp_path / "hashing").glob("*.npz"))) == 3
    assert embed_cached(enc, [], tmp_path, progress=False).shape == (0, 64)


def test_cli_train_and_eval(data_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CCA_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "head.npz"
    argv = ["train", "--encoder", "hashing", "--data", str(data_root), "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for heading in ("English test", "Chinese test", "macro-F1", "out-of-scope recall"):
        assert heading in printed
    head = IntentHead.load(out)
    assert head.labels == LABELS and head.encoder == "hashing" and 0 <= head.threshold < 1
    assert (tmp_path / "cache" / "embeddings" / "hashing").is_dir()
    assert main(["eval", "--head", str(out), "--data", str(data_root)]) == 0
    assert "Chinese test" in capsys.readouterr().out


def test_default_data_root_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CCA_INTENT_DATA", str(tmp_path))
    assert intent_data.default_data_root() == tmp_path
    monkeypatch.setenv("CCA_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
