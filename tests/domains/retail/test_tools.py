"""The agent's tools on a real SQLite file and a real PostgreSQL server (see conftest.postgres_url):
every tool's happy path, each policy refusal, the confirmation protocol and the audit rows, and
the database state after each: refused or failed actions change nothing and audit nothing,
executed ones write exactly one audit row."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil

import pytest
from sqlalchemy import text

import domains.retail.reads as reads
import domains.retail.tools as tools
from domains.retail.backoffice import BackOffice
from domains.retail.tools import CODES, OPEN_TOOLS, TOOLS, ToolResult, ToolSession, call, tool_specs
from tests.retail_fixture import (
    BLACK_XL,
    BLUE_M,
    BOTTLE,
    GREEN_L,
    LARGE,
    ORDERS,
    RED_M,
    SHIRT,
    SMALL,
    USERS,
    WHITE_S,
    snapshot,
    write_dataset,
)

ALICE, BOB = "alice_1", "bob_2"
EMAIL = {ALICE: "alice@example.com", BOB: "bob@example.com"}
ADDRESS = {"address1": "9 Elm St", "address2": "", "city": "Paris", "state": "TX", "country": "USA", "zip": "75460"}  # fmt: skip
WRITES = {
    "cancel_pending_order", "modify_pending_order_address", "modify_pending_order_payment",
    "modify_pending_order_items", "return_delivered_order_items", "exchange_delivered_order_items",
    "modify_user_address",
}  # fmt: skip
OPEN = {"find_user_id_by_email", "find_user_id_by_name_zip", "get_product_details", "list_all_product_types"}  # fmt: skip


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The fixture data loaded once into a SQLite file; each test works on a copy."""
    folder = tmp_path_factory.mktemp("retail")
    office = BackOffice.open(folder / "template.db")
    office.load_retail(write_dataset(folder / "data"), progress=False)
    office.close()
    return folder / "template.db"


@pytest.fixture
def office(template, tmp_path):
    path = tmp_path / "retail.db"
    shutil.copy(template, path)
    office = BackOffice.open(path)
    yield office
    office.close()


def login(office: BackOffice, user: str = ALICE) -> ToolSession:
    session = ToolSession(office, session_id=f"test-{user}")
    assert call(session, "find_user_id_by_email", {"email": EMAIL[user]}).ok
    return session


def gift_card(office, method_id: str) -> float:
    user = ALICE if method_id.endswith("_1") else BOB
    return office.user(user)["payment_methods"][method_id]["balance"]


def run_confirmed(office, session, name, args) -> ToolResult:
    """Call a write, check it wrote nothing and audited nothing, then confirm it."""
    before = snapshot(office)
    asked = call(session, name, args)
    assert (asked.ok, asked.code) == (False, "needs_confirmation"), asked.error
    assert snapshot(office) == before  # asking writes nothing
    confirmation = asked.data["confirmation"]
    assert confirmation["tool"] == name and confirmation["args"] == args
    assert confirmation["summary"]["en"] and re.search(
        r"[\u4e00-\u9fff]", confirmation["summary"]["zh"]
    )
    assert session.pending is not None and session.pending.tool == name
    done = session.confirm(True)
    assert done.ok, done.error
    assert session.pending is None
    audit = office.audit()
    assert len(audit) == 1 + len(before["retail_audit"])
    row = audit[-1]
    assert (row["session_id"], row["user_id"], row["tool"], row["args"]) == (session.session_id, session.user_id, name, args)  # fmt: skip
    assert row["result"] == done.data and row["at"]
    return done


# the registry


def test_registry_lists_every_tool_with_a_schema():
    assert {n for n, t in TOOLS.items() if t.writes} == WRITES
    assert OPEN_TOOLS == OPEN
    for name, (fn, params, writes) in TOOLS.items():
        assert fn.__name__ == name and callable(fn) and isinstance(writes, bool)
        assert params["type"] == "object" and params["description"]
        assert set(params["required"]) <= set(params["properties"])
        assert all(p["type"] in ("string", "array") and p["description"] for p in params["properties"].values())  # fmt: skip
    specs = tool_specs()
    assert [s["function"]["name"] for s in specs] == list(TOOLS)
    assert all("description" not in s["function"]["parameters"] for s in specs)


