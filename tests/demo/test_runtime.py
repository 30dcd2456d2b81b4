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
