"""What every app builds: on a fresh install the sample shop answers rule questions from its
own FAQ, indexed once into the cache."""

from __future__ import annotations

import pytest

from demo.runtime import SAMPLE_FAQ, sample_knowledge
from dialogue.knowledge.store import store_exists


def test_a_missing_knowledge_base_is_seen(tmp_path):
    assert not store_exists(f"sqlite:///{tmp_path / 'nope.db'}") and not store_exists(None)
    (tmp_path / "kb.db").write_bytes(b"")
    assert store_exists(f"sqlite:///{tmp_path / 'kb.db'}")
    assert store_exists("postgresql+psycopg://host/kb")  # a server: it is there to ask
    assert SAMPLE_FAQ.is_file()


@pytest.mark.weights
def test_the_sample_faq_answers_rule_questions_in_both_languages(tmp_path, monkeypatch):
    from dialogue.knowledge.base import KnowledgeBase

    monkeypatch.setenv("CCA_CACHE_DIR", str(tmp_path))
    url = sample_knowledge()
    assert sample_knowledge() == url  # built once
    with KnowledgeBase.open(url) as kb:
        en = kb.search("how long does a refund take to reach my credit card?", k=1)
        zh = kb.search("退款一般多久能到账？", k=1)
    assert "5-7 business days" in en[0].text and "refund-time" in en[0].source
    assert "5-7 个工作日" in zh[0].text


@pytest.mark.weights
def test_a_pack_runs_in_the_apps_with_its_own_back_office_and_knowledge(tmp_path, monkeypatch):
    """`cca demo --domain domains/bank` and `cca phone --domain ...` build the pack's agent: its
    back office seeded on first use, its FAQ (never the shop's), its policy."""
    from demo.runtime import RuntimeOptions, build_runtime
    from domains.retail.knowledge import faq_knowledge

    monkeypatch.setenv("CCA_LM", "none")
    shop_kb = faq_knowledge()  # a shop knowledge base that exists must not leak into the bank
    options = RuntimeOptions(db=f"sqlite:///{tmp_path / 'bank.db'}", kb=f"sqlite:///{tmp_path / 'kb.db'}",
                             tts="none", domain="domains/bank")  # fmt: skip
    runtime = build_runtime(options)
    conversation = runtime.start("web")
    rule = conversation.respond("How long does a new card take to arrive?")
    assert rule.decision.kind == "answer" and "card" in rule.reply.lower()
    assert "domains/bank/knowledge/" in rule.decision.reason  # the bank's FAQ, not the shop's
    assert shop_kb not in str(runtime.services.knowledge)
    freeze = conversation.respond("I want to freeze my card")
    assert freeze.decision.kind == "ask" and not freeze.actions  # two factors first
    assert (tmp_path / "bank.db").is_file()
