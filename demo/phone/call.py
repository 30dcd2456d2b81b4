"""One phone call on the bridge: its VoiceSession, the keypad, the marks, the hand-over to a
person, and the call's recording and transcript. The agent behind it is
`demo.phone.responder.CallResponder`.

`Call` is driven by the media-stream handler (demo/phone/bridge.py): `feed(payload)` per inbound media
message, `on_digit`, `on_mark`, and `run_output()` as a task that sends the agent's audio out in
20 ms mu-law frames. After each reply's last frame it sends a `mark`; the provider echoes it once
the caller has heard everything before it, which is when a goodbye may hang up and a hand-over
may move the call. A barge-in sends `clear`, so audio still buffered at the provider is dropped.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from demo.phone.privacy import CallPrivacy, redact_tree
from demo.phone.responder import summary_line
from demo.phone.wire import Start, TwilioSerializer, twilio_update_call, twiml_dial
from voice.codec import mulaw_decode, mulaw_encode
from voice.live.session import VoiceSession

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallOptions:
    greeting: str = "Hello, thanks for calling. How can I help you today?"
    dtmf_pause_s: float = 3.0  # keypad digits end with "#" or this long a pause
    # what the keypad's digits say to the agent, by what the last reply asked for
    dtmf_text: dict[str, str] = field(
        default_factory=lambda: {"order_number": "my order number is #W{digits}", "": "{digits}"}
    )
    transfer_to: str = ""  # a number (+1...) or a SIP URI (sip:agent@pbx) for the hand-over
    transfer_say: str = "Connecting you to a colleague now."
    auth_token: str = ""  # the provider's, for its REST API (and the webhook's signature)
    account_sid: str = ""  # default: the one in the stream's start message
    heard_timeout_s: float = 20.0  # longest wait for the last mark before a hang-up or transfer
    out_dir: Path | None = None  # per-call folders (recording.wav, transcript.json), no store


class Recorder:
    """The call as heard: the caller (left) and the agent (right) on the caller's timeline."""

    def __init__(self, rate: int = 8000):
        self.rate = rate
        self.caller = bytearray()  # mu-law, as received
        self.agent: list[tuple[int, bytes]] = []  # (caller sample at send time, mu-law frame)

    def wav(self, privacy: CallPrivacy | None = None) -> bytes:
        agent = list(self.agent)  # frames may still be added while this runs in a thread
        n = max([len(self.caller)] + [at + len(b) for at, b in agent])
        out = np.zeros((n, 2), np.float32)
        caller = mulaw_decode(bytes(self.caller))
        out[: len(self.caller), 0] = privacy.silence(caller) if privacy else caller
        for at, b in agent:
            out[at : at + len(b), 1] += mulaw_decode(b)
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(self.rate)
            w.writeframes((np.clip(out, -1, 1) * 32767).astype("<i2").tobytes())
        return buf.getvalue()


Send = Callable[[str], Awaitable[None]]
Http = Callable[[Any], Awaitable[int]]  # demo.phone.wire.HttpRequest -> HTTP status


