"""The Gradio page of `cca demo`: chat, inputs, the agent's voice, the side panel, the UI language.

The handlers are plain functions over `demo.web.view.DemoSession` (one per browser tab, kept in a
`gr.State`), so tests call them without a browser. Every component that a test or a script looks
for has an `elem_id`: chat, reply-audio, text, audio-in, image-in, files-in, send, new, panel, ui-lang.
With a records store the page has three tabs (tab-agent, tab-history, tab-desk); the History
tab's components are history-* and its logic is demo.web.history; the Desk tab's are desk-* and
its logic is demo.web.desk (where a handed-over conversation reaches a person).
"""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home; read at import

import gradio as gr  # noqa: E402

from demo.runtime import Runtime  # noqa: E402
from demo.web.locale import gradio_labels_follow  # noqa: E402
from demo.web.view import (  # noqa: E402
    AUDIO_TYPES,
    IMAGE_TYPES,
    DemoLimits,
    DemoSession,
    panel_markdown,
    speech_output,
    words,
)

logger = logging.getLogger(__name__)

LABELS = {
    "en": {
        "title": "## Contact-centre agent\nType, speak or show a screenshot; the agent answers in "
        "text and voice. The panel shows what it understood and did.",
        "ui": "Interface language", "chat": "Conversation", "speech": "Agent's voice",
        "text": "Message", "placeholder": "e.g. Where is my order #W1? (Enter sends)",
        "audio": "Record or upload audio", "image": "Screenshot (drop or paste)",
        "files": "More screenshots", "send": "Send", "new": "New conversation",
        "panel": "What the agent understood and did", "live": "Live call (streaming)",
        "live_in": "Microphone (live)", "live_out": "Agent (live)",
        # the History tab (with a records store)
        "tab_agent": "Agent", "tab_history": "History", "key": "API key",
        "sign_in": "Sign in", "refresh": "Refresh", "conversations": "Recent conversations",
        "pick": "Conversation", "open": "Open", "turns": "Turns", "play": "Play recording",
        "recording": "Recording", "audit": "Audit log",
        # the Desk tab: where a handoff reaches a person
        "tab_desk": "Desk", "desk_list": "Waiting for a person", "take": "Take",
        "finish": "Finish", "desk_turns": "Conversation so far", "desk_reply": "Your reply to the customer",
        "desk_send": "Send reply",
    },
    "zh": {
        "title": "## 智能客服\n输入文字、说话或上传截图；客服以文字和语音回复。右侧显示它的理解和操作。",
        "ui": "界面语言", "chat": "对话", "speech": "客服语音", "text": "消息",
        "placeholder": "例如：我的订单 #W1 到哪了？（回车发送）", "audio": "录音或上传音频",
        "image": "截图（拖放或粘贴）", "files": "更多截图", "send": "发送", "new": "新对话",
        "panel": "客服的理解和操作", "live": "实时通话（流式）", "live_in": "麦克风（实时）",
        "live_out": "客服（实时）",
        # the History tab (with a records store)
        "tab_agent": "客服", "tab_history": "历史记录", "key": "API 密钥", "sign_in": "登录",
        "refresh": "刷新", "conversations": "最近的对话", "pick": "对话", "open": "打开",
        "turns": "轮次", "play": "播放录音", "recording": "录音", "audit": "审计日志",
        "tab_desk": "人工工作台", "desk_list": "等待人工的对话", "take": "接手", "finish": "结束",
        "desk_turns": "对话内容", "desk_reply": "回复客户", "desk_send": "发送回复",
    },
}  # fmt: skip
THEME_FONTS = ["system-ui", "Noto Sans CJK SC", "WenQuanYi Micro Hei", "sans-serif"]


