"""A pack's scripted conversations, scored: the bank suite's own conversations through the fake
NLU, on a temporary copy of the back office; and a script that expects the wrong thing fails."""

from __future__ import annotations

import json
import re

import pytest

from dialogue.agent import AgentServices
from dialogue.domain.pack import DomainPack
from dialogue.evals.pack_conversations import main, run_pack_conversation
from dialogue.policy.declare import load_declarations
from dialogue.policy.declared import DeclaredPolicy
from dialogue.policy.pack_tools import PackTools, open_office
from tests.conftest import ROOT
from tests.fakes import FakeNLU

BANK = ROOT / "domains" / "bank"
SUITE = {c["id"]: c for c in json.loads((BANK / "eval" / "conversations.json").read_text(encoding="utf-8"))}  # fmt: skip
EMAILS = {  # the fake NLU finds what the real one finds in these turns: the email
    t["text"]: ("out_of_scope", 0.3, (("email", e),))
    for c in SUITE.values() for t in c["turns"]
    for e in re.findall(r"[\w.]+@[\w.]+[a-z]", t["text"])
}  # fmt: skip


@pytest.fixture
def services(tmp_path):
    declarations = load_declarations(DomainPack.load(BANK))
    office = open_office(declarations, f"sqlite:///{tmp_path / 'bank.db'}")
    tools = PackTools(declarations, office)
    yield AgentServices(nlu=FakeNLU(EMAILS), office=office, policy=DeclaredPolicy(declarations), sessions=tools.session)  # fmt: skip
    office.close()


WRITES = {"freeze_card", "unfreeze_card", "report_lost", "dispute_charge"}


@pytest.mark.parametrize("name", ["bank-en-freeze-yes", "bank-zh-freeze-declined", "bank-en-unfreeze-lost", "bank-zh-dispute-named", "bank-en-person"])  # fmt: skip
def test_the_suites_conversations_succeed(services, name):
    result = run_pack_conversation(SUITE[name], services, WRITES)
    assert result.success, result
    assert not result.wrong_actions and not result.unconfirmed_actions


def test_a_script_expecting_another_end_fails_with_the_reasons(services):
    spec = {**SUITE["bank-en-freeze-yes"], "expect": {"writes": [], "records": {"card:4417": {"status": "active"}}, "handoff": True, "never_said": ["4417"]}}  # fmt: skip
    result = run_pack_conversation(spec, services, WRITES)
    assert not result.success and [a["tool"] for a in result.wrong_actions] == ["freeze_card"]
    assert any("status 'frozen'" in m for m in result.db_mismatches)
    assert any("4417" in m for m in result.db_mismatches) and result.handoff_expected


def test_a_missing_suite_is_named(tmp_path, capsys):
    assert main(["--domain", str(BANK), "--suite", str(tmp_path / "none.json")]) == 2
    assert "none.json" in capsys.readouterr().err
