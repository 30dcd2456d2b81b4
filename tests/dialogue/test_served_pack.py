"""The pack an agent serves is the one whose replies it says and whose promises its guard holds
a draft to (`AgentServices.replies`), whatever the default pack (CCA_DOMAIN) is: the card line
greets as the card line and never promises money back, the shop as before."""

from __future__ import annotations

import pytest

from dialogue.agent import Agent, AgentServices
from dialogue.domain.pack import DomainPack
from dialogue.policy.reply import Replies, phrase, render
from dialogue.types import Action, Decision
from fusion.fuse import Fusion
from tests.conftest import ROOT, tiny_tokenizer
from tests.fakes import FakeGenerator, FakeNLU

BANK, RETAIL = ROOT / "domains" / "bank", ROOT / "domains" / "retail"
CLOSED = Action("cancel_pending_order", {"order_id": "#W1"}, True, {"status": "cancelled"})
DONE = Decision("act", "action_done", {"outcome": "the order is closed."})
REFUND = "Done: the order is closed. Your refund is on its way."


class Decides:
    """A policy that makes one decision, with the actions it ran."""

    def __init__(self, decision: Decision, actions=()):
        self.decision, self.actions = decision, list(actions)

    def decide(self, state, understood):
        return self.decision, list(self.actions)


def served(pack, decision: Decision, actions=(), **extra) -> Agent:
    services = AgentServices(
        nlu=FakeNLU({"hello": ("greeting", 0.99, ())}), office=None,
        policy=Decides(decision, actions), sessions=lambda office, session_id: None,
        replies=Replies.of(DomainPack.load(pack)) if pack else None, **extra,
    )  # fmt: skip
    return Agent(services, session_id="t")


@pytest.fixture(autouse=True)
def no_default_pack(monkeypatch):
    monkeypatch.delenv("CCA_DOMAIN", raising=False)  # the default pack is the shop


def test_a_reply_both_packs_define_is_said_in_the_served_packs_words():
    bank = Replies.of(DomainPack.load(BANK))
    turn = served(BANK, Decision("smalltalk", "greeting")).respond("hello")
    assert turn.reply == bank.templates["greeting"]["en"] and "card-service line" in turn.reply
    for language in ("en", "zh"):
        words = bank.templates["greeting"][language]
        assert render("greeting", language, replies=bank) == words
        assert render("greeting", language) != words  # none given: the default pack's, the shop's


def test_the_shops_agent_says_what_the_default_said():
    shop = served(RETAIL, Decision("smalltalk", "greeting")).respond("hello")
    default = served(None, Decision("smalltalk", "greeting")).respond("hello")
    assert shop.reply == default.reply == render("greeting", "en")
    assert "orders" in shop.reply


@pytest.mark.parametrize("stream", [False, True])  # streamed: each clause passes the guard first
@pytest.mark.parametrize(
    "pack, refused",
    [
        (BANK, True),  # no tool of the card line grants money back
        (RETAIL, False),  # the shop's cancel does
        (None, False),  # the default pack: the shop
    ],
)
def test_a_draft_promising_a_refund_is_judged_by_the_served_packs_promises(pack, refused, stream):
    a = served(pack, DONE, [CLOSED], generator=FakeGenerator(REFUND), fusion=Fusion(tiny_tokenizer()))  # fmt: skip
    said: list[str] = []
    turn = a.respond("hello", say=(lambda text, language: said.append(text)) if stream else None)
    assert turn.reply_source.endswith("promises a refund that no tool gave)") is refused
    assert turn.reply_source.startswith("model (cut" if stream else "template") is refused
    assert ("refund" in turn.reply) is not refused and turn.reply.startswith(
        "Done: the order is closed."
    )
    if stream:
        assert " ".join(said).split() == turn.reply.split()


@pytest.mark.parametrize("pack, refused", [(BANK, True), (RETAIL, False)])
def test_phrase_holds_a_draft_to_the_given_packs_promises(pack, refused):
    replies = Replies.of(DomainPack.load(pack))
    _, source = phrase(DONE, "en", [CLOSED], REFUND, replies=replies)
    assert source.startswith("template (promises a refund") is refused, source
    assert phrase(DONE, "en", [CLOSED], REFUND)[1] == "model"  # none given: the default pack's
