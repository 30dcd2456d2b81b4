"""Short-lived keys that the workers of one phone line share, in the records database.

    state = SqlCallState.open("postgresql+psycopg://cca@db/cca", keyring=Keyring.from_env())
    state.put("stream", token, {"call_sid": "CA1"}, ttl_s=60, new=True)   -> True (False: taken)
    state.take("stream", token)                                          -> {"call_sid": "CA1"}
    state.get("redaction", "CA1")                                        -> None

One table (`call_state`, migration 0004): a kind, a key, a JSON value and an expiry time (unix
seconds). A key past its expiry reads as absent and is purged by later writes. `take` reads and
deletes in one transaction, so a single-use token or upload code is spent by one worker only
(SQLite: BEGIN IMMEDIATE serializes writers; PostgreSQL: the row is locked FOR UPDATE).

A value can hold what a caller said (the end of the last turn that a `Redactor` keeps to catch a
card number read over two turns), so with a keyring every value is sealed with AES-GCM under the
records key (`dialogue.records.crypto`, purpose `call_state.KIND`).

A database that cannot be reached raises `CallStateError`, which names the URL (password hidden)
and what to check. One that does not answer (a hung server, a dead network link) raises it too,
after `answer_timeout_s`: each call runs on a few threads of the state's own and is waited for that
long, so a caller is never held for longer (a call left waiting ends when the server answers), and
while one is left waiting past that, the next calls fail at once.
The phone line's protocol for this is `demo.phone.state.CallState`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitTimeout
from typing import Any

from sqlalchemy import Engine, and_, delete, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from dialogue.knowledge.store import database_url
from dialogue.records import schema as s
from dialogue.records.crypto import Keyring
from dialogue.records.db import DatabaseOptions, make_engine, upgrade
from dialogue.records.redactor import Redactor

logger = logging.getLogger(__name__)

_PURGE_EVERY_S = 30.0  # expired rows are deleted at most this often, by a write
ANSWER_TIMEOUT_S = 5.0  # the longest a put, get or take waits for the database
# every statement is short: the server cancels one that runs longer (a lock held, a slow disk)
DATABASE = DatabaseOptions(connect_timeout_s=3.0, statement_timeout_s=3.0, tcp_user_timeout_s=5.0)


class CallStateError(RuntimeError):
    """The shared call state cannot be read or written (the database is down, refuses or is silent)."""


class SqlCallState:
    """Call state in the records database (SQLite file or PostgreSQL). Safe to share between
    threads; every method is one short transaction."""

    def __init__(self, engine: Engine, keyring: Keyring | None = None, clock: Callable[[], float] = time.time,
                 answer_timeout_s: float = ANSWER_TIMEOUT_S):  # fmt: skip
        self.engine, self.keyring, self.clock = engine, keyring, clock
        self.url = engine.url.render_as_string(hide_password=True)
        self.answer_timeout_s = answer_timeout_s  # then CallStateError; the call goes on behind
        self._purged = 0.0
        self._threads = ThreadPoolExecutor(8, thread_name_prefix="call-state")
        self._running: dict[Future, float] = {}  # calls not answered yet -> when they started
        self._lock = threading.Lock()

    @classmethod
    def open(cls, url: str, keyring: Keyring | None = None, database: DatabaseOptions = DATABASE,
             answer_timeout_s: float = ANSWER_TIMEOUT_S) -> SqlCallState:  # fmt: skip
        """The call state at `url` (a URL, or a path for an SQLite file), its tables created or
        upgraded by the records migrations."""
        engine = make_engine(database_url(url), database)
        state = cls(engine, keyring, answer_timeout_s=answer_timeout_s)
        try:
            upgrade(engine)
        except SQLAlchemyError as e:
            engine.dispose()
            raise state._error("open", e) from e
        return state

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()

    def _bounded(self, doing: str, fn: Callable, *args):
        """`fn(*args)` on the state's own threads, waited for `answer_timeout_s` at most; at once
        a CallStateError while an earlier call is still unanswered past that (the server is
        silent: no thread of the caller's is held for it)."""
        now = time.monotonic()
        with self._lock:
            waiting = min(self._running.values(), default=now)
            if now - waiting > self.answer_timeout_s:
                raise self._error(doing, TimeoutError(f"the database has not answered for {now - waiting:.0f} s"))  # fmt: skip
            future = self._threads.submit(fn, *args)
            self._running[future] = now
        future.add_done_callback(self._answered)
        try:
            return future.result(timeout=self.answer_timeout_s)
        except WaitTimeout:
            future.cancel()  # not started yet: it never runs; else it ends when the server answers
            raise self._error(doing, TimeoutError(f"no answer within {self.answer_timeout_s:g} s")) from None  # fmt: skip

    def _answered(self, future: Future) -> None:
        with self._lock:
            self._running.pop(future, None)

    def _error(self, doing: str, e: Exception) -> CallStateError:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return CallStateError(
            f"call state at {self.url}: cannot {doing}: {first}. Check that the database server is "
            "running and reachable from this worker, and that the URL (--state) names it"
        )

    # -- values -------------------------------------------------------------------------------

    def _seal(self, kind: str, value: dict[str, Any]) -> bytes:
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return self.keyring.encrypt(data, f"call_state.{kind}") if self.keyring else data

    def _open(self, kind: str, blob: bytes) -> dict[str, Any]:
        data = self.keyring.decrypt(bytes(blob), f"call_state.{kind}") if self.keyring else bytes(blob)  # fmt: skip
        return json.loads(data.decode("utf-8"))

    # -- the protocol -------------------------------------------------------------------------

    def put(self, kind: str, key: str, value: dict[str, Any], ttl_s: float, *, new: bool = False) -> bool:  # fmt: skip
        """Keep `value` under (kind, key) for `ttl_s` seconds. new=True: only if the key is absent
        (or expired); returns whether it was written."""
        return self._bounded(f"write {kind}", self._put, kind, key, value, ttl_s, new)

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The value under (kind, key), or None if absent or expired."""
        return self._bounded(f"read {kind}", self._get, kind, key)

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        """As `get`, and the key is deleted: of two workers taking one key, one gets it."""
        return self._bounded(f"take {kind}", self._take, kind, key)

    def _put(self, kind: str, key: str, value: dict[str, Any], ttl_s: float, new: bool) -> bool:
        t, now = s.call_state, self.clock()
        where = and_(t.c.kind == kind, t.c.key == key)
        row = {
            "kind": kind,
            "key": key,
            "value": self._seal(kind, value),
            "expires_at": now + ttl_s,
        }
        for attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    if now - self._purged > _PURGE_EVERY_S:
                        self._purged = now
                        conn.execute(delete(t).where(t.c.expires_at <= now))
                    if new:
                        conn.execute(delete(t).where(where, t.c.expires_at <= now))
                    else:
                        conn.execute(delete(t).where(where))
                    conn.execute(insert(t).values(row))
                return True
            except IntegrityError as e:  # the key is taken (new=True), or a writer raced us
                if new:
                    return False
                if attempt == 2:
                    raise self._error(f"write {kind}", e) from e
            except SQLAlchemyError as e:
                raise self._error(f"write {kind}", e) from e
        return False

    def _get(self, kind: str, key: str) -> dict[str, Any] | None:
        t = s.call_state
        try:
            with self.engine.connect() as conn:
                blob = conn.execute(
                    select(t.c.value).where(
                        t.c.kind == kind, t.c.key == key, t.c.expires_at > self.clock()
                    )  # fmt: skip
                ).scalar()
        except SQLAlchemyError as e:
            raise self._error(f"read {kind}", e) from e
        return None if blob is None else self._open(kind, blob)

    def _take(self, kind: str, key: str) -> dict[str, Any] | None:
        t = s.call_state
        where = and_(t.c.kind == kind, t.c.key == key)
        try:
            with self.engine.begin() as conn:
                q = select(t.c.value, t.c.expires_at).where(where)
                if conn.dialect.name == "postgresql":
                    q = q.with_for_update()
                row = conn.execute(q).first()
                if row is None:
                    return None
                conn.execute(delete(t).where(where))
        except SQLAlchemyError as e:
            raise self._error(f"take {kind}", e) from e
        return None if row.expires_at <= self.clock() else self._open(kind, row.value)


# -- a conversation of the store, carried to another worker --------------------------------------


def store_redactor_state(store, conversation_id: str) -> dict[str, Any]:
    """What the store's Redactor of one conversation remembers (`Redactor.to_dict`), so that a
    worker taking the conversation over redacts its next turn as this one would have."""
    return store._redactor(conversation_id).to_dict()


def resume_store_redactor(store, conversation_id: str, state: dict[str, Any]) -> None:
    """The store's Redactor of `conversation_id` from `store_redactor_state` of another worker."""
    with store._lock:
        store._redactors[conversation_id] = Redactor.from_dict(state)
