"""One conversation's records, written in order by a thread of its own, so that a database that
is slow, down or silent never holds a reply.

    writer = TurnWriter(store, "phone")
    writer.add(turn)          # queued; waits `reply_wait_s` at most for the write, then goes on
    writer.end(recording)     # the last writes, the recording and the end time, behind

A turn is queued, then written by the writer's thread: oldest first, each once, one transaction
per turn (`Store.add_turns`: a dialogue Turn is its two rows). `add` waits a moment for its write (`reply_wait_s`), so that a
healthy store has the turn when the reply goes out (and a failure shows on it); past that, or at
once when earlier turns still wait, the reply goes on and the write follows. A write that fails
is logged and counted (`on_error`) and tried again at the next turn or after `retry_s`, doubling
up to `retry_max_s`, until the store takes it: a database
that refuses fails at once, one that is silent holds the thread (never the reply) until it answers
or the connection times out (`dialogue.records.db.DatabaseOptions`). A write whose commit landed
but whose answer was lost (the connection dropped at the commit) is not written twice: before it
is tried again the writer counts the conversation's rows, and the conversation is started under an
id the writer made, so starting it again finds it. At most `max_unsaved` turns
wait; beyond that the oldest is dropped with an error naming it. After `end`, turns the store
still has not taken `give_up_s` later are logged as lost with their count: nothing is lost
without a log line, though nothing waiting outlives the process.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dialogue.records.rows import TurnIn, turn_rows
from dialogue.types import Turn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriterOptions:
    reply_wait_s: float = 0.5  # longest a reply waits for its turn's write; the write goes on
    end_wait_s: float = 5.0  # longest the conversation's end waits for its last writes
    retry_s: float = 1.0  # a failed write is tried again after this, doubling ...
    retry_max_s: float = 30.0  # ... up to this
    give_up_s: float = 600.0  # after the end, turns still unwritten this long are logged as lost
    max_unsaved: int = 500  # turns kept in memory while the store cannot take them


class TurnWriter:
    """The writes of one conversation to `store` (dialogue.records.store.Store). Thread-safe.
    `on_error(first_line)` is called for each failed write, `on_written()` after each write."""

    def __init__(self, store, channel: str, options: WriterOptions = WriterOptions(), *,
                 on_error: Callable[[str], None] | None = None,
                 on_written: Callable[[], None] | None = None):  # fmt: skip
        self.store, self.channel, self.options = store, channel, options
        self.on_error, self.on_written = on_error, on_written
        self.conversation_id: str | None = None  # set before the first write to go on another
        self.errors: list[str] = []
        self._pending: list[tuple[int, Turn | TurnIn]] = []  # (number, turn), oldest first
        self._numbered = 0
        self._failures = 0
        self._writing: int | None = None  # the number of the turn being written
        self._new_id = str(uuid.uuid4())  # the id of the conversation this writer starts
        self._stored: int | None = None  # the conversation's rows the store is known to have
        self._unsure: int | None = None  # the turn whose last write failed: it may have landed
        self._ending: dict[str, Any] | None = None  # set by end(): what is left to do
        self._done = threading.Event()  # the thread has finished (after end)
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def unsaved(self) -> list[Turn | TurnIn]:
        """The turns the store has not taken yet, oldest first."""
        with self._cv:
            return [t for _, t in self._pending]

    def add(self, turn: Turn | TurnIn) -> None:
        """Queue `turn` (a dialogue Turn: its two rows; a TurnIn: one row) and wait
        `reply_wait_s` at most for it to be written or to fail."""
        with self._cv:
            if self._ending is not None:
                logger.error("records: a turn after the end of conversation %s is not written", self.conversation_id or "(not started)")  # fmt: skip
                return
            if len(self._pending) >= self.options.max_unsaved:
                k = 1 if self._pending[0][0] == self._writing else 0  # not the one in flight
                _, dropped = self._pending.pop(k)
                logger.error("records: the store has not taken %d turns of conversation %s; turn %s "
                             "is dropped unwritten", self.options.max_unsaved, self.conversation_id or "(not started)",
                             getattr(dropped, "index", "(a held message)"))  # fmt: skip
            number, failures, behind = self._numbered, self._failures, bool(self._pending)
            self._numbered += 1
            self._pending.append((number, turn))
            self._start()
            self._cv.notify_all()
            if behind:  # the store has not taken the turns before: no use waiting for this one
                return
            self._cv.wait_for(lambda: self._failures > failures or all(n != number for n, _ in self._pending),
                              timeout=self.options.reply_wait_s)  # fmt: skip

    def end(self, recording: bytes | None = None, started_at: float | None = None) -> bool:
        """The conversation is over: its last turns, `recording` (the call's audio, personal
        data already silenced) and its end time are written behind; waits `end_wait_s` at most.
        True when everything was written in that time."""
        with self._cv:
            if self._ending is not None:
                return self._done.is_set()
            self._ending = {
                "recording": recording,
                "started_at": started_at,
                "ended_at": time.time(),
            }
            if self._thread is None and (recording is not None or self.conversation_id is not None):
                self._start()
            elif self._thread is None:
                self._done.set()  # nothing was ever written: nothing to end
            self._cv.notify_all()
        return self._done.wait(self.options.end_wait_s)

    # -- the writer's thread ------------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"records-{self.channel}", daemon=True)  # fmt: skip
            self._thread.start()

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # a bug here must not pass silently
            logger.exception("records: the writer of conversation %s stopped", self.conversation_id)  # fmt: skip
        finally:
            self._done.set()

    def _loop(self) -> None:
        retry_s, gave_up_at = 0.0, None
        while True:
            with self._cv:
                if retry_s:  # after a failure: a while, or until a new turn or the end
                    wake = (self._numbered, gave_up_at is None)
                    self._cv.wait_for(lambda w=wake: self._numbered > w[0] or (w[1] and self._ending is not None),
                                      timeout=retry_s)  # fmt: skip
                self._cv.wait_for(lambda: self._pending or self._ending is not None)
                ending = self._ending
                if ending is not None and gave_up_at is None:
                    gave_up_at = time.monotonic() + self.options.give_up_s
                item = self._pending[0] if self._pending else None
                self._writing = item[0] if item else None
            try:
                if item is not None:
                    self._write(item)
                elif ending is not None:
                    self._finish(ending)
                    return
                retry_s = 0.0
            except Exception as e:  # a full disk or a dead database must not end the conversation
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                left = len(self.unsaved) if item is not None else 0
                logger.error("records: %d turn(s) wait for the store, which failed: %s", left, first)  # fmt: skip
                self.errors.append(f"records: {first}")
                if self.on_error is not None:
                    self.on_error(first)
                with self._cv:  # a reply waiting for this write goes on, the failure on its turn
                    self._failures += 1
                    self._cv.notify_all()
                if gave_up_at is not None and time.monotonic() > gave_up_at:
                    logger.error("records: %d turn(s) of conversation %s were never written: the "
                                 "store failed until %.0f s after the conversation ended", left,
                                 self.conversation_id or "(not started)", self.options.give_up_s)  # fmt: skip
                    return
                retry_s = min(max(2 * retry_s, self.options.retry_s), self.options.retry_max_s)

    def _write(self, item: tuple[int, Turn | TurnIn]) -> None:
        number, turn = item
        rows = list(turn_rows(turn)) if isinstance(turn, Turn) else [turn]
        try:
            if self.conversation_id is None:
                language = turn.language if isinstance(turn, Turn) else ""
                self.conversation_id = self.store.start_conversation(
                    self.channel, language=language, conversation_id=self._new_id
                )
                self._stored = 0  # started here: no row of it is anyone else's
            if self._stored is None:  # going on with a stored conversation: count once
                self._stored = self.store.turn_count(self.conversation_id)
            if self._unsure == number and self.store.turn_count(self.conversation_id) >= self._stored + len(rows):  # fmt: skip
                logger.warning("records: turn %d of conversation %s was stored before its write "
                               "was reported failed; it is not written twice", number, self.conversation_id)  # fmt: skip
            else:
                self.store.add_turns(self.conversation_id, rows)
        except Exception:
            self._unsure = number
            raise
        self._stored += len(rows)
        self._unsure = None
        with self._cv:
            self._pending = [(n, t) for n, t in self._pending if n != number]
            self._writing = None
            self._cv.notify_all()
        if self.on_written is not None:
            self.on_written()

    def _finish(self, ending: dict[str, Any]) -> None:
        """The recording and the end time, once every turn is in."""
        if ending["recording"] is not None:
            if self.conversation_id is None:
                self.conversation_id = self.store.start_conversation(self.channel, started_at=ending["started_at"])  # fmt: skip
            self.store.add_recording(self.conversation_id, ending["recording"])
            ending["recording"] = None  # written: not again if the end time fails
            logger.info("records: the recording of conversation %s is stored", self.conversation_id)  # fmt: skip
        if self.conversation_id is not None:
            self.store.end_conversation(self.conversation_id, ended_at=ending["ended_at"])