def test_tool_result_is_frozen_and_codes_are_documented():
    result = ToolResult(False, {}, "no", "policy")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ok = True
    assert result.to_dict() == {"ok": False, "error": "no", "code": "policy"}
    assert ToolResult(True, {"a": 1}).to_dict() == {"ok": True, "a": 1}
    assert {"not_authenticated", "needs_confirmation", "wrong_user", "not_found", "invalid_argument",
            "insufficient_balance", "policy", "not_pending", "not_delivered"} <= set(CODES)  # fmt: skip


# reads


@pytest.mark.parametrize(
    ("name", "args", "check"),
    [
        ("find_user_id_by_email", {"email": " ALICE@example.com "}, lambda d: d == {"user_id": ALICE}),
        ("find_user_id_by_name_zip", {"first_name": "alice", "last_name": "SMITH", "zip": "10001"}, None),
        ("get_user_details", {"user_id": ALICE}, lambda d: d == {"user_id": ALICE, **USERS[ALICE]}),
        ("list_user_orders", {"user_id": ALICE}, lambda d: [(o["order_id"], o["status"], o["total"]) for o in d["orders"]][:2] == [("#W1", "pending", 70.0), ("#W2", "pending", 100.0)]),
        ("get_order_details", {"order_id": "#W3"}, lambda d: d == ORDERS["#W3"]),
        ("get_order_details", {"order_id": "W3"}, lambda d: d["fulfillments"][0]["tracking_id"] == ["TRK3"]),
        ("get_product_details", {"product_id": SHIRT}, lambda d: d["variants"][GREEN_L]["available"] is False),
        ("list_all_product_types", {}, lambda d: d == {"products": {"T-Shirt": SHIRT, "Water Bottle": BOTTLE}}),
        ("transfer_to_human_agents", {"summary": "wants a discount"}, lambda d: d["transferred"] and d["user_id"] == ALICE),
    ],
)  # fmt: skip
def test_reads(office, name, args, check):
    session = ToolSession(office)
    if name == "find_user_id_by_name_zip":  # two Alice Smiths share zip 10001: Bob instead
        args = {"first_name": "bob", "last_name": "JONES", "zip": "94105"}
        check = lambda d: d == {"user_id": BOB}  # noqa: E731
    elif name not in OPEN:
        session = login(office)
    before = snapshot(office)
    result = call(session, name, args)
    assert result.ok, result.error
    assert check(result.data)
    assert snapshot(office) == before  # reads write nothing, no audit row


def test_public_functions_take_the_session_and_go_through_the_protocol(office):
    session = ToolSession(office)
    assert reads.find_user_id_by_email(session, "alice@example.com").data == {"user_id": ALICE}
    assert reads.get_order_details(session, order_id="#W1").data["status"] == "pending"
    asked = tools.cancel_pending_order(session, "#W1", "no longer needed")
    assert asked.code == "needs_confirmation" and office.order("#W1")["status"] == "pending"
    assert reads.get_order_details(session, "#W1", "extra").code == "invalid_argument"


# writes: the happy path of each, with the state after


def _cancel_card(office):
    done = run_confirmed(office, login(office), "cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"})  # fmt: skip
    order = office.order("#W1")
    assert order["status"] == "cancelled" and order["cancel_reason"] == "no longer needed"
    assert order["payment_history"][-1] == {"transaction_type": "refund", "amount": 70.0, "payment_method_id": "credit_card_1"}  # fmt: skip
    assert done.data["refunds"] == [{"payment_method_id": "credit_card_1", "amount": 70.0, "when": "in 5 to 7 business days"}]  # fmt: skip
    assert gift_card(office, "gift_card_1") == 30.0


