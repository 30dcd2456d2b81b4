"""One turn of the web demo, without the web: uploads in, the agent's answer, what the page shows.

    session = DemoSession(runtime, DemoLimits())
    view = session.take_turn(text="where is my order?", audio_path=None, image_paths=["a.png"])
    session.messages                     # the chat so far, in the messages format
    panel_markdown(view, "en")           # the side panel: transcript, NLU, knowledge, tools, ...

The panel names the intent in the words of the pack ([intents.labels] of its domain.toml, in the
page's language), else as its code made readable ("Order status").

An upload that cannot be used (a type we do not take, too large, too long, corrupt) becomes a
problem on the view that names the file and the limit; the rest of the turn is still answered,
and the conversation goes on. The Gradio page (demo/web/ui.py) only wires these to components.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo.runtime import Conversation, Runtime
from demo.web.actions import action_line, action_words, reason_words
from dialogue.agent import CustomerTurn
from dialogue.domain.pack import intent_words
from dialogue.types import Turn

logger = logging.getLogger(__name__)

AUDIO_TYPES = (".wav", ".mp3", ".ogg", ".webm", ".m4a", ".flac")
IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class DemoLimits:
    max_file_mb: int = 20  # per upload; the server refuses a larger file before it is stored
    max_audio_s: float = 120.0  # a recorded or uploaded turn longer than this is refused
    max_images: int = 4  # screenshots in one turn; more are left out with a note
    concurrency: int = 2  # turns answered at once; the rest wait in the queue
    queue_size: int = 32  # turns waiting at most; beyond it a visitor is asked to retry
    # a longer typed message is refused, and kept in the box to shorten
    max_message_chars: int = 2000


# strings the panel and the chat show, per UI language
WORDS = {
    "en": {
        "heard": "Customer said", "language": "Language", "intent": "Intent", "sentiment": "Sentiment",
        "entities": "Entities", "screens": "Screenshots", "knowledge": "Knowledge used",
        "facts": "Facts used", "actions": "Tool actions", "handoff": "Handoff",
        "handoff_yes": "yes: a person takes over", "handoff_no": "no", "latency": "Latency",
        "stage": "stage", "ms": "ms", "total": "total", "problems": "Problems",
        "none": "none", "decision": "Decision", "cannot_use": "Could not use {name}: {problem}",
        "empty": "Type a message, record or upload audio, or add a screenshot first.",
        "refused_note": "Nothing else came with it, so the agent was not asked. Try another file.",
        "audio": "audio", "screenshot": "screenshot", "store": "records",
        "too_long": "Your message is {n:,} characters long; the limit is {limit:,}. Please shorten it and send it again.",
        "message": "message",
        "with_colleague": "A colleague is taking over this conversation and sees everything said so far. Your message has been passed on; please wait here for their reply.",
        "joined": "{name} from our team has joined the conversation and will answer you here.",
        "person": "{name} (a person from our team)", "left": "{name} has finished the conversation. Thank you for your patience.",
        "summary": "Handed over to a colleague", "reason": "reason", "said": "customer said",
    },
    "zh": {
        "heard": "客户说", "language": "语言", "intent": "意图", "sentiment": "情绪",
        "entities": "实体", "screens": "截图", "knowledge": "引用的知识", "facts": "使用的事实",
        "actions": "工具调用", "handoff": "转人工", "handoff_yes": "是：由人工坐席接手",
        "handoff_no": "否", "latency": "延迟", "stage": "阶段", "ms": "毫秒", "total": "合计",
        "problems": "问题", "none": "无", "decision": "决策",
        "cannot_use": "无法使用 {name}：{problem}",
        "empty": "请先输入文字、录音或上传音频，或添加截图。",
        "refused_note": "本轮没有其他内容，因此未交给客服处理。请换一个文件。",
        "audio": "语音", "screenshot": "截图", "store": "记录",
        "too_long": "您的消息有 {n:,} 个字符，上限是 {limit:,} 个。请缩短后再发送。",
        "message": "消息",
        "with_colleague": "人工客服正在接手本次对话，能看到此前的全部内容。您的消息已转交，请在此等候回复。",
        "joined": "人工客服 {name} 已加入对话，会在这里回复您。",
        "person": "{name}（人工客服）", "left": "{name} 已结束本次对话，感谢您的耐心。",
        "summary": "已转交人工客服", "reason": "原因", "said": "客户说",
    },
}  # fmt: skip


# values the panel shows, in the UI language (the records keep the English codes)
VALUES = {
    "zh": {
        "positive": "正面", "neutral": "中性", "negative": "负面", "anger": "愤怒", "frustration": "沮丧",
        "answer": "知识解答", "ask": "询问", "confirm": "待确认", "done": "已办理", "refuse": "拒绝",
        "clarify": "澄清", "handoff": "转人工", "smalltalk": "寒暄", "error": "出错",
    },
}  # fmt: skip
PANEL_EMPTY = {
    "en": "_What the agent understood and did appears here after your first message: language, intent, sentiment, entities, the knowledge and tools it used, and the time each stage took._",
    "zh": "_发送第一条消息后，这里会显示客服的理解和操作：语言、意图、情绪、实体、使用的知识和工具，以及各阶段耗时。_",
}  # fmt: skip


def value(text: str, ui: str) -> str:
    """A code the panel shows (a sentiment, a decision kind) in the UI language."""
    return VALUES.get(ui, {}).get(text, text)


def words(ui: str) -> dict[str, str]:
    return WORDS.get(ui, WORDS["en"])


@dataclass
class TurnView:
    """What one turn shows. `turn` is None when the agent was not asked (nothing usable came)."""

    turn: Turn | None
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file name, what is wrong)
    passages: list = field(default_factory=list)  # dialogue.knowledge.base.Passage searched
    speech: Any = None  # voice.types.Audio of the reply, or None
    tts_ms: float = 0.0
    store_errors: list[str] = field(default_factory=list)  # the turn could not be stored
    empty: bool = False  # nothing was given at all
    keep_text: bool = False  # the typed text was not taken (too long): it stays in the box
    held: str = ""  # after a handoff: the message passed on to a colleague, not to the agent
    # what the handoff passed on (see handoff_summary)
    summary: list[str] = field(default_factory=list)
    # the pack's intents in words, intent -> {language: words} (demo.runtime.Runtime.intent_labels)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)


def _name(path: str) -> str:
    return Path(path).name or str(path)


def _mb(n: float) -> str:
    return f"{n / 1024**2:.3g} MB"


def load_uploads(
    audio_path: str | None, image_paths: Sequence[str], limits: DemoLimits
) -> tuple[Any, tuple, list[tuple[str, str]]]:
    """(audio or None, images, [(file name, problem)]): each refused file with what is wrong and the
    limit. Types are checked by name first, then the project's decoders check the content."""
    from vision.image import ImageLimits, load_image
    from voice.audio import AudioLimits, load_audio

    max_bytes = limits.max_file_mb * 1024**2
    problems: list[tuple[str, str]] = []
    audio = None
    if audio_path:
        name, ext = _name(audio_path), Path(audio_path).suffix.lower()
        if ext not in AUDIO_TYPES:
            problems.append((name, f"{ext or 'no extension'} is not an audio type taken here; send one of {', '.join(AUDIO_TYPES)}"))  # fmt: skip
        else:
            try:
                audio = load_audio(audio_path, limits=AudioLimits(max_bytes, limits.max_audio_s))
            except (ValueError, OSError) as e:
                problems.append((name, _problem(e, audio_path)))
    images = []
    for i, path in enumerate(image_paths):
        name, ext = _name(path), Path(path).suffix.lower()
        if i >= limits.max_images:
            problems.append((name, f"only {limits.max_images} screenshots are read per turn; send it in the next one"))  # fmt: skip
        elif ext not in IMAGE_TYPES:
            problems.append((name, f"{ext or 'no extension'} is not an image type taken here; send one of {', '.join(IMAGE_TYPES)}"))  # fmt: skip
        else:
            try:
                images.append(
                    load_image(path, source=name, limits=ImageLimits(max_bytes=max_bytes))
                )
            except (ValueError, OSError) as e:
                problems.append((name, _problem(e, path)))
    return audio, tuple(images), problems


