"""Roles and API keys on the conversation store (SQLite and PostgreSQL), and the training export
feeding `cca train`."""

from __future__ import annotations

import json

import pytest

from dialogue.records import access
from dialogue.records import schema as s
from dialogue.records.access import (
    AccessControlledStore,
    AccessDenied,
    AuthenticationError,
    Principal,
    authenticate,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)
from dialogue.records.cli import main as privacy_main
from dialogue.records.crypto import ENV_KEY
from dialogue.records.rows import TurnIn
from dialogue.records.store import Store
from tests.conftest import tiny_tokenizer
from tests.dialogue.records.test_records import KEY, agent_turn, db_url, store  # noqa: F401 - fixtures: both databases


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch):
    monkeypatch.setattr(access, "_SCRYPT", dict(n=2**8, r=8, p=1, dklen=32))


def test_keys_are_hashed_with_a_salt_and_authenticate(store):  # noqa: F811
    key = create_api_key(store, "ana", "supervisor")
    assert key.startswith("cca_") and authenticate(store, key) == Principal("ana", "supervisor")
    with store.engine.connect() as c:
        row = c.execute(s.api_keys.select()).mappings().one()
    secret = key.split("_", 2)[2]
    assert secret not in json.dumps({k: str(v) for k, v in row.items()})
    assert len(row["salt"]) == 32 and len(row["key_hash"]) == 64
    other = create_api_key(store, "ben", "supervisor")
    with store.engine.connect() as c:
        hashes = c.execute(s.api_keys.select()).mappings().all()
    assert hashes[0]["salt"] != hashes[1]["salt"] and authenticate(store, other).name == "ben"
    for bad in ("", "cca_nope_x", key[:-1] + ("A" if key[-1] != "A" else "B"), "sk-123"):
        with pytest.raises(AuthenticationError, match="not valid"):
            authenticate(store, bad)
    with pytest.raises(ValueError, match="exists"):
        create_api_key(store, "ana", "admin")
    with pytest.raises(ValueError, match="unknown role 'root'"):
        create_api_key(store, "root", "root")
    revoke_api_key(store, "ana")
    with pytest.raises(AuthenticationError, match="revoked"):
        authenticate(store, key)
    assert [(k["name"], k["revoked_at"] is not None) for k in list_api_keys(store)] == [
        ("ana", True),
        ("ben", False),
    ]
    assert "auth_failed" in {r["action"] for r in store.audit_log()}


def test_each_role_may_do_what_it_should_and_no_more(store, tmp_path):  # noqa: F811
    principals = {
        role: authenticate(store, create_api_key(store, f"{role}-1", role)) for role in access.ROLES
    }
    agent, sup, admin = (AccessControlledStore(store, principals[r]) for r in access.ROLES)
    cust = agent.add_customer(email="cy@example.com")
    conv = agent.start_conversation("phone", cust, consent=True, language="en")
    agent.add_turn_record(conv, agent_turn("cancel my order please"))
    rec = agent.add_recording(conv, b"audio")
    assert [t.role for t in agent.turns(conv)] == ["customer", "agent"]
    for what, call in {
        "recording": lambda: agent.recording(rec),
        "erase_customer": lambda: agent.erase_customer(customer_id=cust),
        "export_training_data": lambda: agent.export_training_data(tmp_path / "x.jsonl"),
        "audit_log": lambda: agent.audit_log(),
        "add_feedback": lambda: agent.add_feedback(conv, rating=5),
    }.items():
        with pytest.raises(AccessDenied, match=f"{what} needs the (supervisor|admin) role"):
            call()
    assert sup.recording(rec) == b"audio" and sup.add_feedback(conv, rating=4, turn_idx=1)
    assert sup.feedback(conv)[0]["actor"] == "supervisor-1"
    for denied in ("erase_customer", "apply_retention", "rotate_key", "create_api_key"):
        with pytest.raises(AccessDenied, match="needs the admin role"):
            getattr(sup, denied)
    with pytest.raises(AttributeError, match="not available"):
        _ = sup.engine
    assert admin.export_training_data(tmp_path / "train.jsonl") == 1
    assert admin.rotate_key()["turns.transcript_enc"] == 0
    assert admin.erase_customer(customer_id=cust).conversations == 1
    log = admin.audit_log()
    denied = [r for r in log if r["action"] == "denied"]
    assert {(r["actor"], r["record_type"], r["detail"]["needs"]) for r in denied} >= {
        ("agent-1", "recording", "supervisor"),
        ("agent-1", "erase_customer", "admin"),
        ("supervisor-1", "rotate_key", "admin"),
    }
    by_actor = {(r["actor"], r["action"], r["record_type"]) for r in log}
    assert {
        ("agent-1", "create", "conversation"),
        ("agent-1", "read", "turns"),
        ("supervisor-1", "read", "recording"),
        ("admin-1", "export", "exports"),
        ("admin-1", "erase", "customer"),
    } <= by_actor
    assert ("admin-1", "read", "audit_log") in {
        (r["actor"], r["action"], r["record_type"]) for r in store.audit_log()
    }


