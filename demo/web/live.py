"""The live call of `cca demo --live`: the browser's microphone streamed through a VoiceSession
(VAD, endpointing, barge-in), the agent's voice streamed back.

    call = LiveCall(runtime, vad_factory)        # one per browser tab
    call.push(sample_rate, samples)              # each microphone chunk Gradio hands over
    call.take()                                  # the agent's audio since the last take, or None
    call.log_markdown("en")                      # what was heard and said so far
    call.close()

The session runs on its own event loop in a thread, so Gradio's worker threads only hand chunks
over. The browser cancels its own echo (getUserMedia's echoCancellation), so no echo canceller.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from demo.runtime import Runtime
from demo.web.view import DemoLimits, words

logger = logging.getLogger(__name__)

OUT_RATE = 24_000  # the agent's voice as streamed to the page


def default_vad():
    from voice.live.stream_vad import SileroStream, StreamVAD

    return StreamVAD(SileroStream.load())


class LiveCall:
    def __init__(self, runtime: Runtime, vad_factory: Callable[[], Any] = default_vad,
                 options=None, out_rate: int = OUT_RATE):  # fmt: skip
        if runtime.speaker is None:
            raise RuntimeError("the live call needs a voice: apt-get install espeak-ng, or the offline voices")  # fmt: skip
        self.runtime, self.vad_factory, self.options = runtime, vad_factory, options
        self.out_rate = out_rate
        self.conversation = runtime.start("web")
        self.session = None
        self.in_rate = 0
        self.closed = False
        self._tasks: list[asyncio.Task] = []
        self.lines: list[tuple[str, str]] = []  # (who, text): "caller", "agent", "note"
        self._out: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="live-call")  # fmt: skip
        self._thread.start()

    def _run(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _start(self, in_rate: int) -> None:
        from dialogue.voice_agent import AgentResponder
        from voice.live.session import SessionOptions, VoiceSession

        async def make():
            options = self.options or SessionOptions(silence_timeout_s=None)
            asr = self.runtime.services.asr
            self.session = VoiceSession(self.vad_factory(), asr, AgentResponder(self.conversation),  # type: ignore[arg-type]
                                        self.runtime.speaker, options, in_rate=in_rate, out_rate=self.out_rate)  # fmt: skip
            self._tasks = [
                self._loop.create_task(self._play()),
                self._loop.create_task(self._watch()),
            ]

        self.in_rate = in_rate
        self._run(make())

    async def _play(self) -> None:
        async for frame in self.session.output():
            with self._lock:
                self._out.append(frame.samples)

    async def _watch(self) -> None:
        async for event in self.session.events():
            if event.kind == "transcript" and event.text:
                self.lines.append(("caller", event.text))
            elif event.kind == "reply" and event.text:
                self.lines.append(("agent", event.text))
            elif event.kind in ("barge_in", "error", "ended"):
                self.lines.append(("note", f"{event.kind} {event.text}".strip()))
            elif event.kind == "metrics" and event.metrics and self.runtime.metrics is not None:
                self.runtime.metrics.observe_voice(event.metrics, "web")

    def push(self, sample_rate: int, samples: np.ndarray) -> None:
        """One microphone chunk: int16 or float, mono or (n, channels)."""
        x = np.asarray(samples)
        if x.ndim == 2:
            x = x.mean(axis=1)
        x = x.astype(np.float32) / 32768.0 if np.issubdtype(x.dtype, np.integer) else x.astype(np.float32)  # fmt: skip
        if self.session is None:
            self._start(int(sample_rate))
        elif sample_rate != self.in_rate:
            raise ValueError(f"the microphone changed rate mid-call ({self.in_rate} -> {sample_rate} Hz); start the call again")  # fmt: skip
        self._run(self.session.push(x))

    def take(self) -> tuple[int, np.ndarray] | None:
        """The agent's audio since the last take, as (rate, int16), or None when it is quiet."""
        with self._lock:
            frames, self._out = self._out, []
        if not frames:
            return None
        pcm = np.clip(np.concatenate(frames), -1.0, 1.0)
        return self.out_rate, (pcm * 32767).astype(np.int16)

    def log_markdown(self, ui: str = "en") -> str:
        who = {"caller": "🎤", "agent": "🤖", "note": "ℹ"}
        return "\n\n".join(f"{who[w]} {t}" for w, t in self.lines[-20:]) or words(ui)["none"]

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.session is not None:

            async def end():
                await self.session.close()
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

            try:
                self._run(end())
            except Exception:
                logger.exception("closing the live call")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self.conversation.end()


class LiveBox:
    """The live call's components; `wire(ui)` connects them once the page exists."""

    def __init__(self, runtime: Runtime, limits: DemoLimits, labels: dict[str, str],
                 vad_factory: Callable[[], Any] = default_vad):  # fmt: skip
        import gradio as gr

        self.runtime, self.limits, self.vad_factory = runtime, limits, vad_factory
        with gr.Accordion(labels["live"], open=False) as self.box:
            self.state = gr.State(None, delete_callback=_close)
            with gr.Row():
                self.mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label=labels["live_in"], elem_id="live-in")  # fmt: skip
                self.out = gr.Audio(streaming=True, autoplay=True, interactive=False, label=labels["live_out"], elem_id="live-out")  # fmt: skip
            self.log = gr.Markdown(elem_id="live-log")

    def wire(self, ui, labels: dict[str, dict[str, str]]) -> None:
        """The call's events, and its labels in the language `ui` picks (`labels`: per language)."""
        import gradio as gr

        runtime, vad_factory = self.runtime, self.vad_factory

        def start(call):
            if call is not None:
                call.close()
            return LiveCall(runtime, vad_factory)

        def chunk(call, audio, lang):
            if call is None or audio is None:
                return call, ""
            call.push(*audio)
            return call, call.log_markdown(lang)

        def play(call):
            """The agent's voice, streamed for as long as the call lasts."""
            while call is not None and not call.closed:
                got = call.take()
                if got is not None:
                    yield got
                time.sleep(0.2)

        def stop(call, lang):
            if call is None:
                return None, ""
            log = call.log_markdown(lang)
            call.close()
            return None, log

        live = dict(api_name=False, concurrency_id="live", concurrency_limit=self.limits.concurrency * 2)  # fmt: skip
        self.mic.start_recording(start, [self.state], [self.state], **live).then(play, [self.state], [self.out], **live)  # fmt: skip
        self.mic.stream(chunk, [self.state, self.mic, ui], [self.state, self.log], stream_every=0.25, time_limit=600, **live)  # fmt: skip
        self.mic.stop_recording(stop, [self.state, ui], [self.state, self.log], **live)

        def relabel(lang):
            t = labels.get(lang, labels["en"])
            return gr.update(label=t["live"]), gr.update(label=t["live_in"]), gr.update(label=t["live_out"])  # fmt: skip

        ui.change(relabel, [ui], [self.box, self.mic, self.out], api_name=False, queue=False)


def _close(call) -> None:
    if call is not None:
        call.close()


def add_live_call(runtime: Runtime, limits: DemoLimits, labels: dict[str, str], vad_factory=None) -> LiveBox:  # fmt: skip
    return LiveBox(runtime, limits, labels, vad_factory or default_vad)
