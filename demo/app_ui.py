"""The Gradio page of `cca demo`: chat, inputs, the agent's voice, the side panel, the UI language.

The handlers are plain functions over `demo.app_view.DemoSession` (one per browser tab, kept in a
`gr.State`), so tests call them without a browser. Every component that a test or a script looks
for has an `elem_id`: chat, reply-audio, text, audio-in, image-in, files-in, send, new, panel, ui-lang.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home; read at import

import gradio as gr  # noqa: E402

from demo.app_view import (  # noqa: E402
    AUDIO_TYPES,
    IMAGE_TYPES,
    DemoLimits,
    DemoSession,
    panel_markdown,
    speech_output,
    words,
)
from demo.runtime import Runtime  # noqa: E402

logger = logging.getLogger(__name__)

LABELS = {
    "en": {
        "title": "## Contact-centre agent\nType, speak or show a screenshot; the agent answers in "
        "text and voice. The panel shows what it understood and did.",
        "ui": "Interface language", "chat": "Conversation", "speech": "Agent's voice",
        "text": "Message", "placeholder": "e.g. Where is my order #W1?",
        "audio": "Record or upload audio", "image": "Screenshot (drop or paste)",
        "files": "More screenshots", "send": "Send", "new": "New conversation",
        "panel": "What the agent understood and did", "live": "Live call (streaming)",
        "live_in": "Microphone (live)", "live_out": "Agent (live)",
    },
    "zh": {
        "title": "## 智能客服\n输入文字、说话或上传截图；客服以文字和语音回复。右侧显示它的理解和操作。",
        "ui": "界面语言", "chat": "对话", "speech": "客服语音", "text": "消息",
        "placeholder": "例如：我的订单 #W1 到哪了？", "audio": "录音或上传音频",
        "image": "截图（拖放或粘贴）", "files": "更多截图", "send": "发送", "new": "新对话",
        "panel": "客服的理解和操作", "live": "实时通话（流式）", "live_in": "麦克风（实时）",
        "live_out": "客服（实时）",
    },
}  # fmt: skip
THEME_FONTS = ["system-ui", "Noto Sans CJK SC", "WenQuanYi Micro Hei", "sans-serif"]


def on_send(session, text, audio_path, image_path, file_paths, ui, runtime, limits):
    """One turn from the page: returns (session, chat, speech, panel, text, audio, image, files).
    The inputs are cleared after a turn; a refused upload is named in the panel and the chat."""
    session = session or DemoSession(runtime, limits)
    images = [p for p in [image_path, *(file_paths or [])] if p]
    view = session.take_turn(text or "", audio_path, images, ui)
    if view.empty:
        gr.Info(words(ui)["empty"])
        return session, list(session.messages), None, panel_markdown(view, ui), text, None, None, None  # fmt: skip
    return session, list(session.messages), speech_output(view), panel_markdown(view, ui), "", None, None, None  # fmt: skip


def on_new(session, runtime, limits):
    """A fresh conversation: the old one is ended (and closed in the store)."""
    if session is not None:
        session.end()
    return DemoSession(runtime, limits), [], None, ""


def on_language(session, ui):
    """Relabel every component, and show the latest panel again, in the chosen language."""
    t = LABELS.get(ui, LABELS["en"])
    panel = panel_markdown(session.last, ui) if session is not None else ""
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
    with gr.Blocks(title="cca demo", analytics_enabled=False) as blocks:
        # one DemoSession per browser tab, made on its first turn, ended when the tab goes away
        state = gr.State(None, delete_callback=_end_session, time_to_live=6 * 3600)
        with gr.Row():
            title = gr.Markdown(t["title"])
            ui = gr.Radio([("English", "en"), ("中文", "zh")], value="en", label=t["ui"], elem_id="ui-lang", scale=0, min_width=200)  # fmt: skip
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(label=t["chat"], height=440, elem_id="chat", feedback_options=None)  # fmt: skip
                speech = gr.Audio(label=t["speech"], autoplay=True, interactive=False, type="numpy", elem_id="reply-audio")  # fmt: skip
                text = gr.Textbox(label=t["text"], placeholder=t["placeholder"], lines=2, elem_id="text")  # fmt: skip
                with gr.Row():
                    audio = gr.Audio(sources=["microphone", "upload"], type="filepath", label=t["audio"], elem_id="audio-in")  # fmt: skip
                    image = gr.Image(sources=["upload", "clipboard"], type="filepath", label=t["image"], elem_id="image-in", height=200)  # fmt: skip
                    files = gr.File(file_count="multiple", file_types=list(IMAGE_TYPES), type="filepath", label=t["files"], elem_id="files-in", height=200)  # fmt: skip
                with gr.Row():
                    send = gr.Button(t["send"], variant="primary", elem_id="send")
                    new = gr.Button(t["new"], elem_id="new")
                live_box = None
                if live:
                    from demo.app_live import add_live_call

                    live_box = add_live_call(runtime, limits, t, vad_factory)
            with gr.Column(scale=2):
                panel = gr.Markdown(label=t["panel"], show_label=True, elem_id="panel", container=True)  # fmt: skip

        inputs = [state, text, audio, image, files, ui]
        outputs = [state, chat, speech, panel, text, audio, image, files]

        def send_turn(*args):
            return on_send(*args, runtime=runtime, limits=limits)

        def new_conversation(session):
            return on_new(session, runtime, limits)

        for trigger in (send.click, text.submit):
            trigger(send_turn, inputs, outputs, api_name=False, show_progress="minimal")
        new.click(new_conversation, [state], [state, chat, speech, panel], api_name=False)
        relabel = [title, ui, chat, speech, text, audio, image, files, send, new, panel]
        ui.change(on_language, [state, ui], relabel, api_name=False, queue=False)
        if live_box is not None:
            live_box.wire(ui)
    return blocks


def theme() -> gr.themes.Base:
    """The default look with system fonts: nothing is fetched from a font CDN (offline)."""
    return gr.themes.Default(font=THEME_FONTS, font_mono=["ui-monospace", "monospace"])


def launch(blocks: gr.Blocks, *, host: str, port: int | None, auth: tuple[str, str] | None,
           limits: DemoLimits, block: bool = True, share: bool = False):  # fmt: skip
    """Queue limits, upload limits, login; returns what `Blocks.launch` returns."""
    blocks.queue(default_concurrency_limit=limits.concurrency, max_size=limits.queue_size)
    return blocks.launch(
        server_name=host, server_port=port, auth=auth, share=share, max_file_size=f"{limits.max_file_mb}mb",
        prevent_thread_lock=not block, show_error=True, ssr_mode=False, theme=theme(), quiet=not block,
        auth_message="cca demo: sign in with the user and password the operator gave you",
    )  # fmt: skip


__all__ = ["AUDIO_TYPES", "IMAGE_TYPES", "LABELS", "build_ui", "launch", "on_send", "on_new"]