def on_send(session, text, audio_path, image_path, file_paths, ui, runtime, limits, desk=None):
    """One turn from the page: returns (session, chat, speech, panel, text, audio, image, files).
    The inputs are cleared after a turn; a refused upload is named in the panel and the chat."""
    session = session or DemoSession(runtime, limits, desk)
    images = [p for p in [image_path, *(file_paths or [])] if p]
    view = session.take_turn(text or "", audio_path, images, ui)
    if view.empty:
        gr.Info(words(ui)["empty"])
        return session, list(session.messages), None, panel_markdown(view, ui), text, None, None, None  # fmt: skip
    if view.keep_text:  # too long: the customer shortens it; the uploads wait with it
        gr.Warning(view.refused[0][1])
        return session, list(session.messages), None, panel_markdown(view, ui), text, gr.skip(), gr.skip(), gr.skip()  # fmt: skip
    return session, list(session.messages), speech_output(view), panel_markdown(view, ui), "", None, None, None  # fmt: skip


def lenient(box):
    """The upload box, whose uploads reach the app's own checks whatever they hold: where Gradio
    cannot read a file (a text file named .png, a corrupt or vanished recording), the handler gets
    its path and refuses it by name (demo.web.view.load_uploads), instead of Gradio failing before
    the handler, losing the typed message and leaving the bad file in the box. (A wrapper on the
    instance: a subclass of a Gradio component would be taken for a custom component.)"""
    read = box.preprocess

    def preprocess(payload):
        try:
            return read(payload)
        except Exception as e:  # noqa: BLE001 - any failure to read it is the app's to report
            path = getattr(payload, "path", None)
            logger.info("%s: Gradio could not read %s (%s); the app checks it", box.elem_id, path, type(e).__name__)  # fmt: skip
            return path

    box.preprocess = preprocess
    return box


def on_new(session, runtime, limits, ui="en", desk=None):
    """A fresh conversation: the old one is ended (and closed in the store), and the upload boxes
    are emptied (a file left in one would go with the new conversation's first turn)."""
    if session is not None:
        session.end()
    return DemoSession(runtime, limits, desk), [], None, panel_markdown(None, ui), None, None, None


def on_tick(session):
    """The page's timer: the chat again when a person at the desk has written, else nothing."""
    if session is None or session.version == session.shown:
        return gr.skip()
    session.shown = session.version
    return list(session.messages)


def on_language(session, ui):
    """Relabel every component, and show the latest panel again, in the chosen language."""
    t = LABELS.get(ui, LABELS["en"])
    panel = panel_markdown(session.last if session is not None else None, ui)
    return (
        gr.update(value=t["title"]), gr.update(label=t["ui"]), gr.update(label=t["chat"]),
        gr.update(label=t["speech"]), gr.update(label=t["text"], placeholder=t["placeholder"]),
        gr.update(label=t["audio"]), gr.update(label=t["image"]), gr.update(label=t["files"]),
        gr.update(value=t["send"]), gr.update(value=t["new"]),
        gr.update(label=t["panel"], value=panel),
    )  # fmt: skip


def _end_session(session) -> None:
    if session is not None:
        session.end()


