"""The sample shop as a pack: its head is the one the package ships, its intents are the labels
the shop uses, its knowledge is the FAQ `cca demo` indexes; (weights) `cca nlu --domain` answers
as `cca nlu` does."""

from __future__ import annotations

import pytest

from dialogue.domain.pack import DomainPack
from dialogue.nlu.understand import SHIPPED_HEAD
from domains.retail.intent_data import LABELS
from domains.retail.knowledge import FAQ, knowledge_files
from tests.conftest import ROOT

RETAIL = ROOT / "domains" / "retail"


def test_the_pack_ships_the_packaged_head_and_the_shops_labels():
    pack = DomainPack.load(RETAIL)
    assert pack.head_path.read_bytes() == SHIPPED_HEAD.read_bytes()
    assert {r.intent for r in pack.intents()} == set(LABELS)
    held = pack.tables["intents"]["eval"]
    assert held and (RETAIL / held[0]).is_file()


def test_the_knowledge_folder_holds_the_faq():
    assert FAQ.parent == DomainPack.load(RETAIL).knowledge_dir
    assert knowledge_files() == [FAQ]


@pytest.mark.weights
def test_nlu_with_the_pack_answers_as_without_it():
    from dialogue.nlu.understand import NLU

    plain, pack = NLU.load(), NLU.from_domain(RETAIL)
    for text in ("where is my order #W2611340", "我要退货", "can I talk to a person"):
        assert pack.analyse(text).to_dict() == plain.analyse(text).to_dict()
