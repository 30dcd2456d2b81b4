"""`cca eval dialogue` parts: which turns are generated, perplexity, and the scores per language."""

from __future__ import annotations

import math

import pytest

from dialogue.lm.evaluate import perplexity, score, turns_to_generate
from dialogue.lm.examples import build_examples
from fusion.fuse import Fusion
from tests.conftest import tiny_llama, tiny_tokenizer
from tests.dialogue.lm.test_train import Conv, Turn, conv


def test_every_agent_turn_after_a_customer_turn_is_generated_once():
    zh = Conv("z", "zh", (Turn("customer", "你好"), Turn("agent", "您好，请问有什么可以帮您？")))
    items = turns_to_generate([conv(1), zh], Fusion(tiny_tokenizer()), max_turns=10)
    assert [(i[0], i[4]) for i in items] == [
        ("c1", "sorry, order 1 is on its way"),
        ("c1", "you are welcome"),
        ("z", "您好，请问有什么可以帮您？"),
    ]
    assert all(i[2][-1].role == "user" for i in items)  # the prompt ends with the customer's turn
    assert len(turns_to_generate([conv(1), zh], Fusion(tiny_tokenizer()), max_turns=1)) == 1


def test_scores_per_language_reward_the_reference():
    items = [
        ("a", "en", [], "q", "your order ships tomorrow"),
        ("b", "zh", [], "q", "您的订单明天发货"),
    ]
    chrf, bleu, n = score(items, ["your order ships tomorrow", "您的订单明天发货"])
    assert (
        n == {"en": 1, "zh": 1}
        and chrf["en"] == pytest.approx(100)
        and chrf["zh"] == pytest.approx(100)
    )
    worse, _, _ = score(items, ["hello there", "你好"])
    assert worse["en"] < 30 and worse["zh"] < 30 and bleu["zh"] > 90


def test_perplexity_is_the_exponentiated_agent_token_loss():
    tok = tiny_tokenizer()
    examples = build_examples([conv(1), conv(2)], tok, Fusion(tok), 512)
    ppl = perplexity(tiny_llama(len(tok)), tok, examples)
    assert 1 < ppl < 10 * len(tok) and math.isfinite(
        ppl
    )  # a random model: near the vocabulary size
