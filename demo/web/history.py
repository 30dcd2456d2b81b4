"""The History tab of `cca demo`, without the web: sign in with an API key, then read the
conversation store as that key's principal, each call checked against its role and audited under
its name (`dialogue.records.access`).

    viewer = sign_in(store, key)                     # a Viewer, or AuthenticationError
    recent(store, viewer)                            # newest first: id, channel, started, language, turns
    header, rows = open_conversation(store, viewer, conversation_id)
    recording_audio(store, viewer, conversation_id)  # supervisor and up: (sample_rate, int16 samples)
    audit_tail(store, viewer)                        # supervisor and up: the audit log, newest first

The page keeps only the `Viewer` (a principal and its key id) in one browser tab's state; nothing
read is kept between calls, so decrypted text never outlives the call that read it. Each call
first checks that the key is still live, so revoking a key ends the sessions signed in with it.
The `on_*` functions are the tab's handlers: plain values in, plain values out, every refusal
turned into a message for the page.
"""

from __future__ import annotations

import io
import json
import logging
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from dialogue.records import schema as s
from dialogue.records.access import (
    AccessControlledStore,
    AuthenticationError,
    Principal,
    authenticate,
)

logger = logging.getLogger(__name__)

RECENT = 20  # conversations listed, newest first
AUDIT_TAIL = 50  # audit rows shown
TEXT_CHARS = 400  # longer texts are cut in the tables

WORDS = {
    "en": {
        "no_key": "Paste an API key first (an admin makes one: `cca privacy key create --name NAME --role agent`).",
        "signed_in": "Signed in as **{name}** ({role}). Every read is recorded in the audit log under this name.",
        "sign_in_first": "Sign in with an API key first.",
        "pick_first": "Pick a conversation first.",
        "none_yet": "No conversations stored yet.",
        "listed": "{n} most recent of {total} conversations.",
        "conversation": "**{id}**: {channel}, started {started}, ended {ended}, language {language}, "
        "consent to training: {consent}, {n} turns.",
        "open": "still open",
        "yes": "yes", "no": "no",
        "no_recording": "No recording of this conversation.",
        "recording": "Recording {i} of {n} ({media_type}).",
        "unplayable": "The recording is {media_type}; only audio/wav plays here.",
        "broken": "It does not play here: {error}.",
        "audit": "The newest {n} audit rows (this read shows in the next one).",
        "denied": "Refused: {error}",
        "not_found": "Not found: {error}",
        "failed": "The store could not answer ({error}); see the server log.",
        "recent": ["conversation", "channel", "started", "language", "turns"],
        "turns": ["#", "role", "text", "transcript", "screenshot text", "intent", "actions"],
        "log": ["at", "who", "action", "record", "id", "detail"],
    },
    "zh": {
        "no_key": "请先粘贴 API 密钥（由管理员创建：`cca privacy key create --name 名字 --role agent`）。",
        "signed_in": "已登录：**{name}**（{role}）。每次读取都以此名字记入审计日志。",
        "sign_in_first": "请先用 API 密钥登录。",
        "pick_first": "请先选择一个对话。",
        "none_yet": "还没有保存的对话。",
        "listed": "共 {total} 个对话，显示最近的 {n} 个。",
        "conversation": "**{id}**：{channel}，开始于 {started}，结束于 {ended}，语言 {language}，"
        "同意用于训练：{consent}，{n} 轮。",
        "open": "进行中",
        "yes": "是", "no": "否",
        "no_recording": "此对话没有录音。",
        "recording": "录音 {i}/{n}（{media_type}）。",
        "unplayable": "录音格式为 {media_type}；这里只能播放 audio/wav。",
        "broken": "无法在这里播放：{error}。",
        "audit": "最新的 {n} 条审计记录（本次读取会出现在下一次中）。",
        "denied": "拒绝：{error}",
        "not_found": "未找到：{error}",
        "failed": "记录库无法回答（{error}）；请查看服务器日志。",
        "recent": ["对话", "渠道", "开始", "语言", "轮数"],
        "turns": ["#", "角色", "文本", "转写", "截图文字", "意图", "操作"],
        "log": ["时间", "谁", "操作", "记录", "编号", "详情"],
    },
}  # fmt: skip


def words(ui: str) -> dict[str, Any]:
    return WORDS.get(ui, WORDS["en"])


@dataclass(frozen=True)
class Viewer:
    """Who is signed in on one browser tab: the principal and the public id of its key."""

    principal: Principal
    key_id: str


def sign_in(store, key: str) -> Viewer:
    """The viewer holding `key`; AuthenticationError (audited by the store) when it is not live."""
    principal = authenticate(store, key)
    return Viewer(principal, key.strip().split("_", 2)[1])