def _problem(error: Exception, path: str) -> str:
    """The decoder's message without the temporary folder it was read from."""
    text = str(error)
    for prefix in (f"{path}: ", f"{_name(path)}: "):
        text = text.removeprefix(prefix)
    return text.replace(str(Path(path).parent) + "/", "")


class DemoSession:
    """One visitor's conversation on the page: the agent's conversation and the chat shown."""

    def __init__(self, runtime: Runtime, limits: DemoLimits = DemoLimits(), desk=None):
        self.runtime, self.limits, self.desk = runtime, limits, desk  # desk: demo.web.desk.Desk
        self.conversation: Conversation = runtime.start("web")
        self.messages: list[dict[str, Any]] = []
        self.last: TurnView | None = None
        self.ui = "en"  # the page's language, for what a person's replies are marked with
        self.version = 0  # bumped when a person writes; the page's timer shows the chat again
        self.shown = 0  # the version the page shows

    def take_turn(
        self, text: str = "", audio_path: str | None = None, image_paths: Sequence[str] = (),
        ui: str = "en",
    ) -> TurnView:  # fmt: skip
        view = self._take_turn(text, audio_path, image_paths, ui)
        view.labels = self.runtime.intent_labels
        return view

    def _take_turn(self, text: str, audio_path: str | None, image_paths: Sequence[str], ui: str) -> TurnView:  # fmt: skip
        w = words(ui)
        labels = self.runtime.intent_labels
        text = (text or "").strip()
        image_paths = [p for p in image_paths if p]
        if not (text or audio_path or image_paths):
            view = TurnView(None, empty=True)
            self.last = view
            return view
        limit = self.limits.max_message_chars
        if len(text) > limit:  # nothing is sent: the customer shortens it (the box keeps it)
            problem = w["too_long"].format(n=len(text), limit=limit)
            self.messages.append({"role": "user", "content": _short(text, 200)})
            self.messages.append({"role": "assistant", "content": "⚠ " + problem})
            self.last = TurnView(None, refused=[(w["message"], problem)], keep_text=True)
            return self.last
        self.ui = ui
        if self.conversation.agent.state.handed_off:  # a person answers from here on, not the agent
            self.conversation.hold(text)
            self.messages.append({"role": "user", "content": text or "📎"})
            if self.desk is None or self.desk.taken_by(self.conversation.conversation_id) is None:
                self.messages.append({"role": "assistant", "content": "👤 " + w["with_colleague"]})
            self.last = TurnView(None, held=text or "📎", summary=handoff_summary(self.conversation.agent.turns, ui, labels=labels))  # fmt: skip
            return self.last
        audio, images, problems = load_uploads(audio_path, image_paths, self.limits)
        said = [w["cannot_use"].format(name=n, problem=p) for n, p in problems]
        shown = [text] if text else []
        if audio_path:
            shown.append(f"🎤 {_name(audio_path)}")
        self.messages.append({"role": "user", "content": "\n".join(shown) or "📎"})
        for image in images:
            self.messages.append({"role": "user", "content": {"path": _path_of(image, image_paths), "alt_text": image.source}})  # fmt: skip
        if not (text or audio is not None or images):
            self.messages.append({"role": "assistant", "content": "⚠ " + "\n".join(said) + "\n\n" + w["refused_note"]})  # fmt: skip
            self.last = TurnView(None, refused=problems)
            return self.last
        turn = self.conversation.respond(CustomerTurn(text=text, audio=audio, images=images))
        if turn.transcript:
            self.messages[-1 - len(images)]["content"] += f"\n🎤 “{turn.transcript}”"
        t0 = time.perf_counter()
        speech = self.runtime.speak(turn.said(), turn.language)
        tts_ms = (time.perf_counter() - t0) * 1000 if speech is not None else 0.0
        reply = turn.reply + ("\n\n⚠ " + "\n".join(said) if said else "")
        self.messages.append({"role": "assistant", "content": reply})
        store = self.conversation.store_errors
        if turn.handoff:
            self.messages.append({"role": "assistant", "content": "👤 " + w["with_colleague"]})
            if self.desk is not None:
                self.desk.hand_over(self)
        view = TurnView(turn, problems, self.conversation.passages, speech, tts_ms, list(store))
        view.summary = handoff_summary(self.conversation.agent.turns, ui, labels=labels) if turn.handoff else []  # fmt: skip
        store.clear()
        self.last = view
        return view

    def end(self) -> None:
        self.conversation.end()

    # -- a person at the agent desk (demo.web.desk) writes here ----------------------------------

    def _from_person(self, text: str) -> None:
        self.messages.append({"role": "assistant", "content": text})
        self.version += 1

    def person_joined(self, name: str) -> None:
        self._from_person("👤 " + words(self.ui)["joined"].format(name=name))

    def person_said(self, name: str, text: str) -> None:
        self._from_person(f"👤 **{words(self.ui)['person'].format(name=name)}**: {text}")

    def person_left(self, name: str) -> None:
        self._from_person("👤 " + words(self.ui)["left"].format(name=name))


