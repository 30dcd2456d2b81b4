"""dialogue.records store, crypto, erasure: on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from sqlalchemy import create_engine, func, select, text

from dialogue.records import schema as s
from dialogue.records.cli import main as privacy_main
from dialogue.records.crypto import ENV_KEY, Keyring, MissingKeyError, WrongKeyError, new_key
from dialogue.records.erase import apply_retention, erase_customer, export_training_data
from dialogue.records.rows import TurnIn
from dialogue.records.store import Store, make_engine
from dialogue.types import Action, Decision, Turn
from tests.conftest import ROOT

KEY = new_key()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records.db'}"
    base = request.getfixturevalue("postgres_url")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def store(db_url, tmp_path):
    st = Store.open(
        db_url, keyring=Keyring.from_strings([KEY]), actor="tester", recordings_dir=tmp_path / "rec"
    )
    yield st
    st.close()


def agent_turn(text: str, transcript: str = "") -> Turn:
    return Turn(
        session_id="s", index=0, text=text, transcript=transcript, language="en", intent="cancel_order",
        confidence=0.9, entities=({"kind": "email", "value": "a@b.com"},), sentiment={"label": "neutral"},
        screenshots=({"kind": "order", "text": "card 4111 1111 1111 1111"},),
        actions=(Action("find_user_id_by_email", {"email": "ann@example.com"}, True, {"user_id": "u1"}),),
        decision=Decision("done", "t"), reply="Thanks Ann, I found you at ann@example.com.",
        reply_source="template", handoff=False, timings_ms={"asr": 120.0, "lm": 300.0},
    )  # fmt: skip


def test_the_migrations_build_the_schema_the_code_uses(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"version_table": "records_alembic_version"}),
            s.metadata,
        )
    assert [d for d in diff if d[0] not in ("add_index", "remove_index")] == []
    Store.open(
        str(store.engine.url.render_as_string(hide_password=False)), keyring=store.keyring
    ).close()  # again: no-op


def test_turns_are_redacted_and_encrypted_at_rest(store):
    cust = store.add_customer(email="Ann@Example.com")
    conv = store.start_conversation("phone", cust, consent=True, language="en")
    store.add_turn_record(
        conv,
        agent_turn(
            "my email is ann@example.com, card 4111 1111 1111 1111",
            "my card is four one one one one one one one one one one one one one one one",
        ),
    )
    turns = store.turns(conv)
    assert [t.role for t in turns] == ["customer", "agent"] and [t.idx for t in turns] == [0, 1]
    assert turns[0].text == "my email is [EMAIL], card [CARD]"
    assert turns[0].transcript == "my card is [CARD]" and turns[0].screenshot_text == "card [CARD]"
    assert turns[1].text == "Thanks Ann, I found you at [EMAIL]."
    assert turns[1].actions[0]["args"] == {"email": "[EMAIL]"} and turns[1].latency == {
        "asr": 120.0,
        "lm": 300.0,
    }
    with store.engine.connect() as c:
        raw = c.execute(select(s.turns.c.transcript_enc)).scalars().first()
        dump = json.dumps([list(map(str, r)) for r in c.execute(select(s.turns)).all()])
    assert raw.startswith(b"CCA1") and b"card" not in raw
    assert "4111" not in dump and "ann@example.com" not in dump.lower()
    assert store.find_customers("ann@example.com") == [cust]
    actions = [r["action"] for r in store.audit_log()]
    assert {"create", "read", "find"} <= set(actions)


def test_a_card_over_two_calls_is_redacted(store):
    conv = store.start_conversation("chat")
    store.add_turns(
        conv, [TurnIn("customer", "my card number is 4111 1111"), TurnIn("agent", "go on")]
    )
    store.add_turns(conv, [TurnIn("customer", "1111 1111")])
    assert [t.text for t in store.turns(conv)] == ["my card number is [CARD]", "go on", "[CARD]"]


def test_a_card_read_over_two_spoken_turns_is_redacted_in_the_transcripts(store):
    """A voice turn has no typed text, only a transcript: it is read with the conversation's
    memory too, so the second half of a card is still a card."""
    conv = store.start_conversation("phone")
    store.add_turns(conv, [TurnIn("customer", "", transcript="my card number is 4111 1111")])
    store.add_turns(
        conv, [TurnIn("agent", "go on"), TurnIn("customer", "", transcript="1111 1111")]
    )
    with store.engine.connect() as c:
        rows = c.execute(select(s.turns.c.transcript_enc).order_by(s.turns.c.idx)).scalars().all()
    heard = [store.keyring.decrypt_text(r, "turns.transcript") for r in rows]
    assert heard == ["my card number is [CARD]", None, "[CARD]"]


def test_keys_missing_wrong_and_rotated(store, db_url):
    with pytest.raises(MissingKeyError, match=ENV_KEY):
        Keyring.from_env({})
    conv = store.start_conversation("web")
    store.add_turns(conv, [TurnIn("customer", "hello", transcript="hello there")])
    rec = store.add_recording(conv, b"RIFF-audio-bytes")
    other = Store(store.engine, Keyring.from_strings([new_key()]))
    with pytest.raises(WrongKeyError, match="not among the keys"):
        other.turns(conv)
    tampered = Keyring.from_strings([KEY])
    blob = tampered.encrypt(b"x", "turns.transcript")
    with pytest.raises(WrongKeyError, match="authentication failed"):
        tampered.decrypt(blob[:-1] + bytes([blob[-1] ^ 1]), "turns.transcript")
    fresh = new_key()
    rotating = Store(
        store.engine, Keyring.from_strings([fresh, KEY]), recordings_dir=store.recordings_dir
    )
    assert rotating.rotate_key() == {
        "turns.transcript_enc": 1,
        "turns.screenshot_text_enc": 0,
        "recordings.audio_enc": 1,
    }
    assert rotating.rotate_key()["turns.transcript_enc"] == 0  # already done
    only_new = Store(store.engine, Keyring.from_strings([fresh]))
    assert (
        only_new.turns(conv)[0].transcript == "hello there"
        and only_new.recording(rec) == b"RIFF-audio-bytes"
    )


def test_concurrent_writers(store):
    conv = store.start_conversation("chat")
    errors = []

    def write(i):
        try:
            for j in range(5):
                store.add_turns(conv, [TurnIn("customer", f"t{i}-{j}"), TurnIn("agent", "ok")])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    turns = store.turns(conv)
    assert [t.idx for t in turns] == list(range(40))
    assert all(
        turns[k].role == "customer" and turns[k + 1].role == "agent" for k in range(0, 40, 2)
    )


KILLED_WRITER = """
import sys, time
from dialogue.records.crypto import Keyring
from dialogue.records.rows import TurnIn
from dialogue.records.store import Store
st = Store.open(sys.argv[1], keyring=Keyring.from_strings([sys.argv[2]]))
with st.transaction() as conn:
    st.insert_turns(conn, sys.argv[3], [TurnIn("customer", f"row {i}") for i in range(50)])
    print("written, not committed", flush=True)
    time.sleep(60)
