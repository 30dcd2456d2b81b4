"""The retail back office: schema, idempotent load, errors on malformed data, the CLI, a reopen."""

from __future__ import annotations

import json

import pytest

from domains.retail.backoffice import BackOffice, database_url, main
from domains.retail.data import RetailDataError
from tests.conftest import SHARED
from tests.retail_fixture import (
    COUNTS,
    ORDERS,
    PRODUCTS,
    SHIRT,
    USERS,
    dataset,
    snapshot,
    write_dataset,
)


@pytest.fixture
def folder(tmp_path):
    return write_dataset(tmp_path / "retail")


@pytest.fixture
def office(tmp_path):
    office = BackOffice.open(tmp_path / "retail.db")
    yield office
    office.close()


def test_load_counts_and_round_trip(office, folder):
    report = office.load_retail(folder, progress=False)
    assert office.counts() == COUNTS
    assert report.added == {k: v for k, v in COUNTS.items() if k != "retail_audit"}
    assert report.kept == {"users": 0, "products": 0, "orders": 0}
    assert report.seconds >= 0
    for oid, order in ORDERS.items():  # what comes out is what went in, in the same shape
        assert office.order(oid) == order
    for pid, product in PRODUCTS.items():
        assert office.product(pid) == product
    for uid, user in USERS.items():
        assert office.user(uid) == {"user_id": uid, **user}
    assert office.order("#W404") is None and office.user("nobody") is None


def test_load_twice_adds_nothing(office, folder):
    office.load_retail(folder, progress=False)
    before = snapshot(office)
    report = office.load_retail(folder, progress=False)
    assert set(report.added.values()) == {0}
    assert report.kept == {"users": 3, "products": 2, "orders": 7}
    assert snapshot(office) == before


def test_load_keeps_stored_records_and_adds_new_ones(office, folder, tmp_path):
    office.load_retail(folder, progress=False)
    data = dataset()
    data["users.json"]["dave_4"] = {
        **USERS["bob_2"],
        "email": "dave@example.com",
        "payment_methods": {},
    }
    data["orders.json"]["#W1"]["status"] = "delivered"  # a stored order is not overwritten
    office.load_retail(write_dataset(tmp_path / "more", data), progress=False)
    assert office.counts()["retail_users"] == 4
    assert office.order("#W1")["status"] == "pending"


def test_replace_resets_to_the_files_but_keeps_the_audit(office, folder, tmp_path):
    from domains.retail.tools import ToolSession

    office.load_retail(folder, progress=False)
    session = ToolSession(office)
    session.call("find_user_id_by_email", {"email": "alice@example.com"})
    session.call("cancel_pending_order", {"order_id": "#W1", "reason": "ordered by mistake"})
    assert session.confirm(True).ok
    report = office.load_retail(folder, replace=True, progress=False)
    assert report.kept == {"users": 0, "products": 0, "orders": 0}
    assert office.order("#W1") == ORDERS["#W1"]
    assert office.counts() == {**COUNTS, "retail_audit": 1}


def test_reopen_sees_the_data(tmp_path, folder):
    path = tmp_path / "reopen.db"
    first = BackOffice.open(f"sqlite:///{path}")
    first.load_retail(folder, progress=False)
    first.close()
    again = BackOffice.open(path)
    assert again.counts() == COUNTS
    assert again.order("#W3") == ORDERS["#W3"]
    again.close()


DELETE = object()


def _set(data, file, path, value):
    """Set data[file][path...] = value; the value DELETE removes the key."""
    target = data[file]
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


