"""The fine-tuned intent classifier on a tiny random BERT built from a config: it learns a
handful of turns, its class vectors start at the intents' means, it saves and loads as a folder,
and bad input fails with a message."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dialogue.nlu.finetune import (
    FinetuneConfig,
    FinetunedIntents,
    TextClassifier,
    _batches,
    _contrastive,
    _group_batches,
    finetune,
    load_base,
)

TURNS = {
    "card_lost": ["I lost my card", "my card is lost", "card stolen", "someone stole my card"],
    "pin": ["change my pin", "forgot my pin", "pin blocked", "new pin please"],
    "fees": ["what are the fees", "why was I charged a fee", "fee on my card", "any fees"],
}
WORDS = sorted({w for ts in TURNS.values() for t in ts for w in t.lower().split()})


def tiny_bert(tmp_path=None, seed: int = 0):
    """A one-layer BERT with 16 hidden units and a word-level tokenizer of the test's words."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab = {w: i for i, w in enumerate([*specials, *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]",
                                        unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]")  # fmt: skip
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)  # fmt: skip
    return BertModel(config), tokenizer


def data():
    texts = [t for ts in TURNS.values() for t in ts]
    return texts, [label for label, ts in TURNS.items() for _ in ts]


CONFIG = FinetuneConfig(epochs=30, batch_size=4, lr=5e-3, head_lr=5e-2, min_steps=0, warmup=0.1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    model, tok = tiny_bert(tmp_path_factory.mktemp("bert"))
    texts, labels = data()
    return finetune(model, tok, texts, labels, tuple(TURNS), CONFIG)


def test_it_learns_its_training_turns(trained):
    texts, labels = data()
    p = trained.probabilities(texts)
    assert p.shape == (len(texts), 3) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert [trained.labels[i] for i in p.argmax(1)] == labels
    assert trained.record["steps"] == 30 * 3 and trained.record["examples"] == 12


def test_save_and_load_give_the_same_probabilities(trained, tmp_path):
    folder = trained.save(tmp_path / "ft")
    assert {p.name for p in folder.iterdir()} == {"encoder", "classifier.npz", "labels.json"}
    loaded = FinetunedIntents.load(folder)
    texts, _ = data()
    assert loaded.labels == trained.labels
    assert np.allclose(loaded.probabilities(texts), trained.probabilities(texts), atol=1e-5)
    assert loaded.probabilities([]).shape == (0, 3)


def test_class_vectors_start_at_each_intents_mean(tmp_path):
    model, tok = tiny_bert(tmp_path)
    texts, labels = data()
    one_step = FinetuneConfig(epochs=1, batch_size=12, lr=1e-12, head_lr=1e-12, min_steps=0)
    result = finetune(model, tok, texts, labels, tuple(TURNS), one_step)
    with torch.no_grad():
        emb = result.model.embed(*result._batch(texts, 64))
    mean = emb[:4].mean(0)
    assert torch.allclose(result.model.classes[0], mean, atol=1e-4)


def test_batches_cover_every_example_once():
    import random

    lengths = [5, 1, 9, 3, 7, 2, 8]
    batches = _batches(lengths, 3, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(7))
    assert all(len(b) <= 3 for b in batches)


def test_group_batches_put_each_intent_together():
    import random

    y = [0] * 9 + [1] * 5 + [2] * 2
    batches = _group_batches(y, 8, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(16))
    assert all(len(b) <= 8 for b in batches)


def test_the_contrastive_loss_is_lower_when_intents_cluster():
    y = torch.tensor([0, 0, 1, 1])
    close = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.1], [1.0, 0.0], [0.0, 1.0], [0.1, 1.0]]), dim=-1
    )
    mixed = close[[0, 2, 1, 3]]
    assert _contrastive(close, y, 0.1) < _contrastive(mixed, y, 0.1)
    assert float(_contrastive(close, torch.tensor([0, 1, 2, 3]), 0.1)) == 0.0


def test_contrastive_fine_tuning_learns_too(tmp_path):
    model, tok = tiny_bert(tmp_path)
    texts, labels = data()
    config = FinetuneConfig(
        epochs=30, batch_size=8, lr=5e-3, head_lr=5e-2, min_steps=0, contrastive=0.5
    )
    result = finetune(model, tok, texts, labels, tuple(TURNS), config)
    assert (
        np.mean(
            [
                result.labels[i] == g
                for i, g in zip(result.probabilities(texts).argmax(1), labels, strict=True)
            ]
        )
        >= 0.9
    )


def test_bad_input_says_what_is_wrong(tmp_path):
    model, tok = tiny_bert(tmp_path)
    with pytest.raises(ValueError, match="unknown"):
        finetune(model, tok, ["hi"], ["nope"], ("pin",), CONFIG)
    with pytest.raises(ValueError, match="epochs"):
        FinetuneConfig(epochs=0)
    with pytest.raises(ValueError, match="class vectors"):
        FinetunedIntents(TextClassifier(model, 2), tok, ("a", "b", "c"))
    with pytest.raises(ValueError, match="available"):
        load_base("no-such-encoder")
    with pytest.raises(FileNotFoundError, match="labels.json"):
        FinetunedIntents.load(tmp_path)


@pytest.mark.weights
def test_the_offline_minilm_loads_and_embeds():
    model, tok = load_base("minilm")
    clf = TextClassifier(model, 2)
    enc = tok(["my card is lost"], return_tensors="pt")
    with torch.no_grad():
        assert clf.embed(enc["input_ids"], enc["attention_mask"]).shape == (1, 384)
