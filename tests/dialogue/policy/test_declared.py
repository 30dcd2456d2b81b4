"""A pack's declared policy through the Agent: the bank pack's declarations, its back office in a
temporary SQLite file and the fake NLU. Two factors before any account data, a write only after
a plain yes, state rules, items picked by what the customer says, knowledge with no account, and
a person on request, on fraud and on anger, in English and Chinese."""

from __future__ import annotations

import pytest

from dialogue.agent import Agent, AgentServices
from dialogue.domain.pack import DomainPack
from dialogue.policy.declare import load_declarations
from dialogue.policy.declared import DeclaredPolicy
from dialogue.policy.pack_tools import PackTools, open_office
from tests.conftest import ROOT
from tests.fakes import FakeNLU, FakeRetriever

BANK = ROOT / "domains" / "bank"
EMMA = "my email is emma.lewis@example.com and the card ends in 4417"
SCRIPT = {  # text -> (intent, confidence, entities); any other turn is out of scope
    EMMA: ("card_arrival", 0.2, (("email", "emma.lewis@example.com"),)),
    "emma.lewis@example.com, card ending 1357": ("card_arrival", 0.2, (("email", "emma.lewis@example.com"),)),  # fmt: skip
    "daniel.okafor@example.com": ("edit_personal_details", 0.3, (("email", "daniel.okafor@example.com"),)),  # fmt: skip
    "daniel.okafor@example.com, born 1979-09-30": ("edit_personal_details", 0.3, (("email", "daniel.okafor@example.com"),)),  # fmt: skip
    "我的邮箱是 wang.fang@example.com，尾号 6203": ("request_refund", 0.3, (("email", "wang.fang@example.com"),)),  # fmt: skip
    "我想冻结我的卡": ("compromised_card", 0.9, ()),  # the words name a task: not a fraud report
    "my card was compromised": ("compromised_card", 0.95, ()),
    "How long does a dispute take?": ("direct_debit_payment_not_recognised", 0.7, ()),
    "I don't want to report my card lost": ("lost_or_stolen_card", 0.95, ()),
    "我不想挂失": ("lost_or_stolen_card", 0.95, ()),
}  # fmt: skip
PASSAGES = (
    ("faq#disputes", "How long does a dispute take? Most disputes are settled within 45 days."),
)


@pytest.fixture(scope="module")
def declarations():
    return load_declarations(DomainPack.load(BANK))


@pytest.fixture
def office(declarations, tmp_path):
    office = open_office(declarations, f"sqlite:///{tmp_path / 'bank.db'}")
    yield office
    office.close()


def agent(declarations, office) -> Agent:
    tools = PackTools(declarations, office)
    services = AgentServices(nlu=FakeNLU(SCRIPT), office=office, knowledge=FakeRetriever(PASSAGES),
                             policy=DeclaredPolicy(declarations), sessions=tools.session)  # fmt: skip
    return Agent(services, session_id="t")


def talk(a: Agent, *turns: str):
    return [a.respond(t) for t in turns]


def tools(turn) -> list[str]:
    return [x.tool for x in turn.actions]


def test_a_freeze_runs_after_two_factors_and_a_yes(declarations, office):
    a = agent(declarations, office)
    first, second = talk(a, "I need to freeze my card", EMMA)
    assert "email" in first.reply and not first.actions  # nothing read before both factors
    assert tools(second) == ["verify_customer", "freeze_card"] and not second.actions[1].ok
    assert "ending in 4417" in second.reply and "yes or no" in second.reply
    assert office.record("card", "4417")["status"] == "active"  # not before the yes
    third = a.respond("Yes, please.")
    assert third.actions[0].ok and third.reply.startswith("Done:")
    assert office.record("card", "4417")["status"] == "frozen"
    assert [e["tool"] for e in office.audit("t")] == ["freeze_card"]


def test_a_no_at_the_confirmation_writes_nothing(declarations, office):
    a = agent(declarations, office)
    *_, last = talk(a, "freeze my card please", EMMA, "No, don't do it.")
    assert last.actions[0].result["code"] == "declined" and "not changed" in last.reply
    assert office.record("card", "4417")["status"] == "active" and office.audit() == []


def test_a_lost_card_is_not_unfrozen(declarations, office):
    a = agent(declarations, office)
    *_, last = talk(a, "Please unfreeze my card ending in 7788", "daniel.okafor@example.com")
    assert last.decision.kind == "refuse" and "only a frozen card can be unfrozen" in last.reply
    assert a.state.tools.pending is None and office.audit() == []


def test_failed_authentication_shows_nothing_and_a_second_failure_hands_over(declarations, office):
    a = agent(declarations, office)
    first, second, third = talk(a, "show me my recent transactions", "emma.lewis@example.com, card ending 1357", "emma.lewis@example.com, card ending 1357")  # fmt: skip
    assert tools(second) == ["verify_customer"] and "could not verify" in second.reply
    assert "Emma" not in second.reply and "Skyline" not in second.reply
    assert a.state.tools.user_id is None and not second.handoff and third.handoff


