"""Where `cca demo` keeps a trial: a per-user data folder with the sample shop's back office and
the trial's conversations, so that the History and Desk tabs show earlier conversations after a
restart, and `cca demo --reset` gives the next person the sample shop as it was shipped.

    --data-dir, else $CCA_DATA_DIR, else $XDG_DATA_HOME/cca/demo, else ~/.local/share/cca/demo
      retail.db          the sample shop (demo/samples/retail), as the trials left it
      records/           the trial's conversations (records.db, recordings/), the key that
                         encrypts them (records.key) and the History and Desk key (desk.key)
      packs/NAME/        a pack's demo (--domain DIR): NAME.db, its knowledge index, records/

A back office is never half-reset: a fresh copy is written beside it and renamed over it (one
atomic rename). The same fresh copy tells whether the back office still holds the sample.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

ENV_DATA_DIR = "CCA_DATA_DIR"  # the data folder, when --data-dir is not given
ENV_XDG_DATA_HOME = "XDG_DATA_HOME"  # the XDG base folder for user data (default ~/.local/share)
SIDE_FILES = ("-journal", "-wal", "-shm")  # SQLite's files beside a database
TRIAL_PERSON = "Sam"  # who holds the trial's key: the customer reads "Sam from our team has joined"


def data_dir(given: str | os.PathLike[str] | None = None, environ: dict | None = None) -> Path:
    """The demo's data folder: `given` (--data-dir), else $CCA_DATA_DIR, else
    $XDG_DATA_HOME/cca/demo, else ~/.local/share/cca/demo. Not created here."""
    env = os.environ if environ is None else environ
    if given or env.get(ENV_DATA_DIR):
        return Path(given or env[ENV_DATA_DIR]).expanduser()
    base = Path(env.get(ENV_XDG_DATA_HOME) or "~/.local/share").expanduser()
    if not base.is_absolute():  # the XDG rule: a relative value is ignored
        base = Path.home() / ".local" / "share"
    return base / "cca" / "demo"


@dataclass(frozen=True)
class Shop:
    """A demo's back office in the data folder: `folder/NAME.db`, filled by `seed(url)` when
    fresh; the trial's conversations beside it in `folder/records`."""

    folder: Path
    name: str
    seed: Callable[[str], None]  # fills the empty database at this URL with the sample
    title: str  # what a person is told it is: "the sample shop"

    @property
    def path(self) -> Path:
        return self.folder / f"{self.name}.db"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    @property
    def records(self) -> Path:
        return self.folder / "records"


def _seed_sample_shop(url: str) -> None:
    from demo.runtime import SAMPLE_RETAIL
    from domains.retail.backoffice import BackOffice

    office = BackOffice.open(url)
    try:
        office.load_retail(SAMPLE_RETAIL, progress=False)
    finally:
        office.close()


def sample_shop(root: Path) -> Shop:
    """The sample shop of demo/samples/retail, at `root/retail.db`."""
    return Shop(Path(root), "retail", _seed_sample_shop, "the sample shop")


def pack_shop(root: Path, pack_folder: str | os.PathLike[str]) -> Shop:
    """A domain pack's demo back office, at `root/packs/NAME/NAME.db`, seeded as the pack seeds
    a fresh database (its [tools] backoffice class, opened on an empty file)."""
    from dialogue.domain.pack import DomainPack
    from dialogue.policy.declare import load_declarations
    from dialogue.policy.pack_tools import open_office

    pack = DomainPack.load(pack_folder)

    def seed(url: str) -> None:
        office = open_office(load_declarations(pack), url)
        if office is not None:
            office.close()

    return Shop(
        Path(root) / "packs" / pack.name, pack.name, seed, f"the {pack.name} pack's back office"
    )


def _fresh_copy(shop: Shop) -> Path:
    """The sample, freshly written into a new file beside the back office (the same file
    system, so that it can be renamed over it)."""
    shop.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fresh = shop.folder / f".{shop.name}.{secrets.token_hex(4)}.fresh.db"
    try:
        shop.seed(f"sqlite:///{fresh}")
    except BaseException:
        _remove(fresh)
        raise
    return fresh


