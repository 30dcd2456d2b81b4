"""The demo's per-user data folder (demo.web.data): the sample shop and the trial's conversations
stay from one start to the next, `--reset` brings the sample back (never half of it), two folders
never see each other, a check leaves the folder alone, and --db is never reset."""

from __future__ import annotations

import os
import sqlite3

import pytest

from demo.web import data
from demo.web.app import build_parser, prepare_trial
from domains.retail.backoffice import BackOffice

ORDER = "#W2378156"  # alice's pending order in demo/samples/retail


@pytest.fixture(autouse=True)
def quick_keys(monkeypatch):
    from dialogue.records import access

    monkeypatch.setattr(access, "_SCRYPT", dict(n=2**8, r=8, p=1, dklen=32))


def status(shop: data.Shop, order: str = ORDER) -> str:
    office = BackOffice.open(shop.url)
    try:
        return office.order(order)["status"]
    finally:
        office.close()


def cancel(shop: data.Shop, order: str = ORDER) -> None:
    """What a trial's confirmed cancellation leaves in the back office."""
    with sqlite3.connect(shop.path) as con:
        con.execute("UPDATE retail_orders SET status = 'cancelled' WHERE id = ?", (order,))
    con.close()


def start(*argv: str, trial_store: bool = True):
    """What `cca demo ARGV` prepares before it builds the app: (shop, db URL, lines printed)."""
    return prepare_trial(build_parser().parse_args(list(argv)), trial_store)


@pytest.mark.parametrize(
    ("given", "environ", "expected"),
    [
        ("/given", {"CCA_DATA_DIR": "/env", "XDG_DATA_HOME": "/xdg"}, "/given"),
        (None, {"CCA_DATA_DIR": "/env", "XDG_DATA_HOME": "/xdg"}, "/env"),
        (None, {"XDG_DATA_HOME": "/xdg"}, "/xdg/cca/demo"),
        (None, {"XDG_DATA_HOME": "relative"}, "~/.local/share/cca/demo"),  # the XDG rule
        (None, {}, "~/.local/share/cca/demo"),
    ],
)
def test_the_data_folder_is_the_option_else_the_environment_else_the_xdg_one(given, environ, expected):  # fmt: skip
    assert data.data_dir(given, environ) == data.Path(expected).expanduser()


def test_a_trials_change_is_there_at_the_next_start_and_reset_brings_the_sample_back(tmp_path):
    shop, db, said = start("--data-dir", str(tmp_path))
    assert db == shop.url and shop.path == tmp_path / "retail.db"
    assert status(shop) == "pending" and not any("differs" in line for line in said)
    assert str(tmp_path) in said[0]  # where it is, printed at start
    cancel(shop)

    shop, _, said = start("--data-dir", str(tmp_path))  # the next start
    assert status(shop) == "cancelled"
    assert any("differs from the sample" in line and "cca demo --reset" in line for line in said)

    shop, _, said = start("--data-dir", str(tmp_path), "--reset")
    assert status(shop) == "pending" and not any("differs" in line for line in said)
    assert any("--reset" in line for line in said)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["retail.db"]  # no copy left beside it


def test_two_data_folders_do_not_see_each_other(tmp_path):
    one, _, _ = start("--data-dir", str(tmp_path / "one"))
    two, _, _ = start("--data-dir", str(tmp_path / "two"))
    cancel(one)
    assert (status(one), status(two)) == ("cancelled", "pending")
    store_one, key_one = data.trial_records(one.records)
    store_two, key_two = data.trial_records(two.records)
    try:
        store_one.start_conversation(channel="web")
        assert key_one != key_two and len(store_one.conversation_ids()) == 1
        assert store_two.conversation_ids() == []
    finally:
        store_one.close()
        store_two.close()


def test_the_trials_conversations_and_desk_key_stay_between_runs_until_reset(tmp_path):
    from dialogue.records.access import authenticate

    shop, _, _ = start("--data-dir", str(tmp_path))
    store, key = data.trial_records(shop.records)
    conversation = store.start_conversation(channel="web")
    store.close()
    for name in ("records.key", "desk.key"):  # this user's only
        assert os.stat(shop.records / name).st_mode & 0o077 == 0

    store, again = data.trial_records(shop.records)  # the next run
    try:
        assert again == key and store.conversation_ids() == [conversation]
        assert authenticate(store, key).role == "supervisor"
    finally:
        store.close()

    start("--data-dir", str(tmp_path), "--reset")
    store, fresh = data.trial_records(shop.records)
    try:
        assert fresh != key and store.conversation_ids() == []
    finally:
        store.close()


def test_a_reset_is_never_half_done(tmp_path, monkeypatch):
    """The fresh copy is written beside the back office and renamed over it: when writing it
    fails, the back office is as it was, byte for byte, and no copy is left behind."""
    shop = data.sample_shop(tmp_path)
    data.prepare(shop)
    cancel(shop)
    before, inode = shop.path.read_bytes(), shop.path.stat().st_ino

    def seed_then_fail(url: str) -> None:
        data._seed_sample_shop(url)
        raise OSError("disk full")

    broken = data.Shop(shop.folder, shop.name, seed_then_fail, shop.title)
    with pytest.raises(OSError, match="disk full"):
        data.reset(broken)
    assert shop.path.read_bytes() == before and status(shop) == "cancelled"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["retail.db"]

    data.reset(shop)
    assert status(shop) == "pending" and shop.path.stat().st_ino != inode  # a new file, renamed in


def test_a_journal_left_by_a_stopped_process_never_reaches_the_fresh_copy(tmp_path):
    shop = data.sample_shop(tmp_path)
    data.prepare(shop)
    stale = shop.path.with_name("retail.db-journal")
    stale.write_bytes(b"\0" * 512)  # not a real journal: SQLite ignores it, the reset removes it
    data.reset(shop)
    assert not stale.exists() and status(shop) == "pending"


def test_a_packs_back_office_lives_in_its_own_subfolder(tmp_path):
    from tests.conftest import ROOT

    shop, db, _ = start("--data-dir", str(tmp_path), "--domain", str(ROOT / "domains" / "bank"))
    assert shop.path == tmp_path / "packs" / "bank" / "bank.db" and db == shop.url
    assert shop.path.is_file() and not (tmp_path / "retail.db").exists()
    with sqlite3.connect(shop.path) as con:
        con.execute("DELETE FROM bank_transactions WHERE rowid = (SELECT MIN(rowid) FROM bank_transactions)")  # fmt: skip
    con.close()
    assert any("differs" in line for line in start("--data-dir", str(tmp_path), "--domain", str(ROOT / "domains" / "bank"))[2])  # fmt: skip
    _, _, said = start("--data-dir", str(tmp_path), "--domain", str(ROOT / "domains" / "bank"), "--reset")  # fmt: skip
    assert not any("differs" in line for line in said)


def test_a_check_leaves_the_data_folder_alone(tmp_path):
    shop, db, said = start("--data-dir", str(tmp_path / "data"), "--check")
    assert not (tmp_path / "data").exists() and shop.path.is_file() and said == []


def test_db_is_never_reset_and_never_copied(tmp_path):
    own = f"sqlite:///{tmp_path / 'mine.db'}"
    with pytest.raises(ValueError, match="never reset"):
        start("--data-dir", str(tmp_path / "data"), "--db", own, "--reset")
    shop, db, said = start("--data-dir", str(tmp_path / "data"), "--db", own, trial_store=False)
    assert db == own and not (tmp_path / "data").exists() and said == []