def build_ui(runtime: Runtime, limits: DemoLimits | None = None, live: bool = False,
             vad_factory=None) -> gr.Blocks:  # fmt: skip
    """The page; `live` adds the streaming call (its VAD from `vad_factory`, default Silero)."""
    t, limits = LABELS["en"], limits or DemoLimits()
    with gr.Blocks(title="cca demo", analytics_enabled=False, delete_cache=(300, 600)) as blocks:
        # one DemoSession per browser tab, made on its first turn, ended when the tab goes away
        state = gr.State(None, delete_callback=_end_session, time_to_live=6 * 3600)
        with gr.Row():
            title = gr.Markdown(t["title"])
            ui = gr.Radio([("English", "en"), ("中文", "zh")], value="en", label=t["ui"], elem_id="ui-lang", scale=0, min_width=200)  # fmt: skip
        # with a records store the page has two tabs, the agent's (what follows) and the History
        tabs, in_tab, agent_tab = ExitStack(), ExitStack(), None
        if runtime.store is not None:
            tabs.enter_context(gr.Tabs())
            agent_tab = in_tab.enter_context(gr.Tab(t["tab_agent"], id="agent", elem_id="tab-agent"))  # fmt: skip
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label=t["chat"], height=440, elem_id="chat", feedback_options=None)  # fmt: skip
                speech = gr.Audio(label=t["speech"], autoplay=True, interactive=False, type="numpy", elem_id="reply-audio")  # fmt: skip
                # one line that grows: Enter sends, as in every chat app (Shift+Enter: a new line)
                text = gr.Textbox(label=t["text"], placeholder=t["placeholder"], lines=1, max_lines=8, elem_id="text")  # fmt: skip
                with gr.Row():
                    audio = lenient(gr.Audio(sources=["microphone", "upload"], type="filepath", label=t["audio"], elem_id="audio-in"))  # fmt: skip
                    image = lenient(gr.Image(sources=["upload", "clipboard"], type="filepath", label=t["image"], elem_id="image-in", height=200))  # fmt: skip
                    files = gr.File(file_count="multiple", file_types=list(IMAGE_TYPES), type="filepath", label=t["files"], elem_id="files-in", height=200)  # fmt: skip
                with gr.Row():
                    send = gr.Button(t["send"], variant="primary", elem_id="send")
                    new = gr.Button(t["new"], elem_id="new")
                live_box = None
                if live:
                    from demo.web.live import add_live_call

                    live_box = add_live_call(runtime, limits, t, vad_factory)
            with gr.Column(scale=2):
                panel = gr.Markdown(panel_markdown(None, "en"), label=t["panel"], show_label=True, elem_id="panel", container=True)  # fmt: skip
        in_tab.close()
        desk = None
        if agent_tab is not None:
            from demo.web.desk import Desk

            desk = Desk(runtime.store)
            _history_tab(runtime.store, ui, t, agent_tab)
            _desk_tab(desk, ui, t)
            gr.Timer(1.5).tick(
                on_tick, [state], [chat], api_name=False, show_progress="hidden", queue=False
            )
        tabs.close()

        inputs = [state, text, audio, image, files, ui]
        outputs = [state, chat, speech, panel, text, audio, image, files]

        def send_turn(*args):
            return on_send(*args, runtime=runtime, limits=limits, desk=desk)

        def new_conversation(session, lang):
            return on_new(session, runtime, limits, lang, desk)

        for trigger in (send.click, text.submit):
            trigger(send_turn, inputs, outputs, api_name=False, show_progress="minimal")
        new.click(new_conversation, [state, ui], [state, chat, speech, panel, audio, image, files], api_name=False)  # fmt: skip
        relabel = [title, ui, chat, speech, text, audio, image, files, send, new, panel]
        ui.change(on_language, [state, ui], relabel, api_name=False, queue=False)
        gradio_labels_follow(blocks, ui, [chat, audio, image, files], live_box)
        if live_box is not None:
            live_box.wire(ui, LABELS)
    return blocks


# ------------------------------------------------------------ the History tab (demo/web/history.py)


def _history_updates(view) -> tuple:
    """A HistoryView as updates of (viewer, status, conversations, pick, turns, audio, audit):
    what it holds is shown, what it clears is emptied, the rest is left as it is."""

    def put(name):
        value = getattr(view, name)
        return value if value is not None else None if view.cleared(name) else gr.skip()

    choices = view.choices if view.choices is not None else [] if view.cleared("choices") else None
    pick = gr.skip() if choices is None else gr.update(choices=choices, value=None)
    return view.viewer, view.status, put("conversations"), pick, put("turns"), put("audio"), put("audit")  # fmt: skip


