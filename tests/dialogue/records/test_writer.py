"""TurnWriter: a conversation's writes behind its replies, against a store that is silent (held
by an Event), refusing, or fine. The real database cases are in tests/demo/phone."""

from __future__ import annotations

import logging
import threading
import time

from dialogue.records.rows import TurnIn
from dialogue.records.writer import TurnWriter, WriterOptions

FAST = WriterOptions(reply_wait_s=0.2, end_wait_s=2.0, retry_s=0.05, retry_max_s=0.1)


class Held:
    """A store whose writes wait for `answer` (silent) or raise while `refuse` is set."""

    def __init__(self):
        self.answer, self.refuse = threading.Event(), threading.Event()
        self.answer.set()
        self.rows: list[str] = []
        self.ended = self.recordings = 0

    def _call(self):
        self.answer.wait()
        if self.refuse.is_set():
            raise ConnectionError("connection refused")

    def start_conversation(self, channel, language="", started_at=None, conversation_id=None):
        self._call()
        return "c1"

    def turn_count(self, conversation_id):
        self._call()
        return len(self.rows)

    def add_turns(self, conversation_id, rows):
        self._call()
        self.rows += [r.text for r in rows]

    def add_recording(self, conversation_id, audio):
        self._call()
        self.recordings += 1

    def end_conversation(self, conversation_id, ended_at=None):
        self._call()
        self.ended += 1


def test_a_silent_store_holds_no_turn_and_takes_them_in_order_when_it_answers():
    store = Held()
    writer = TurnWriter(store, "phone", FAST)
    writer.add(TurnIn("customer", "one"))
    assert store.rows == ["one"]  # a healthy store has the turn when add returns
    store.answer.clear()  # silent
    t0 = time.monotonic()
    for text in ("two", "three", "four"):
        writer.add(TurnIn("customer", text))
    waited = time.monotonic() - t0
    assert waited < 1.0, waited  # the first waits reply_wait_s at most, the others not at all
    assert [t.text for t in writer.unsaved] == ["two", "three", "four"]
    assert not writer.end(b"audio")  # not written within end_wait_s: the call ends anyway
    store.answer.set()
    deadline = time.monotonic() + 5
    while store.ended == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (
        store.rows == ["one", "two", "three", "four"] and store.recordings == 1 and store.ended == 1
    )


def test_a_refusing_store_is_logged_counted_and_retried(caplog):
    store, failed = Held(), []
    store.refuse.set()
    writer = TurnWriter(store, "phone", FAST, on_error=failed.append)
    t0 = time.monotonic()
    writer.add(TurnIn("customer", "one"))
    assert time.monotonic() - t0 < FAST.reply_wait_s + 0.5 and failed  # the failure ends the wait
    assert "turn(s) wait for the store, which failed: connection refused" in caplog.text
    store.refuse.clear()
    assert writer.end() and store.rows == ["one"] and store.ended == 1


def test_turns_beyond_max_unsaved_are_dropped_with_an_error(caplog):
    caplog.set_level(logging.ERROR)
    store = Held()
    store.answer.clear()
    writer = TurnWriter(store, "phone", WriterOptions(reply_wait_s=0.0, max_unsaved=2))
    for text in ("one", "two", "three"):
        writer.add(TurnIn("customer", text))
    assert len(writer.unsaved) == 2 and "dropped unwritten" in caplog.text
    store.answer.set()


def _store(tmp_path):
    from dialogue.records.crypto import Keyring, new_key
    from dialogue.records.store import Store

    return Store.open(f"sqlite:///{tmp_path / 'records.db'}", keyring=Keyring.from_strings([new_key()]))  # fmt: skip


class LostAnswer:
    """The real store of a SQLite file whose calls named in `lost` ({method: n}) land their first
    n times and then raise, as when the connection drops after the database committed and
    before its answer came back."""

    def __init__(self, store, lost: dict[str, int]):
        self.store, self.lost = store, dict(lost)

    def __getattr__(self, name):
        real = getattr(self.store, name)
        if name not in self.lost:
            return real

        def landed_then_lost(*a, **k):
            out = real(*a, **k)
            if self.lost[name] > 0:
                self.lost[name] -= 1
                raise ConnectionError("server closed the connection unexpectedly")
            return out

        return landed_then_lost


def test_a_write_whose_answer_was_lost_is_not_written_twice(tmp_path, caplog):
    """The commit landed, the answer did not: the retry finds the conversation and the turn
    already stored, and the conversation has one copy of each turn, in order."""
    store = _store(tmp_path)
    lossy = LostAnswer(store, {"start_conversation": 1, "add_turns": 1})
    writer = TurnWriter(lossy, "phone", FAST)
    for text in ("one", "two", "three"):
        writer.add(TurnIn("customer", text))
    assert writer.end()
    (conversation,) = store.conversation_ids()
    assert [t.text for t in store.turns(conversation)] == ["one", "two", "three"]
    assert "stored before its write was reported failed" in caplog.text
    assert len(writer.errors) == 2  # both failures were still logged and counted


def test_a_write_that_failed_before_its_commit_is_written_on_retry(tmp_path):
    class Refused(LostAnswer):
        def __getattr__(self, name):
            real = getattr(self.store, name)
            if name not in self.lost:
                return real

            def refuse(*a, **k):
                if self.lost[name] > 0:
                    self.lost[name] -= 1
                    raise ConnectionError("connection refused")
                return real(*a, **k)

            return refuse

    store = _store(tmp_path)
    writer = TurnWriter(Refused(store, {"add_turns": 1}), "phone", FAST)
    for text in ("one", "two"):
        writer.add(TurnIn("customer", text))
    assert writer.end()
    (conversation,) = store.conversation_ids()
    assert [t.text for t in store.turns(conversation)] == ["one", "two"]
