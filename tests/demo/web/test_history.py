"""The demo's History tab on a real store (SQLite and PostgreSQL): an API key signs a browser tab
in; an agent lists and opens conversations but is refused recordings and the audit log, a
supervisor gets them; a bad or revoked key is refused; every access is audited under the key's
name, and nothing read stays on the page once the tab is signed out."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from demo.web.history import Viewer, on_audit, on_open, on_recording, on_refresh, on_sign_in
from dialogue.records import access
from dialogue.records.access import Principal, create_api_key, revoke_api_key
from tests.dialogue.records.test_records import KEY, agent_turn, db_url, store  # noqa: F401 - fixtures: both databases


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch):
    monkeypatch.setattr(access, "_SCRYPT", dict(n=2**8, r=8, p=1, dklen=32))


def wav_bytes(rate: int = 8000, seconds: float = 0.25) -> tuple[bytes, np.ndarray]:
    t = np.arange(int(rate * seconds)) / rate
    pcm = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue(), pcm


@pytest.fixture
def call(store):  # noqa: F811
    """A stored phone call: one turn (an email in the text, a heard transcript) and its audio."""
    cid = store.start_conversation("phone", language="en")
    store.add_turn_record(cid, agent_turn("my email is ann@example.com", "cancel my order"))
    audio, pcm = wav_bytes()
    store.add_recording(cid, audio)
    return cid, pcm


def audited(store, actor: str) -> list[tuple[str, str]]:  # noqa: F811
    return [(r["action"], r["record_type"]) for r in store.audit_log() if r["actor"] == actor]


def test_an_agent_reads_conversations_but_not_recordings_or_the_audit_log(store, call):  # noqa: F811
    cid, _ = call
    view = on_sign_in(store, create_api_key(store, "amy", "agent"))
    assert view.viewer.principal == Principal("amy", "agent") and "**amy** (agent)" in view.status
    [row] = view.conversations["data"]
    assert row[0] == cid and row[1] == "phone" and row[3] == "en" and row[4] == 2
    assert view.choices[0][1] == cid

    opened = on_open(store, view.viewer, cid)
    assert opened.viewer == view.viewer and cid in opened.status and "2 turns" in opened.status
    customer, reply = opened.turns["data"]
    assert customer[1] == "customer" and "ann@example.com" not in customer[2]  # redacted as stored
    assert customer[3] == "cancel my order" and customer[5] == "cancel_order"  # decrypted
    assert reply[1] == "agent" and reply[6].startswith("find_user_id_by_email(")
    assert "ann@example.com" not in reply[6]

    for refused in (on_recording(store, view.viewer, cid), on_audit(store, view.viewer)):
        assert refused.viewer == view.viewer  # refused, still signed in
        assert refused.status.startswith("Refused:")
        assert "needs the supervisor role" in refused.status
        assert refused.audio is None and refused.audit is None
    assert audited(store, "amy") == [
        ("list", "conversation"), ("read", "conversation"),  # the listing
        ("read", "conversation"), ("read", "turns"),  # opening it
        ("denied", "recording"), ("denied", "audit_log"),
    ]  # fmt: skip


def test_a_supervisor_plays_the_recording_and_reads_the_audit_log(store, call):  # noqa: F811
    cid, pcm = call
    viewer = on_sign_in(store, create_api_key(store, "sam", "supervisor")).viewer
    played = on_recording(store, viewer, cid)
    rate, samples = played.audio
    assert rate == 8000 and np.array_equal(samples, pcm) and "Recording 1 of 1" in played.status
    tail = on_audit(store, viewer)
    assert tail.audit["headers"][:3] == ["at", "who", "action"]
    newest = tail.audit["data"][0]
    assert newest[1:5] == ["sam", "read", "recording", newest[4]]  # newest first
    assert ("tester", "create", "conversation") in {tuple(r[1:4]) for r in tail.audit["data"]}
    assert ("read", "recording") in audited(store, "sam")
    assert ("read", "audit_log") in audited(store, "sam")  # shows in the next read

    none = store.start_conversation("web")
    assert on_recording(store, viewer, none).status == "No recording of this conversation."
    assert on_open(store, viewer, "no-such-id").status.startswith("Not found:")
    assert on_open(store, viewer, None).status == "Pick a conversation first."


def test_a_bad_or_revoked_key_is_refused_and_signs_the_tab_out(store, call):  # noqa: F811
    cid, _ = call
    empty = on_sign_in(store, "  ")
    assert empty.viewer is None and "Paste an API key" in empty.status
    for bad in ("cca_nope_x", "sk-123"):
        view = on_sign_in(store, bad)
        assert view.viewer is None and "not valid" in view.status and view.conversations is None
    key = create_api_key(store, "ray", "supervisor")
    signed_in = on_sign_in(store, key)
    opened = on_open(store, signed_in.viewer, cid)
    assert opened.turns["data"]

    revoke_api_key(store, "ray")
    later = on_open(store, signed_in.viewer, cid)  # the tab's viewer is no longer honoured
    assert later.viewer is None and "was revoked" in later.status and later.turns is None
    assert all(later.cleared(f) for f in ("conversations", "choices", "turns", "audio", "audit"))
    assert "revoked" in on_sign_in(store, key).status
    assert on_refresh(store, None).status == "Sign in with an API key first."
    forged = Viewer(Principal("ray", "admin"), "not-a-key-id")  # only sign_in makes a Viewer
    assert "was revoked" in on_audit(store, forged).status
    actions = [(r["actor"], r["action"]) for r in store.audit_log()]
    assert ("unknown", "auth_failed") in actions and ("ray", "auth_failed") in actions
    assert ("ray", "read") in actions and ("ray", "denied") not in actions


def test_signing_in_again_leaves_nothing_of_the_earlier_key_and_speaks_chinese(store, call):  # noqa: F811
    view = on_sign_in(store, create_api_key(store, "lin", "agent"), "zh")
    assert "已登录：**lin**（agent）" in view.status and view.conversations["headers"][0] == "对话"
    assert {"turns", "audio", "audit"} <= set(view.clear)
    assert "拒绝" in on_audit(store, view.viewer, "zh").status


def test_the_page_has_a_history_tab_only_with_a_store(store, tmp_path):  # noqa: F811
    pytest.importorskip("gradio", reason="needs gradio: pip install 'gradio>=6,<7'")
    from demo.web.ui import LABELS, _history_updates, build_ui
    from tests.demo_fixture import fast_runtime

    def ids(blocks):
        return {getattr(b, "elem_id", None) for b in blocks.blocks.values()}

    rt = fast_runtime(tmp_path)
    try:
        assert "history-key" not in ids(build_ui(rt))
        rt.store = store
        page = build_ui(rt)
        assert {"tab-agent", "tab-history", "history-key", "history-audit", "chat"} <= ids(page)
    finally:
        rt.services.office.close()
    assert LABELS["en"]["tab_history"] == "History" and LABELS["zh"]["tab_history"] == "历史记录"
    out = _history_updates(on_sign_in(store, "cca_nope_x"))
    assert out[0] is None and out[2] is None and out[4:] == (None, None, None)  # all emptied
    assert out[3]["choices"] == [] and out[3]["value"] is None
