"""Reading tau-bench's retail JSON files (users.json, products.json, orders.json) into checked
records, before anything touches a database.

Each file is an object keyed by id. A malformed file or record raises `RetailDataError` naming the
file, the record and what to fix. Money comes out as integer cents.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

FILES = ("users.json", "products.json", "orders.json")
ADDRESS_FIELDS = ("address1", "address2", "city", "country", "state", "zip")
SOURCES = ("credit_card", "paypal", "gift_card")  # the kinds of payment method

# Order statuses: the four of the data, and the three that the tools set (policy.md).
PENDING = "pending"
PROCESSED = "processed"
DELIVERED = "delivered"
CANCELLED = "cancelled"
ITEMS_MODIFIED = "pending (items modified)"
RETURN_REQUESTED = "return requested"
EXCHANGE_REQUESTED = "exchange requested"
STATUSES = (
    PENDING,
    PROCESSED,
    DELIVERED,
    CANCELLED,
    ITEMS_MODIFIED,
    RETURN_REQUESTED,
    EXCHANGE_REQUESTED,
)


class RetailDataError(ValueError):
    """A malformed retail file or record; the message names the file, the record and the fix."""


def to_cents(value: Any, where: str) -> int:
    """Dollars (int or float, as in the JSON files) as integer cents."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise RetailDataError(
            f"{where}: expected an amount in dollars (a number >= 0), got {value!r}"
        )
    return int((Decimal(str(value)) * 100).quantize(Decimal(1)))