def test_key_cli_and_enforcement(tmp_path, monkeypatch, capsys):
    db = str(tmp_path / "keys.db")
    monkeypatch.setenv(ENV_KEY, KEY)
    monkeypatch.delenv("CCA_API_KEY", raising=False)
    assert privacy_main(["key", "create", "--name", "ops", "--role", "admin", "--db", db]) == 0
    admin_key = json.loads(capsys.readouterr().out)["key"]
    assert privacy_main(["key", "create", "--name", "desk", "--role", "agent", "--db", db]) == 0
    desk_key = json.loads(capsys.readouterr().out)["key"]
    monkeypatch.setenv("CCA_API_KEY", desk_key)
    assert privacy_main(["retention", "--days", "1", "--db", db]) == 2
    assert "needs the admin role" in capsys.readouterr().err
    monkeypatch.setenv("CCA_API_KEY", admin_key)
    assert privacy_main(["key", "list", "--db", db]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["name"] for k in listed] == ["ops", "desk"] and "key_hash" not in listed[0]
    assert privacy_main(["key", "revoke", "--name", "desk", "--db", db]) == 0
    assert privacy_main(["key", "revoke", "--name", "desk", "--db", db]) == 1
    monkeypatch.setenv("CCA_API_KEY", desk_key)
    capsys.readouterr()
    assert privacy_main(["key", "list", "--db", db]) == 2
    assert "revoked" in capsys.readouterr().err


def test_the_export_feeds_training(tmp_path, monkeypatch, capsys):
    from dialogue.lm.convdata import read_jsonl
    from dialogue.lm.examples import build_examples
    from dialogue.records.export_cli import main as export_main
    from fusion.fuse import Fusion

    db = str(tmp_path / "records.db")
    monkeypatch.setenv(ENV_KEY, KEY)
    monkeypatch.delenv("CCA_API_KEY", raising=False)
    with Store.open(db) as st:
        cust = st.add_customer(email="dee@example.com")
        conv = st.start_conversation("chat", cust, consent=True, language="en")
        st.add_turns(conv, [
            TurnIn("customer", "where is my order? I'm dee@example.com", intent="order_status"),
            TurnIn("agent", "Your order #W1 is pending."),
            TurnIn("customer", "thanks", intent="thanks_goodbye"),
            TurnIn("agent", "You are welcome."),
        ])  # fmt: skip
        st.add_feedback(conv, turn_idx=3, corrected_reply="You're welcome, goodbye!")
        st.start_conversation("chat", cust, consent=False)  # not exported
    out = tmp_path / "train.jsonl"
    assert export_main(["--out", str(out), "--db", db]) == 0
    assert json.loads(capsys.readouterr().out)["conversations"] == 1
    convs = read_jsonl(out)
    assert [t.role for t in convs[0].turns] == ["customer", "agent", "customer", "agent"]
    assert "dee@example.com" not in out.read_text() and "[EMAIL]" in convs[0].turns[0].text
    assert convs[0].turns[3].text == "You're welcome, goodbye!"
    tok = tiny_tokenizer()
    examples = build_examples(convs, tok, Fusion(tok), max_len=512)
    assert len(examples) == 1
    ex = examples[0]
    assert len(ex.input_ids) == len(ex.labels) and ex.n_target > 0
