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
the reference; `echo=` an instance, or `SessionOptions.echo` by name: voice.live.echo) -> streaming VAD -> endpointing (voice.live.endpoint: adaptive silence, a quick partial
transcript) -> ASR (`asr.transcribe(audio)`) -> `responder.respond(transcript) -> Reply` -> the
reply cut into sentences, each through `tts.stream(text, language, sample_rate)` -> frames out.

Barge-in: caller speech while the agent thinks or speaks ducks the voice at once, and after
`barge_in_pause_s` of voiced speech (on the echo-cancelled VAD alone, before any word is known)
pauses it: the agent falls silent as a person does when talked over. After `barge_in_probe_s`
of speech a quick transcript is taken: words that are not a backchannel stop the agent; so does
speech longer than `backchannel_max_s`. Speech that ends before either and is only a
backchannel ("uh-huh", "嗯") or nothing lets the agent go on, at full volume, from
`resume_rewind_s` before where it paused. On a stop,
`responder.played(heard)` gets what the caller heard (voice.live.playback), and the caller's speech
becomes their next turn; speech during the thinking, before any reply was made, is joined to the
turn it follows. Speech still undecided when the reply (or the greeting) has been played to its
end, because it began in the last moment before the voice could pause or its quick transcript is
not back yet, is not dropped: it goes on as the caller's turn, answered unless it is only a
backchannel. A quick transcript that fails (an ASR error, or `asr_timeout_s`) decides nothing and
drops nothing: at the speech's end the agent holds while the speech is transcribed again as the
caller's turn, and if that fails too, the speech is the caller's turn and hears the apology.
Speech begun while an earlier one is being judged is judged in its turn; a transcript taken of
speech that becomes the caller's turn is that turn's, not taken again.

Silence: `silence_timeout_s` without caller speech after the agent finished -> a re-prompt; a
second -> goodbye and the session ends, unless the caller speaks over its end: that speech is a
turn, and the call goes on if it is answered (not for a backchannel or noise). The session is
driven by input frames (its times are those of the audio pushed), so a bridge pushes silence
frames too, as phones and browsers do.

Model calls run in worker threads through the clock (`clock.offload`), so frames keep flowing;
the VAD runs inline (~0.2 ms a chunk). With `voice.live.clock.VirtualClock` a recorded call replays
faster than real time (voice.live.replay). Output pacing needs `pace=True` for the echo reference and
the barge-in timing to mean anything; `pace=False` hands frames out as fast as they are taken.

This module holds the session, its input path and its timers; the agent's side of a turn (the
answer, speech, playback and barge-in) is `voice.live.agent_turn.AgentTurn`, mixed into it.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np

from voice.live.agent_turn import AgentTurn, Job, Probe, Speaking
from voice.live.clock import RealClock
from voice.live.echo import EchoCanceller, make_echo_canceller
from voice.live.endpoint import Endpointer
from voice.live.frames import InputClock, StreamResampler, as_samples
from voice.live.playback import Player
from voice.live.stream_vad import VAD_RATE, StreamVAD
from voice.live.types import (
    EVENT_KINDS,
    Event,
    Reply,
    Responder,
    SessionOptions,
    TurnMetrics,
)
from voice.types import Audio, Transcript

logger = logging.getLogger(__name__)

__all__ = ["EVENT_KINDS", "Event", "Reply", "Responder", "SessionOptions", "TurnMetrics",
           "VoiceSession"]  # fmt: skip