def _cancel_gift_card(office):
    done = run_confirmed(office, login(office), "cancel_pending_order", {"order_id": "#W2", "reason": "ordered by mistake"})  # fmt: skip
    assert done.data["refunds"][0]["when"] == "immediately"
    assert gift_card(office, "gift_card_1") == 130.0  # refunded at once
    assert office.order("#W2")["status"] == "cancelled"


def _order_address(office):
    run_confirmed(
        office, login(office), "modify_pending_order_address", {"order_id": "#W1", **ADDRESS}
    )
    order = office.order("#W1")
    assert order["address"] == ADDRESS and order["status"] == "pending"
    assert office.user(ALICE)["address"] == USERS[ALICE]["address"]


def _payment_to_paypal(office):
    run_confirmed(office, login(office), "modify_pending_order_payment", {"order_id": "#W1", "payment_method_id": "paypal_1"})  # fmt: skip
    order = office.order("#W1")
    assert order["status"] == "pending"
    assert order["payment_history"][1:] == [
        {"transaction_type": "payment", "amount": 70.0, "payment_method_id": "paypal_1"},
        {"transaction_type": "refund", "amount": 70.0, "payment_method_id": "credit_card_1"},
    ]


def _payment_from_gift_card(office):
    done = run_confirmed(office, login(office), "modify_pending_order_payment", {"order_id": "#W2", "payment_method_id": "credit_card_1"})  # fmt: skip
    assert done.data["refund"] == {
        "payment_method_id": "gift_card_1",
        "amount": 100.0,
        "when": "immediately",
    }
    assert gift_card(office, "gift_card_1") == 130.0


def _payment_to_gift_card(office):
    run_confirmed(office, login(office, BOB), "modify_pending_order_payment", {"order_id": "#W6", "payment_method_id": "credit_card_2"})  # fmt: skip
    session = ToolSession(office, "again")
    call(session, "find_user_id_by_email", {"email": EMAIL[BOB]})
    run_confirmed(office, session, "modify_pending_order_payment", {"order_id": "#W6", "payment_method_id": "gift_card_2"})  # fmt: skip
    assert gift_card(office, "gift_card_2") == 500.5  # 50 back, then 50 paid again


def _items(office):
    args = {"order_id": "#W1", "item_ids": [BLUE_M], "new_item_ids": [RED_M], "payment_method_id": "gift_card_1"}  # fmt: skip
    done = run_confirmed(office, login(office), "modify_pending_order_items", args)
    order = office.order("#W1")
    assert order["status"] == "pending (items modified)"
    assert [i["item_id"] for i in order["items"]] == [RED_M, SMALL]
    assert order["items"][0]["price"] == 55.0 and order["items"][0]["options"]["color"] == "red"
    assert order["payment_history"][-1] == {"transaction_type": "payment", "amount": 5.0, "payment_method_id": "gift_card_1"}  # fmt: skip
    assert done.data["price_difference"] == 5.0 and gift_card(office, "gift_card_1") == 25.0


def _items_twice_the_same(office):
    args = {"order_id": "#W2", "item_ids": [BLUE_M, BLUE_M], "new_item_ids": [RED_M, BLACK_XL], "payment_method_id": "credit_card_1"}  # fmt: skip
    run_confirmed(office, login(office), "modify_pending_order_items", args)
    order = office.order("#W2")
    assert [i["item_id"] for i in order["items"]] == [RED_M, BLACK_XL]
    assert order["payment_history"][-1]["amount"] == 155.0


def _items_cheaper(office):
    args = {"order_id": "#W2", "item_ids": [BLUE_M], "new_item_ids": [WHITE_S], "payment_method_id": "gift_card_1"}  # fmt: skip
    done = run_confirmed(office, login(office), "modify_pending_order_items", args)
    assert done.data["price_difference"] == -10.0
    assert office.order("#W2")["payment_history"][-1] == {"transaction_type": "refund", "amount": 10.0, "payment_method_id": "gift_card_1"}  # fmt: skip
    assert gift_card(office, "gift_card_1") == 40.0  # the difference back at once
    assert [i["item_id"] for i in office.order("#W2")["items"]] == [WHITE_S, BLUE_M]