def _history_tab(store, ui, t: dict[str, str], agent_tab) -> None:
    """The History tab: an API key signs this browser tab in (its Viewer kept in a gr.State);
    every read goes through demo.web.history as that principal."""
    from demo.web import history as h

    with gr.Tab(t["tab_history"], id="history", elem_id="tab-history") as tab:
        viewer = gr.State(None, time_to_live=3600)  # who is signed in here; nothing read is kept
        with gr.Row():
            key = gr.Textbox(label=t["key"], type="password", placeholder="cca_…", elem_id="history-key", scale=3)  # fmt: skip
            sign_in = gr.Button(t["sign_in"], variant="primary", elem_id="history-sign-in", scale=0)  # fmt: skip
            refresh = gr.Button(t["refresh"], elem_id="history-refresh", scale=0)
        status = gr.Markdown(elem_id="history-status")
        listing = gr.Dataframe(label=t["conversations"], interactive=False, wrap=True, elem_id="history-list")  # fmt: skip
        with gr.Row():
            pick = gr.Dropdown(choices=[], label=t["pick"], elem_id="history-pick", scale=3)
            open_ = gr.Button(t["open"], elem_id="history-open", scale=0)
            play = gr.Button(t["play"], elem_id="history-play", scale=0)
            audit_btn = gr.Button(t["audit"], elem_id="history-audit-btn", scale=0)
        turns = gr.Dataframe(label=t["turns"], interactive=False, wrap=True, elem_id="history-turns")  # fmt: skip
        audio = gr.Audio(label=t["recording"], type="numpy", interactive=False, elem_id="history-audio")  # fmt: skip
        audit = gr.Dataframe(label=t["audit"], interactive=False, wrap=True, elem_id="history-audit")  # fmt: skip

    outputs = [viewer, status, listing, pick, turns, audio, audit]
    calls = [
        (sign_in.click, h.on_sign_in, [key, ui]),
        (key.submit, h.on_sign_in, [key, ui]),
        (refresh.click, h.on_refresh, [viewer, ui]),
        (open_.click, h.on_open, [viewer, pick, ui]),
        (play.click, h.on_recording, [viewer, pick, ui]),
        (audit_btn.click, h.on_audit, [viewer, ui]),
    ]
    for trigger, handler, inputs in calls:
        trigger(lambda *a, f=handler: _history_updates(f(store, *a)), inputs, outputs, api_name=False)  # fmt: skip

    def relabel(lang):
        t = LABELS.get(lang, LABELS["en"])
        return (
            gr.update(label=t["tab_agent"]), gr.update(label=t["tab_history"]),
            gr.update(label=t["key"]), gr.update(value=t["sign_in"]), gr.update(value=t["refresh"]),
            gr.update(label=t["conversations"]), gr.update(label=t["pick"]),
            gr.update(value=t["open"]), gr.update(value=t["play"]), gr.update(value=t["audit"]),
            gr.update(label=t["turns"]), gr.update(label=t["recording"]), gr.update(label=t["audit"]),
        )  # fmt: skip

    relabeled = [agent_tab, tab, key, sign_in, refresh, listing, pick, open_, play, audit_btn, turns, audio, audit]  # fmt: skip
    ui.change(relabel, [ui], relabeled, api_name=False, queue=False)


# ------------------------------------------------------------ the Desk tab (demo/web/desk.py)


