"""How a turn is meant, from the cue lists: a person asked for, a rule question, a vague opening,
the tasks named and the tasks said no to, in English and Chinese."""

from __future__ import annotations

import re

import pytest

from dialogue.domain.pack import DomainPack
from dialogue.nlu.cues import CUES, GENERIC, CueBook, Cues, said
from tests.conftest import ROOT

RETAIL = ROOT / "domains" / "retail"
SHOP = DomainPack.load(RETAIL).cue_book()  # the core's cues with the sample shop's words


def read_cues(text, entities=()):
    return SHOP.read(text, entities)


@pytest.mark.parametrize(
    "text, person",
    [
        ("let me talk to a human", True), ("real person please", True),
        ("Can I talk to a real person please?", True), ("Get me a human agent.", True),
        ("转人工", True), ("我要找人工客服", True), ("别跟我说这些，马上给我转人工！", True),
        ("我不想跟机器人说话，找个真人", True), ("not a bot, a real person", True),
        ("Can you just get me someone from your team?", True), ("我要投诉，找你们主管", True),
        ("I don't want to talk to a human", False), ("我不要转人工", False),
        ("where is my order?", False), ("I want to talk about my refund", False),
    ],
)  # fmt: skip
def test_a_request_for_a_person(text, person):
    assert read_cues(text).person is person


@pytest.mark.parametrize(
    "text, rule",
    [
        ("How long does a refund take to get back to my credit card?", True),
        ("Can I still cancel an order once it has been shipped?", True),
        ("Great. How long until I see the money?", True),
        ("what is your return policy?", True),
        ("退款一般多久能到账？", True), ("发货后还能取消订单吗？", True), ("退货政策是什么？", True),
        ("Do I need to verify my identity to check an order?", True), ("退款会退到哪里？", True),
        ("How long will my order take to arrive?", False),  # one order of theirs: a task
        ("我的订单多久能到？", False),
        ("How do I return an item from my order?", False),
        ("Can you ship my order to a different address?", False),
        ("What's the weather usually like in Paris?", False),  # not the shop's business
        ("I want to cancel an order", False),  # no question
    ],
)  # fmt: skip
def test_a_question_about_the_rules(text, rule):
    assert read_cues(text).rule_question is rule


def test_an_order_id_makes_a_question_personal():
    text = "How long does a refund take for W2611340?"
    assert read_cues(text).rule_question
    assert not read_cues(text, [{"type": "order_number", "value": "W2611340"}]).rule_question


@pytest.mark.parametrize(
    "text, vague",
    [
        ("hi there, I've got a problem with something I bought", "trouble"),
        ("hi, I have a problem with an order", "trouble"), ("你好，我买的东西有点问题", "trouble"),
        ("我的订单有问题", "trouble"), ("I need help", "help"), ("我需要帮助", "help"),
        ("hello, I'm not happy with something I got from you", "trouble"),
        ("I have a problem, my order hasn't arrived", ""),  # says which: a status
        ("no problem, thanks", ""), ("谢谢，没有别的问题了", ""),
    ],
)  # fmt: skip
def test_a_vague_opening(text, vague):
    assert read_cues(text).vague == vague


@pytest.mark.parametrize(
    "text, named, negated",
    [
        ("no, I don't want to cancel, I just want to know where it is", {"order_status"}, {"cancel_order"}),
        ("不是要取消", set(), {"cancel_order"}),
        ("我不是想取消订单，只是想知道到哪了", {"order_status"}, {"cancel_order"}),
        ("I don't need a refund, I want an exchange", {"exchange_item"}, {"refund_status"}),
        ("I didn't receive my refund", {"refund_status"}, set()),  # a no, but not to the refund
        ("I don't need it anymore.", set(), set()),
        ("我想退掉订单里的烤架", {"return_item"}, set()),
    ],
)  # fmt: skip
def test_tasks_named_and_said_no_to(text, named, negated):
    cues = read_cues(text)
    assert (cues.named, cues.negated) == (named, negated)


def test_the_tables_hold_both_languages_and_known_intents():
    import tomllib

    shop = tomllib.loads((RETAIL / "cues.toml").read_text(encoding="utf-8"))
    labels = {e.intent for e in DomainPack.load(RETAIL).intents()}
    assert all(set(table) == {"en", "zh"} for table in CUES.values())
    assert all(set(table) == {"en", "zh"} for table in shop["tasks"].values())
    assert set(shop["tasks"]) <= labels
    assert read_cues("hello") == Cues()


def test_the_cores_cues_know_no_business():
    """Alone, the core reads a person, a question and a negation, and names no task; a pack's
    cues file adds its words, and a bad one is named."""
    assert GENERIC.tasks == {} and "topic" not in GENERIC.acts
    assert GENERIC.read("where is my order?").named == frozenset()
    assert GENERIC.read("let me talk to a human").person
    assert GENERIC.read("how long does it usually take?").rule_question  # no topic to be about
    book = CueBook.build(tasks={"freeze_card": {"en": (r"\bfreez",), "zh": ("冻结",)}})
    assert book.read("I don't want to freeze my card").negated == {"freeze_card"}
    assert book.read("请帮我冻结").named == {"freeze_card"}


def test_a_bad_cues_file_is_named(tmp_path):
    bad = tmp_path / "cues.toml"
    bad.write_text('[tasks.x]\nen = ["(unclosed"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="cues.toml"):
        CueBook.load(bad)


@pytest.mark.parametrize(
    ("text", "plain", "negated"),
    [
        ("I want to cancel it", True, False),
        ("no, I don't want to cancel, I just want to know where it is", False, True),
        ("I don't want to cancel. Cancel the other one", True, True),
        ("我想取消", True, False),
        ("我不想取消", False, True),
        ("不要取消，我只是问问", False, True),
    ],
)  # fmt: skip
def test_a_packs_task_cue_is_read_with_its_negation(text, plain, negated):
    """`said` is what a declared policy reads a pack's task cues with (any pack's words)."""
    cue = re.compile(r"(?:\bcancel)|(?:取消)", re.I)
    assert said(cue, text) == (plain, negated)