def _return(office):
    args = {"order_id": "#W3", "item_ids": [RED_M], "payment_method_id": "credit_card_1"}
    done = run_confirmed(office, login(office), "return_delivered_order_items", args)
    order = office.order("#W3")
    assert order["status"] == "return requested"
    assert order["return_items"] == [RED_M] and order["return_payment_method_id"] == "credit_card_1"
    assert done.data["refund_amount"] == 55.0
    assert order["payment_history"] == ORDERS["#W3"]["payment_history"]  # refunded when received


def _return_to_gift_card(office):
    args = {"order_id": "#W3", "item_ids": [RED_M, LARGE], "payment_method_id": "gift_card_1"}
    done = run_confirmed(office, login(office), "return_delivered_order_items", args)
    assert done.data == {**done.data, "refund_amount": 80.0, "payment_method_id": "gift_card_1"}


def _exchange(office):
    args = {"order_id": "#W3", "item_ids": [RED_M], "new_item_ids": [BLACK_XL], "payment_method_id": "credit_card_1"}  # fmt: skip
    run_confirmed(office, login(office), "exchange_delivered_order_items", args)
    order = office.order("#W3")
    assert order["status"] == "exchange requested"
    assert (order["exchange_items"], order["exchange_new_items"]) == ([RED_M], [BLACK_XL])
    assert order["exchange_price_difference"] == 145.0
    assert order["items"] == ORDERS["#W3"]["items"]


def _user_address(office):
    done = run_confirmed(
        office, login(office), "modify_user_address", {"user_id": ALICE, **ADDRESS}
    )
    assert office.user(ALICE)["address"] == ADDRESS == done.data["user"]["address"]
    assert office.order("#W1")["address"] == ORDERS["#W1"]["address"]


WRITE_CASES = [_cancel_card, _cancel_gift_card, _order_address, _payment_to_paypal, _payment_from_gift_card,
               _payment_to_gift_card, _items, _items_twice_the_same, _items_cheaper, _return,
               _return_to_gift_card, _exchange, _user_address]  # fmt: skip


@pytest.mark.parametrize("case", WRITE_CASES, ids=[c.__name__.strip("_") for c in WRITE_CASES])
def test_writes(office, case):
    case(office)


# refusals: nothing changes, nothing is audited, nothing is left pending

