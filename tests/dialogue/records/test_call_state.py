"""dialogue.records.call_state on a real SQLite file and a real PostgreSQL: values sealed at
rest, a clear error for a database that is down, and a Redactor carried between processes.
(The protocol itself: tests/test_contracts.py::test_call_state_protocol.)"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from dialogue.records import schema as s
from dialogue.records.call_state import CallStateError, SqlCallState
from dialogue.records.crypto import Keyring, WrongKeyError, new_key
from dialogue.records.db import make_engine
from dialogue.records.redactor import Redactor
from tests.test_contracts import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return fresh_postgres_database(request.getfixturevalue("postgres_url"))


def test_values_are_sealed_at_rest_and_need_the_key(url):
    key = Keyring.from_strings([new_key()])
    state = SqlCallState.open(url, key)
    tail = {"tail": "my card number is 4111 1111", "expect": None}
    state.put("redaction", "CA1", tail, 60.0)
    with state.engine.connect() as c:
        (blob,) = c.execute(select(s.call_state.c.value)).one()
    assert b"4111" not in bytes(blob) and b"card" not in bytes(blob)
    assert state.get("redaction", "CA1") == tail
    other = SqlCallState.open(url, Keyring.from_strings([new_key()]))  # another worker, wrong key
    with pytest.raises(WrongKeyError, match="call_state.redaction"):
        other.get("redaction", "CA1")
    state.close()
    other.close()


def test_a_database_that_is_down_says_which_and_what_to_check():
    down = "postgresql+psycopg://cca:secret@127.0.0.1:1/none?connect_timeout=1"
    with pytest.raises(CallStateError) as e:
        SqlCallState.open(down, Keyring.from_strings([new_key()]))
    said = str(e.value)
    assert (
        "127.0.0.1:1/none" in said and "secret" not in said and "database server is running" in said
    )
    state = SqlCallState(make_engine(down))  # opened before the server went away
    for call in (lambda: state.get("upload", "123456"), lambda: state.take("stream", "t"),
                 lambda: state.put("redaction", "CA1", {}, 60.0)):  # fmt: skip
        with pytest.raises(CallStateError, match="cannot (read|take|write)"):
            call()


def test_a_redactor_carried_to_another_process_reads_on_as_the_first():
    cases = [  # (turns before the move, the turn after it, what must not survive)
        (["my card number is 4111 1111"], "1111 1111", "1111"),
        (["what's the security code? oh it's on the back"], "seven three seven", "seven"),
    ]
    for before, after, secret in cases:
        first = Redactor()
        for text in before:
            first.redact(text)
        state = json.loads(json.dumps(first.to_dict()))  # as a store keeps it
        carried = Redactor.from_dict(state)
        expected = first.redact(after).text
        assert carried.redact(after).text == expected and secret not in expected
        assert secret in Redactor().redact(after).text  # without the memory it would leak
    agent_asked = Redactor()
    agent_asked.redact("And the three digits on the back of the card?", role="agent")
    assert Redactor.from_dict(agent_asked.to_dict()).redact("seven three seven").text == "[CVV]"
    with pytest.raises(ValueError, match="version"):
        Redactor.from_dict({"version": 99})
