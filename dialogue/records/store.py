"""The conversation store: customers, conversations, turns, recordings, feedback and an audit
log, in an SQLite file (the default) or PostgreSQL, behind one narrow API.

    store = Store.open("sqlite:///runs/records.db")           # or postgresql+psycopg://...
    cid = store.start_conversation("phone", customer_id=store.add_customer(email="a@b.com"))
    store.add_turn_record(cid, turn)                          # a dialogue.types.Turn: 2 rows
    store.turns(cid)                                          # decrypted, redacted

Guarantees:
- Every text is redacted before it is written (`dialogue.records.redactor.Redactor`, one per
  conversation, so a card number read over two turns is caught). Transcripts, screenshot text
  and recordings are also encrypted (AES-GCM, `dialogue.records.crypto`; the key comes from
  `CCA_RECORDS_KEY` unless a `Keyring` is given).
- Each call is one transaction: a process killed in the middle leaves all or nothing of it.
  SQLite runs in WAL mode with a busy timeout and takes the write lock at BEGIN, so threads
  writing at once wait for each other instead of failing; PostgreSQL locks the conversation row.
- `Store.open` upgrades the schema to the newest Alembic revision.
- Every read and change through this API writes an audit row (who, when, what, which record).

The rows it writes and reads back (`TurnIn`, `StoredTurn`) are in `dialogue.records.rows`.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from dialogue.knowledge.store import database_url
from dialogue.records import schema as s
from dialogue.records.crypto import Keyring
from dialogue.records.db import make_engine, rotate_key, upgrade
from dialogue.records.pii import redact
from dialogue.records.redactor import Redactor
from dialogue.records.rows import StoredTurn, TurnIn, email_hash, turn_rows
from dialogue.types import Turn

logger = logging.getLogger(__name__)


def _redact_json(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value).text
    if isinstance(value, dict):
        return {k: _redact_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_json(v) for v in value]
    return value


class Store:
    """One open conversation store. Safe to share between threads."""

    def __init__(
        self,
        engine: Engine,
        keyring: Keyring,
        actor: str = "system",
        recordings_dir: Path | None = None,
    ):
        self.engine, self.keyring, self.actor = engine, keyring, actor
        self.recordings_dir = Path(recordings_dir) if recordings_dir else None
        self._redactors: dict[str, Redactor] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        db: str,
        keyring: Keyring | None = None,
        actor: str = "system",
        recordings_dir: Path | str | None = None,
    ) -> Store:
        """Open (and create or upgrade) the store at `db`: a URL, or a path for an SQLite file.
        The key comes from `CCA_RECORDS_KEY` / `CCA_RECORDS_KEY_FILE` unless given."""
        keyring = keyring or Keyring.from_env()
        engine = make_engine(database_url(db))
        upgrade(engine)
        return cls(engine, keyring, actor, Path(recordings_dir) if recordings_dir else None)

    def as_actor(self, actor: str) -> Store:
        """This store (engine, keys, per-conversation redaction state) writing its audit rows
        as `actor`; `dialogue.records.access` gives each authenticated principal one."""
        other = copy.copy(self)
        other.actor = actor
        return other

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _audit(
        self, conn: Connection, action: str, record_type: str, record_id: Any = "", **detail: Any
    ) -> None:
        conn.execute(
            insert(s.audit_log).values(
                at=time.time(), actor=self.actor, action=action, record_type=record_type,
                record_id=str(record_id), detail=detail,
            )
        )  # fmt: skip

    # ------------------------------------------------------------ writes

    def add_customer(self, email: str | None = None, customer_id: str | None = None) -> str:
        """A new customer; only a hash of the email is kept (to find them for erasure)."""
        cid = customer_id or uuid.uuid4().hex
        with self.transaction() as conn:
            conn.execute(
                insert(s.customers).values(
                    id=cid, email_hash=email_hash(email) if email else None, created_at=time.time()
                )
            )
            self._audit(conn, "create", "customer", cid)
        return cid

    def find_customers(self, email: str) -> list[str]:
        with self.transaction() as conn:
            rows = (
                conn.execute(
                    select(s.customers.c.id).where(s.customers.c.email_hash == email_hash(email))
                )
                .scalars()
                .all()
            )
            self._audit(conn, "find", "customer", "", by="email", found=len(rows))
        return list(rows)

    def start_conversation(
        self, channel: str, customer_id: str | None = None, consent: bool = False,
        language: str = "", started_at: float | None = None, conversation_id: str | None = None,
    ) -> str:  # fmt: skip
        """A new conversation; `consent` says the customer agreed to its use for training.
        `conversation_id`: the id to give it (a UUID the caller made), so that starting it again
        after a failure whose commit did land returns the same conversation, not a second one."""
        if channel not in s.CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; choose from {s.CHANNELS}")
        conv = conversation_id or str(uuid.uuid4())
        with self.transaction() as conn:
            if (
                conversation_id is not None
                and conn.execute(
                    select(s.conversations.c.id).where(s.conversations.c.id == conv)
                ).first()
            ):
                return conv  # started already: its commit landed, its answer was lost
            conn.execute(
                insert(s.conversations).values(
                    id=conv, customer_id=customer_id, channel=channel, language=language,
                    consent=bool(consent), started_at=time.time() if started_at is None else started_at,
                )
            )  # fmt: skip
            self._audit(
                conn, "create", "conversation", conv, channel=channel, consent=bool(consent)
            )
        return conv

    def end_conversation(self, conversation_id: str, ended_at: float | None = None) -> None:
        with self.transaction() as conn:
            done = conn.execute(
                update(s.conversations)
                .where(s.conversations.c.id == conversation_id)
                .values(ended_at=ended_at or time.time())
            ).rowcount
            if not done:
                raise KeyError(f"no conversation {conversation_id!r} in the store")
            self._audit(conn, "end", "conversation", conversation_id)

    def _redactor(self, conversation_id: str) -> Redactor:
        with self._lock:
            return self._redactors.setdefault(conversation_id, Redactor())

    def _turn_values(self, conversation_id: str, t: TurnIn) -> dict[str, Any]:
        if t.role not in s.ROLES:
            raise ValueError(f"unknown role {t.role!r}; choose from {s.ROLES}")
        r = self._redactor(conversation_id)
        lang = t.language if t.language in ("en", "zh") else None
        if t.role == "customer":  # the conversation's Redactor: a card read over two turns
            text_ = r.redact(t.text, role=t.role).text if t.text or not t.transcript else t.text
            transcript = r.redact(t.transcript, role=t.role).text if t.transcript else t.transcript
        else:
            text_ = redact(t.text, lang).text
            transcript = redact(t.transcript, lang).text if t.transcript else t.transcript
        shot = redact(t.screenshot_text, lang).text if t.screenshot_text else t.screenshot_text
        return dict(
            conversation_id=conversation_id, role=t.role, text=text_,
            transcript_enc=self.keyring.encrypt_text(transcript, "turns.transcript"),
            screenshot_text_enc=self.keyring.encrypt_text(shot, "turns.screenshot_text"),
            language=t.language, intent=t.intent, entities=_redact_json(list(t.entities)),
            sentiment=dict(t.sentiment), actions=_redact_json(list(t.actions)),
            latency=dict(t.latency), errors=_redact_json(list(t.errors)), created_at=time.time(),
            author=t.author if t.role == "agent" else None,
        )  # fmt: skip

    def insert_turns(
        self, conn: Connection, conversation_id: str, rows: Sequence[TurnIn]
    ) -> list[int]:
        """Write `rows` inside the caller's transaction `conn`; returns their indexes."""
        locked = conn.execute(
            select(s.conversations.c.id)
            .where(s.conversations.c.id == conversation_id)
            .with_for_update()
        ).first()
        if locked is None:
            raise KeyError(
                f"no conversation {conversation_id!r} in the store; start_conversation first"
            )
        last = conn.execute(
            select(func.max(s.turns.c.idx)).where(s.turns.c.conversation_id == conversation_id)
        ).scalar()
        start = -1 if last is None else last
        values = [
            dict(self._turn_values(conversation_id, t), idx=start + 1 + i)
            for i, t in enumerate(rows)
        ]
        for v in values:
            conn.execute(insert(s.turns).values(**v))
        self._audit(conn, "create", "turns", conversation_id, idx=[v["idx"] for v in values])
        return [v["idx"] for v in values]

    def turn_count(self, conversation_id: str) -> int:
        """How many turn rows the conversation has (its next index): how a writer whose write
        failed tells a lost commit from a lost answer (dialogue.records.writer). Not audited: it
        reads no content."""
        with self.transaction() as conn:
            last = conn.execute(
                select(func.max(s.turns.c.idx)).where(s.turns.c.conversation_id == conversation_id)
            ).scalar()
        return 0 if last is None else int(last) + 1

    def add_turns(self, conversation_id: str, rows: Sequence[TurnIn]) -> list[int]:
        """Append turns to a conversation in one transaction; returns their indexes."""
        with self.transaction() as conn:
            return self.insert_turns(conn, conversation_id, rows)

    def add_turn_record(self, conversation_id: str, turn: Turn) -> list[int]:
        """The customer and agent rows of a `dialogue.types.Turn`, in one transaction."""
        return self.add_turns(conversation_id, turn_rows(turn))

    def add_recording(
        self,
        conversation_id: str,
        audio: bytes,
        turn_idx: int | None = None,
        media_type: str = "audio/wav",
    ) -> int:
        """Encrypted audio of a conversation (silence personal data first with
        `dialogue.records.redactor.silence_spans`). In the database, or in a file under
        `recordings_dir` when the store has one."""
        blob = self.keyring.encrypt(bytes(audio), "recordings.audio")
        path = None
        if self.recordings_dir is not None:
            self.recordings_dir.mkdir(parents=True, exist_ok=True)
            path = self.recordings_dir / f"{conversation_id}-{uuid.uuid4().hex}.bin"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(blob)
            tmp.replace(path)
        with self.transaction() as conn:
            rid = conn.execute(
                insert(s.recordings).values(
                    conversation_id=conversation_id, turn_idx=turn_idx, media_type=media_type,
                    audio_enc=None if path else blob, path=str(path) if path else None, created_at=time.time(),
                )
            ).inserted_primary_key[0]  # fmt: skip
            self._audit(conn, "create", "recording", rid, conversation=conversation_id)
        return int(rid)

    def add_feedback(
        self, conversation_id: str, rating: int | None = None, turn_idx: int | None = None,
        comment: str = "", corrected_reply: str | None = None,
    ) -> int:  # fmt: skip
        """A rating (1-5) and/or a corrected reply, for a turn or the whole conversation."""
        if rating is not None and not 1 <= rating <= 5:
            raise ValueError(f"a rating is 1 (bad) to 5 (good), got {rating}")
        with self.transaction() as conn:
            fid = conn.execute(
                insert(s.feedback).values(
                    conversation_id=conversation_id, turn_idx=turn_idx, rating=rating,
                    comment=redact(comment).text,
                    corrected_reply=redact(corrected_reply).text if corrected_reply else None,
                    actor=self.actor, created_at=time.time(),
                )
            ).inserted_primary_key[0]  # fmt: skip
            self._audit(conn, "create", "feedback", fid, conversation=conversation_id)
        return int(fid)

    # ------------------------------------------------------------ reads

    def _read_one(self, table, what: str, key):
        """The row of `table` with id `key` (KeyError when there is none), its read audited."""
        with self.transaction() as conn:
            row = conn.execute(select(table).where(table.c.id == key)).mappings().first()
            if row is None:
                raise KeyError(f"no {what} {key!r} in the store")
            self._audit(conn, "read", what, key)
        return row

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        return dict(self._read_one(s.conversations, "conversation", conversation_id))

    def conversation_ids(self, consented_only: bool = False) -> list[str]:
        q = select(s.conversations.c.id).order_by(s.conversations.c.started_at)
        if consented_only:
            q = q.where(s.conversations.c.consent.is_(True))
        with self.transaction() as conn:
            ids = list(conn.execute(q).scalars())
            self._audit(conn, "list", "conversation", "", consented_only=consented_only, n=len(ids))
        return ids

    def turns(self, conversation_id: str) -> list[StoredTurn]:
        """The turns of a conversation in order, transcripts and screenshot text decrypted."""
        with self.transaction() as conn:
            rows = conn.execute(
                select(s.turns).where(s.turns.c.conversation_id == conversation_id).order_by(s.turns.c.idx)
            ).mappings().all()  # fmt: skip
            self._audit(conn, "read", "turns", conversation_id, n=len(rows))
        return [
            StoredTurn(
                idx=r["idx"],
                role=r["role"],
                text=r["text"],
                transcript=self.keyring.decrypt_text(r["transcript_enc"], "turns.transcript"),
                screenshot_text=self.keyring.decrypt_text(
                    r["screenshot_text_enc"], "turns.screenshot_text"
                ),
                language=r["language"],
                intent=r["intent"],
                entities=r["entities"],
                sentiment=r["sentiment"],
                actions=r["actions"],
                latency=r["latency"],
                errors=r["errors"],
                author=r["author"],
            )  # fmt: skip
            for r in rows
        ]

    def recording(self, recording_id: int) -> bytes:
        """The decrypted audio bytes of a recording."""
        row = self._read_one(s.recordings, "recording", recording_id)
        blob = row["audio_enc"] if row["path"] is None else Path(row["path"]).read_bytes()
        return self.keyring.decrypt(bytes(blob), "recordings.audio")

    def feedback(self, conversation_id: str) -> list[dict[str, Any]]:
        with self.transaction() as conn:
            rows = (
                conn.execute(
                    select(s.feedback)
                    .where(s.feedback.c.conversation_id == conversation_id)
                    .order_by(s.feedback.c.id)
                )
                .mappings()
                .all()
            )
            self._audit(conn, "read", "feedback", conversation_id, n=len(rows))
        return [dict(r) for r in rows]

    def audit_log(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The newest `limit` audit rows, oldest first. The read itself is audited (after
        the rows are taken, so it shows in the next read)."""
        with self.transaction() as conn:
            rows = (
                conn.execute(select(s.audit_log).order_by(s.audit_log.c.id.desc()).limit(limit))
                .mappings()
                .all()
            )
            self._audit(conn, "read", "audit_log", "", n=len(rows))
        return [dict(r) for r in reversed(rows)]

    # ------------------------------------------------------------ keys

    def rotate_key(self) -> dict[str, int]:
        """Re-encrypt every ciphertext not under the current key; see `db.rotate_key`."""
        return rotate_key(self)
