"""The agent desk of `cca demo`: where a handoff reaches a person.

When the agent hands a web conversation over, the conversation waits here. A person signs in
with an API key (any role; `cca privacy key create --name ana --role agent`), sees the waiting
conversations with why they were handed over, the intent and the mood, opens one to read its
turns as stored (redacted text, decrypted transcripts and screenshot text), takes it and replies. The customer's
page shows each reply marked as coming from that person, by name. Everything goes through the
conversation store as that person: reads are audited by the store, taking and finishing are
audited here, and each reply is stored as an agent turn with its author.

    desk = Desk(store)
    desk.hand_over(session)                     # demo.web.view.DemoSession, on its handoff turn
    viewer = sign_in(store, key)                # demo.web.history
    desk.listing(viewer)                        # waiting conversations, oldest first
    desk.transcript(viewer, conversation_id)    # the turns as stored (audited)
    desk.take(viewer, conversation_id); desk.reply(viewer, conversation_id, "...")
    desk.finish(viewer, conversation_id)

The `on_*` functions are the desk tab's handlers: plain values in, a `DeskView` out, every
refusal turned into a message.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from demo.web.history import Viewer, records_for, sign_in
from dialogue.domain.pack import intent_words
from dialogue.records.access import AccessDenied, AuthenticationError, audit_action
from dialogue.records.rows import TurnIn

logger = logging.getLogger(__name__)

MAX_REPLY_CHARS = 2000

WORDS = {
    "en": {
        "signed_in": "Signed in as **{name}** ({role}). What you read and write here is audited under this name.",
        "no_key": "Paste an API key first (an admin makes one: `cca privacy key create --name NAME --role agent`).",
        "sign_in_first": "Sign in with an API key first.",
        "pick_first": "Pick a waiting conversation first.",
        "none_waiting": "No conversation is waiting for a person.",
        "waiting": "{n} conversation(s) handed over.",
        "gone": "That conversation is no longer at the desk.",
        "taken": "You have taken **{id}**; the customer has been told. Type a reply below.",
        "taken_by": "**{name}** has this conversation; only they can reply.",
        "take_first": "Take the conversation before replying.",
        "sent": "Sent to the customer and stored.",
        "empty": "Type a reply first.",
        "too_long": "The reply is {n} characters; the limit is {limit}.",
        "finished": "**{id}** is finished and off the desk.",
        "denied": "Refused: {error}",
        "failed": "The store could not answer ({error}); see the server log.",
        "columns": ["conversation", "waiting since", "with", "reason", "intent", "mood", "language"],
        "turn_columns": ["#", "who", "text", "heard", "screenshot text"],
        "nobody": "nobody yet", "agent": "agent (automated)", "customer": "customer",
    },
    "zh": {
        "signed_in": "已登录：**{name}**（{role}）。在这里的读取和回复都以此名字记入审计日志。",
        "no_key": "请先粘贴 API 密钥（由管理员创建：`cca privacy key create --name 名字 --role agent`）。",
        "sign_in_first": "请先用 API 密钥登录。",
        "pick_first": "请先选择一个等待中的对话。",
        "none_waiting": "没有等待人工的对话。",
        "waiting": "{n} 个对话已转人工。",
        "gone": "该对话已不在工作台上。",
        "taken": "您已接手 **{id}**，已通知客户。请在下方输入回复。",
        "taken_by": "**{name}** 已接手该对话，只有他/她可以回复。",
        "take_first": "请先接手对话再回复。",
        "sent": "已发送给客户并保存。",
        "empty": "请先输入回复。",
        "too_long": "回复有 {n} 个字符，上限为 {limit}。",
        "finished": "**{id}** 已结束，移出工作台。",
        "denied": "拒绝：{error}",
        "failed": "记录库无法回答（{error}）；请查看服务器日志。",
        "columns": ["对话", "等待开始", "接手人", "原因", "意图", "情绪", "语言"],
        "turn_columns": ["#", "谁", "文本", "语音转写", "截图文字"],
        "nobody": "尚无", "agent": "客服（自动）", "customer": "客户",
    },
}  # fmt: skip


def words(ui: str) -> dict[str, Any]:
    return WORDS.get(ui, WORDS["en"])


@dataclass
class Waiting:
    """A conversation handed over, waiting for or with a person."""

    conversation_id: str
    session: Any  # demo.web.view.DemoSession: the customer's page
    since: float
    reason: str
    intent: str
    mood: str
    language: str
    taken_by: str | None = None
    labels: dict = field(
        default_factory=dict
    )  # the pack's intents in words (Runtime.intent_labels)


class DeskError(Exception):
    """A desk action that cannot be done; the message says why, in the UI language."""


class Desk:
    """The conversations handed over in this process, shared by every browser tab."""

    def __init__(self, store):
        self.store = store
        self._lock = threading.Lock()
        self._waiting: dict[str, Waiting] = {}

    # -- the customer's side ----------------------------------------------------------------

    def hand_over(self, session) -> str | None:
        """Put a conversation that was just handed off on the desk; its store id, or None when
        it could not be stored (the page still tells the customer a person will come)."""
        conv = session.conversation
        turns = conv.agent.turns
        last = turns[-1] if turns else None
        try:
            if conv.conversation_id is None:
                conv.conversation_id = self.store.start_conversation(conv.channel)
        except SQLAlchemyError:
            logger.exception("could not store a handed-over conversation")
            return None
        entry = Waiting(
            conv.conversation_id, session, time.time(),
            reason=last.decision.reason if last else "", intent=last.intent if last else "",
            mood=(last.sentiment or {}).get("label", "") if last else "",
            language=conv.agent.state.language, labels=session.runtime.intent_labels,
        )  # fmt: skip
        with self._lock:
            self._waiting.setdefault(entry.conversation_id, entry)
        return entry.conversation_id

    def holds(self, conversation_id: str) -> bool:
        """Whether the conversation is on the desk."""
        return conversation_id in self._waiting

    def taken_by(self, conversation_id: str | None) -> str | None:
        entry = self._waiting.get(conversation_id or "")
        return entry.taken_by if entry else None

    # -- the person's side -------------------------------------------------------------------

    def _entry(self, conversation_id: str | None, ui: str) -> Waiting:
        entry = self._waiting.get(conversation_id or "")
        if entry is None:
            raise DeskError(words(ui)["gone"] if conversation_id else words(ui)["pick_first"])
        return entry

    def listing(self, viewer: Viewer | None, ui: str = "en") -> list[list[Any]]:
        """The conversations on the desk, oldest first, as table rows."""
        records_for(self.store, viewer)  # a live key, or AuthenticationError
        w = words(ui)
        with self._lock:
            entries = sorted(self._waiting.values(), key=lambda e: e.since)
        return [
            [e.conversation_id, time.strftime("%H:%M:%S", time.localtime(e.since)),
             e.taken_by or w["nobody"], e.reason, intent_words(e.intent, ui, e.labels), e.mood, e.language]
            for e in entries
        ]  # fmt: skip

    def transcript(self, viewer: Viewer | None, conversation_id: str, ui: str = "en") -> list[list[Any]]:  # fmt: skip
        """The conversation's turns as stored, read as the viewer (the store audits the read)."""
        self._entry(conversation_id, ui)
        w = words(ui)
        rows = []
        for t in records_for(self.store, viewer).turns(conversation_id):
            who = w["customer"] if t.role == "customer" else (t.author or w["agent"])
            rows.append([t.idx, who, t.text, t.transcript or "", t.screenshot_text or ""])
        return rows

    def take(self, viewer: Viewer | None, conversation_id: str, ui: str = "en") -> None:
        """The viewer takes the conversation; the customer is told who is with them."""
        records_for(self.store, viewer)
        name = viewer.principal.name  # type: ignore[union-attr]
        with self._lock:
            entry = self._entry(conversation_id, ui)
            if entry.taken_by not in (None, name):
                raise DeskError(words(ui)["taken_by"].format(name=entry.taken_by))
            first = entry.taken_by is None
            entry.taken_by = name
        if first:
            audit_action(self.store, viewer.principal, "take", "conversation", conversation_id)  # type: ignore[union-attr]
            entry.session.person_joined(name)

    def reply(self, viewer: Viewer | None, conversation_id: str, text: str, ui: str = "en") -> None:  # fmt: skip
        """Store the viewer's reply as an agent turn with its author, and show it to the customer."""
        w = words(ui)
        text = (text or "").strip()
        if not text:
            raise DeskError(w["empty"])
        if len(text) > MAX_REPLY_CHARS:
            raise DeskError(w["too_long"].format(n=len(text), limit=MAX_REPLY_CHARS))
        records = records_for(self.store, viewer)
        name = viewer.principal.name  # type: ignore[union-attr]
        entry = self._entry(conversation_id, ui)
        if entry.taken_by is None:
            raise DeskError(w["take_first"])
        if entry.taken_by != name:
            raise DeskError(w["taken_by"].format(name=entry.taken_by))
        records.add_turns(conversation_id, [TurnIn("agent", text, language=entry.language, author=name)])  # fmt: skip
        entry.session.person_said(name, text)

    def finish(self, viewer: Viewer | None, conversation_id: str, ui: str = "en") -> None:
        """The person is done: the conversation leaves the desk (and is ended in the store)."""
        records = records_for(self.store, viewer)
        name = viewer.principal.name  # type: ignore[union-attr]
        with self._lock:
            entry = self._entry(conversation_id, ui)
            if entry.taken_by not in (None, name):
                raise DeskError(words(ui)["taken_by"].format(name=entry.taken_by))
            del self._waiting[conversation_id]
        records.end_conversation(conversation_id)
        audit_action(self.store, viewer.principal, "finish", "conversation", conversation_id)  # type: ignore[union-attr]
        entry.session.person_left(name)