class Call:
    def __init__(self, start: Start, session: VoiceSession, responder, send: Send, *,
                 options: CallOptions = CallOptions(), serializer=None, http: Http | None = None,
                 hang_up: Callable[[], Awaitable[None]] | None = None, metrics=None,
                 privacy: CallPrivacy | None = None, tracing=None):  # fmt: skip
        self.start, self.session, self.responder = start, session, responder
        self.metrics = metrics  # demo.metrics.Metrics, or None
        self.tracing = tracing  # demo.tracing.Tracing, or None (traces off)
        self.options, self.http = options, http
        self.serializer = serializer or TwilioSerializer()
        self._send, self._hang_up = send, hang_up
        self.sid = start.stream_sid
        self.recorder = Recorder()
        self.privacy = privacy or CallPrivacy(
            self.recorder.rate
        )  # what the records keep of the caller
        self.entries: list[dict[str, Any]] = []  # the transcript: who said what, when
        self.marks_sent: dict[str, float] = {}  # name -> time sent, until echoed
        self._cleared = False  # the provider's buffer was cleared at a pause, before any barge-in
        self.mark_delays_ms: list[float] = []  # sent -> echoed: what the provider had buffered
        self.send_times: list[float] = []  # monotonic time of each outbound media frame
        self.transfer: dict[str, Any] | None = None
        self.ended = ""
        self._t0 = time.monotonic()
        self._seen = 0
        self._replies = 0
        self._plays = 0
        self._playing = False
        self._thinking = False
        self._digits = ""
        self._digit_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()
        self._closing = False

    # -- inbound ------------------------------------------------------------------------------

    async def begin(self) -> None:
        if self.options.greeting:
            await self.session.say(self.options.greeting)

    async def feed(self, payload: bytes) -> None:
        self.recorder.caller += payload
        if not self.session.ended and not self._closing:
            await self.session.push(mulaw_decode(payload))
        await self._scan()

    async def on_mark(self, name: str) -> None:
        sent = self.marks_sent.pop(name, None)
        if sent is None:
            logger.info("call %s: mark %r was not ours (or echoed twice); ignored", self.sid, name)
            return
        self.mark_delays_ms.append(1000 * (time.monotonic() - sent))

    async def on_digit(self, digit: str) -> None:
        if self._digit_timer is not None:
            self._digit_timer.cancel()
        self.privacy.keypad_started(len(self.recorder.caller))
        if digit == "#":
            await self._flush_digits()
            return
        if digit == "*":  # start again
            self._digits = ""
            return
        self._digits += digit
        loop = asyncio.get_running_loop()
        self._digit_timer = loop.call_later(
            self.options.dtmf_pause_s, lambda: self._spawn(self._flush_digits())
        )

    async def _flush_digits(self) -> None:
        digits, self._digits = self._digits, ""
        if digits:
            template = self.options.dtmf_text.get(self.responder.expect) or "{digits}"
            await self.text_turn(template.format(digits=digits), source="keypad")

    async def text_turn(self, text: str, source: str) -> None:
        """A turn that did not come through the microphone: keypad digits, an uploaded picture."""
        kept = (
            self.privacy.keypad_ended(len(self.recorder.caller), text)
            if source == "keypad"
            else self.privacy.typed(text)
        )
        self.entries.append({"t_s": self._now(), "role": "caller", "source": source, "text": kept})
        if source == "upload":
            reply = await self.session.clock.offload(self.responder.respond_screenshots)
            if reply is None:  # a spoken turn took the picture first
                return
        else:
            reply = await self.session.clock.offload(self.responder.respond_text, text)
        self._reply_entry(reply.text, reply.handoff)
        plays = self._plays
        await self.session.say(reply.text, reply.language)
        if reply.handoff or reply.end_call:
            self._spawn(self._finish("handoff" if reply.handoff else "end_call", after=plays))

    async def add_screenshots(self, shots) -> None:
        """Pictures uploaded during the call: they join the caller's next turn; if the caller is
        quiet, they make a turn of their own so the agent speaks about them now."""
        self.responder.add_screenshots(shots)
        names = ", ".join(s.source for s in shots)
        self._spawn(self._screenshot_turn(f"(uploaded {names})"))

    async def _screenshot_turn(self, text: str) -> None:
        """Once the line is quiet (the caller heard the agent out and is not talking), unless a
        caller turn took the pictures first."""
        deadline = time.monotonic() + self.options.heard_timeout_s
        while time.monotonic() < deadline and not self._closing:
            busy = self._thinking or self._playing or self.marks_sent or self.session.vad.speaking
            if not busy:
                break
            await asyncio.sleep(0.05)
        if self.responder.pending_screenshots and not self._closing:
            await self.text_turn(text, source="upload")

    # -- outbound -----------------------------------------------------------------------------

    async def run_output(self) -> None:
        async for frame in self.session.output():
            payload = mulaw_encode(frame.samples)
            self.recorder.agent.append((len(self.recorder.caller), payload))
            self.send_times.append(time.monotonic())
            await self._send(self.serializer.encode_media(self.sid, payload))
            await self._scan()

    async def _scan(self) -> None:
        """React to the session's events in the order they happened (the log is synchronous, so
        a reply's mark goes out right after its last frame)."""
        log = self.session.log
        while self._seen < len(log):
            e = log[self._seen]
            self._seen += 1
            if e.kind == "speech_started" and not e.data.get("agent_active"):
                self._thinking = True  # a caller turn is on its way to a reply
            elif e.kind in ("playback_started", "error") or (e.kind == "transcript" and not e.text.strip()):  # fmt: skip
                self._thinking = False
            if e.kind == "error" and self.metrics is not None:  # an ASR server down or slow, ...
                self.metrics.stage_error("phone", e.data.get("stage", "unknown"))
            if e.kind == "reprompt" and e.data.get("handoff") and self.metrics is not None:
                self.metrics.handoff("phone", "cannot_hear")  # the ASR failed turn after turn
            if e.kind == "speech_ended":
                self.privacy.speech_ended(e.data.get("start_s", 0.0), e.data.get("end_s", 0.0))
            if e.kind == "transcript":
                self.entries.append({"t_s": self._now(), "role": "caller", "source": "voice",
                                     "text": self.privacy.caller_said(e.text), "language": e.data.get("language")})  # fmt: skip
            elif e.kind in ("reply", "reprompt"):  # an answer, or a prompt (still there? sorry?)
                self._reply_entry(e.text, e.data.get("handoff", False))
            elif e.kind == "barge_in":
                self.entries.append({"t_s": self._now(), "role": "event", "text": "barge_in",
                                     "heard": self.privacy.agent_said(e.text)})  # fmt: skip
                if e.data.get("was_playing") and not self._cleared:  # not already, at the pause
                    await self._send(self.serializer.encode_clear(self.sid))
                self._cleared = False
            elif e.kind == "playback_paused":  # the caller talks over the agent: drop what the
                await self._send(self.serializer.encode_clear(self.sid))  # provider buffered
                self._cleared = True
            elif e.kind == "playback_resumed":
                self._cleared = False
            elif e.kind == "playback_started":
                self._playing, self._plays = True, self._plays + 1
            elif e.kind == "playback_stopped":
                self._playing = False
                if e.data.get("reason") == "finished":
                    self._replies += 1
                    name = f"reply-{self._replies}"
                    self.marks_sent[name] = time.monotonic()
                    await self._send(self.serializer.encode_mark(self.sid, name))
            elif e.kind == "metrics":
                if self.metrics is not None:
                    self.metrics.observe_voice(e.metrics, "phone")
                if self.tracing is not None:
                    try:
                        self.tracing.observe_voice(e.metrics, "phone", time.time_ns())
                    except Exception:  # a trace is never worth a call
                        logger.exception(
                            "call %s: could not trace turn %d", self.sid, e.metrics.turn
                        )
                self.entries.append({"t_s": self._now(), "role": "metrics",
                                     "voice_to_voice_ms": round(e.metrics.voice_to_voice_ms, 1)})  # fmt: skip
            elif e.kind == "ended" and e.text in ("handoff", "end_call", "silence"):
                self._spawn(self._finish(e.text, after=None))

    def _reply_entry(self, text: str, handoff: bool) -> None:
        kept = self.privacy.agent_said(text)
        self.entries.append({"t_s": self._now(), "role": "agent", "text": kept, "handoff": handoff})

    # -- the end of the call ------------------------------------------------------------------

    async def _heard(self, after: int | None) -> None:
        """Until the reply has been played out and its mark echoed (or the timeout)."""
        deadline = time.monotonic() + self.options.heard_timeout_s
        while time.monotonic() < deadline and not self._closing:
            started = after is None or self._plays > after
            if started and not self._playing and not self.marks_sent:
                return
            await asyncio.sleep(0.02)

    async def _finish(self, why: str, after: int | None) -> None:
        await self._heard(after)
        if why == "handoff":
            await self.hand_over()
        self.ended = self.ended or why
        if self._hang_up is not None:
            await self._hang_up()

    async def hand_over(self) -> None:
        summary = self.responder.summary()
        o = self.options
        self.transfer = {"summary": summary, "to": o.transfer_to, "status": None}
        if not o.transfer_to:
            logger.warning("call %s: the agent hands over but no transfer target is set "
                           "(--transfer-to NUMBER or sip:URI); ending the call", self.sid)  # fmt: skip
            return
        account = o.account_sid or self.start.account_sid
        twiml = twiml_dial(o.transfer_to, o.transfer_say, {"X-CCA-Summary": summary_line(summary)})
        request = twilio_update_call(account, self.start.call_sid, twiml, o.auth_token)
        self.transfer["request"] = {"method": request.method, "url": request.url}
        if self.http is None or not (account and o.auth_token):
            logger.error("call %s: cannot move the call to %s: the REST API needs the account "
                         "SID and auth token (TWILIO_AUTH_TOKEN)", self.sid, o.transfer_to)  # fmt: skip
            return
        try:
            self.transfer["status"] = await self.http(request)
            logger.info("call %s: handed over to %s (%s): HTTP %s", self.sid, o.transfer_to,
                        summary_line(summary), self.transfer["status"])  # fmt: skip
        except Exception as e:  # the provider is down: the call still ends cleanly
            logger.error("call %s: transfer request failed: %s", self.sid, e)
            self.transfer["status"] = f"error: {e}"

    async def close(self, reason: str) -> dict[str, Any]:
        """The caller hung up (or the stream ended): stop the session, keep the records."""
        if self._closing:
            return self.result()
        self._closing = True
        self.ended = self.ended or reason
        if self._digit_timer is not None:
            self._digit_timer.cancel()
        await self.session.close()
        await self._scan()
        for task in list(self._tasks):
            task.cancel()
        try:
            await asyncio.to_thread(self._save)
        except Exception:
            logger.exception("call %s: could not save its records", self.sid)
        return self.result()

    def result(self) -> dict[str, Any]:
        return {"call_sid": self.start.call_sid, "stream_sid": self.sid, "ended": self.ended,
                "entries": self.entries, "transfer": self.transfer,
                "metrics": [round(m.voice_to_voice_ms, 1) for m in self.session.metrics],
                "mark_delays_ms": [round(x, 1) for x in self.mark_delays_ms]}  # fmt: skip

    def _save(self) -> None:
        turns = self.responder.turns
        conv = self.responder.conversation
        recording = None
        try:
            if conv.store is not None:  # the turns went to the store as they happened
                recording = self.recorder.wav(self.privacy)
            else:
                self._keep(turns)
        finally:  # the line's count of open calls; the recording and end time written behind
            conv.end(recording, started_at=self._t0_wall())
        if conv.store is not None:
            logger.info("call %s: %d turns and the recording kept in conversation %s", self.sid, len(turns), conv.conversation_id)  # fmt: skip

    def _keep(self, turns) -> None:
        if self.options.out_dir is not None:
            folder = Path(self.options.out_dir) / (self.start.call_sid or self.sid)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "recording.wav").write_bytes(self.recorder.wav(self.privacy))
            record = redact_tree({**self.result(), "turns": [t.to_dict() for t in turns]}, self.privacy.read)  # fmt: skip
            text = json.dumps(record, ensure_ascii=False, indent=1, default=str)
            (folder / "transcript.json").write_text(text, encoding="utf-8")
            logger.info("call %s: recording and transcript in %s", self.sid, folder)

    # -- helpers ------------------------------------------------------------------------------

    def _now(self) -> float:
        return round(time.monotonic() - self._t0, 3)

    def _t0_wall(self) -> float:
        return time.time() - (time.monotonic() - self._t0)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("call %s: task failed", self.sid, exc_info=task.exception())