ITEMS = {"item_ids": [BLUE_M], "new_item_ids": [RED_M], "payment_method_id": "credit_card_1"}
EXCHANGE = {"order_id": "#W3", "item_ids": [RED_M], "new_item_ids": [BLACK_XL], "payment_method_id": "credit_card_1"}  # fmt: skip
REFUSALS = [  # (id, who is logged in, tool, args, code, words the error must hold)
    ("unauthenticated user details", None, "get_user_details", {"user_id": ALICE}, "not_authenticated", "find_user_id_by_email"),
    ("unauthenticated order", None, "get_order_details", {"order_id": "#W1"}, "not_authenticated", ""),
    ("unauthenticated cancel", None, "cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"}, "not_authenticated", ""),
    ("unauthenticated transfer", None, "transfer_to_human_agents", {"summary": "x"}, "not_authenticated", ""),
    ("another user's profile", ALICE, "get_user_details", {"user_id": BOB}, "wrong_user", "serves user alice_1"),
    ("another user's orders", ALICE, "list_user_orders", {"user_id": BOB}, "wrong_user", ""),
    ("another user's order", ALICE, "get_order_details", {"order_id": "#W6"}, "wrong_user", ""),
    ("cancel another user's order", ALICE, "cancel_pending_order", {"order_id": "#W6", "reason": "no longer needed"}, "wrong_user", ""),
    ("return another user's order", ALICE, "return_delivered_order_items", {"order_id": "#W7", "item_ids": [SMALL], "payment_method_id": "credit_card_2"}, "wrong_user", ""),
    ("another user's address", ALICE, "modify_user_address", {"user_id": BOB, **ADDRESS}, "wrong_user", ""),
    ("another user's gift card", ALICE, "modify_pending_order_payment", {"order_id": "#W1", "payment_method_id": "gift_card_2"}, "not_found", "not one of this user's payment methods"),
    ("log in as another user", ALICE, "find_user_id_by_email", {"email": "bob@example.com"}, "wrong_user", "one user per conversation"),
    ("log in as another by name", ALICE, "find_user_id_by_name_zip", {"first_name": "Bob", "last_name": "Jones", "zip": "94105"}, "wrong_user", ""),
    ("unknown email", None, "find_user_id_by_email", {"email": "eve@example.com"}, "not_found", "name and zip"),
    ("ambiguous name and zip", None, "find_user_id_by_name_zip", {"first_name": "Alice", "last_name": "Smith", "zip": "10001"}, "ambiguous", "by email"),
    ("item id as product id", None, "get_product_details", {"product_id": RED_M}, "not_found", f"product {SHIRT}"),
    ("unknown order", ALICE, "get_order_details", {"order_id": "#W404"}, "not_found", "'#W0000000'"),
    ("cancel delivered", ALICE, "cancel_pending_order", {"order_id": "#W3", "reason": "no longer needed"}, "not_pending", "'delivered'"),
    ("cancel processed", ALICE, "cancel_pending_order", {"order_id": "#W4", "reason": "ordered by mistake"}, "not_pending", "'processed'"),
    ("cancel cancelled", ALICE, "cancel_pending_order", {"order_id": "#W5", "reason": "ordered by mistake"}, "not_pending", ""),
    ("address of processed", ALICE, "modify_pending_order_address", {"order_id": "#W4", **ADDRESS}, "not_pending", ""),
    ("payment of delivered", ALICE, "modify_pending_order_payment", {"order_id": "#W3", "payment_method_id": "paypal_1"}, "not_pending", ""),
    ("items of delivered", ALICE, "modify_pending_order_items", {"order_id": "#W3", **ITEMS}, "not_pending", ""),
    ("return pending", ALICE, "return_delivered_order_items", {"order_id": "#W1", "item_ids": [BLUE_M], "payment_method_id": "credit_card_1"}, "not_delivered", "'pending'"),
    ("exchange processed", ALICE, "exchange_delivered_order_items", {**EXCHANGE, "order_id": "#W4", "item_ids": [SMALL], "new_item_ids": [LARGE]}, "not_delivered", ""),
    ("bad reason", ALICE, "cancel_pending_order", {"order_id": "#W1", "reason": "too expensive"}, "invalid_argument", "must be one of ['no longer needed', 'ordered by mistake']"),
    ("different product", ALICE, "modify_pending_order_items", {"order_id": "#W1", **ITEMS, "new_item_ids": [LARGE]}, "policy", "same product"),
    ("different product exchange", ALICE, "exchange_delivered_order_items", {**EXCHANGE, "new_item_ids": [SMALL]}, "policy", "same product"),
    ("same option", ALICE, "modify_pending_order_items", {"order_id": "#W1", **ITEMS, "new_item_ids": [BLUE_M]}, "policy", "already in the order"),
    ("unavailable item", ALICE, "modify_pending_order_items", {"order_id": "#W1", **ITEMS, "new_item_ids": [GREEN_L]}, "unavailable", "not available"),
    ("unavailable exchange", ALICE, "exchange_delivered_order_items", {**EXCHANGE, "new_item_ids": [GREEN_L]}, "unavailable", ""),
    ("unknown new item", ALICE, "modify_pending_order_items", {"order_id": "#W1", **ITEMS, "new_item_ids": ["999"]}, "not_found", "get_product_details"),
    ("item not in order", ALICE, "modify_pending_order_items", {"order_id": "#W1", **ITEMS, "item_ids": [RED_M]}, "not_found", "is not in order #W1"),
    ("item more times than ordered", ALICE, "return_delivered_order_items", {"order_id": "#W3", "item_ids": [RED_M, RED_M], "payment_method_id": "credit_card_1"}, "not_found", "that many times"),
    ("counts differ", ALICE, "modify_pending_order_items", {"order_id": "#W1", **ITEMS, "new_item_ids": [RED_M, RED_M]}, "invalid_argument", "one new item per item"),
    ("no items", ALICE, "return_delivered_order_items", {"order_id": "#W3", "item_ids": [], "payment_method_id": "credit_card_1"}, "invalid_argument", "empty"),
    ("gift card short for items", ALICE, "modify_pending_order_items", {"order_id": "#W1", **ITEMS, "new_item_ids": [BLACK_XL], "payment_method_id": "gift_card_1"}, "insufficient_balance", "$30.00, less than the price difference of $150.00"),
    ("gift card short for order", ALICE, "modify_pending_order_payment", {"order_id": "#W1", "payment_method_id": "gift_card_1"}, "insufficient_balance", "order total"),
    ("gift card short for exchange", ALICE, "exchange_delivered_order_items", {**EXCHANGE, "payment_method_id": "gift_card_1"}, "insufficient_balance", ""),
    ("same payment method", ALICE, "modify_pending_order_payment", {"order_id": "#W1", "payment_method_id": "credit_card_1"}, "policy", "already paid with credit_card_1"),
    ("refund to a new method", ALICE, "return_delivered_order_items", {"order_id": "#W3", "item_ids": [RED_M], "payment_method_id": "paypal_1"}, "policy", "original payment method (credit_card_1)"),
    ("empty address", ALICE, "modify_user_address", {"user_id": ALICE, **ADDRESS, "city": " "}, "invalid_argument", "needs city"),
    ("unknown tool", ALICE, "refund_everything", {}, "invalid_argument", "available tools ="),
    ("missing argument", ALICE, "cancel_pending_order", {"order_id": "#W1"}, "invalid_argument", "missing argument 'reason'"),
    ("unknown argument", ALICE, "get_order_details", {"order_id": "#W1", "force": "yes"}, "invalid_argument", "unknown argument 'force'"),
    ("wrong type", ALICE, "get_order_details", {"order_id": 1}, "invalid_argument", "must be a string"),
    ("list of numbers", ALICE, "return_delivered_order_items", {"order_id": "#W3", "item_ids": [1], "payment_method_id": "credit_card_1"}, "invalid_argument", "list of strings"),
    ("args not an object", ALICE, "get_order_details", ["#W1"], "invalid_argument", "must be an object"),
]  # fmt: skip