class _Record:
    """One JSON object and where it came from, for errors that point at it."""

    def __init__(self, where: str, data: Any):
        if not isinstance(data, dict):
            raise RetailDataError(
                f"{where}: expected an object, got {type(data).__name__} {data!r:.60}"
            )
        self.where, self.data = where, data

    def get(self, key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
        if key not in self.data:
            if optional:
                return None
            raise RetailDataError(
                f"{self.where}: missing field {key!r}; add it (see the other records for its shape)"
            )
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise RetailDataError(
                f"{self.where}: field {key!r} should be {names}, got {value!r:.60}"
            )
        return value

    def text(self, key: str, *, optional: bool = False) -> str | None:
        value = self.get(key, str, optional=optional)
        if value is not None and not value.strip() and key != "address2":
            raise RetailDataError(f"{self.where}: field {key!r} is empty; fill it in")
        return value

    def sub(self, key: str) -> _Record:
        return _Record(f"{self.where} {key}", self.get(key, dict))

    def strings(self, key: str) -> list[str]:
        values = self.get(key, list)
        if not all(isinstance(v, str) for v in values):
            raise RetailDataError(
                f"{self.where}: field {key!r} should be a list of strings, got {values!r:.60}"
            )
        return values

    def same_id(self, key: str, expected: str) -> None:
        if key in self.data and self.data[key] != expected:
            raise RetailDataError(
                f"{self.where}: {key} {self.data[key]!r} differs from its key {expected!r}; make them equal"
            )


def _address(record: _Record) -> dict[str, str]:
    address = record.sub("address")
    return {k: address.text(k) for k in ADDRESS_FIELDS}


def parse_user(uid: str, raw: Any, where: str) -> dict[str, Any]:
    r = _Record(where, raw)
    name = r.sub("name")
    methods = []
    for mid, m_raw in r.get("payment_methods", dict).items():
        m = _Record(f"{where} payment method {mid!r}", m_raw)
        m.same_id("id", mid)
        source = m.text("source")
        if source not in SOURCES:
            raise RetailDataError(f"{m.where}: source {source!r} is not one of {SOURCES}")
        balance = m.get("balance", (int, float), optional=source != "gift_card")
        methods.append(
            {
                "id": mid,
                "source": source,
                "brand": m.text("brand", optional=True),
                "last_four": m.text("last_four", optional=True),
                "balance_cents": None
                if balance is None
                else to_cents(balance, f"{m.where} balance"),
            }
        )
    return {
        "first_name": name.text("first_name"),
        "last_name": name.text("last_name"),
        "email": r.text("email").strip(),
        **_address(r),
        "payment_methods": methods,
    }


def parse_product(pid: str, raw: Any, where: str) -> dict[str, Any]:
    r = _Record(where, raw)
    r.same_id("product_id", pid)
    items = []
    for iid, i_raw in r.get("variants", dict).items():
        i = _Record(f"{where} variant {iid!r}", i_raw)
        i.same_id("item_id", iid)
        items.append(
            {
                "id": iid,
                "options": i.get("options", dict),
                "price_cents": to_cents(i.get("price", (int, float)), f"{i.where} price"),
                "available": i.get("available", bool),
            }
        )
    return {"name": r.text("name"), "items": items}


def parse_order(oid: str, raw: Any, where: str) -> dict[str, Any]:
    r = _Record(where, raw)
    r.same_id("order_id", oid)
    status = r.text("status")
    if status not in STATUSES:
        raise RetailDataError(f"{where}: status {status!r} is not one of {STATUSES}")
    items = []
    for n, i_raw in enumerate(r.get("items", list)):
        i = _Record(f"{where} item {n}", i_raw)
        items.append(
            {
                "item_id": i.text("item_id"),
                "product_id": i.text("product_id"),
                "name": i.text("name"),
                "price_cents": to_cents(i.get("price", (int, float)), f"{i.where} price"),
                "options": i.get("options", dict),
            }
        )
    if not items:
        raise RetailDataError(f"{where}: an order needs at least one item")
    fulfillments = []
    for n, f_raw in enumerate(r.get("fulfillments", list)):
        f = _Record(f"{where} fulfillment {n}", f_raw)
        fulfillments.append(
            {"tracking_ids": f.strings("tracking_id"), "item_ids": f.strings("item_ids")}
        )
    payments = []
    for n, p_raw in enumerate(r.get("payment_history", list)):
        p = _Record(f"{where} payment {n}", p_raw)
        kind = p.text("transaction_type")
        if kind not in ("payment", "refund"):
            raise RetailDataError(
                f"{p.where}: transaction_type {kind!r} should be 'payment' or 'refund'"
            )
        amount = to_cents(p.get("amount", (int, float)), f"{p.where} amount")
        payments.append(
            {"kind": kind, "amount_cents": amount, "payment_method_id": p.text("payment_method_id")}
        )
    return {
        "user_id": r.text("user_id"),
        "status": status,
        "address": _address(r),
        "items": items,
        "fulfillments": fulfillments,
        "payments": payments,
    }


@dataclass(frozen=True)
class RetailData:
    """The three files, checked: id -> record, in file order."""

    folder: Path
    users: dict[str, dict[str, Any]]
    products: dict[str, dict[str, Any]]
    orders: dict[str, dict[str, Any]]

    def check_references(
        self,
        *,
        users: set[str],
        products: set[str],
        payment_methods: dict[str, str],
        emails: dict[str, str],
    ) -> None:
        """Raise unless every id an order names exists, here or in the database (the arguments:
        the ids already stored; payment method -> user; email -> user), and no new user reuses an
        email or payment method id of another."""
        owner = dict(payment_methods)
        for uid, u in self.users.items():
            if uid in users:
                continue  # kept as stored
            where = f"{self.folder / 'users.json'}: user {uid!r}"
            if emails.get(u["email"], uid) != uid:
                raise RetailDataError(
                    f"{where}: email {u['email']!r} already belongs to user {emails[u['email']]!r}"
                )
            for m in u["payment_methods"]:
                if owner.get(m["id"], uid) != uid:
                    raise RetailDataError(
                        f"{where}: payment method {m['id']!r} already belongs to user {owner[m['id']]!r}"
                    )
                owner[m["id"]] = uid
        for oid, o in self.orders.items():
            where = f"{self.folder / 'orders.json'}: order {oid!r}"
            if o["user_id"] not in self.users and o["user_id"] not in users:
                raise RetailDataError(
                    f"{where}: user {o['user_id']!r} is in neither users.json nor the database; add the user"
                )
            for p in o["payments"]:
                if owner.get(p["payment_method_id"]) != o["user_id"]:
                    raise RetailDataError(
                        f"{where}: payment method {p['payment_method_id']!r} is not one of user {o['user_id']!r}'s"
                    )
            for i in o["items"]:
                if i["product_id"] not in self.products and i["product_id"] not in products:
                    raise RetailDataError(
                        f"{where}: product {i['product_id']!r} is in neither products.json nor the database"
                    )


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RetailDataError(f"{path}: file not found; a retail folder holds {', '.join(FILES)}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RetailDataError(
            f"{path}: not valid JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from None
    except UnicodeDecodeError as e:
        raise RetailDataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not isinstance(data, dict):
        raise RetailDataError(
            f"{path}: expected an object keyed by id, as in tau-bench's retail data, got a {type(data).__name__}"
        )
    return data


def parse_retail(folder: Path) -> RetailData:
    """Read and check the three files; raises `RetailDataError` on the first problem."""
    raw = {name: _read(folder / name) for name in FILES}
    users = {
        uid: parse_user(uid, u, f"{folder / 'users.json'}: user {uid!r}")
        for uid, u in raw["users.json"].items()
    }
    products = {
        pid: parse_product(pid, p, f"{folder / 'products.json'}: product {pid!r}")
        for pid, p in raw["products.json"].items()
    }
    orders = {
        oid: parse_order(oid, o, f"{folder / 'orders.json'}: order {oid!r}")
        for oid, o in raw["orders.json"].items()
    }
    for what, ids in (
        ("email", [u["email"].lower() for u in users.values()]),
        ("payment method id", [m["id"] for u in users.values() for m in u["payment_methods"]]),
        ("item id", [i["id"] for p in products.values() for i in p["items"]]),
    ):
        seen: set[str] = set()
        for value in ids:
            if value in seen:
                raise RetailDataError(
                    f"{folder}: {what} {value!r} appears twice; each must be unique"
                )
            seen.add(value)
    return RetailData(folder, users, products, orders)