def handoff_summary(
    turns: Sequence[Turn], ui: str = "en", last: int = 6, labels: dict | None = None
) -> list[str]:
    """What a colleague taking over is handed, one line each: why, the customer's task (in the
    words of the pack's `labels`, see `intent_words`) and mood, and what the customer said (the
    latest `last` turns)."""
    if not turns:
        return []
    w, end = words(ui), turns[-1]
    mood = value(end.sentiment.get("label", ""), ui) if end.sentiment else ""
    lines = [f"{w['reason']}: {reason_words(end.decision.reason, end.decision.kind, ui, value(end.decision.kind, ui))}",
             f"{w['intent']}: {intent_words(end.intent, ui, labels or {})} · {w['sentiment']}: {mood}"]  # fmt: skip
    said = [t.text or t.transcript for t in turns[-last:] if t.text or t.transcript]
    lines += [f"{w['said']}: “{_short(x, 200)}”" for x in said]
    return lines


def _path_of(image, paths: Sequence[str]) -> str:
    for p in paths:
        if _name(p) == image.source:
            return p
    return paths[0]


# ------------------------------------------------------------------ the side panel


def latency_rows(view: TurnView) -> list[list[Any]]:
    """[[stage, ms], ...] of the turn's stages, then tts, then the total."""
    if view.turn is None:
        return []
    rows = [[stage, round(ms, 1)] for stage, ms in view.turn.timings_ms.items()]
    if view.speech is not None:
        rows.append(["tts", round(view.tts_ms, 1)])
    rows.append(["total", round(sum(r[1] for r in rows), 1)])
    return rows