class VoiceSession(AgentTurn):
    def __init__(self, vad: StreamVAD, asr, responder: Responder, tts,
                 options: SessionOptions | None = None, *, in_rate: int = VAD_RATE,
                 out_rate: int = VAD_RATE, clock=None, echo: EchoCanceller | None = None):  # fmt: skip
        options = options or SessionOptions()
        if options.language not in tts.languages:
            raise ValueError(f"the TTS speaks {tuple(tts.languages)}; options.language is "
                             f"{options.language!r}")  # fmt: skip
        self.vad, self.asr, self.responder, self.tts = vad, asr, responder, tts
        self.options = options
        self.in_rate, self.out_rate = in_rate, out_rate
        self.clock = clock or RealClock()
        if echo is None and options.echo is not None:
            echo = make_echo_canceller(options.echo, VAD_RATE)
        if echo is not None and echo.sample_rate != VAD_RATE:
            raise ValueError(f"the echo canceller runs at {echo.sample_rate} Hz; the session's "
                             f"line is at {VAD_RATE} Hz")  # fmt: skip
        self.echo: EchoCanceller | None = echo  # None: a headset, or a client that cancels echo
        self.endpointer = Endpointer(options.endpoint)
        self.frame_samples = int(round(out_rate * options.frame_ms / 1000))
        self.player = Player(self.frame_samples)
        self.metrics: list[TurnMetrics] = []
        self.log: list[Event] = []
        self.ended = ""  # why the session ended ("" while it goes on)
        self._in = StreamResampler(in_rate, VAD_RATE)
        self._in_clock = InputClock(VAD_RATE)  # the input's position by the wall clock
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
        self._turn_overlapped = False  # it began while the agent spoke, and nothing judged it
        self._voice_end_s = 0.0  # when the agent's voice last ended (stream time)
        self._partial: Transcript | None = None
        self._partial_upto = -1.0  # speech end the partial covers
        self._partial_asked = -1.0
        self._partial_job: Job | None = None  # the partial transcript of the speech so far
        self._speaking: Speaking | None = None
        self._probe: Probe | None = None
        self._idle_since = 0.0
        self._timeouts = 0
        self._asr_failures = 0  # turns without a transcript in a row
        self._hangup_s: float | None = None  # the goodbye was said: the line closes then, if quiet
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
        self._in_clock.took(len(x), self.clock.now())
        for i in range(0, len(x), 512):
            self._step(x[i : i + 512])

    async def say(self, text: str, language: str | None = None) -> None:
        """Speak `text` now (a greeting); returns at once, playback goes on in the background."""
        self._start_reply(Speaking(self.now_s, prompt=True), text, language or self._language)

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
            if self.echo is not None:  # where the line is now, though its frames come late
                self.echo.play(
                    self._ref.process(frame), at=self._in_clock.position(self.clock.now())
                )
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
        self._end("closed")  # (if it had not ended already)
        self._discard_prepared()  # an answer being prepared for a caller who has gone
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
        if self._hangup_s is not None and self.now_s >= self._hangup_s and self._quiet():
            self._end("silence")
            return
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
        p = self._probe
        if self._speaking is not None:
            if p is None:
                self._probe = Probe(start_s, self.now_s, over_last=self.player.on_last_sentence())
                if self._speaking.playing:
                    self.player.duck(self.options.duck_gain)
            elif p.final_launched and p.next_onset_s is None:  # p's words are being judged
                p.next_onset_s = start_s
            return
        if self._turn_start is None:  # begun before the agent's last word: "ok" is no turn
            self._turn_start, self._turn_overlapped = start_s, start_s < self._voice_end_s
        else:  # the caller goes on: a reply prepared for their words so far is stale
            self._discard_prepared()

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
            self._partial_job = Job(speech_end, task)
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
            if self._turn_start is not None and transcript.text.strip():
                self._prepare(transcript)  # the turn may end on these words: answer them now
        return transcript

    def _end_turn(self, needed: float, reason: str) -> None:
        vad = self.vad
        speech_end = vad.time_s - vad.silence_s if not vad.speaking else self.now_s
        start = self._turn_start
        reuse = self._partial if self._partial_upto >= speech_end else None
        pending = None  # a transcript of this very speech, taken or being taken: wait for it
        job = self._partial_job
        if reuse is None and job is not None and job.end_s == speech_end:
            pending = job
        if reuse is None:
            self._discard_prepared()
        self._partial_job = None
        self._turn_start, self._partial, self._partial_upto = None, None, -1.0
        sp = Speaking(start)
        sp.times["speech_end"] = self._clock_at(speech_end)
        sp.times["endpoint"] = self.clock.now()
        sp.info.update(speech_s=speech_end - start, needed=needed, reason=reason,
                       reused=reuse is not None or pending is not None,
                       overlapped=self._turn_overlapped)  # fmt: skip
        self._turn_overlapped = False
        audio = self._audio(start - self.options.preroll_s, speech_end + 0.1)
        self._speaking = sp
        self._spawn(self._answer(sp, audio, reuse, pending))

    # -- silence ------------------------------------------------------------------------------

    def _on_timeout(self) -> None:
        self._timeouts += 1
        lang = self._prompt_language()
        last = self._timeouts >= 2
        text = (self.options.goodbye if last else self.options.reprompt)[lang]
        self._emit("reprompt", text, {"count": self._timeouts, "goodbye": last})
        sp = Speaking(self.now_s, prompt=True)
        self._start_reply(sp, text, lang)
        if last:
            self._spawn(self._end_after(sp, "silence"))

    async def _end_after(self, sp: Speaking, reason: str) -> None:
        """End the session once `sp` has been said, unless the caller interrupted it. After the
        silence goodbye the line stays open as long as the VAD needs to report speech begun by
        its last word, and then until the caller is quiet: caller speech over its end (still
        undecided, or not yet reported) is a turn, and a turn that is answered keeps the call
        (AgentTurn._answer); a backchannel or noise does not."""
        await sp.done.wait()
        if sp.interrupted:
            return
        if reason != "silence":
            self._end(reason)
            return
        vad = self.vad
        self._hangup_s = self.now_s + vad.options.min_speech_s + 2 * vad.chunk_s

    # -- helpers ------------------------------------------------------------------------------

    def _end(self, reason: str) -> None:
        if not self.ended:
            self.ended = reason
            self._emit("ended", reason)

    def _quiet(self) -> bool:
        """Neither side is speaking, and no caller turn is waiting for its end or its answer."""
        return not self.vad.speaking and self._turn_start is None and self._speaking is None

    def _prompt_language(self) -> str:
        return self._language if self._language in self.options.reprompt else "en"

    async def _asr(self, audio: Audio) -> Transcript | None:
        """The transcript, or None when the ASR failed or took over `asr_timeout_s` (a server
        that is down or slow). A quick transcript that fails decides nothing: the turn's own
        transcript does, and if that fails the turn gets the apology (AgentTurn._answer)."""
        limit = self.options.asr_timeout_s
        try:
            transcript = await asyncio.wait_for(self.clock.offload(self.asr.transcribe, audio), limit)  # fmt: skip
        except Exception as e:
            why = f"no transcript after {limit:g} s" if isinstance(e, TimeoutError) else str(e)
            logger.error("ASR failed: %s", why)
            self._emit("error", why, {"stage": "asr"})
            return None
        return transcript

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
