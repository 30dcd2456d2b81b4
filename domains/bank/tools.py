"""The card-service tools, as the pack's tools.json declares them: `fn(call, **args) -> dict`.

Reads return data; writes write and add their audit row in one transaction. A rule that says no
raises `Refusal(code, message)` and changes nothing. The core checks the arguments against the
declared JSON schema, the authentication, the declared state rule and the customer's yes before
any write is called; the rules are checked here again, so a tool is safe called on its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialogue.policy.tooltypes import Refusal, ToolCall
from domains.bank.schema import Card, Customer, Dispute, Transaction, card_dict, transaction_dict

RECENT = 5  # transactions listed by recent_transactions


def verify_customer(call: ToolCall, email: str, last4: str = "", birth_date: str = "") -> dict:
    """The customer whose email is on file and who holds the card ending in `last4` (or was born
    on `birth_date`); the same refusal whichever factor is wrong."""
    with call.office.reading() as db:
        c = db.scalar(select(Customer).where(Customer.email == email.strip().lower()))
        ok = c is not None and (
            (
                last4
                and (card := db.get(Card, last4)) is not None
                and card.customer_id == c.customer_id
            )
            or (birth_date and c.birth_date == birth_date)
        )
        if not ok:
            raise Refusal("not_found", "no customer matches these details")
        return {"customer_id": c.customer_id, "name": c.name}


def _card(db: Session, call: ToolCall, last4: str) -> Card:
    card = db.get(Card, last4)
    if card is None or card.customer_id != call.customer_id:  # another's reads as none
        raise Refusal("not_found", f"no card ending in {last4} on this account")
    return card


def list_cards(call: ToolCall) -> dict:
    with call.office.reading() as db:
        cards = db.scalars(
            select(Card).where(Card.customer_id == call.customer_id).order_by(Card.last4)
        )
        return {"cards": [card_dict(c) for c in cards]}


def card_status(call: ToolCall, last4: str) -> dict:
    with call.office.reading() as db:
        return card_dict(_card(db, call, last4))


def _set_status(call: ToolCall, tool: str, last4: str, allowed: tuple[str, ...], to: str) -> dict:
    with call.office.transaction() as db:
        card = _card(db, call, last4)
        if card.status not in allowed:
            raise Refusal("wrong_state", f"the card ending in {last4} is {card.status}")
        card.status = to
        out = card_dict(card)
        call.office.write(db, call.session_id, call.customer_id, tool, {"last4": last4}, out)
        return out


def freeze_card(call: ToolCall, last4: str) -> dict:
    return _set_status(call, "freeze_card", last4, ("active",), "frozen")


def unfreeze_card(call: ToolCall, last4: str) -> dict:
    return _set_status(call, "unfreeze_card", last4, ("frozen",), "active")


def _new_last4(db: Session, old: str) -> str:
    n = int(old)
    while True:  # the same replacement number for the same card, every time
        n = (n * 7919 + 1231) % 10000
        if db.get(Card, f"{n:04d}") is None:
            return f"{n:04d}"


def report_lost(call: ToolCall, last4: str) -> dict:
    """The card is blocked for good (lost) and a replacement is ordered to the address on file."""
    with call.office.transaction() as db:
        card = _card(db, call, last4)
        if card.status not in ("active", "frozen"):
            raise Refusal("wrong_state", f"the card ending in {last4} is {card.status}")
        card.status = "lost"
        new = Card(last4=_new_last4(db, last4), customer_id=card.customer_id, kind=card.kind,
                   status="active", daily_limit_cents=card.daily_limit_cents, replaces=last4)  # fmt: skip
        db.add(new)
        out = {"last4": last4, "status": "lost", "new_last4": new.last4, "delivery_days": "3-5"}
        call.office.write(
            db, call.session_id, call.customer_id, "report_lost", {"last4": last4}, out
        )
        return out


def _transaction(db: Session, call: ToolCall, transaction_id: str) -> Transaction:
    t = db.get(Transaction, transaction_id.upper())
    if t is None or _card_owner(db, t.last4) != call.customer_id:
        raise Refusal("not_found", f"no transaction {transaction_id} on this account")
    return t


def _card_owner(db: Session, last4: str) -> str | None:
    card = db.get(Card, last4)
    return card.customer_id if card else None


def recent_transactions(call: ToolCall, last4: str = "") -> dict:
    """The latest transactions of one card, or of all the customer's cards."""
    with call.office.reading() as db:
        if last4:
            cards = [_card(db, call, last4).last4]
        else:
            cards = list(db.scalars(select(Card.last4).where(Card.customer_id == call.customer_id)))
        rows = db.scalars(select(Transaction).where(Transaction.last4.in_(cards))
                          .order_by(Transaction.date.desc(), Transaction.transaction_id).limit(RECENT))  # fmt: skip
        return {"last4": last4, "transactions": [transaction_dict(t) for t in rows]}


def transaction_details(call: ToolCall, transaction_id: str) -> dict:
    with call.office.reading() as db:
        return transaction_dict(_transaction(db, call, transaction_id))


def dispute_charge(call: ToolCall, transaction_id: str, reason: str = "not_recognised") -> dict:
    with call.office.transaction() as db:
        t = _transaction(db, call, transaction_id)
        if t.status != "posted":
            raise Refusal("wrong_state", f"transaction {t.transaction_id} is {t.status}")
        n = len(list(db.scalars(select(Dispute.dispute_id)))) + 1
        dispute = Dispute(dispute_id=f"D{n:04d}", transaction_id=t.transaction_id, reason=reason,
                          status="open", opened_at=_now())  # fmt: skip
        db.add(dispute)
        t.status = "disputed"
        out: dict[str, Any] = {
            "dispute_id": dispute.dispute_id,
            **transaction_dict(t),
            "reason": reason,
        }
        args = {"transaction_id": t.transaction_id, "reason": reason}
        call.office.write(db, call.session_id, call.customer_id, "dispute_charge", args, out)
        return out


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)