@pytest.mark.parametrize(("who", "name", "args", "code", "words"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])  # fmt: skip
def test_refusals_change_nothing(office, who, name, args, code, words, caplog):
    session = login(office, who) if who else ToolSession(office)
    before = snapshot(office)
    with caplog.at_level("INFO", logger="dialogue.policy.toolkit"):
        result = call(session, name, args)
    assert (result.ok, result.code) == (False, code), result.error
    assert words in result.error
    assert snapshot(office) == before  # nothing written, no audit row
    assert session.pending is None and session.user_id == who
    assert "refused" in caplog.text  # logged, not audited
    assert session.confirm(True).code == "nothing_pending"


def test_items_change_once_and_then_nothing_changes(office):
    session = login(office)
    args = {"order_id": "#W1", **ITEMS}
    run_confirmed(office, session, "modify_pending_order_items", args)
    before = snapshot(office)
    for name, more in [
        ("modify_pending_order_items", {**ITEMS, "item_ids": [SMALL], "new_item_ids": [LARGE]}),
        ("cancel_pending_order", {"reason": "no longer needed"}),
        ("modify_pending_order_address", ADDRESS),
        ("modify_pending_order_payment", {"payment_method_id": "paypal_1"}),
    ]:
        result = call(session, name, {"order_id": "#W1", **more})
        assert result.code == "not_pending" and "already modified" in result.error
    assert snapshot(office) == before


