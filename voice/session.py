"""A live voice conversation: caller audio frames in, the agent's audio frames out.

    session = VoiceSession(StreamVAD(SileroStream.load()), asr, responder, tts,
                           SessionOptions(), in_rate=8000, out_rate=8000)
    async def play():
        async for frame in session.output():  # Audio frames of frame_ms at out_rate
            send(frame)
    async def show():
        async for event in session.events():  # transcripts, replies, barge-ins, metrics
            print(event.kind, event.text)
    ...
    await session.say("Hello, how can I help?", "en")  # optional greeting
    for frame in incoming():
        await session.push(frame)  # Audio, float or int16 samples at in_rate, or int16 bytes
    await session.close()

The path of a turn: frames -> stream resampler (to 16 kHz) -> echo canceller (the played audio is
the reference) -> streaming VAD -> endpointing (voice.endpoint: adaptive silence, a quick partial
transcript) -> ASR (`asr.transcribe(audio)`) -> `responder.respond(transcript) -> Reply` -> the
reply cut into sentences, each through `tts.stream(text, language, sample_rate)` -> frames out.

Barge-in: caller speech while the agent thinks or speaks ducks the voice at once. After
`barge_in_probe_s` of speech a quick transcript is taken: words that are not a backchannel stop
the agent; so does speech longer than `backchannel_max_s`. Speech that ends before either and is
only a backchannel ("uh-huh", "嗯") or nothing lets the agent go on at full volume. On a stop,
`responder.played(heard)` gets what the caller heard (voice.playback), and the caller's speech
becomes their next turn; speech during the thinking, before any reply was made, is joined to the
turn it follows.

Silence: `silence_timeout_s` without caller speech after the agent finished -> a re-prompt; a
second -> goodbye and the session ends. The session is driven by input frames (its times are
those of the audio pushed), so a bridge pushes silence frames too, as phones and browsers do.

Model calls run in worker threads through the clock (`clock.offload`), so frames keep flowing;
the VAD runs inline (~0.2 ms a chunk). With `voice.clock.VirtualClock` a recorded call replays
faster than real time (voice.replay). Output pacing needs `pace=True` for the echo reference and
the barge-in timing to mean anything; `pace=False` hands frames out as fast as they are taken.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voice.clock import RealClock
from voice.endpoint import Endpointer, is_backchannel
from voice.frames import StreamResampler, as_samples
from voice.playback import Player
from voice.session_types import (
    EVENT_KINDS,
    Event,
    Reply,
    Responder,
    SessionOptions,
    TurnMetrics,
)
from voice.stream_vad import VAD_RATE, StreamVAD
from voice.tts_text import speech_pieces
from voice.types import Audio, Transcript

logger = logging.getLogger(__name__)

__all__ = ["EVENT_KINDS", "Event", "Reply", "Responder", "SessionOptions", "TurnMetrics",
           "VoiceSession"]  # fmt: skip


@dataclass
class _Speaking:
    """The agent's current reply, from the end of the caller's turn to the end of playback."""

    turn_start_s: float  # the caller turn it answers (for joining speech during the thinking)
    responding: bool = False  # respond() was called: the responder's history has this reply
    interrupted: bool = False
    heard: str = ""
    playing: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    times: dict[str, float] = field(default_factory=dict)  # clock times of the stages
    info: dict[str, Any] = field(default_factory=dict)
    prompt: bool = False  # a re-prompt or goodbye, not an answer


@dataclass
class _Probe:
    """Caller speech while the agent is active: backchannel or interruption?"""

    onset_s: float
    detected_s: float
    launched: bool = False
    final_launched: bool = False


class VoiceSession:
    def __init__(self, vad: StreamVAD, asr, responder: Responder, tts,
                 options: SessionOptions | None = None, *, in_rate: int = VAD_RATE,
                 out_rate: int = VAD_RATE, clock=None, echo=None):  # fmt: skip
        options = options or SessionOptions()
        if options.language not in tts.languages:
            raise ValueError(f"the TTS speaks {tuple(tts.languages)}; options.language is "
                             f"{options.language!r}")  # fmt: skip
        self.vad, self.asr, self.responder, self.tts = vad, asr, responder, tts
        self.options = options
        self.in_rate, self.out_rate = in_rate, out_rate
        self.clock = clock or RealClock()
        self.echo = echo  # voice.echo.EchoCanceller, or None for a headset/web client with AEC
        self.endpointer = Endpointer(options.endpoint)
        self.frame_samples = int(round(out_rate * options.frame_ms / 1000))
        self.player = Player(self.frame_samples)
        self.metrics: list[TurnMetrics] = []
        self.log: list[Event] = []
        self.ended = ""  # why the session ended ("" while it goes on)
        self._in = StreamResampler(in_rate, VAD_RATE)
        self._ref = StreamResampler(out_rate, VAD_RATE)
        self._subscribers: list[asyncio.Queue] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._buf = np.zeros(0, dtype=np.float32)  # 16 kHz input, from stream sample _buf0
        self._buf0 = 0
        self._n = 0  # 16 kHz samples through the VAD path
        self._language = options.language
        self._expect = ""
        self._turn_start: float | None = None  # caller turn in progress
        self._partial: Transcript | None = None
        self._partial_upto = -1.0  # speech end the partial covers
        self._partial_asked = -1.0
        self._partial_job: tuple[float, asyncio.Task] | None = None  # (speech end, its partial)
        self._speaking: _Speaking | None = None
        self._probe: _Probe | None = None
        self._idle_since = 0.0
        self._timeouts = 0
        self._tasks: set[asyncio.Task] = set()

    # -- public -------------------------------------------------------------------------------

    @property
    def now_s(self) -> float:
        """Stream time: seconds of caller audio taken in."""
        return self._n / VAD_RATE

    async def push(self, frame: Audio | np.ndarray | bytes) -> None:
        """One frame of caller audio (any length) at `in_rate`."""
        if self._closed:
            raise RuntimeError("push() after close(): start a new VoiceSession for a new call")
        x, rate = as_samples(frame, self.in_rate)
        if rate != self.in_rate:
            raise ValueError(f"frame at {rate} Hz; this session takes {self.in_rate} Hz "
                             "(VoiceSession(..., in_rate=...))")  # fmt: skip
        x = self._in.process(x)
        for i in range(0, len(x), 512):
            self._step(x[i : i + 512])

    async def say(self, text: str, language: str | None = None) -> None:
        """Speak `text` now (a greeting); returns at once, playback goes on in the background."""
        self._start_reply(_Speaking(self.now_s, prompt=True), text, language or self._language)

    async def output(self):
        """The agent's audio as `Audio` frames of `frame_ms` at `out_rate` (one consumer)."""
        frame_s = self.frame_samples / self.out_rate
        next_t = self.clock.now()
        while not self._closed:
            if not self.player.has_audio and not self.options.emit_silence:
                self._wake.clear()
                await self._wake.wait()
                next_t = self.clock.now()
                continue
            if self.options.pace:
                await self.clock.sleep(next_t - self.clock.now())
                next_t = max(next_t + frame_s, self.clock.now() - 0.1)
            frame = self.player.next_frame()
            if frame is None:
                frame = np.zeros(self.frame_samples, dtype=np.float32)
            else:
                self._played(frame)
            if self.echo is not None:
                self.echo.play(self._ref.process(frame))
            yield Audio(frame, self.out_rate, "agent")

    async def events(self):
        """Everything the apps may show, as `Event`s (each call is a new subscriber)."""
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers.append(queue)
        while True:
            event = await queue.get()
            if event is None:
                return
            yield event

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.ended:
            self._end("closed")
        self._wake.set()
        for task in list(self._tasks):
            task.cancel()
        for q in self._subscribers:
            q.put_nowait(None)

    # -- input path ---------------------------------------------------------------------------

    def _step(self, x: np.ndarray) -> None:
        if self.ended:
            return
        if self.echo is not None:
            x = self.echo.process(x)
        self._buf = np.concatenate([self._buf, x])
        self._n += len(x)
        for ev in self.vad.feed(x):
            if ev.kind == "start":
                self._on_speech_start(ev.start_s)
            else:
                self._emit("speech_ended", data={"start_s": ev.start_s, "end_s": ev.end_s})
        if self._speaking is not None:
            self._check_barge_in()
        elif self._turn_start is not None:
            self._check_endpoint()
        elif (
            self.options.silence_timeout_s
            and not self.vad.speaking
            and self.now_s - self._idle_since >= self.options.silence_timeout_s
        ):
            self._on_timeout()
        self._trim_buffer()

    def _on_speech_start(self, start_s: float) -> None:
        self._emit(
            "speech_started", data={"start_s": start_s, "agent_active": bool(self._speaking)}
        )
        self._timeouts = 0
        if self._speaking is not None:
            if self._probe is None:
                self._probe = _Probe(start_s, self.now_s)
                if self._speaking.playing:
                    self.player.duck(self.options.duck_gain)
            return
        if self._turn_start is None:
            self._turn_start = start_s

    def _check_endpoint(self) -> None:
        o, vad = self.options, self.vad
        if self.endpointer.too_long(self.now_s - self._turn_start):
            self._end_turn(0.0, "max_turn_s")
            return
        if vad.speaking:
            return
        silence, speech_end = vad.silence_s, vad.time_s - vad.silence_s
        if (
            o.partial_asr
            and silence >= o.endpoint.partial_after_s
            and self._partial_asked < speech_end
        ):
            self._partial_asked = speech_end
            task = self._spawn(self._take_partial(self._turn_start, speech_end))
            self._partial_job = (speech_end, task)
        partial = self._partial.text if self._partial_upto >= speech_end else None
        needed, reason = self.endpointer.silence_needed(partial, self._expect)
        if silence >= needed:
            self._end_turn(needed, reason)

    async def _take_partial(self, start_s: float, end_s: float) -> Transcript | None:
        audio = self._audio(start_s - self.options.preroll_s, end_s + 0.1)
        transcript = await self._asr(audio)
        if transcript is not None and self.vad.time_s - self.vad.silence_s <= end_s:
            self._partial, self._partial_upto = transcript, end_s
            self._emit("partial", transcript.text)
        return transcript

    def _end_turn(self, needed: float, reason: str) -> None:
        vad = self.vad
        speech_end = vad.time_s - vad.silence_s if not vad.speaking else self.now_s
        start = self._turn_start
        reuse = self._partial if self._partial_upto >= speech_end else None
        pending = None  # the partial of this very speech, still being transcribed: wait for it
        job = self._partial_job
        if reuse is None and job is not None and job[0] == speech_end and not job[1].done():
            pending = job[1]
        self._partial_job = None
        self._turn_start, self._partial, self._partial_upto = None, None, -1.0
        sp = _Speaking(start)
        sp.times["speech_end"] = self._clock_at(speech_end)
        sp.times["endpoint"] = self.clock.now()
        sp.info.update(speech_s=speech_end - start, needed=needed, reason=reason,
                       reused=reuse is not None or pending is not None)  # fmt: skip
        audio = self._audio(start - self.options.preroll_s, speech_end + 0.1)
        self._speaking = sp
        self._spawn(self._answer(sp, audio, reuse, pending))

    # -- barge-in -----------------------------------------------------------------------------

    def _check_barge_in(self) -> None:
        p, o, sp = self._probe, self.options, self._speaking
        if p is None or sp is None:
            return
        if self.vad.speaking:
            # the length of the speech itself, to the end of its last voiced chunk: the VAD
            # still says "speaking" through its end hangover after a short "uh-huh"
            voiced_to = self.vad.time_s - self.vad.silence_s
            if voiced_to - p.onset_s >= o.backchannel_max_s:
                self._interrupt("speech longer than a backchannel")
            elif not p.launched and self.now_s - p.detected_s >= o.barge_in_probe_s:
                p.launched = True
                self._spawn(self._judge(p, final=False))
        elif not p.final_launched:
            p.final_launched = True
            self._spawn(self._judge(p, final=True))

    async def _judge(self, p: _Probe, final: bool) -> None:
        end = self.vad.time_s - self.vad.silence_s if final else self.now_s
        transcript = await self._asr(self._audio(p.onset_s - self.options.preroll_s, end))
        if self._probe is not p:
            return
        text = transcript.text.strip() if transcript else ""
        if text and not is_backchannel(text):
            self._interrupt(f"caller said {text!r}")
        elif final:
            vad = self.vad  # the caller may have started again while this was transcribed
            self._probe = _Probe(vad.time_s - vad.speech_s, self.now_s) if vad.speaking else None
            self.player.duck(1.0 if self._probe is None else self.options.duck_gain)
            self._emit("backchannel", text)

    def _interrupt(self, why: str) -> None:
        sp, p = self._speaking, self._probe
        self._probe = None
        if sp is None:
            return
        sp.interrupted = True
        sp.heard = self.player.stop() if sp.playing else ""
        self.player.duck(1.0)
        self._emit("barge_in", sp.heard, {"why": why, "was_playing": sp.playing})
        if sp.playing:
            self._emit("playback_stopped", data={"reason": "barge_in"})
        sp.done.set()
        self._speaking = None
        # speech before any reply was made continues the caller's turn; else it starts a new one
        if p is None:
            self._turn_start = None
        elif not sp.responding and not sp.prompt:
            self._turn_start = sp.turn_start_s
        else:
            self._turn_start = p.onset_s
        self._partial, self._partial_upto = None, -1.0

    # -- the agent's turn ---------------------------------------------------------------------

    async def _answer(
        self, sp: _Speaking, audio: Audio, reuse: Transcript | None, pending=None
    ) -> None:
        """`reuse`: the partial transcript of exactly this speech; `pending`: the task still
        making it (the same audio: waiting is faster than transcribing it again)."""
        if reuse is None and pending is not None:
            reuse = await pending
        transcript = reuse or await self._asr(audio)
        sp.times["asr"] = self.clock.now()
        if sp.interrupted:
            return
        if transcript is None:
            self._speaking = None
            self._start_reply(_Speaking(sp.turn_start_s, prompt=True),
                              self.options.apology[self._prompt_language()], self._language)  # fmt: skip
            return
        self._emit("transcript", transcript.text, {"language": transcript.language})
        if not transcript.text.strip():  # noise: back to listening
            self._speaking = None
            self._idle_since = self.now_s
            return
        sp.responding = True
        try:
            reply = await self.clock.offload(self.responder.respond, transcript)
        except Exception as e:
            logger.exception("responder failed")
            self._emit("error", str(e), {"stage": "respond"})
            reply = Reply(self.options.apology[self._prompt_language()], self._language)
        sp.times["respond"] = self.clock.now()
        sp.info["responder_ms"] = dict(reply.timings_ms)
        if sp.interrupted:
            await self.clock.offload(self.responder.played, "")
            return
        self._language = reply.language if reply.language in self.tts.languages else self._language
        self._expect = reply.expect
        self._emit("reply", reply.text, {"language": reply.language, "handoff": reply.handoff,
                                         "end_call": reply.end_call, "expect": reply.expect})  # fmt: skip
        await self._speak(sp, reply.text, reply.language)
        if sp.interrupted:
            await self.clock.offload(self.responder.played, sp.heard)
        elif reply.end_call or reply.handoff:
            self._end("handoff" if reply.handoff else "end_call")

    def _start_reply(self, sp: _Speaking, text: str, language: str) -> None:
        if self._speaking is not None and self._speaking is not sp:
            self._interrupt("the agent speaks again")
        self._speaking = sp
        self._spawn(self._speak(sp, text, language))

    async def _speak(self, sp: _Speaking, text: str, language: str) -> None:
        self.player.reset()
        if language not in self.tts.languages:
            language = self._language
        for sentence in speech_pieces(text) or [text]:
            index = self.player.add_sentence(sentence)
            chunks = iter(self.tts.stream(sentence, language, self.out_rate))
            while not sp.interrupted:
                try:
                    chunk = await self.clock.offload(next, chunks, None)
                except Exception as e:
                    logger.exception("TTS failed on %r", sentence)
                    self._emit("error", str(e), {"stage": "tts"})
                    chunk = None
                if chunk is None or sp.interrupted:
                    break
                sp.times.setdefault("tts_first", self.clock.now())
                self.player.add_audio(index, _at_rate(chunk, self.out_rate))
                self._wake.set()
            if sp.interrupted:
                return
        self.player.done_adding()
        if not self.player.has_audio:
            sp.done.set()
        self._wake.set()
        await sp.done.wait()
        if not sp.interrupted and self._speaking is sp:
            self._speaking = None
            self._probe = None
            self._idle_since = self.now_s

    def _played(self, frame: np.ndarray) -> None:
        """A frame of the agent's voice is going out (called by `output`)."""
        sp = self._speaking
        if sp is None:
            return
        if not sp.playing:
            sp.playing = True
            sp.times["first_out"] = self.clock.now()
            self._emit("playback_started")
            if self._probe is not None:  # the caller started talking while the agent thought
                self.player.duck(self.options.duck_gain)
            if not sp.prompt and "endpoint" in sp.times:
                self._record_metrics(sp)
        if self.player.finished:
            self._emit("playback_stopped", data={"reason": "finished"})
            sp.done.set()

    def _record_metrics(self, sp: _Speaking) -> None:
        t = sp.times
        ms = [1000 * (t[b] - t[a]) for a, b in zip(("speech_end", "endpoint", "asr", "respond",
              "tts_first"), ("endpoint", "asr", "respond", "tts_first", "first_out"), strict=True)]  # fmt: skip
        m = TurnMetrics(
            len(self.metrics), 1000 * (t["first_out"] - t["speech_end"]), *ms,
            responder_ms=sp.info.get("responder_ms", {}), speech_s=sp.info["speech_s"],
            silence_needed_s=sp.info["needed"], endpoint_reason=sp.info["reason"],
            reused_partial=sp.info["reused"],
        )  # fmt: skip
        self.metrics.append(m)
        self._emit("metrics", metrics=m)

    # -- silence ------------------------------------------------------------------------------

    def _on_timeout(self) -> None:
        self._timeouts += 1
        lang = self._prompt_language()
        last = self._timeouts >= 2
        text = (self.options.goodbye if last else self.options.reprompt)[lang]
        self._emit("reprompt", text, {"count": self._timeouts, "goodbye": last})
        sp = _Speaking(self.now_s, prompt=True)
        self._start_reply(sp, text, lang)
        if last:
            self._spawn(self._end_after(sp, "silence"))

    async def _end_after(self, sp: _Speaking, reason: str) -> None:
        await sp.done.wait()
        if not sp.interrupted:
            self._end(reason)

    # -- helpers ------------------------------------------------------------------------------

    def _end(self, reason: str) -> None:
        if not self.ended:
            self.ended = reason
            self._emit("ended", reason)

    def _prompt_language(self) -> str:
        return self._language if self._language in self.options.reprompt else "en"

    async def _asr(self, audio: Audio) -> Transcript | None:
        try:
            return await self.clock.offload(self.asr.transcribe, audio)
        except Exception as e:
            logger.exception("ASR failed")
            self._emit("error", str(e), {"stage": "asr"})
            return None

    def _audio(self, start_s: float, end_s: float) -> Audio:
        a = max(int(start_s * VAD_RATE), self._buf0)
        b = min(int(end_s * VAD_RATE), self._n)
        return Audio(self._buf[a - self._buf0 : max(a, b) - self._buf0].copy(), VAD_RATE, "caller")

    def _trim_buffer(self) -> None:
        keep_s = self.options.preroll_s + self.options.backchannel_max_s + 1.0
        starts = [self.now_s - keep_s]
        if self._turn_start is not None:
            starts.append(self._turn_start - self.options.preroll_s)
        if self._speaking is not None:
            starts.append(self._speaking.turn_start_s - self.options.preroll_s)
        cut = int(min(starts) * VAD_RATE) - self._buf0
        if cut > VAD_RATE:  # trim in steps of a second or more
            self._buf, self._buf0 = self._buf[cut:], self._buf0 + cut

    def _clock_at(self, stream_s: float) -> float:
        return self.clock.now() - (self.now_s - stream_s)

    def _emit(self, kind: str, text: str = "", data: dict | None = None, metrics=None) -> None:
        event = Event(kind, self.clock.now(), text, data or {}, metrics)
        self.log.append(event)
        logger.debug("%s %s", kind, text)
        for q in self._subscribers:
            q.put_nowait(event)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("session task failed", exc_info=task.exception())
            self._emit("error", str(task.exception()), {"stage": "session"})


def _at_rate(chunk: Audio, rate: int) -> np.ndarray:
    if chunk.sample_rate == rate:
        return chunk.samples.astype(np.float32, copy=False)
    r = StreamResampler(chunk.sample_rate, rate)
    return np.concatenate([r.process(chunk.samples), r.process(np.zeros(r.half * 2, np.float32))])