def records_for(store, viewer: Viewer | None) -> AccessControlledStore:
    """The store as the viewer sees it, once its key is known to be still live."""
    if viewer is None:
        raise AuthenticationError("sign in with an API key first")
    with store.engine.connect() as conn:
        row = conn.execute(
            select(s.api_keys.c.revoked_at).where(s.api_keys.c.key_id == viewer.key_id)
        ).first()
    if row is None or row[0] is not None:
        raise AuthenticationError(
            f"the API key of {viewer.principal.name!r} was revoked; sign in with a live one"
        )
    return AccessControlledStore(store, viewer.principal)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else ""


def _cut(text: str | None, n: int = TEXT_CHARS) -> str:
    text = text or ""
    return text if len(text) <= n else text[: n - 1] + "…"


def recent(store, viewer: Viewer | None, limit: int = RECENT) -> tuple[list[list[Any]], int]:
    """The newest `limit` conversations as table rows, and how many there are in all. Each
    conversation shown is read (and audited) through the access-controlled store; the turn counts
    come from one count query, which reads no text."""
    records = records_for(store, viewer)
    ids = records.conversation_ids()
    shown = ids[::-1][:limit]
    with store.engine.connect() as conn:
        counts = dict(
            conn.execute(
                select(s.turns.c.conversation_id, func.count())
                .where(s.turns.c.conversation_id.in_(shown))
                .group_by(s.turns.c.conversation_id)
            ).all()
        )
    rows = []
    for cid in shown:
        c = records.conversation(cid)
        rows.append([cid, c["channel"], _when(c["started_at"]), c["language"] or "", counts.get(cid, 0)])  # fmt: skip
    return rows, len(ids)


def _actions(actions: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"{a.get('tool', '?')}({json.dumps(a.get('args', {}), ensure_ascii=False)})"
        f"{'' if a.get('ok', True) else ' failed'}"
        for a in actions or []
    )


def open_conversation(
    store, viewer: Viewer | None, conversation_id: str, ui: str = "en"
) -> tuple[str, list[list[Any]]]:
    """A line about the conversation and its turns as table rows: the redacted text as stored,
    the decrypted transcript and screenshot text, the intent and the tool actions."""
    records = records_for(store, viewer)
    c = records.conversation(conversation_id)
    turns = records.turns(conversation_id)
    w = words(ui)
    header = w["conversation"].format(
        id=conversation_id, channel=c["channel"], started=_when(c["started_at"]),
        ended=_when(c["ended_at"]) or w["open"], language=c["language"] or "?",
        consent=w["yes"] if c["consent"] else w["no"], n=len(turns),
    )  # fmt: skip
    rows = [
        [t.idx, f"{t.role} ({t.author})" if t.author else t.role, _cut(t.text), _cut(t.transcript), _cut(t.screenshot_text), t.intent,
         _actions(t.actions)]
        for t in turns
    ]  # fmt: skip
    return header, rows


def _wav(data: bytes) -> tuple[int, np.ndarray]:
    with wave.open(io.BytesIO(data)) as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"a {8 * w.getsampwidth()}-bit WAV; only 16-bit plays here")
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        rate, channels = w.getframerate(), w.getnchannels()
    return rate, samples.reshape(-1, channels) if channels > 1 else samples


def recording_audio(
    store, viewer: Viewer | None, conversation_id: str, ui: str = "en"
) -> tuple[str, tuple[int, np.ndarray] | None]:
    """The newest recording of the conversation, decrypted: (a line about it, (rate, samples)),
    or no audio when there is none. Needs the supervisor role (AccessDenied, audited, below it);
    the recordings are looked up only once the role allows reading them."""
    records = records_for(store, viewer)
    records.require("recording")
    with store.engine.connect() as conn:
        found = conn.execute(
            select(s.recordings.c.id, s.recordings.c.media_type)
            .where(s.recordings.c.conversation_id == conversation_id)
            .order_by(s.recordings.c.id)
        ).all()
    w = words(ui)
    if not found:
        return w["no_recording"], None
    rid, media_type = found[-1]
    data = records.recording(rid)
    line = w["recording"].format(i=len(found), n=len(found), media_type=media_type)
    if media_type != "audio/wav":
        return f"{line} {w['unplayable'].format(media_type=media_type)}", None
    try:
        return line, _wav(data)
    except (wave.Error, ValueError, EOFError) as e:
        return f"{line} {w['broken'].format(error=e)}", None


def audit_tail(store, viewer: Viewer | None, limit: int = AUDIT_TAIL) -> list[list[Any]]:
    """The newest `limit` audit rows, newest first. Needs the supervisor role."""
    rows = records_for(store, viewer).audit_log(limit=limit)
    return [
        [_when(r["at"]), r["actor"], r["action"], r["record_type"], r["record_id"],
         json.dumps(r["detail"] or {}, ensure_ascii=False, sort_keys=True)]
        for r in reversed(rows)
    ]  # fmt: skip