def _remove(db: Path) -> None:
    for path in (db, *(db.with_name(db.name + s) for s in SIDE_FILES)):
        path.unlink(missing_ok=True)


def _contents(db: Path) -> dict[str, list[str]]:
    """Every table's rows (as text, sorted), read without writing."""
    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]  # fmt: skip
        return {t: sorted(map(repr, con.execute(f'SELECT * FROM "{t}"'))) for t in tables}
    finally:
        con.close()


def holds_sample(db: Path, sample: Path) -> bool:
    """Whether the database at `db` holds what `sample` holds (an unreadable one does not)."""
    try:
        return _contents(db) == _contents(sample)
    except sqlite3.Error as e:
        logger.info("cannot read %s (%s): taken as changed", db, e)
        return False


def _settle(db: Path) -> None:
    """Let SQLite finish with the old database (a journal left by a process that stopped
    mid-write is rolled back), then remove its side files, so none is applied to the new one."""
    if db.exists():
        con = sqlite3.connect(db)
        try:
            con.execute("PRAGMA schema_version").fetchone()
        except sqlite3.Error as e:
            logger.info("the old %s cannot be read (%s); it is replaced", db, e)
        finally:
            con.close()
    for suffix in SIDE_FILES:
        db.with_name(db.name + suffix).unlink(missing_ok=True)


def prepare(shop: Shop, reset: bool = False) -> bool:
    """The back office ready at `shop.path`: the sample when there is none yet or `reset`
    (a fresh copy renamed over it: a reader sees the old file or the new, never half of one);
    else as earlier trials left it. Returns whether it differs from the sample."""
    fresh = _fresh_copy(shop)
    try:
        if reset or not shop.path.exists():
            _settle(shop.path)
            os.replace(fresh, shop.path)
            return False
        return not holds_sample(shop.path, fresh)
    finally:
        _remove(fresh)


def clear_records(shop: Shop) -> None:
    """Forget the trial's conversations (its store, recordings and keys): the folder is renamed
    away first, so a later start finds it whole or not at all."""
    if not shop.records.exists():
        return
    gone = shop.folder / f".records.cleared-{secrets.token_hex(4)}"
    os.replace(shop.records, gone)
    shutil.rmtree(gone, ignore_errors=True)


def reset(shop: Shop) -> None:
    """The sample back office again, and no trial conversations."""
    prepare(shop, reset=True)
    clear_records(shop)


def _write_private(path: Path, text: str) -> None:
    """`text` into a new file only this user can read, written whole before it is in place."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def trial_records(folder: Path):
    """The trial's conversation store in `folder` (made on first use), encrypted with the key in
    `folder/records.key`, and an API key for its History and Desk tabs, kept in
    `folder/desk.key` so it stays the same from run to run: (store, key). Both key files are
    readable by this user only."""
    from dialogue.records.access import AuthenticationError, authenticate, create_api_key
    from dialogue.records.crypto import Keyring, new_key
    from dialogue.records.store import Store

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    keyfile, deskfile = folder / "records.key", folder / "desk.key"
    if not keyfile.exists():
        _write_private(keyfile, new_key())
    store = Store.open(f"sqlite:///{folder / 'records.db'}", keyring=Keyring.from_file(keyfile), actor="demo", recordings_dir=folder / "recordings")  # fmt: skip
    if deskfile.exists():
        key = deskfile.read_text(encoding="utf-8").strip()
        try:
            authenticate(store, key)
            return store, key
        except AuthenticationError:
            logger.info("the desk key in %s is no longer valid: making a new one", deskfile)
    for n in range(1, 1000):  # a key of that name was made before (and lost or revoked): another
        try:
            key = create_api_key(store, TRIAL_PERSON if n == 1 else f"{TRIAL_PERSON} {n}", "supervisor")  # fmt: skip
            break
        except ValueError:
            continue
    _write_private(deskfile, key)
    return store, key


def temporary_folder() -> Path:
    """A fresh folder removed when the process ends (`cca demo --check` runs in one)."""
    import atexit

    folder = tempfile.mkdtemp(prefix="cca-demo-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return Path(folder)