# ------------------------------------------------------------------ the tab's handlers


@dataclass
class DeskView:
    """What the desk tab shows after an action; None leaves a component as it is."""

    viewer: Viewer | None
    status: str
    listing: list[list[Any]] | None = None
    choices: list[str] | None = None
    turns: list[list[Any]] | None = None
    reply: str | None = None  # the reply box ("" empties it after a send)
    clear: set[str] = field(default_factory=set)


def _guarded(viewer, ui: str, act, signed_in: bool = True) -> DeskView:
    """`act()`, with every refusal turned into a message (and a sign-in asked for first)."""
    w = words(ui)
    if signed_in and viewer is None:
        return DeskView(None, w["sign_in_first"])
    try:
        return act()
    except DeskError as e:
        return DeskView(viewer, str(e))
    except AuthenticationError as e:
        return DeskView(None, w["denied"].format(error=e), clear={"listing", "turns"})
    except AccessDenied as e:
        return DeskView(viewer, w["denied"].format(error=e))
    except (SQLAlchemyError, KeyError, ValueError) as e:
        logger.exception("the agent desk could not answer")
        return DeskView(viewer, w["failed"].format(error=type(e).__name__))


def _listed(desk: Desk, viewer, ui: str, status: str, cid: str | None = None) -> DeskView:
    rows = desk.listing(viewer, ui)
    turns = desk.transcript(viewer, cid, ui) if cid and desk.holds(cid) else None
    return DeskView(viewer, status, rows, [r[0] for r in rows], turns)