# ------------------------------------------------------------ the tab's handlers


def _table(headers: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"headers": headers, "data": rows}


def _problem(error: Exception, ui: str) -> str:
    """What the page says instead of the answer: refusals as they are, anything else logged."""
    w = words(ui)
    if isinstance(error, PermissionError):  # AccessDenied, AuthenticationError
        return w["denied"].format(error=error)
    if isinstance(error, KeyError):
        return w["not_found"].format(error=error.args[0] if error.args else error)
    logger.error("history: the store failed", exc_info=error)
    return w["failed"].format(error=type(error).__name__)


@dataclass(frozen=True)
class HistoryView:
    """What the tab shows after a handler: who is signed in, a status line, the tables."""

    viewer: Viewer | None  # None: signed out (never signed in, a bad key, a revoked one)
    status: str
    conversations: dict[str, Any] | None = None  # {"headers", "data"}; None: unchanged
    choices: list[tuple[str, str]] | None = None  # (label, conversation id) for the picker
    turns: dict[str, Any] | None = None
    audio: tuple[int, np.ndarray] | None = None  # (sample_rate, int16 samples)
    audit: dict[str, Any] | None = None
    clear: tuple[str, ...] = ()  # fields left None that the page empties (else: left as they are)

    def cleared(self, name: str) -> bool:
        """Whether the page empties `name`: always once signed out, so nothing read stays."""
        return getattr(self, name) is None and (self.viewer is None or name in self.clear)


def _handle(viewer: Viewer | None, ui: str, answer: Callable[[], HistoryView]) -> HistoryView:
    if viewer is None:
        return HistoryView(None, words(ui)["sign_in_first"])
    try:
        return answer()
    except AuthenticationError as e:  # the key was revoked since: the tab is signed out
        return HistoryView(None, _problem(e, ui))
    except (PermissionError, KeyError, ValueError, OSError, SQLAlchemyError) as e:
        return HistoryView(viewer, _problem(e, ui))


def _signed_in(viewer: Viewer, ui: str) -> str:
    return words(ui)["signed_in"].format(name=viewer.principal.name, role=viewer.principal.role)


def _listing(store, viewer: Viewer, ui: str) -> HistoryView:
    rows, total = recent(store, viewer)
    w = words(ui)
    note = w["listed"].format(n=len(rows), total=total) if rows else w["none_yet"]
    choices = [(f"{r[2]} · {r[1]} · {r[0][:8]}", r[0]) for r in rows]
    return HistoryView(viewer, f"{_signed_in(viewer, ui)}\n\n{note}", _table(w["recent"], rows), choices)  # fmt: skip


def on_sign_in(store, key: str, ui: str = "en") -> HistoryView:
    """Sign in (a new key replaces the tab's viewer) and list the recent conversations."""
    if not (key or "").strip():
        return HistoryView(None, words(ui)["no_key"])
    try:
        viewer = sign_in(store, key)
    except (AuthenticationError, SQLAlchemyError, OSError) as e:
        return HistoryView(None, _problem(e, ui), clear=("turns", "audio", "audit"))
    view = _handle(viewer, ui, lambda: _listing(store, viewer, ui))
    return replace(view, clear=("turns", "audio", "audit"))  # nothing of an earlier key stays


def on_refresh(store, viewer: Viewer | None, ui: str = "en") -> HistoryView:
    return _handle(viewer, ui, lambda: _listing(store, viewer, ui))


def on_open(store, viewer: Viewer | None, conversation_id: str | None, ui: str = "en") -> HistoryView:  # fmt: skip
    def answer():
        if not conversation_id:
            return HistoryView(viewer, words(ui)["pick_first"])
        header, rows = open_conversation(store, viewer, conversation_id, ui)
        return HistoryView(viewer, header, turns=_table(words(ui)["turns"], rows), clear=("audio",))

    return _handle(viewer, ui, answer)


def on_recording(store, viewer: Viewer | None, conversation_id: str | None, ui: str = "en") -> HistoryView:  # fmt: skip
    def answer():
        if not conversation_id:
            return HistoryView(viewer, words(ui)["pick_first"])
        line, audio = recording_audio(store, viewer, conversation_id, ui)
        return HistoryView(viewer, line, audio=audio)

    return _handle(viewer, ui, answer)


def on_audit(store, viewer: Viewer | None, ui: str = "en") -> HistoryView:
    def answer():
        rows = audit_tail(store, viewer)
        return HistoryView(viewer, words(ui)["audit"].format(n=len(rows)), audit=_table(words(ui)["log"], rows))  # fmt: skip

    return _handle(viewer, ui, answer)


__all__ = [
    "HistoryView", "Viewer", "audit_tail", "on_audit", "on_open", "on_recording", "on_refresh",
    "on_sign_in", "open_conversation", "recent", "recording_audio", "sign_in",
]  # fmt: skip