# (what, file, path into it, new value, what the error must say)
MALFORMED = [
    ("missing field", "orders.json", ("#W3", "status"), DELETE, "orders.json: order '#W3': missing field 'status'"),
    ("bad status", "orders.json", ("#W3", "status"), "shipped", "status 'shipped' is not one of"),
    ("price not a number", "products.json", (SHIRT, "variants", "2000000001", "price"), "50", "variant '2000000001': field 'price' should be int or float"),
    ("negative amount", "orders.json", ("#W1", "payment_history", 0, "amount"), -5, "payment 0 amount: expected an amount in dollars"),
    ("unknown user", "orders.json", ("#W6", "user_id"), "zed_0", "user 'zed_0' is in neither users.json nor the database"),
    ("another user's card", "orders.json", ("#W6", "payment_history", 0, "payment_method_id"), "credit_card_1", "payment method 'credit_card_1' is not one of user 'bob_2'"),
    ("unknown product", "orders.json", ("#W7", "items", 0, "product_id"), "999", "product '999' is in neither"),
    ("bad source", "users.json", ("bob_2", "payment_methods", "gift_card_2", "source"), "cash", "source 'cash' is not one of"),
    ("gift card without balance", "users.json", ("bob_2", "payment_methods", "gift_card_2", "balance"), DELETE, "missing field 'balance'"),
    ("duplicate email", "users.json", ("alice_9", "email"), "alice@example.com", "email 'alice@example.com' appears twice"),
    ("id differs from key", "orders.json", ("#W2", "order_id"), "#W9", "order_id '#W9' differs from its key '#W2'"),
    ("items not a list", "orders.json", ("#W2", "items"), {}, "field 'items' should be list"),
    ("record not an object", "users.json", ("bob_2",), "bob", "users.json: user 'bob_2': expected an object"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "file", "path", "value", "message"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_malformed_record_is_named_and_nothing_is_written(
    office, folder, tmp_path, what, file, path, value, message
):
    office.load_retail(folder, progress=False)
    before = snapshot(office)
    data = dataset()
    data["users.json"]["new_5"] = {
        **USERS["bob_2"],
        "email": "new@example.com",
        "payment_methods": {},
    }
    data["orders.json"]["#W8"] = {**ORDERS["#W7"], "order_id": "#W8"}  # new, would be written
    _set(data, file, path, value)
    with pytest.raises(RetailDataError) as err:
        office.load_retail(write_dataset(tmp_path / "bad", data), progress=False)
    assert message in str(err.value)
    assert snapshot(office) == before


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("orders.json", '{"#W1": {', "orders.json: not valid JSON at line 1 column"),
        ("users.json", "[1, 2]", "users.json: expected an object keyed by id"),
        ("products.json", None, "products.json: file not found"),
    ],
)
def test_malformed_file_into_an_empty_database_writes_nothing(
    office, tmp_path, file, text, message
):
    data = dataset()
    folder = write_dataset(tmp_path / "bad", data)
    if text is None:
        (folder / file).unlink()
    else:
        (folder / file).write_text(text, encoding="utf-8")
    with pytest.raises(RetailDataError) as err:
        office.load_retail(folder, progress=False)
    assert message in str(err.value)
    assert set(office.counts().values()) == {0}


@pytest.mark.parametrize(
    ("given", "driver", "database"),
    [
        ("retail.db", "sqlite", "retail.db"),
        ("sqlite:///x/../retail.db", "sqlite", "x/../retail.db"),
        ("postgresql://u:p@localhost/cca", "postgresql+psycopg", "cca"),
        ("postgresql+psycopg://u@db:5433/cca", "postgresql+psycopg", "cca"),
    ],
)
def test_database_url(given, driver, database, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").mkdir()
    url = database_url(given)
    assert url.drivername == driver
    assert url.database.endswith(database)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("/no/such/folder/retail.db", "folder /no/such/folder does not exist"),
        ("sqlite:////no/where/r.db", "does not exist"),
    ],
)
def test_database_url_errors_say_what_to_do(given, message):
    with pytest.raises(ValueError, match=message):
        database_url(given)


def test_unreachable_server_is_a_clear_error():
    with pytest.raises(ConnectionError, match="cannot open database postgresql"):
        BackOffice.open("postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=1")


# the CLI


def test_cli_load_then_show(tmp_path, folder, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["load", str(folder), "--db", url, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "orders" in out and "(+7)" in out and "users" in out
    assert main(["load", str(folder), "--db", url, "--no-progress"]) == 0
    assert "already there: 3 users, 2 products, 7 orders" in capsys.readouterr().out
    assert main(["show", "#W3", "--db", url]) == 0
    assert json.loads(capsys.readouterr().out) == ORDERS["#W3"]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["show", "#W404"], 1, "no order '#W404'"),
        (["load", "{missing}"], 1, "file not found"),
        (["show", "#W1", "--db", "/no/such/folder/x.db"], 2, "does not exist"),
    ],
)
def test_cli_errors(tmp_path, argv, code, message, capsys):
    argv = [a.replace("{missing}", str(tmp_path / "missing")) for a in argv]
    if "--db" not in argv:
        argv += ["--db", str(tmp_path / "cli.db")]
    assert main(argv) == code
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


@pytest.mark.slow
def test_the_real_retail_data_loads(tmp_path):
    folder = SHARED / "data" / "retail"
    if not (folder / "orders.json").is_file():
        pytest.skip(f"no retail data at {folder}")
    office = BackOffice.open(tmp_path / "real.db")
    report = office.load_retail(folder, progress=False)
    assert report.added["retail_orders"] == 1000 and report.added["retail_users"] == 500
    assert report.added["retail_products"] == 50
    orders = json.loads((folder / "orders.json").read_text(encoding="utf-8"))
    for oid in list(orders)[:50]:
        assert office.order(oid) == orders[oid]
    assert office.load_retail(folder, progress=False).kept["orders"] == 1000
    office.close()