def panel_markdown(view: TurnView | None, ui: str = "en") -> str:
    """The side panel of the latest turn as Markdown, in the UI language."""
    w = words(ui)
    if view is None:
        return PANEL_EMPTY.get(ui, PANEL_EMPTY["en"])
    if view.empty:
        return f"_{w['empty']}_"
    out = []
    problems = [w["cannot_use"].format(name=n, problem=p) for n, p in view.refused]
    problems += [f"{w['store']}: {e}" for e in view.store_errors]
    if problems:
        out.append(f"### ⚠ {w['problems']}\n" + "\n".join(f"- {p}" for p in problems))
    if view.summary:
        out.append(f"### 👤 {w['summary']}\n" + "\n".join(f"- {x}" for x in view.summary))
    turn = view.turn
    if turn is None:
        return "\n\n".join(out)
    said = [_short(turn.text, 500)] if turn.text else []
    said += [f"🎤 “{turn.transcript}”"] if turn.transcript else []
    out.append(f"### {w['heard']}\n" + ("  \n".join(said) or "—"))
    sentiment = value(turn.sentiment.get("label", ""), ui) if turn.sentiment else ""
    extra = ", ".join(f"{value(k, ui)} {turn.sentiment[k]:.2f}" for k in ("anger", "frustration") if isinstance(turn.sentiment.get(k), float))  # fmt: skip
    extra = f"({extra})" if extra else ""
    out.append(
        f"| {w['language']} | {w['intent']} | {w['sentiment']} |\n|---|---|---|\n"
        f"| {turn.language} | {intent_words(turn.intent, ui, view.labels) if turn.intent else '—'} ({turn.confidence:.2f}) | {sentiment} {extra} |"
    )
    ents = [f"- `{e.get('type')}`: {e.get('value')}" + (f" ({e['source']})" if e.get("source") else "") for e in turn.entities]  # fmt: skip
    out.append(f"### {w['entities']}\n" + ("\n".join(ents) or w["none"]))
    if turn.screenshots:
        shots = [f"- {s.get('source')}: {s.get('kind')} ({s.get('language')}) {_fields(s.get('fields') or {})}" for s in turn.screenshots]  # fmt: skip
        out.append(f"### {w['screens']}\n" + "\n".join(shots))
    if view.passages:
        kb = [f"- **{p.title or source_name(p.source)}** — `{source_name(p.source)}`\n  > {_short(p.text, 220)}" for p in view.passages]  # fmt: skip
        out.append(f"### {w['knowledge']}\n" + "\n".join(kb))
    else:
        facts = [f"- {action_words(a.tool, a.args, ui)}" for a in turn.actions if a.ok]
        out.append(f"### {w['facts']}\n" + ("\n".join(facts) or w["none"]))
    acts = [f"- {action_line(a, ui)}" for a in turn.actions]
    out.append(f"### {w['actions']}\n" + ("\n".join(acts) or w["none"]))
    reason = reason_words(turn.decision.reason, turn.decision.kind, ui, value(turn.decision.kind, ui))  # fmt: skip
    out.append(
        f"### {w['handoff']}\n{w['handoff_yes'] if turn.handoff else w['handoff_no']} · "
        f"{w['decision']}: `{turn.decision.kind}` {reason}"
    )
    rows = latency_rows(view)
    table = "\n".join(f"| {s} | {ms} |" for s, ms in rows)
    out.append(f"### {w['latency']}\n| {w['stage']} | {w['ms']} |\n|---|---:|\n{table}")
    if turn.errors:
        out.append(f"### ⚠ {w['problems']}\n" + "\n".join(f"- {e}" for e in turn.errors))
    return "\n\n".join(out)


def _fields(fields: dict[str, list[str]]) -> str:
    """A screenshot's fields as words: "order_number W5918442 · date 2026-09-12"."""
    return _short(
        " · ".join(f"{kind} {', '.join(map(str, values))}" for kind, values in fields.items())
    )


def source_name(source: str) -> str:
    """A knowledge source as the panel shows it: a file by its name and section
    ("faq.csv#en-verify"), never the server's folders."""
    path, sep, section = source.partition("#")
    return Path(path).name + sep + section if Path(path).is_absolute() else source


def _short(value: Any, n: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def speech_output(view: TurnView | None):
    """The reply's speech as Gradio's (sample_rate, int16 samples), or None."""
    if view is None or view.speech is None:
        return None
    import numpy as np

    pcm = (np.clip(view.speech.samples, -1.0, 1.0) * 32767).astype(np.int16)
    return view.speech.sample_rate, pcm
