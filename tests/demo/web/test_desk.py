"""The agent desk on a real store (SQLite and PostgreSQL): a web conversation the agent hands
over waits at the desk; a person signed in with an API key reads it, takes it and replies; the
customer's page shows the reply marked as a person's, by name; the reply is stored as an agent
turn with its author, and every step is in the audit log under the person's name. A second
person cannot answer a conversation someone has taken, and a revoked key ends the desk session."""

from __future__ import annotations

import pytest

from demo.web.desk import Desk, DeskError, on_finish, on_refresh, on_reply, on_sign_in, on_take
from demo.web.ui import on_send, on_tick
from demo.web.view import DemoLimits, DemoSession
from dialogue.records import access
from dialogue.records.access import create_api_key, revoke_api_key
from tests.demo_fixture import fast_runtime
from tests.dialogue.records.test_records import KEY, db_url, store  # noqa: F401 - fixtures: both databases


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch):
    monkeypatch.setattr(access, "_SCRYPT", dict(n=2**8, r=8, p=1, dklen=32))


@pytest.fixture
def handed_over(store, tmp_path):  # noqa: F811
    """A customer's page whose conversation the agent has just handed over; (desk, session)."""
    runtime = fast_runtime(tmp_path, store=store)
    desk = Desk(store)
    session = DemoSession(runtime, DemoLimits(), desk)
    session.take_turn("Where is my order?")
    view = session.take_turn("I want to talk to a person")
    assert view.turn.handoff
    yield desk, session
    runtime.services.office.close()


def audited(store, actor):  # noqa: F811
    return [(r["action"], r["record_type"]) for r in store.audit_log() if r["actor"] == actor]


def test_a_handoff_reaches_a_person_who_replies(store, handed_over):  # noqa: F811
    desk, session = handed_over
    cid = session.conversation.conversation_id
    view = on_sign_in(desk, create_api_key(store, "ana", "agent"))
    assert "ana" in view.status and view.choices == [cid]
    (row,) = view.listing
    assert row[0] == cid and row[3] == "the customer asked for a person" and row[4] == "Asks for a person"  # fmt: skip
    viewer = view.viewer

    # before anyone takes it, the customer's messages are kept for the person, with a note
    session.take_turn("hello? are you still there?")
    assert "colleague is taking over" in session.messages[-1]["content"]
    shown = on_refresh(desk, viewer, cid)
    assert [r[1] for r in shown.turns][-1] == "customer" and shown.turns[-1][2] == "hello? are you still there?"  # fmt: skip

    assert on_reply(desk, viewer, cid, "Hi, I'm here").status == "Take the conversation before replying."  # fmt: skip
    taken = on_take(desk, viewer, cid)
    assert "You have taken" in taken.status and taken.listing[0][2] == "ana"
    assert "ana from our team has joined" in session.messages[-1]["content"]
    sent = on_reply(desk, viewer, cid, "Hi, this is Ana. Your order W1 left our warehouse today.")
    assert sent.status == "Sent to the customer and stored." and sent.reply == ""
    assert session.messages[-1]["content"] == "👤 **ana (a person from our team)**: Hi, this is Ana. Your order W1 left our warehouse today."  # fmt: skip
    assert on_tick(session)[-1] == session.messages[-1]  # the page shows it on its next tick
    assert on_tick(session) == on_tick(None)  # and then nothing new until the next message

    # the customer answers: no automated note now that a person has it
    before = len(session.messages)
    session.take_turn("thanks Ana")
    assert len(session.messages) == before + 1

    stored = store.turns(cid)
    assert [t.role for t in stored] == ["customer", "agent"] * 2 + ["customer", "agent", "customer"]
    assert [t.author for t in stored if t.role == "agent"] == [
        None,
        None,
        "ana",
    ]  # the agent, then a person
    from demo.web.history import open_conversation

    _, rows = open_conversation(store, viewer, cid)
    assert [r[1] for r in rows if r[1].startswith("agent")] == ["agent", "agent", "agent (ana)"]
    done = on_finish(desk, viewer, cid)
    assert "finished" in done.status and done.listing == [] and "turns" in done.clear
    assert "ana has finished" in session.messages[-1]["content"]
    assert store.conversation(cid)["ended_at"] is not None
    log = audited(store, "ana")
    for step in [("read", "turns"), ("take", "conversation"), ("create", "turns"), ("finish", "conversation")]:  # fmt: skip
        assert step in log, step