def _desk_tab(desk, ui, t: dict[str, str]) -> None:
    """The Desk tab: a person signs in with an API key, takes a handed-over conversation and
    replies; a timer keeps the list and the open conversation fresh."""
    from demo.web import desk as d

    with gr.Tab(t["tab_desk"], id="desk", elem_id="tab-desk") as tab:
        viewer = gr.State(None, time_to_live=8 * 3600)
        with gr.Row():
            key = gr.Textbox(label=t["key"], type="password", placeholder="cca_…", elem_id="desk-key", scale=3)  # fmt: skip
            sign_in = gr.Button(t["sign_in"], variant="primary", elem_id="desk-sign-in", scale=0)
        status = gr.Markdown(elem_id="desk-status")
        listing = gr.Dataframe(label=t["desk_list"], interactive=False, wrap=True, elem_id="desk-list")  # fmt: skip
        with gr.Row():
            pick = gr.Dropdown(choices=[], label=t["pick"], elem_id="desk-pick", scale=3)
            take = gr.Button(t["take"], variant="primary", elem_id="desk-take", scale=0)
            finish = gr.Button(t["finish"], elem_id="desk-finish", scale=0)
        turns = gr.Dataframe(label=t["desk_turns"], interactive=False, wrap=True, elem_id="desk-turns")  # fmt: skip
        reply = gr.Textbox(label=t["desk_reply"], lines=1, max_lines=6, elem_id="desk-reply")
        send = gr.Button(t["desk_send"], variant="primary", elem_id="desk-send")

    def show(view, keep_pick=None, lang="en"):
        choices = gr.skip() if view.choices is None else gr.update(choices=view.choices, value=keep_pick if keep_pick in view.choices else None)  # fmt: skip
        heads = {"listing": d.words(lang)["columns"], "turns": d.words(lang)["turn_columns"]}

        def put(name):
            got = getattr(view, name)
            if got is None:
                return None if name in view.clear else gr.skip()
            return {"headers": heads[name], "data": got} if name in heads else got

        return view.viewer, view.status, put("listing"), choices, put("turns"), put("reply")

    outputs = [viewer, status, listing, pick, turns, reply]
    sign = lambda k, lang: show(d.on_sign_in(desk, k, lang), None, lang)  # noqa: E731
    sign_in.click(sign, [key, ui], outputs, api_name=False)
    key.submit(sign, [key, ui], outputs, api_name=False)
    take.click(lambda v, c, lang: show(d.on_take(desk, v, c, lang), c, lang), [viewer, pick, ui], outputs, api_name=False)  # fmt: skip
    pick.input(lambda v, c, lang: show(d.on_refresh(desk, v, c, lang), c, lang), [viewer, pick, ui], outputs, api_name=False)  # fmt: skip
    for trigger in (send.click, reply.submit):
        trigger(lambda v, c, x, lang: show(d.on_reply(desk, v, c, x, lang), c, lang), [viewer, pick, reply, ui], outputs, api_name=False)  # fmt: skip
    finish.click(lambda v, c, lang: show(d.on_finish(desk, v, c, lang), None, lang), [viewer, pick, ui], outputs, api_name=False)  # fmt: skip

    def tick(v, c, lang):  # fresh list and turns while signed in; the status line is left alone
        if v is None:
            return (gr.skip(),) * len(outputs)
        view = show(d.on_refresh(desk, v, c, lang), c, lang)
        return (view[0], gr.skip(), *view[2:5], gr.skip())

    gr.Timer(3.0).tick(
        tick, [viewer, pick, ui], outputs, api_name=False, show_progress="hidden", queue=False
    )

    def relabel(lang):
        t = LABELS.get(lang, LABELS["en"])
        return (
            gr.update(label=t["tab_desk"]), gr.update(label=t["key"]), gr.update(value=t["sign_in"]),
            gr.update(label=t["desk_list"]), gr.update(label=t["pick"]), gr.update(value=t["take"]),
            gr.update(value=t["finish"]), gr.update(label=t["desk_turns"]),
            gr.update(label=t["desk_reply"]), gr.update(value=t["desk_send"]),
        )  # fmt: skip

    ui.change(relabel, [ui], [tab, key, sign_in, listing, pick, take, finish, turns, reply, send], api_name=False, queue=False)  # fmt: skip


def theme() -> gr.themes.Base:
    """The default look with system fonts: nothing is fetched from a font CDN (offline)."""
    return gr.themes.Default(font=THEME_FONTS, font_mono=["ui-monospace", "monospace"])


def launch(blocks: gr.Blocks, *, host: str, port: int | None, auth: tuple[str, str] | None,
           limits: DemoLimits, block: bool = True, share: bool = False, metrics=None):  # fmt: skip
    """Queue limits, upload limits, login, and Prometheus metrics at /metrics when `metrics`
    (demo.metrics.Metrics) is given; returns what `Blocks.launch` returns."""
    blocks.queue(default_concurrency_limit=limits.concurrency, max_size=limits.queue_size)
    routes = []
    if metrics is not None:
        from starlette.responses import Response
        from starlette.routing import Route

        from demo.metrics import CONTENT_TYPE

        async def serve_metrics(request):  # counts and times only: no personal data, no login
            return Response(metrics.render(), headers={"Content-Type": CONTENT_TYPE})

        routes.append(Route("/metrics", serve_metrics, methods=["GET"]))
    return blocks.launch(
        server_name=host, server_port=port, auth=auth, share=share, max_file_size=f"{limits.max_file_mb}mb",
        prevent_thread_lock=not block, show_error=True, ssr_mode=False, theme=theme(), quiet=not block,
        auth_message="cca demo: sign in with the user and password the operator gave you",
        app_kwargs={"routes": routes},
    )  # fmt: skip


__all__ = ["AUDIO_TYPES", "IMAGE_TYPES", "LABELS", "build_ui", "launch", "on_send", "on_new"]