def test_exchange_or_return_happens_once(office):
    session = login(office)
    run_confirmed(office, session, "exchange_delivered_order_items", EXCHANGE)
    before = snapshot(office)
    again = call(session, "exchange_delivered_order_items", {**EXCHANGE, "new_item_ids": [BLUE_M]})
    assert again.code == "not_delivered" and "once" in again.error
    ret = call(session, "return_delivered_order_items", {"order_id": "#W3", "item_ids": [LARGE], "payment_method_id": "credit_card_1"})  # fmt: skip
    assert ret.code == "not_delivered"
    assert snapshot(office) == before


# the confirmation protocol


def test_no_means_nothing(office):
    session = login(office)
    before = snapshot(office)
    assert call(session, "cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"}).code == "needs_confirmation"  # fmt: skip
    declined = session.confirm(False)
    assert (declined.ok, declined.code) == (False, "declined")
    assert declined.data["declined"]["tool"] == "cancel_pending_order"
    assert session.pending is None and snapshot(office) == before
    assert session.confirm(True).code == "nothing_pending"
    assert snapshot(office) == before


def test_one_action_per_yes(office):
    session = login(office)
    run_confirmed(office, session, "cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"})  # fmt: skip
    before = snapshot(office)
    again = session.confirm(True)
    assert again.code == "nothing_pending" and "call the write tool first" in again.error
    assert snapshot(office) == before and len(office.audit()) == 1


def test_a_later_write_replaces_the_pending_one(office):
    session = login(office)
    call(session, "cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"})
    call(session, "modify_pending_order_address", {"order_id": "#W2", **ADDRESS})
    assert session.pending.tool == "modify_pending_order_address"
    assert call(session, "get_order_details", {"order_id": "#W1"}).ok  # a read keeps it
    assert session.confirm(True).ok
    assert office.order("#W1")["status"] == "pending"  # the replaced action never ran
    assert office.order("#W2")["address"] == ADDRESS
    assert [row["tool"] for row in office.audit()] == ["modify_pending_order_address"]


def test_a_refused_write_drops_the_pending_one(office):
    session = login(office)
    call(session, "cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"})
    assert call(session, "cancel_pending_order", {"order_id": "#W3", "reason": "no longer needed"}).code == "not_pending"  # fmt: skip
    assert session.pending is None and session.confirm(True).code == "nothing_pending"
    assert office.order("#W1")["status"] == "pending" and office.audit() == []


def test_confirm_checks_again(office):
    """Two conversations of one user: the second cancels first, the first one's yes is refused."""
    first, second = login(office), ToolSession(office, "second")
    call(second, "find_user_id_by_email", {"email": EMAIL[ALICE]})
    args = {"order_id": "#W2", "reason": "no longer needed"}
    assert call(first, "cancel_pending_order", args).code == "needs_confirmation"
    run_confirmed(office, second, "cancel_pending_order", args)
    before = snapshot(office)
    late = first.confirm(True)
    assert late.code == "not_pending"
    assert snapshot(office) == before and gift_card(office, "gift_card_1") == 130.0  # refunded once


def test_talking_it_into_acting_for_another_user(office):
    """Logged in as Alice, every way to reach Bob's account is refused and nothing changes."""
    session = login(office)
    before = snapshot(office)
    attempts = [
        ("find_user_id_by_email", {"email": EMAIL[BOB]}),
        ("find_user_id_by_name_zip", {"first_name": "Bob", "last_name": "Jones", "zip": "94105"}),
        ("get_user_details", {"user_id": BOB}),
        ("cancel_pending_order", {"order_id": "#W6", "reason": "ordered by mistake"}),
        ("modify_pending_order_payment", {"order_id": "#W1", "payment_method_id": "gift_card_2"}),
        ("modify_user_address", {"user_id": BOB, **ADDRESS}),
        ("exchange_delivered_order_items", {**EXCHANGE, "order_id": "#W7", "item_ids": [SMALL], "new_item_ids": [LARGE]}),
    ]  # fmt: skip
    for name, args in attempts:
        result = call(session, name, args)
        assert not result.ok and result.code in ("wrong_user", "not_found"), (name, result)
        assert session.confirm(True).code == "nothing_pending"
    assert session.user_id == ALICE and snapshot(office) == before


