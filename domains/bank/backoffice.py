"""The card back office in a real database: customers, their cards, transactions, disputes and an
audit row for every write a tool makes.

`BankOffice.open(url)` opens it (a path or `sqlite:///PATH` for a SQLite file, the default;
`postgresql+psycopg://USER:PASS@HOST/DB` for PostgreSQL, the `postgres` extra), creates the
tables, and seeds an empty database with the made-up customers of `domains.bank.schema` in one
transaction, so the first use of a fresh file gives the same bank every time.

    python -m domains.bank.backoffice show LAST4 [--db URL]

`--db` defaults to the environment variable CCA_BANK_DB, else `sqlite:///bank.db`; the pack
names this class in its domain.toml ([tools] backoffice), and the agent opens it from there.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dialogue.records.db import make_engine
from domains.bank.schema import (
    AuditEntry,
    Base,
    Card,
    Customer,
    Dispute,
    Transaction,
    card_dict,
    seed_rows,
    transaction_dict,
)

logger = logging.getLogger(__name__)

DEFAULT_URL = os.environ.get("CCA_BANK_DB", "sqlite:///bank.db")


def _url(url: str | os.PathLike[str]) -> str:
    text = os.fspath(url)
    if "://" not in text:
        text = f"sqlite:///{Path(text).expanduser()}"
    if text.startswith(("postgresql://", "postgres://")):
        text = "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


class BankOffice:
    """The card database. `transaction()` commits on success and rolls back on any error, so a
    failed write changes nothing; `reading()` never commits."""

    def __init__(self, engine):
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)  # safe to print
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | os.PathLike[str] = DEFAULT_URL) -> BankOffice:
        text = _url(url)
        try:
            engine = make_engine(text)
            Base.metadata.create_all(engine)
        except ModuleNotFoundError as e:
            raise ImportError(
                f"{text.split('://')[0]} needs the {e.name} package: "
                "pip install 'contact-centre-agent[postgres]'"
            ) from None
        except OperationalError as e:
            raise ConnectionError(
                f"cannot open the card back office at {text}: {e.orig}; check the URL"
            ) from None
        office = cls(engine)
        office.seed()
        logger.info("card back office at %s", office.url)
        return office

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as db:
            yield db

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._sessions() as db:
            yield db

    def seed(self) -> int:
        """Write the made-up customers, cards and transactions into an empty database; the rows
        added (0 when it holds customers already)."""
        with self.transaction() as db:
            if db.scalar(select(func.count()).select_from(Customer)):
                return 0
            groups = seed_rows()
            for rows in groups:
                db.add_all(rows)
                db.flush()
            return sum(len(rows) for rows in groups)

    def counts(self) -> dict[str, int]:
        with self.reading() as db:
            return {
                t.__tablename__: db.scalar(select(func.count()).select_from(t)) or 0
                for t in (Customer, Card, Transaction, Dispute, AuditEntry)
            }

    def record(self, kind: str, key: str) -> dict[str, Any] | None:
        """One record as a dict, for checks and evaluations: kind "card" (by last4),
        "transaction" (by id) or "customer" (by id); None when there is none."""
        table = {"card": Card, "transaction": Transaction, "customer": Customer}.get(kind)
        if table is None:
            raise ValueError(f"unknown record kind {kind!r}; kinds: card, transaction, customer")
        with self.reading() as db:
            row = db.get(table, key)
            if row is None:
                return None
            if isinstance(row, Card):
                return card_dict(row)
            if isinstance(row, Transaction):
                return transaction_dict(row)
            return {"customer_id": row.customer_id, "name": row.name, "email": row.email}

    def audit(self, session_id: str | None = None) -> list[dict[str, Any]]:
        with self.reading() as db:
            query = select(AuditEntry).order_by(AuditEntry.id)
            if session_id is not None:
                query = query.where(AuditEntry.session_id == session_id)
            return [
                {"at": a.at.isoformat(), "session_id": a.session_id, "customer_id": a.customer_id,
                 "tool": a.tool, "args": a.args, "result": a.result}
                for a in db.scalars(query)
            ]  # fmt: skip

    def write(self, db: Session, session_id: str, customer_id: str | None, tool: str,
              args: dict[str, Any], result: dict[str, Any]) -> None:  # fmt: skip
        """Add the audit row of a write to the write's own transaction."""
        db.add(AuditEntry(at=datetime.now(UTC), session_id=session_id, customer_id=customer_id,
                          tool=tool, args=args, result=result))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m domains.bank.backoffice", description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("what", choices=["show", "counts"])
    p.add_argument("key", nargs="?", default="", help="a card's last four digits (show)")
    p.add_argument("--db", default=DEFAULT_URL, help=f"database (default {DEFAULT_URL})")
    args = p.parse_args(argv)
    try:
        office = BankOffice.open(args.db)
    except (ImportError, ConnectionError, ValueError) as e:
        print(f"bank back office: {e}", file=sys.stderr)
        return 2
    try:
        out = office.counts() if args.what == "counts" else office.record("card", args.key)
    finally:
        office.close()
    if out is None:
        print(f"bank back office: no card ending in {args.key!r}", file=sys.stderr)
        return 1
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