def test_one_person_per_conversation_and_a_revoked_key_ends_the_session(store, handed_over):  # noqa: F811
    desk, session = handed_over
    cid = session.conversation.conversation_id
    ana = on_sign_in(desk, create_api_key(store, "ana", "agent")).viewer
    ben_key = create_api_key(store, "ben", "supervisor")
    ben = on_sign_in(desk, ben_key).viewer
    on_take(desk, ana, cid)
    assert on_take(desk, ben, cid).status == "**ana** has this conversation; only they can reply."
    assert on_reply(desk, ben, cid, "I'll handle it").status.startswith("**ana** has this")
    with pytest.raises(DeskError, match="only they can reply"):
        desk.finish(ben, cid)
    revoke_api_key(store, "ben")
    refused = on_refresh(desk, ben, cid)
    assert refused.viewer is None and "revoked" in refused.status
    assert on_sign_in(desk, "cca_nope_nope").viewer is None
    assert not any("ben" in m["content"] or "I'll handle" in m["content"] for m in session.messages if isinstance(m["content"], str))  # fmt: skip


def test_replies_are_checked_and_the_desk_speaks_chinese(store, handed_over):  # noqa: F811
    desk, session = handed_over
    cid = session.conversation.conversation_id
    viewer = on_sign_in(desk, create_api_key(store, "lin", "agent"), "zh").viewer
    assert on_take(desk, viewer, None, "zh").status == "请先选择一个等待中的对话。"
    on_take(desk, viewer, cid, "zh")
    assert on_reply(desk, viewer, cid, "   ", "zh").status == "请先输入回复。"
    assert "上限为 2000" in on_reply(desk, viewer, cid, "x" * 2001, "zh").status
    assert on_reply(desk, viewer, cid, "您好，我是林。", "zh").status == "已发送给客户并保存。"
    assert on_refresh(desk, None, cid, "zh").status == "请先用 API 密钥登录。"
    assert on_refresh(desk, viewer, "nope", "zh").turns is None


def test_a_page_without_a_person_never_redraws(tmp_path):
    runtime = fast_runtime(tmp_path)
    session, *_ = on_send(None, "hello", None, None, None, "en", runtime, DemoLimits())
    import gradio as gr

    assert on_tick(session) == gr.skip()
    assert session.version == session.shown == 0
    runtime.services.office.close()


def test_a_screenshot_alone_is_read_at_the_desk_and_in_the_history_tab(store, tmp_path):  # noqa: F811
    """A turn with no words, only a screenshot, is stored with the screenshot's text (redacted as
    the rest), so the desk and the History tab show what the customer sent, not an empty row."""
    from dataclasses import replace

    from demo.web import history
    from tests.conftest import ROOT
    from tests.fakes import FakeOCR
    from vision.see import ScreenshotReader

    runtime = fast_runtime(tmp_path, store=store)
    page = (("Order number: #W1", (0, 0, 300, 20)), ("Contact: ann@example.com", (0, 30, 300, 50)))
    runtime.services = replace(runtime.services, reader=ScreenshotReader(FakeOCR(lines=page)))
    desk = Desk(store)
    session = DemoSession(runtime, DemoLimits(), desk)
    shot = ROOT / "demo" / "samples" / "screenshots" / "order-page-en.png"
    session.take_turn("", image_paths=[str(shot)])
    assert session.take_turn("I want to talk to a person").turn.handoff
    cid = session.conversation.conversation_id
    key = create_api_key(store, "ana", "agent")

    first = on_refresh(desk, on_sign_in(desk, key).viewer, cid).turns[0]
    assert first[1] == "customer" and first[2] == ""
    assert first[4] == "Order number: #W1\nContact: [EMAIL]"
    opened = history.on_open(store, history.on_sign_in(store, key).viewer, cid)
    assert opened.turns["data"][0][4] == "Order number: #W1\nContact: [EMAIL]"
    runtime.services.office.close()
