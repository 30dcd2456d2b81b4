"""The card back office's tables (SQLAlchemy 2 ORM, the same on SQLite and PostgreSQL), named
bank_*, and the made-up customers, cards and transactions it is seeded with.

Money is stored as integer cents and said as a string with two decimals ("89.99").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CARD_STATUSES = ("active", "frozen", "lost", "closed")
TRANSACTION_STATUSES = ("posted", "pending", "disputed")


class Base(DeclarativeBase):
    """The card back office's tables."""


class Customer(Base):
    __tablename__ = "bank_customers"
    customer_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200), unique=True, index=True)
    birth_date: Mapped[str] = mapped_column(String(10))  # ISO date, YYYY-MM-DD
    language: Mapped[str] = mapped_column(String(2))  # "en" or "zh"


class Card(Base):
    __tablename__ = "bank_cards"
    last4: Mapped[str] = mapped_column(String(4), primary_key=True)  # unique in this sample bank
    customer_id: Mapped[str] = mapped_column(ForeignKey("bank_customers.customer_id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # "debit" or "credit"
    status: Mapped[str] = mapped_column(String(10))  # one of CARD_STATUSES
    daily_limit_cents: Mapped[int] = mapped_column(Integer)
    replaces: Mapped[str] = mapped_column(String(4), default="")  # the lost card it replaces


class Transaction(Base):
    __tablename__ = "bank_transactions"
    transaction_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    last4: Mapped[str] = mapped_column(ForeignKey("bank_cards.last4"), index=True)
    date: Mapped[str] = mapped_column(String(10))  # ISO date
    merchant: Mapped[str] = mapped_column(String(100))
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10))  # one of TRANSACTION_STATUSES


class Dispute(Base):
    __tablename__ = "bank_disputes"
    dispute_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(ForeignKey("bank_transactions.transaction_id"))
    reason: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10))  # "open"
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One executed write: who, when, which tool with which arguments, and what it returned."""

    __tablename__ = "bank_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # UTC
    session_id: Mapped[str] = mapped_column(String(80), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(20), index=True)
    tool: Mapped[str] = mapped_column(String(80))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


def money(cents: int) -> str:
    return f"{cents / 100:.2f}"


def card_dict(c: Card) -> dict[str, Any]:
    return {
        "last4": c.last4, "kind": c.kind, "status": c.status,
        "daily_limit": money(c.daily_limit_cents), "replaces": c.replaces,
    }  # fmt: skip


def transaction_dict(t: Transaction) -> dict[str, Any]:
    return {
        "transaction_id": t.transaction_id, "last4": t.last4, "date": t.date,
        "merchant": t.merchant, "amount": money(t.amount_cents), "currency": t.currency,
        "status": t.status,
    }  # fmt: skip


# The made-up customers (names in English and Chinese), their cards and recent transactions.
CUSTOMERS = (
    ("C001", "Emma Lewis", "emma.lewis@example.com", "1988-04-12", "en"),
    ("C002", "Daniel Okafor", "daniel.okafor@example.com", "1979-09-30", "en"),
    ("C003", "Sofia Marin", "sofia.marin@example.com", "1995-06-21", "en"),
    ("C004", "王芳", "wang.fang@example.com", "1992-02-17", "zh"),
    ("C005", "李明", "li.ming@example.com", "1985-11-05", "zh"),
    ("C006", "陈静", "chen.jing@example.com", "1990-08-09", "zh"),
)
CARDS = (  # last4, customer, kind, status, daily limit in cents
    ("4417", "C001", "debit", "active", 200000),
    ("9032", "C001", "credit", "frozen", 500000),
    ("5521", "C002", "debit", "active", 150000),
    ("7788", "C002", "credit", "lost", 300000),
    ("1357", "C003", "debit", "active", 100000),
    ("6203", "C004", "debit", "active", 200000),
    ("3150", "C004", "credit", "frozen", 400000),
    ("8846", "C005", "debit", "active", 200000),
    ("2290", "C005", "credit", "lost", 300000),
    ("2468", "C006", "debit", "active", 100000),
)
TRANSACTIONS = (  # id, card, date, merchant, cents, currency, status
    ("T1001", "4417", "2026-11-28", "Skyline Electronics", 8999, "USD", "posted"),
    ("T1002", "4417", "2026-11-27", "Green Leaf Grocers", 4215, "USD", "posted"),
    ("T1003", "4417", "2026-11-25", "Metro Transit", 275, "USD", "posted"),
    ("T1004", "4417", "2026-11-30", "Harbor Cafe", 1250, "USD", "pending"),
    ("T1005", "9032", "2026-11-20", "Bluebird Airlines", 41800, "USD", "posted"),
    ("T2001", "5521", "2026-11-29", "Pine Street Pharmacy", 2340, "USD", "posted"),
    ("T2002", "5521", "2026-11-26", "StreamBox Subscription", 1599, "USD", "posted"),
    ("T2003", "5521", "2026-11-26", "StreamBox Subscription", 1599, "USD", "posted"),
    ("T3001", "1357", "2026-11-24", "Northwind Books", 3620, "USD", "posted"),
    ("T4001", "6203", "2026-11-28", "Lotus Supermarket", 26850, "CNY", "posted"),
    ("T4002", "6203", "2026-11-27", "Jade Garden Restaurant", 31800, "CNY", "posted"),
    ("T4003", "6203", "2026-11-23", "Nova Digital Store", 129900, "CNY", "posted"),
    ("T5001", "8846", "2026-11-29", "Silk Road Travel", 458000, "CNY", "posted"),
    ("T5002", "8846", "2026-11-26", "Bamboo Tea House", 8800, "CNY", "posted"),
    ("T6001", "2468", "2026-11-28", "Sunrise Fitness", 19900, "CNY", "posted"),
)


def seed_rows() -> list[list[Base]]:
    """Every seed row, in groups to write in order (parents first)."""
    customers: list[Base] = [Customer(customer_id=c, name=n, email=e, birth_date=b, language=lang)
                        for c, n, e, b, lang in CUSTOMERS]  # fmt: skip
    cards: list[Base] = [Card(last4=l4, customer_id=c, kind=k, status=s, daily_limit_cents=lim, replaces="")
             for l4, c, k, s, lim in CARDS]  # fmt: skip
    transactions: list[Base] = [Transaction(transaction_id=t, last4=l4, date=d, merchant=m, amount_cents=a,
                         currency=cur, status=s) for t, l4, d, m, a, cur, s in TRANSACTIONS]  # fmt: skip
    return [customers, cards, transactions]
