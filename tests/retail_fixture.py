"""A small retail data set in tau-bench's JSON shapes, for the back office and tools tests.

Three users (two Alice Smiths at one zip, so name+zip is ambiguous for them), two products with
available and unavailable items, and orders in every status. Money in dollars, as in the files.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from domains.retail.schema import Base


def _address(street: str, zip_: str) -> dict[str, str]:
    return {
        "address1": street,
        "address2": "Apt 1",
        "city": "Springfield",
        "country": "USA",
        "state": "IL",
        "zip": zip_,
    }


def _user(first: str, last: str, email: str, zip_: str, methods: list[dict], orders: list[str]):
    return {
        "name": {"first_name": first, "last_name": last},
        "address": _address("1 Main St", zip_),
        "email": email,
        "payment_methods": {m["id"]: m for m in methods},
        "orders": orders,
    }


USERS = {
    "alice_1": _user(
        "Alice",
        "Smith",
        "alice@example.com",
        "10001",
        [
            {"source": "credit_card", "brand": "visa", "last_four": "1111", "id": "credit_card_1"},
            {"source": "gift_card", "balance": 30, "id": "gift_card_1"},
            {"source": "paypal", "id": "paypal_1"},
        ],
        ["#W1", "#W2", "#W3", "#W4", "#W5"],
    ),
    "bob_2": _user(
        "Bob",
        "Jones",
        "bob@example.com",
        "94105",
        [
            {"source": "gift_card", "balance": 500.5, "id": "gift_card_2"},
            {"source": "credit_card", "brand": "amex", "last_four": "2222", "id": "credit_card_2"},
        ],
        ["#W6", "#W7"],
    ),
    "alice_9": _user(  # another Alice Smith at the same zip
        "Alice",
        "Smith",
        "alice.other@example.com",
        "10001",
        [{"source": "paypal", "id": "paypal_9"}],
        [],
    ),
}

SHIRT, BOTTLE = "1000000001", "1000000002"
BLUE_M, RED_M, GREEN_L, BLACK_XL, WHITE_S = (
    "2000000001", "2000000002", "2000000003", "2000000004", "2000000005",
)  # fmt: skip
SMALL, LARGE = "3000000001", "3000000002"
PRODUCTS = {
    SHIRT: {
        "name": "T-Shirt",
        "product_id": SHIRT,
        "variants": {
            BLUE_M: {"item_id": BLUE_M, "options": {"color": "blue", "size": "M"}, "available": True, "price": 50.0},
            RED_M: {"item_id": RED_M, "options": {"color": "red", "size": "M"}, "available": True, "price": 55.0},
            GREEN_L: {"item_id": GREEN_L, "options": {"color": "green", "size": "L"}, "available": False, "price": 45.0},
            BLACK_XL: {"item_id": BLACK_XL, "options": {"color": "black", "size": "XL"}, "available": True, "price": 200.0},
            WHITE_S: {"item_id": WHITE_S, "options": {"color": "white", "size": "S"}, "available": True, "price": 40.0},
        },
    },
    BOTTLE: {
        "name": "Water Bottle",
        "product_id": BOTTLE,
        "variants": {
            SMALL: {"item_id": SMALL, "options": {"capacity": "500ml"}, "available": True, "price": 20.0},
            LARGE: {"item_id": LARGE, "options": {"capacity": "1000ml"}, "available": True, "price": 25.0},
        },
    },
}  # fmt: skip


def _item(item_id: str) -> dict[str, Any]:
    product = next(p for p in PRODUCTS.values() if item_id in p["variants"])
    v = product["variants"][item_id]
    return {
        "name": product["name"],
        "product_id": product["product_id"],
        "item_id": item_id,
        "price": v["price"],
        "options": v["options"],
    }


def _order(oid: str, user: str, status: str, items: list[str], history: list[tuple], track: bool):
    return {
        "order_id": oid,
        "user_id": user,
        "address": _address("1 Main St", "10001"),
        "items": [_item(i) for i in items],
        "fulfillments": [{"tracking_id": [f"TRK{oid[2:]}"], "item_ids": items}] if track else [],
        "status": status,
        "payment_history": [
            {"transaction_type": kind, "amount": amount, "payment_method_id": method}
            for kind, amount, method in history
        ],
    }


ORDERS = {
    "#W1": _order("#W1", "alice_1", "pending", [BLUE_M, SMALL], [("payment", 70.0, "credit_card_1")], False),
    "#W2": _order("#W2", "alice_1", "pending", [BLUE_M, BLUE_M], [("payment", 100.0, "gift_card_1")], False),
    "#W3": _order("#W3", "alice_1", "delivered", [RED_M, LARGE], [("payment", 80.0, "credit_card_1")], True),
    "#W4": _order("#W4", "alice_1", "processed", [SMALL], [("payment", 20.0, "paypal_1")], True),
    "#W5": _order(
        "#W5", "alice_1", "cancelled", [LARGE],
        [("payment", 25.0, "paypal_1"), ("refund", 25.0, "paypal_1")], False,
    ),
    "#W6": _order("#W6", "bob_2", "pending", [BLUE_M], [("payment", 50.0, "gift_card_2")], False),
    "#W7": _order("#W7", "bob_2", "delivered", [SMALL], [("payment", 20.0, "credit_card_2")], True),
}  # fmt: skip

COUNTS = {  # rows per table after loading the fixture
    "retail_users": 3,
    "retail_payment_methods": 6,
    "retail_products": 2,
    "retail_items": 7,
    "retail_orders": 7,
    "retail_order_items": 10,
    "retail_fulfillments": 3,
    "retail_payments": 8,
    "retail_audit": 0,
}


def dataset() -> dict[str, dict[str, Any]]:
    """file name -> contents, a fresh deep copy each time (tests mutate it)."""
    return copy.deepcopy({"users.json": USERS, "products.json": PRODUCTS, "orders.json": ORDERS})


def write_dataset(folder: Path, data: dict[str, Any] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in (data or dataset()).items():
        text = content if isinstance(content, str) else json.dumps(content, indent=1)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def snapshot(office) -> dict[str, list[tuple]]:
    """Every row of every back office table, to compare the whole database before and after."""
    out = {}
    with office.reading() as db:
        for table in Base.metadata.sorted_tables:
            out[table.name] = sorted((tuple(row) for row in db.execute(select(table))), key=repr)
    return out