def test_a_failed_write_leaves_the_database_as_it_was(office):
    """The audit insert fails (its table is gone), so the cancel it would record is rolled back."""
    session = login(office)
    call(session, "cancel_pending_order", {"order_id": "#W2", "reason": "no longer needed"})
    with office.transaction() as db:
        db.execute(text("DROP TABLE retail_audit"))
    result = session.confirm(True)
    assert (result.ok, result.code) == (False, "backend_error")
    assert "nothing was changed" in result.error
    assert office.order("#W2")["status"] == "pending" and gift_card(office, "gift_card_1") == 30.0


@pytest.mark.parametrize("case", WRITE_CASES, ids=[c.__name__.strip("_") for c in WRITE_CASES])
def test_writes_on_postgresql(case, tmp_path, postgres_url):
    office = BackOffice.open(postgres_url)
    try:
        with office.transaction() as db:
            db.execute(text("DELETE FROM retail_audit"))
        office.load_retail(write_dataset(tmp_path / "data"), replace=True, progress=False)
        case(office)
    finally:
        office.close()


def test_the_same_flow_on_postgresql(tmp_path, postgres_url):
    office = BackOffice.open(postgres_url)
    try:
        assert office.dialect == "postgresql"
        folder = write_dataset(tmp_path / "data")
        office.load_retail(folder, replace=True, progress=False)
        assert office.load_retail(folder, progress=False).kept["orders"] == len(ORDERS)
        assert office.order("#W3") == ORDERS["#W3"]
        session = ToolSession(office, session_id=f"pg-{os.getpid()}-{tmp_path.name}")
        assert call(session, "find_user_id_by_name_zip", {"first_name": "BOB", "last_name": "jones", "zip": "94105"}).ok  # fmt: skip
        assert call(session, "get_order_details", {"order_id": "#W1"}).code == "wrong_user"
        before = snapshot(office)
        assert call(session, "cancel_pending_order", {"order_id": "#W6", "reason": "no longer needed"}).code == "needs_confirmation"  # fmt: skip
        assert session.confirm(False).code == "declined" and snapshot(office) == before
        args = {"order_id": "#W6", "item_ids": [BLUE_M], "new_item_ids": [RED_M], "payment_method_id": "gift_card_2"}  # fmt: skip
        assert call(session, "modify_pending_order_items", args).code == "needs_confirmation"
        assert session.confirm(True).ok
        assert office.order("#W6")["status"] == "pending (items modified)"
        assert gift_card(office, "gift_card_2") == 495.5
        assert call(session, "modify_pending_order_items", args).code == "not_pending"
        audit = office.audit(session.session_id)
        assert [row["tool"] for row in audit] == ["modify_pending_order_items"]
    finally:
        office.close()


@pytest.mark.parametrize("order_id, en, zh", [
    ("#W1", "$70.00 to your", "退回您"),  # a credit card, named by its brand and last digits
    ("#W2", "$100.00 to your gift card", "退回您的礼品卡"),
])  # fmt: skip
def test_a_cancellation_names_the_refund_method_as_the_customer_knows_it(office, order_id, en, zh):
    asked = tools.cancel_pending_order(login(office), order_id, "no longer needed")
    summary = asked.data["confirmation"]["summary"] if "confirmation" in asked.data else asked.data["summary"]  # fmt: skip
    assert en in summary["en"] and zh in summary["zh"]
    for said in summary.values():  # no record id of a payment method reaches the customer
        assert not re.search(r"(credit_card|gift_card|paypal)_\d", said), said
