"""The database under the conversation store: engines with the settings it needs, the Alembic
upgrade, and key rotation over every encrypted column and recording file."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, select, text, update
from sqlalchemy.engine import make_url

from dialogue.knowledge.store import sqlite_file
from dialogue.records import schema as s
from dialogue.records.crypto import Keyring

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
ENCRYPTED = (
    ("turns", "transcript_enc"),
    ("turns", "screenshot_text_enc"),
    ("recordings", "audio_enc"),
)


@dataclass(frozen=True)
class DatabaseOptions:
    """How long a PostgreSQL connection may wait for the server. A server that refuses fails at
    once; one that is silent (a dead network link, a hung host) would hold a connection until the
    kernel gives up, minutes later. A value given in the URL's query (libpq's names) wins."""

    connect_timeout_s: float = 5.0  # a new connection, handshake and login included
    # a statement the server runs longer is cancelled by the server (None: no limit); it does
    # not help when the server itself is stopped, which only a wait on the client bounds
    statement_timeout_s: float | None = None
    tcp_user_timeout_s: float = 30.0  # data sent and not acknowledged this long: the link is dead
    keepalives_idle_s: float = 30.0  # an idle connection is probed after this ...
    keepalives_interval_s: float = 10.0  # ... every this often ...
    keepalives_count: int = 3  # ... and dropped after this many probes unanswered
    pool_timeout_s: float = 10.0  # longest wait for a free connection of the engine's pool

    def connect_args(self, url: str) -> dict[str, Any]:
        """psycopg's connection arguments for these options, less those named in `url`."""
        given = set(make_url(url).query)
        args: dict[str, Any] = {
            "connect_timeout": max(1, round(self.connect_timeout_s)),
            "tcp_user_timeout": round(self.tcp_user_timeout_s * 1000),
            "keepalives": 1,
            "keepalives_idle": max(1, round(self.keepalives_idle_s)),
            "keepalives_interval": max(1, round(self.keepalives_interval_s)),
            "keepalives_count": self.keepalives_count,
        }
        if self.statement_timeout_s is not None and "options" not in given:
            args["options"] = f"-c statement_timeout={round(self.statement_timeout_s * 1000)}"
        return {k: v for k, v in args.items() if k not in given}


def make_engine(url: str, options: DatabaseOptions = DatabaseOptions()) -> Engine:
    """An engine with the settings the store needs. PostgreSQL: `options` (timeouts, keepalives)
    and a ping before a pooled connection is used. SQLite: WAL, foreign keys, a 30 s busy
    timeout, and BEGIN IMMEDIATE so that a writer holds the lock from its first statement."""
    path = sqlite_file(url)
    backend = make_url(url).get_backend_name()
    if backend != "sqlite":
        if backend != "postgresql" or make_url(url).get_driver_name() != "psycopg":
            return create_engine(url, pool_pre_ping=True)
        return create_engine(url, pool_pre_ping=True, pool_timeout=options.pool_timeout_s,
                             connect_args=options.connect_args(url))  # fmt: skip
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event below starts them
        cur = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` with the Alembic migrations of this package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # two processes opening a new database at once
            conn.execute(text("SELECT pg_advisory_xact_lock(7261530)"))
            conn.execute(text("SET LOCAL statement_timeout = 0"))  # a migration takes its time
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


class KeyedStore(Protocol):
    """What key rotation needs of a store (`dialogue.records.store.Store` is one)."""

    keyring: Keyring

    def transaction(self) -> AbstractContextManager[Any]: ...

    def _audit(self, conn: Any, action: str, table: str, row_id: str, **detail: Any) -> None: ...


def rotate_key(store: KeyedStore) -> dict[str, int]:
    """Re-encrypt every ciphertext not under the current key (the first of the keyring);
    the old keys must still be in the keyring. Returns the count per table.column. One
    transaction per table, so a rotation that stops half way can simply be run again."""
    counts: dict[str, int] = {}
    current = store.keyring.current_id
    for table_name, column in ENCRYPTED:
        table = s.metadata.tables[table_name]
        purpose = (
            "recordings.audio"
            if table_name == "recordings"
            else f"turns.{column.removesuffix('_enc')}"
        )
        n = 0
        with store.transaction() as conn:
            for rid, blob in conn.execute(
                select(table.c.id, table.c[column]).where(table.c[column].is_not(None))
            ).all():
                if store.keyring.blob_key_id(bytes(blob)) != current:
                    fresh = store.keyring.encrypt(
                        store.keyring.decrypt(bytes(blob), purpose), purpose
                    )
                    conn.execute(update(table).where(table.c.id == rid).values({column: fresh}))
                    n += 1
            if table_name == "recordings":
                for (path,) in conn.execute(
                    select(table.c.path).where(table.c.path.is_not(None))
                ).all():
                    p = Path(path)
                    blob = p.read_bytes()
                    if store.keyring.blob_key_id(blob) != current:
                        tmp = p.with_suffix(".tmp")
                        tmp.write_bytes(
                            store.keyring.encrypt(store.keyring.decrypt(blob, purpose), purpose)
                        )
                        tmp.replace(p)
                        n += 1
            store._audit(conn, "rotate_key", table_name, "", column=column, n=n)
        counts[f"{table_name}.{column}"] = n
    logger.info("re-encrypted %s with key id %s", counts, current.hex())
    return counts
