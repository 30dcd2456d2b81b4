"""The retail back office in a real database: users and their payment methods (gift cards with
balances), products and their items, orders with fulfilments and payment history, and an audit
row for every write that a tool makes.

`BackOffice.open(url)` opens it and creates the tables: a path or `sqlite:///PATH` for a SQLite
file (the default), `postgresql+psycopg://USER:PASS@HOST/DB` for PostgreSQL (the `postgres`
extra). `load_retail(folder)` imports tau-bench's retail `users.json`, `products.json` and
`orders.json` in one transaction: every record is checked before anything is kept, records already
in the database are left as they are (so loading twice adds nothing), and `replace=True` resets
the back office to the files instead. The tables and
the dicts they turn into are in `domains.retail.schema`.

    python -m domains.retail.backoffice load FOLDER [--db URL] [--replace]
    python -m domains.retail.backoffice show ORDER_ID [--db URL]

`--db` defaults to the environment variable CCA_RETAIL_DB, else `sqlite:///retail.db`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, event, func, select
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from domains.retail.data import FILES, RetailDataError, parse_retail
from domains.retail.schema import (
    DATA_TABLES,
    AuditEntry,
    Base,
    Fulfillment,
    Item,
    Order,
    OrderItem,
    Payment,
    PaymentMethod,
    Product,
    User,
    order_dict,
    product_dict,
    user_dict,
)

logger = logging.getLogger(__name__)

DEFAULT_URL = os.environ.get("CCA_RETAIL_DB", "sqlite:///retail.db")


@dataclass(frozen=True)
class LoadReport:
    """What `load_retail` did: rows added per table, records left as they were, and how long."""

    added: dict[str, int]  # table -> rows added
    kept: dict[str, int]  # users/products/orders already in the database, left untouched
    seconds: float


def _sqlite_connect(dbapi_connection, _record) -> None:
    # pysqlite opens transactions late and commits each CREATE TABLE on its own; take transaction
    # control over (SQLAlchemy's recipe) so that DDL and writes are atomic, and turn foreign keys on.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection) -> None:
    connection.exec_driver_sql("BEGIN")


def database_url(url: str | os.PathLike[str]) -> URL:
    """A path or URL as a SQLAlchemy URL; a path means a SQLite file, `postgresql://` psycopg 3."""
    text = os.fspath(url)
    if "://" not in text:
        text = f"sqlite:///{Path(text).expanduser()}"
    try:
        parsed = make_url(text)
    except ArgumentError as e:
        raise ValueError(
            f"cannot read database URL {text!r} ({e}); give a file path, sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")  # SQLAlchemy's default is psycopg2
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).expanduser().resolve().parent
        if not folder.is_dir():
            raise ValueError(
                f"cannot create database {parsed.database}: folder {folder} does not exist; create it first"
            )
    return parsed


class BackOffice:
    """The retail database. Build with `BackOffice.open(url)`; `transaction()` is a unit of work
    that commits on success and rolls back on any error, so a failed write changes nothing."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect.name
        self.url = engine.url.render_as_string(hide_password=True)  # safe to print
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | os.PathLike[str] = DEFAULT_URL, *, echo: bool = False) -> BackOffice:
        parsed = database_url(url)
        shown = parsed.render_as_string(hide_password=True)
        try:
            engine = create_engine(parsed, echo=echo)
        except ModuleNotFoundError as e:
            raise ImportError(
                f"{parsed.drivername} needs the {e.name} package: pip install 'contact-centre-agent[postgres]'"
            ) from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
        try:
            Base.metadata.create_all(engine)
        except OperationalError as e:
            engine.dispose()
            raise ConnectionError(
                f"cannot open database {shown}: {e.orig}; check the URL and that the server runs"
            ) from None
        logger.info("back office at %s", shown)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back if it raises."""
        with self._sessions.begin() as db:
            yield db

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session whose changes, if any, are never committed."""
        with self._sessions() as db:
            yield db

    def counts(self) -> dict[str, int]:
        with self.reading() as db:
            return {
                t.__tablename__: db.scalar(select(func.count()).select_from(t)) or 0
                for t in (*DATA_TABLES, AuditEntry)
            }

    def order(self, order_id: str) -> dict[str, Any] | None:
        with self.reading() as db:
            order = db.get(Order, order_id)
            return order_dict(order) if order else None

    def user(self, user_id: str) -> dict[str, Any] | None:
        with self.reading() as db:
            user = db.get(User, user_id)
            return user_dict(user) if user else None

    def product(self, product_id: str) -> dict[str, Any] | None:
        with self.reading() as db:
            product = db.get(Product, product_id)
            return product_dict(product) if product else None

    @staticmethod
    def audit_entry(**fields: Any) -> AuditEntry:
        """The audit row of one executed write (at, session_id, user_id, tool, args, result), for
        the tool machinery to add to the write's own transaction."""
        return AuditEntry(**fields)

    def audit(self, session_id: str | None = None) -> list[dict[str, Any]]:
        """The audit rows, oldest first (of one conversation when `session_id` is given)."""
        query = select(AuditEntry).order_by(AuditEntry.id)
        if session_id is not None:
            query = query.where(AuditEntry.session_id == session_id)
        with self.reading() as db:
            return [
                {
                    "at": a.at.isoformat(),
                    "session_id": a.session_id,
                    "user_id": a.user_id,
                    "tool": a.tool,
                    "args": a.args,
                    "result": a.result,
                }
                for a in db.scalars(query)
            ]

    def load_retail(
        self, folder: str | os.PathLike[str], *, replace: bool = False, progress: bool = True
    ) -> LoadReport:
        """Import users.json, products.json and orders.json from `folder` in one transaction.

        Records already in the database are kept as they are (loading twice adds nothing);
        `replace=True` empties the back office first (not the audit log). Raises
        `RetailDataError` naming the file and the record on malformed input, with nothing written.
        """
        t0 = time.perf_counter()
        data = parse_retail(Path(folder))  # every file read and every record checked first
        added = dict.fromkeys((t.__tablename__ for t in reversed(DATA_TABLES)), 0)
        kept = {"users": 0, "products": 0, "orders": 0}
        try:
            with self.transaction() as db:
                if replace:
                    for table in DATA_TABLES:
                        db.execute(delete(table))
                have_users = set(db.scalars(select(User.id)))
                have_products = set(db.scalars(select(Product.id)))
                have_orders = set(db.scalars(select(Order.id)))
                data.check_references(
                    users=have_users,
                    products=have_products,
                    payment_methods=dict(
                        db.execute(select(PaymentMethod.id, PaymentMethod.user_id)).all()
                    ),
                    emails=dict(db.execute(select(User.email, User.id)).all()),
                )
                for uid, u in data.users.items():
                    if uid in have_users:
                        kept["users"] += 1
                        continue
                    methods = [
                        PaymentMethod(position=n, **m) for n, m in enumerate(u["payment_methods"])
                    ]
                    fields = {k: v for k, v in u.items() if k != "payment_methods"}
                    db.add(User(id=uid, payment_methods=methods, **fields))
                    added["retail_users"] += 1
                    added["retail_payment_methods"] += len(methods)
                for pid, p in data.products.items():
                    if pid in have_products:
                        kept["products"] += 1
                        continue
                    items = [Item(position=n, **i) for n, i in enumerate(p["items"])]
                    db.add(Product(id=pid, name=p["name"], items=items))
                    added["retail_products"] += 1
                    added["retail_items"] += len(items)
                db.flush()
                bar = tqdm(data.orders.items(), desc="orders", unit="order", disable=not progress)
                for n, (oid, o) in enumerate(bar, 1):
                    if oid in have_orders:
                        kept["orders"] += 1
                        continue
                    db.add(_order(oid, o))
                    added["retail_orders"] += 1
                    added["retail_order_items"] += len(o["items"])
                    added["retail_fulfillments"] += len(o["fulfillments"])
                    added["retail_payments"] += len(o["payments"])
                    if n % 200 == 0:
                        db.flush()
        except IntegrityError as e:
            raise RetailDataError(
                f"{folder}: the data breaks a database constraint ({e.orig}); nothing was written"
            ) from None
        report = LoadReport(added, kept, time.perf_counter() - t0)
        logger.info("loaded %s from %s in %.2f s (kept %s)", added, folder, report.seconds, kept)
        return report


