"""The card back office and its tools: seeded the same way every time, writes transactional and
audited, every rule checked in the tool itself too (another customer's card reads as none, a
lost card stays lost), on a temporary SQLite file."""

from __future__ import annotations

import pytest

from dialogue.policy.tooltypes import Refusal, ToolCall
from domains.bank import tools as t
from domains.bank.backoffice import BankOffice, main


@pytest.fixture
def office(tmp_path):
    office = BankOffice.open(tmp_path / "bank.db")
    yield office
    office.close()


def as_(office, customer: str | None = "C001") -> ToolCall:
    return ToolCall(office, customer, "test")


def test_the_bank_is_seeded_once_and_the_same_every_time(office, tmp_path):
    counts = office.counts()
    assert counts == {"bank_customers": 6, "bank_cards": 10, "bank_transactions": 15, "bank_disputes": 0, "bank_audit": 0}  # fmt: skip
    assert office.seed() == 0  # nothing added twice
    other = BankOffice.open(tmp_path / "other.db")
    assert other.record("card", "9032") == office.record("card", "9032")
    assert other.record("customer", "C004")["name"] == "王芳"
    other.close()
    with pytest.raises(ValueError, match="unknown record kind"):
        office.record("order", "1")


def test_verification_takes_two_factors_and_says_nothing_of_which_failed(office):
    call = as_(office, None)
    assert t.verify_customer(call, "emma.lewis@example.com", last4="4417")["customer_id"] == "C001"
    assert t.verify_customer(call, "Emma.Lewis@example.com ", birth_date="1988-04-12")["name"] == "Emma Lewis"  # fmt: skip
    messages = set()
    for email, kw in [("emma.lewis@example.com", {"last4": "1357"}), ("nobody@example.com", {"last4": "4417"}),
                      ("emma.lewis@example.com", {"birth_date": "1990-01-01"}), ("emma.lewis@example.com", {})]:  # fmt: skip
        with pytest.raises(Refusal) as e:
            t.verify_customer(call, email, **kw)
        messages.add((e.value.code, str(e.value)))
    assert messages == {("not_found", "no customer matches these details")}


def test_another_customers_card_reads_as_none(office):
    with pytest.raises(Refusal, match="no card ending in 1357"):
        t.card_status(as_(office), "1357")
    with pytest.raises(Refusal, match="no transaction T3001"):
        t.transaction_details(as_(office), "T3001")
    assert [c["last4"] for c in t.list_cards(as_(office))["cards"]] == ["4417", "9032"]


def test_freeze_and_unfreeze_write_with_their_audit_row(office):
    assert t.freeze_card(as_(office), "4417")["status"] == "frozen"
    with pytest.raises(Refusal) as e:
        t.freeze_card(as_(office), "4417")
    assert e.value.code == "wrong_state"
    assert t.unfreeze_card(as_(office), "4417")["status"] == "active"
    assert [(a["tool"], a["customer_id"]) for a in office.audit("test")] == [("freeze_card", "C001"), ("unfreeze_card", "C001")]  # fmt: skip


def test_a_lost_card_is_replaced_and_stays_lost(office):
    out = t.report_lost(as_(office, "C002"), "5521")
    new = office.record("card", out["new_last4"])
    assert office.record("card", "5521")["status"] == "lost" and new["status"] == "active" and new["replaces"] == "5521"  # fmt: skip
    for fn in (t.unfreeze_card, t.report_lost, t.freeze_card):
        with pytest.raises(Refusal):
            fn(as_(office, "C002"), "5521")
    assert len(office.audit()) == 1  # a refusal writes nothing


def test_a_dispute_is_opened_once_on_a_posted_payment(office):
    out = t.dispute_charge(as_(office), "t1001", "charged_twice")
    assert out["dispute_id"] == "D0001" and out["status"] == "disputed" and out["reason"] == "charged_twice"  # fmt: skip
    for tid in ("T1001", "T1004"):  # disputed already; pending
        with pytest.raises(Refusal) as e:
            t.dispute_charge(as_(office), tid)
        assert e.value.code == "wrong_state"
    recent = t.recent_transactions(as_(office), "4417")["transactions"]
    assert [x["transaction_id"] for x in recent] == ["T1004", "T1001", "T1002", "T1003"]
    assert office.counts()["bank_disputes"] == 1


def test_the_command_shows_a_card(tmp_path, capsys):
    assert main(["show", "9032", "--db", str(tmp_path / "b.db")]) == 0
    assert '"status": "frozen"' in capsys.readouterr().out
    assert main(["show", "0000", "--db", str(tmp_path / "b.db")]) == 1