"""


def test_a_writer_killed_mid_transaction_leaves_all_or_nothing(store, db_url):
    conv = store.start_conversation("phone")
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, db_url, KEY, conv], cwd=ROOT, stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "written, not committed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    time.sleep(0.2)  # PostgreSQL notices the dropped connection and rolls back
    reopened = Store.open(db_url, keyring=Keyring.from_strings([KEY]))
    try:
        n = len(reopened.turns(conv))
        assert n in (0, 50) and n == 0
        reopened.add_turns(conv, [TurnIn("customer", "after the crash")])
        assert [t.idx for t in reopened.turns(conv)] == [0]
    finally:
        reopened.close()


def test_erase_retention_and_export(store, tmp_path):
    ann = store.add_customer(email="ann@example.com")
    bob = store.add_customer(email="bob@example.com")
    convs = {}
    for who in (ann, bob):
        conv = store.start_conversation("phone", who, consent=True, language="en")
        store.add_turn_record(conv, agent_turn("I want to cancel my order"))
        store.add_recording(conv, b"audio")
        store.add_feedback(conv, rating=5, turn_idx=1)
        convs[who] = conv
    store.add_feedback(convs[bob], turn_idx=1, corrected_reply="Done, Bob, it is cancelled.")
    out = tmp_path / "export.jsonl"
    assert export_training_data(store, out) == 2
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    bob_line = next(x for x in lines if x["meta"]["conversation_id"] == convs[bob])
    assert bob_line["meta"]["good_turns"] == [1] and bob_line["meta"]["corrected_turns"] == [1]
    roles = [(t["role"], t.get("action", {}).get("tool"), t["text"]) for t in bob_line["turns"]]
    assert roles == [
        ("customer", None, "I want to cancel my order"),
        ("agent", "find_user_id_by_email", ""),  # the tool that ran, for a replay to follow
        ("agent", None, "Done, Bob, it is cancelled."),
    ]
    removal = erase_customer(store, email="ANN@example.com").to_dict()
    assert removal == {
        "customers": 1, "conversations": 1, "turns": 2, "recordings": 1, "recording_files": 1,
        "feedback": 1, "export_lines": 1, "export_files": [str(out.resolve())],
    }  # fmt: skip
    assert [json.loads(x)["meta"]["conversation_id"] for x in out.read_text().splitlines()] == [
        convs[bob]
    ]
    assert len(list(store.recordings_dir.iterdir())) == 1
    with store.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(s.turns)).scalar() == 2
    old = store.start_conversation("chat", started_at=time.time() - 40 * 86400)
    store.add_turns(old, [TurnIn("customer", "old")])
    assert apply_retention(store, days=30).conversations == 1
    assert store.conversation_ids() == [convs[bob]]


def test_privacy_cli(tmp_path, monkeypatch, capsys):
    db = tmp_path / "cli.db"
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv("CCA_RECORDS_KEY_FILE", raising=False)
    assert privacy_main(["retention", "--days", "1", "--db", str(db)]) == 2
    assert ENV_KEY in capsys.readouterr().err
    monkeypatch.setenv(ENV_KEY, KEY)
    st = Store.open(str(db))
    cust = st.add_customer()
    st.start_conversation("chat", cust)
    st.close()
    assert privacy_main(["erase", "--customer", cust, "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["conversations"] == 1
    assert privacy_main(["rotate-key", "--db", str(db)]) == 0
    assert privacy_main(["eval", "--n", "60", "--json"]) == 0
    assert "whole_cards_left_after_redaction" in capsys.readouterr().out
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_a_screenshot_turn_is_stored_and_exported_with_its_text(store, tmp_path, office):
    """The Agent's turn carries each screenshot's OCR text; the store keeps it redacted, and the
    export keeps a turn that was a screenshot alone, as screenshot_text."""
    import numpy as np

    from dialogue.agent import Agent, AgentServices, CustomerTurn
    from dialogue.lm.convdata import read_jsonl
    from tests.fakes import FakeNLU, FakeOCR
    from vision.image import from_array
    from vision.see import ScreenshotReader

    page = (("Order number: #W1", (0, 0, 300, 20)), ("Contact: ann@example.com", (0, 30, 300, 50)))
    reader = ScreenshotReader(FakeOCR(lines=page))
    agent = Agent(AgentServices(nlu=FakeNLU({}), office=office, reader=reader), session_id="s")
    image = from_array(np.full((60, 300, 3), 255, np.uint8), "order.png")
    turn = agent.respond(CustomerTurn(images=(image,)))
    assert turn.text == "" and turn.screenshots[0]["text"] == "Order number: #W1\nContact: ann@example.com"  # fmt: skip
    assert "ann@example.com" in json.dumps(turn.to_dict())  # `cca chat --json` shows what was read

    conv = store.start_conversation("web", consent=True, language="en")
    store.add_turn_record(conv, turn)
    customer = store.turns(conv)[0]
    assert customer.text == "" and customer.screenshot_text == "Order number: #W1\nContact: [EMAIL]"
    out = tmp_path / "export.jsonl"
    assert export_training_data(store, out) == 1
    (exported,) = read_jsonl(out)
    first = exported.turns[0]
    assert first.role == "customer" and first.text == ""
    assert first.screenshot_text == "Order number: #W1\nContact: [EMAIL]"
    assert "ann@example.com" not in out.read_text()