def on_sign_in(desk: Desk, key: str, ui: str = "en") -> DeskView:
    w = words(ui)
    if not (key or "").strip():
        return DeskView(None, w["no_key"])

    def act():
        viewer = sign_in(desk.store, key)
        p = viewer.principal
        return _listed(desk, viewer, ui, w["signed_in"].format(name=p.name, role=p.role))

    return _guarded(None, ui, act, signed_in=False)


def on_refresh(desk: Desk, viewer, cid: str | None, ui: str = "en") -> DeskView:
    def act():
        rows = desk.listing(viewer, ui)
        w = words(ui)
        status = w["waiting"].format(n=len(rows)) if rows else w["none_waiting"]
        return _listed(desk, viewer, ui, status, cid)

    return _guarded(viewer, ui, act)


def on_take(desk: Desk, viewer, cid: str | None, ui: str = "en") -> DeskView:
    def act():
        desk.take(viewer, cid, ui)
        return _listed(desk, viewer, ui, words(ui)["taken"].format(id=cid), cid)

    return _guarded(viewer, ui, act)


def on_reply(desk: Desk, viewer, cid: str | None, text: str, ui: str = "en") -> DeskView:
    def act():
        desk.reply(viewer, cid, text, ui)
        view = _listed(desk, viewer, ui, words(ui)["sent"], cid)
        view.reply = ""
        return view

    return _guarded(viewer, ui, act)


def on_finish(desk: Desk, viewer, cid: str | None, ui: str = "en") -> DeskView:
    def act():
        desk.finish(viewer, cid, ui)
        view = _listed(desk, viewer, ui, words(ui)["finished"].format(id=cid))
        view.clear = {"turns"}
        return view

    return _guarded(viewer, ui, act)