def test_a_card_is_picked_by_its_kind_after_a_birth_date(declarations, office):
    a = agent(declarations, office)
    *_, confirm, done = talk(a, "I lost my debit card", "daniel.okafor@example.com, born 1979-09-30", "yes")  # fmt: skip
    assert tools(confirm) == ["verify_customer", "list_cards", "report_lost"]
    assert "5521" in confirm.reply and "replacement card ending in" in done.reply
    assert office.record("card", "5521")["status"] == "lost"


def test_a_dispute_names_its_payment_by_amount_merchant_and_date(declarations, office):
    a = agent(declarations, office)
    _, asked = talk(a, "I want to dispute a charge", EMMA)
    assert "Skyline Electronics 89.99" in asked.reply and "Green Leaf" in asked.reply
    confirm, done = talk(a, "the 89.99 one at Skyline on November 28, I don't recognise it", "yes")
    assert confirm.actions[-1].args == {"transaction_id": "T1001", "reason": "not_recognised"}
    assert done.actions[0].ok and office.record("transaction", "T1001")["status"] == "disputed"


def test_a_rule_question_needs_no_account_even_while_a_write_waits(declarations, office):
    a = agent(declarations, office)
    (answer,) = talk(a, "How long does a dispute take?")
    assert "45 days" in answer.reply and not answer.actions
    talk(a, "freeze my card", EMMA)
    again = a.respond("How long does a dispute take?")
    assert "45 days" in again.reply and "yes or no" in again.reply
    assert a.state.tools.pending is not None


@pytest.mark.parametrize("text", ["let me talk to a human", "转人工", "I think this is fraud", "my card was compromised"])  # fmt: skip
def test_a_person_or_fraud_hands_over_at_once(declarations, office, text):
    a = agent(declarations, office)
    talk(a, "freeze my card", EMMA)
    turn = a.respond(text)
    assert turn.handoff and a.state.tools.pending is None and office.audit() == []


def test_anger_hands_over(declarations, office):
    turn = agent(declarations, office).respond("This is ridiculous, I am furious, I hate this useless bank!")  # fmt: skip
    assert turn.handoff


def test_a_task_named_in_words_beats_a_fraud_intent_and_chinese_is_answered_in_chinese(declarations, office):  # fmt: skip
    a = agent(declarations, office)
    first, second, third = talk(
        a, "我想冻结我的卡", "我的邮箱是 wang.fang@example.com，尾号 6203", "是的"
    )
    assert not first.handoff and "邮箱" in first.reply
    assert "借记卡" in second.reply and "请回答" in second.reply
    assert third.reply.startswith("已为您办理完成") and office.record("card", "6203")["status"] == "frozen"  # fmt: skip


@pytest.mark.parametrize("text", [
    "I don't want to freeze my card", "no, I don't want to freeze it, I just have a question",
    "我不想冻结我的卡", "不要冻结", "I don't want to report my card lost", "我不想挂失",
])  # fmt: skip
def test_a_task_said_under_a_negation_does_not_start(declarations, office, text):
    a = agent(declarations, office)
    turn = a.respond(text)
    assert a.state.task is None and not turn.actions and turn.decision.kind != "ask"


@pytest.mark.parametrize("no", ["actually, I don't want to freeze it", "我不想冻结了"])
def test_a_negation_drops_the_task_in_hand(declarations, office, no):
    a = agent(declarations, office)
    first, second = talk(a, "I need to freeze my card", no)
    assert "email" in first.reply and a.state.task is None and not second.actions


def test_out_of_scope_and_small_talk(declarations, office):
    a = agent(declarations, office)
    hello, other = talk(a, "hello", "book me a table for two tonight")
    assert hello.decision.kind == "smalltalk" and other.decision.kind == "refuse"


@pytest.mark.parametrize(("draft", "source"), [("{answer}", "model"), ("Done, I've refunded you in full!", "template (")])  # fmt: skip
def test_a_dialogue_model_phrases_a_pack_reply_under_the_guard(declarations, office, draft, source):
    from dataclasses import replace

    from fusion.fuse import Fusion
    from tests.conftest import tiny_tokenizer
    from tests.fakes import FakeGenerator

    a = agent(declarations, office)
    gen = FakeGenerator(draft)
    a.services = replace(a.services, generator=gen, fusion=Fusion(tiny_tokenizer()))
    turn = a.respond("I need to freeze my card")
    assert turn.reply_source.startswith(source) and "email" in turn.reply
    assert "policy:decision" in gen.prompts[0]  # the model saw the decision it was to phrase