def _order(oid: str, o: dict[str, Any]) -> Order:
    return Order(
        id=oid,
        user_id=o["user_id"],
        status=o["status"],
        **o["address"],
        items=[OrderItem(position=n, **i) for n, i in enumerate(o["items"])],
        fulfillments=[Fulfillment(position=n, **f) for n, f in enumerate(o["fulfillments"])],
        payments=[Payment(position=n, **p) for n, p in enumerate(o["payments"])],
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cca backoffice", description="The retail back office database."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help=f"import {', '.join(FILES)} from a folder")
    load.add_argument("folder", type=Path)
    load.add_argument(
        "--replace", action="store_true", help="empty the back office first (the audit log stays)"
    )
    load.add_argument("--no-progress", action="store_true", help="no progress bar")
    show = sub.add_parser("show", help="print one order as JSON")
    show.add_argument("order_id")
    for p in (load, show):
        p.add_argument(
            "--db", default=DEFAULT_URL, help=f"database path or URL (default {DEFAULT_URL})"
        )
        p.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        office = BackOffice.open(args.db)
    except (ValueError, ImportError, ConnectionError) as e:
        print(f"cca backoffice: error: {e}", file=sys.stderr)
        return 2
    try:
        if args.command == "show":
            order = office.order(args.order_id)
            if order is None:
                print(
                    f"cca backoffice: no order {args.order_id!r} in {office.url} (order ids look like '#W2611340')",
                    file=sys.stderr,
                )
                return 1
            print(json.dumps(order, ensure_ascii=False, indent=2))
            return 0
        try:
            report = office.load_retail(
                args.folder, replace=args.replace, progress=not args.no_progress
            )
        except RetailDataError as e:
            print(f"cca backoffice: error: {e}", file=sys.stderr)
            return 1
        kept = ", ".join(f"{v} {k}" for k, v in report.kept.items() if v)
        print(
            f"loaded {args.folder} into {office.url} in {report.seconds:.2f} s"
            + (f" (already there: {kept})" if kept else "")
        )
        counts = office.counts()
        for table in [*report.added, "retail_audit"]:
            name = table.removeprefix("retail_")
            print(f"  {name:<16} {counts[table]:>6}  (+{report.added.get(table, 0)})")
        return 0
    finally:
        office.close()


if __name__ == "__main__":
    sys.exit(main())
