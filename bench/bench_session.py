"""Live voice sessions in real time on the offline profile: scripted calls, English and Chinese.

    .venv/bin/python bench/bench_session.py [--quick] [--calls en1,zh1] [--systems streaming,naive]
        [--rate 16000] [--line-echo [delay|hybrid]] [--echo webrtc,gain]
        [--caller-voice en=VOICE,zh=VOICE] [--lm none,shipped] [-v]

Each call is a script of caller lines: a `turn` starts after the agent finished its reply, a
`barge` starts `after_s` into the agent's reply (real words: "wait, it's order ..."), a
`backchannel` too ("okay", "好的"), and is not a turn. The caller's speech is synthesized once
by voices the agent does not use (Kokoro `jm_kumo` in English, `jf_nezumi` in Chinese, which
Whisper hears better than `jm_kumo`; the agent speaks with Piper in English and Kokoro
`jf_alpha` in Chinese) and cached in bench/material/session/. The call is
driven live: 20 ms frames pushed on the wall clock, silence between lines, each line started
when the session's events say so. Everything is real: RealClock, the Silero stream VAD, the
packaged multilingual Whisper base (with its offline VAD, as dialogue.chat loads it), the Agent
with its templates (or `--lm shipped`: the shipped model phrasing them) over the sample shop
(demo/samples/retail), the offline Speaker.

Systems, the same calls through each, taking turns call by call:
- `streaming`: the session as shipped: adaptive endpointing with a quick partial transcript,
  the reply spoken sentence by sentence as the TTS makes it;
- `naive` (the baseline): the same session with a fixed 1.0 s silence endpoint, no partial
  transcript, and the whole reply synthesized before any of it plays;
- `after` (`--systems streaming,after`): `streaming` answering only once the turn has ended,
  not its quick transcript while the silence is timed (`SessionOptions(preemptive=False)`).

Reports voice-to-voice latency (end of caller speech -> first reply frame out) with the
session's own breakdown, and the same measured from outside (the end of the pushed line -> the
next playback start); TTS real-time factor and time to first audio per voice; barge-ins
honoured with the delay from the caller's first word to the playback stop (and to the duck);
backchannels ignored; ASR WER (en) / CER (zh) of the caller's turns. Prints markdown tables
and writes bench/out/session.json. Run by hand, never as a test.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
CACHE = BENCH / "material" / "session"
sys.path[:0] = [str(REPO), str(BENCH)]

from bench_transcribe import cpu_busy, md_table, score  # noqa: E402

from voice.live.echo import DEFAULT_ECHO, LINE_ECHOES, available_echo_cancellers  # noqa: E402
from voice.types import Audio  # noqa: E402

logger = logging.getLogger("bench_session")


@dataclass(frozen=True)
class Line:
    text: str
    kind: str = "turn"  # turn | barge | backchannel
    after_s: float = 0.0  # barge, backchannel: seconds into the agent's reply


@dataclass(frozen=True)
class Call:
    name: str
    language: str
    lines: tuple[Line, ...]


def _bc(text: str, after_s: float = 1.2) -> Line:
    return Line(text, "backchannel", after_s)


def _barge(text: str, after_s: float = 1.8) -> Line:
    return Line(text, "barge", after_s)


CALLS = (
    Call("en1", "en", (
        Line("Hi, I'd like to check on my order."), _bc("Okay."),
        Line("My email is alice@example.com."), _barge("Wait, it's order W2378156."),
        Line("Okay, thank you, goodbye."),
    )),
    Call("zh1", "zh", (
        Line("你好，我想查一下订单。"), _barge("我叫Bob Jones，邮编是94105。"),
        _bc("好的。", 1.0), Line("订单号是W8632149。"), Line("谢谢，再见。"),
    )),
    Call("en2", "en", (
        Line("Hello, I'd like to return something."),
        _barge("Sorry, I'm Bob Jones, zip code 94105."), _bc("Right.", 1.0),
        Line("Just the water bottle, please."), Line("No, that's all. Thank you, goodbye."),
    )),
    Call("zh2", "zh", (
        Line("你好，我想退货。"), Line("我的邮箱是bob@example.com。"),
        _barge("等一下，我想取消订单W8632149。"),
        Line("谢谢，再见。"),
    )),
    Call("en3", "en", (
        Line("Where is my order?"),
        Line("My name is Bob Jones and my zip code is 94105."), _bc("Okay.", 1.5),
        Line("The pending one."), _barge("Wait, actually I want to cancel it.", 1.5),
        Line("Thank you, goodbye."),
    )),
    Call("zh3", "zh", (
        Line("我的快递到哪里了？"), _bc("好。", 1.5), Line("我叫Bob Jones，邮编是94105。"),
        _barge("等一下，订单号是W8632149。", 1.5), Line("谢谢，再见。"),
    )),
)  # fmt: skip
QUICK = ("en1", "zh1")


# -- the caller's voice -------------------------------------------------------------------------


def trim(x: np.ndarray, rate: int, margin_s: float = 0.03) -> np.ndarray:
    """The synthesized line without its leading and trailing silence (20 ms frames under -45 dBFS
    relative to the loudest)."""
    n = rate // 50
    rms = np.sqrt([np.mean(x[i : i + n] ** 2) for i in range(0, len(x) - n + 1, n)])
    loud = np.nonzero(rms > rms.max() * 10 ** (-45 / 20))[0]
    m = int(margin_s * rate)
    return x[max(0, loud[0] * n - m) : min(len(x), (loud[-1] + 1) * n + m)]


def caller_audio(calls, voices: dict[str, str], rate: int) -> dict[tuple[str, int], np.ndarray]:
    """(call name, line index) -> the caller's samples at `rate`, synthesized once and cached."""
    from voice.codec import resample
    from voice.tts.speaker import Speaker, load_voice

    speakers, out = {}, {}
    CACHE.mkdir(parents=True, exist_ok=True)
    for call in calls:
        voice = voices[call.language]
        for k, line in enumerate(call.lines):
            key = hashlib.sha1(f"{voice}|{call.language}|{line.text}".encode()).hexdigest()[:16]
            path = CACHE / f"{key}.npy"
            if not path.is_file():
                if voice not in speakers:
                    speakers[voice] = Speaker([load_voice(voice)])
                audio = speakers[voice].synthesize(line.text, call.language, 16_000)
                np.save(path, trim(audio.samples, 16_000))
            out[call.name, k] = resample(np.load(path), 16_000, rate)
    return out


# -- what the session is given ------------------------------------------------------------------


class TimedTTS:
    """The Speaker behind the session, timed: each stream() call's first chunk, synthesis time
    and audio length. `whole=True` (the baseline) makes the whole reply when the session asks
    for its first sentence, so nothing plays before all of it is made."""

    def __init__(self, speaker, whole: bool = False):
        from voice.tts.text import split_sentences

        self.speaker, self.whole, self._split = speaker, whole, split_sentences
        self.languages = speaker.languages
        self.log: list[dict] = []
        self._reply, self._rest = "", []

    def expect(self, reply: str) -> None:
        self._reply, self._rest = reply, []

    def stream(self, text: str, language: str, sample_rate: int | None = None):
        voice = self.speaker.voice_for(language).name
        entry = {"voice": voice, "language": language, "text": text, "synth_s": 0.0, "audio_s": 0.0}
        if self.whole:
            if self._rest and text == self._rest[0]:
                self._rest.pop(0)  # its audio came with the reply's first sentence
                return
            sentences = self._split(self._reply) if self._reply else []
            if sentences and text == sentences[0]:
                text, self._rest = self._reply, sentences[1:]
                entry.update(text=text, whole=True)
            self._reply = ""
            t0 = time.perf_counter()
            audio = self.speaker.synthesize(text, language, sample_rate)
            entry.update(synth_s=time.perf_counter() - t0, first_s=time.perf_counter() - t0,
                         audio_s=audio.duration_s)  # fmt: skip
            self.log.append(entry)
            yield audio
            return
        self.log.append(entry)
        chunks = iter(self.speaker.stream(text, language, sample_rate))
        while True:
            t0 = time.perf_counter()
            chunk = next(chunks, None)
            entry["synth_s"] += time.perf_counter() - t0
            if chunk is None:
                return
            entry.setdefault("first_s", entry["synth_s"])
            entry["audio_s"] += chunk.duration_s
            yield chunk


class NotingResponder:
    """The AgentResponder, telling the baseline's TTS each reply before its sentences come."""

    def __init__(self, responder, tts: TimedTTS):
        self.responder, self.tts = responder, tts
        self.streams = responder.streams

    def respond(self, transcript, say=None):
        if say is None:
            reply = self.responder.respond(transcript)
            self.tts.expect(reply.text)
            return reply

        def noted(text: str, language: str) -> None:
            self.tts.expect(text)
            say(text, language)

        return self.responder.respond(transcript, noted)

    def played(self, heard: str) -> None:
        self.responder.played(heard)


# -- one call, live -----------------------------------------------------------------------------


class LiveCall:
    """The caller's side: frames pushed on the clock (silence between lines), each line queued
    when the script decides; the agent's frames and events taken as they come."""

    def __init__(self, session, line_echo: np.ndarray | None, max_s: float = 240.0):
        self.s, self.clock, self.rate = session, session.clock, session.in_rate
        self.n = self.rate // 50
        self.queue: deque[tuple[int, np.ndarray]] = deque()
        self.spoken: dict[int, list[float]] = {}  # line -> [onset, end] on the clock
        self.done: dict[int, asyncio.Event] = {}
        self.events: list = []
        self.changed = asyncio.Event()
        self.line_echo = line_echo  # the line's echo path (voice.live.echo.line_echo_response)
        self.heard = np.zeros(int(max_s * self.rate), np.float32) if line_echo is not None else None
        self.lag_s = 0.0  # the most the frame pushes fell behind the clock
        self.t0 = self.clock.now()

    async def run(self, call: Call, audio: dict, gap_s: float) -> None:
        tasks = [asyncio.create_task(c) for c in (self._watch(), self._consume())]
        pusher = asyncio.create_task(self._push())
        try:
            await self._script(call, audio, gap_s)
        finally:
            await self.s.close()
            pusher.cancel()
            await asyncio.gather(*tasks, pusher, return_exceptions=True)

    async def _script(self, call: Call, audio: dict, gap_s: float) -> None:
        clock = self.clock
        await clock.sleep(0.5)
        mark = 0
        for k, line in enumerate(call.lines):
            if line.kind == "turn":
                if k:
                    await self._wait(_finished, mark)
                    await clock.sleep(gap_s)
            else:
                ev = await self._wait(lambda e: e.kind == "playback_started", mark)
                if ev is not None:
                    await clock.sleep(ev.time_s + line.after_s - clock.now())
            if self.s.ended:
                logger.warning("%s ended (%s) before line %d", call.name, self.s.ended, k)
                break
            mark = len(self.events)
            self.done[k] = asyncio.Event()
            self.queue.append((k, audio[call.name, k]))
            await self.done[k].wait()
        # the last turn's latency is known when its reply starts: no need to hear it out
        await self._wait(lambda e: e.kind == "playback_started", mark)
        await clock.sleep(1.0)

    async def _wait(self, pred, start: int, timeout_s: float = 25.0):
        """The first event from index `start` on that `pred` accepts (or the session's end)."""
        deadline = self.clock.now() + timeout_s
        while True:
            for e in self.events[start:]:
                if pred(e) or e.kind == "ended":
                    return e
            self.changed.clear()
            left = deadline - self.clock.now()
            if left <= 0:
                return None
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                return None

    async def _push(self) -> None:
        n, rate, i, cur, off = self.n, self.rate, 0, None, 0
        while not self.s.ended:
            due = self.t0 + (i + 1) * n / rate
            await self.clock.sleep(due - self.clock.now())
            now = self.clock.now()
            self.lag_s = max(self.lag_s, now - due)
            frame, filled = np.zeros(n, np.float32), 0
            while filled < n and (cur is not None or self.queue):
                if cur is None:
                    cur, off = self.queue.popleft(), 0
                    self.spoken[cur[0]] = [now - (n - filled) / rate, 0.0]
                k, x = cur
                take = min(n - filled, len(x) - off)
                frame[filled : filled + take] = x[off : off + take]
                filled, off = filled + take, off + take
                if off >= len(x):
                    self.spoken[k][1] = now - (n - filled) / rate
                    self.done[k].set()
                    cur = None
            if self.heard is not None:  # the agent's voice through the line's echo path
                d = int(np.argmax(self.line_echo != 0))  # the delay, then the taps
                h = self.line_echo[d:]
                a = i * n - d - len(h) + 1
                if a >= 0:
                    frame += np.convolve(self.heard[a : a + n + len(h) - 1], h, "valid")
            await self.s.push(frame)
            i += 1
        for ev in self.done.values():
            ev.set()

    async def _consume(self) -> None:
        end = 0  # the line plays the agent's frames back to back, as a phone's jitter buffer does
        async for frame in self.s.output():
            if self.heard is not None:
                at = max(end, int(round((self.clock.now() - self.t0) * self.rate)))
                y = frame.samples[: max(0, len(self.heard) - at)]
                self.heard[at : at + len(y)] += y
                end = at + len(y)

    async def _watch(self) -> None:
        async for event in self.s.events():
            self.events.append(event)
            self.changed.set()


def _finished(e) -> bool:
    return e.kind == "playback_stopped" and e.data.get("reason") == "finished"


SYSTEMS = ("streaming", "naive", "after")
DEFAULT_SYSTEMS = "streaming,naive"  # "after": streaming, answering only once the turn has ended


def build_session(system: str, runtime, asr, call: Call, rate: int, echo: str | None):
    from dialogue.voice_agent import AgentResponder
    from voice.live.endpoint import EndpointOptions
    from voice.live.session import SessionOptions, VoiceSession
    from voice.live.stream_vad import SileroStream, StreamVAD

    naive = system == "naive"
    tts = TimedTTS(runtime.speaker, whole=naive)
    responder = AgentResponder(runtime.start("voice"))
    options = SessionOptions(language=call.language, echo=echo, preemptive=system != "after")
    if naive:
        responder = NotingResponder(responder, tts)
        fixed = EndpointOptions(base_silence_s=1.0, long_silence_s=1.0)
        options = SessionOptions(language=call.language, partial_asr=False, endpoint=fixed,
                                 echo=echo)  # fmt: skip
    session = VoiceSession(StreamVAD(SileroStream.load()), asr, responder, tts, options,
                           in_rate=rate, out_rate=rate)  # fmt: skip
    return session, tts


async def run_call(system, runtime, asr, call, audio, args, echo=None) -> dict:
    from voice.live.echo import line_echo_response

    echo = echo if args.line_echo else None
    session, tts = build_session(system, runtime, asr, call, args.rate, echo)
    path = line_echo_response(args.line_echo, args.rate) if args.line_echo else None
    live = LiveCall(session, path)
    await live.run(call, audio, args.gap_s)
    return analyse_call(system, call, live, session, tts)


# -- what happened ------------------------------------------------------------------------------


def analyse_call(system: str, call: Call, live: LiveCall, session, tts: TimedTTS) -> dict:
    t0, events = live.t0, live.events
    spoken = {k: v for k, v in live.spoken.items() if v[1]}
    order = sorted(spoken, key=lambda k: spoken[k][0])

    def line_at(t: float) -> int | None:
        """The last line whose speech started before clock time t."""
        before = [k for k in order if spoken[k][0] <= t]
        return before[-1] if before else None

    def playing_at(t: float) -> bool:
        state = False
        for e in events:
            if e.time_s > t:
                break
            if e.kind in ("playback_started", "playback_stopped"):
                state = e.kind == "playback_started"
        return state

    def first(kind: str, a: float, b: float, pred=lambda e: True):
        return next((e for e in events if e.kind == kind and a <= e.time_s <= b and pred(e)), None)

    voice = tts.speaker.voice_for(call.language).name
    turns = []
    for e in events:
        if e.kind != "metrics":
            continue
        m = e.metrics
        speech_end = e.time_s - m.voice_to_voice_ms / 1000
        k = line_at(speech_end)
        line = call.lines[k] if k is not None else None
        outside = 1000 * (e.time_s - spoken[k][1]) if k is not None else None
        # a final transcription queued behind the partial of the same speech, still running
        asked = speech_end + m.endpoint_ms / 1000
        late = first("partial", asked, asked + m.asr_ms / 1000) if m.asr_ms else None
        wasted = m.asr_ms - 1000 * (late.time_s - asked) if late else 0.0
        turns.append({
            "call": call.name, "language": call.language, "line": k, "voice": voice,
            "kind": line.kind if line else None, "voice_to_voice_ms": m.voice_to_voice_ms,
            "endpoint_ms": m.endpoint_ms, "asr_ms": m.asr_ms, "respond_ms": m.respond_ms,
            "nlu_ms": m.responder_ms.get("nlu"), "tts_first_ms": m.tts_first_ms,
            "playout_ms": m.playout_ms, "outside_ms": outside, "speech_s": m.speech_s,
            "silence_needed_s": m.silence_needed_s, "endpoint_reason": m.endpoint_reason,
            "reused_partial": m.reused_partial, "after_inflight_partial_ms": wasted,
            "ahead_ms": m.responder_ms.get("ahead"),  # answered from the partial, this long before
        })  # fmt: skip
    lines = []
    for k, line in enumerate(call.lines):
        row = {"line": k, "kind": line.kind, "text": line.text, "spoken": k in spoken}
        if k not in spoken:
            lines.append(row)
            continue
        on, end = spoken[k]
        nxt = next((spoken[j][0] for j in order if spoken[j][0] > on), on + 30.0)
        row.update(onset_s=on - t0, end_s=end - t0, agent_playing=playing_at(on))
        transcripts = [x.text for x in events if x.kind == "transcript" and on <= x.time_s < nxt
                       and line_at(x.time_s) == k]  # fmt: skip
        row["transcript"] = " ".join(transcripts)
        if line.kind != "backchannel":
            errors, length = score(line.text, row["transcript"], call.language)
            row.update(errors=errors, ref_len=length)
        if line.kind != "turn":
            barge = first("barge_in", on, nxt)
            stop = first("playback_stopped", on, nxt, lambda x: x.data.get("reason") == "barge_in")
            duck = first("speech_started", on, nxt, lambda x: x.data.get("agent_active"))
            done = first("playback_stopped", on, nxt, _finished)
            judged = first("backchannel", on, nxt)
            paused = first("playback_paused", on, nxt)
            resumed = first("playback_resumed", on, nxt)
            silent = [t for t in (paused, stop) if t is not None]
            row.update(
                silent_ms=1000 * (min(x.time_s for x in silent) - on) if silent else None,
                resumed_ms=1000 * (resumed.time_s - on) if resumed else None,
                barge_in=barge is not None, why=barge.data.get("why") if barge else None,
                heard=barge.text if barge else None,
                stop_ms=1000 * (stop.time_s - on) if stop else None,
                duck_ms=1000 * (duck.time_s - on) if duck else None,
                unduck_ms=1000 * (judged.time_s - on) if judged else None,
                finished_ms=1000 * (done.time_s - on) if done else None,
                judged=[x.text for x in events if x.kind == "backchannel" and on <= x.time_s < nxt],
            )  # fmt: skip
        lines.append(row)
    talking = [(on, end + 0.3) for on, end in spoken.values()]  # the caller's lines, and a tail

    def unprompted(kind: str) -> int:  # the agent's own echo or noise, with no caller speaking
        return sum(
            e.kind == kind and not any(a <= e.time_s <= b for a, b in talking) for e in events
        )

    false_events = {"paused": unprompted("playback_paused"), "barge_in": unprompted("barge_in")}
    log = [{"t_s": round(e.time_s - t0, 3), "kind": e.kind, "text": e.text,
            "data": {k: v for k, v in e.data.items() if isinstance(v, str | int | float | bool)}}
           for e in events if e.kind != "metrics"]  # fmt: skip
    return {"system": system, "call": call.name, "language": call.language, "turns": turns,
            "lines": lines, "false": false_events, "tts": tts.log, "ended": session.ended, "push_lag_ms": 1000 * live.lag_s,
            "errors": [e.text for e in events if e.kind == "error"], "events": log}  # fmt: skip


# -- tables -------------------------------------------------------------------------------------


def pct(xs, q: float) -> float | None:
    xs = [x for x in xs if x is not None]
    return float(np.percentile(xs, q)) if xs else None


def ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}x"


PARTS = ("endpoint_ms", "asr_ms", "respond_ms", "tts_first_ms", "playout_ms")


def latency_rows(results: dict[str, list[dict]]) -> list[list[str]]:
    rows = [["system", "lang", "turns", "v2v p50", "v2v p95", "outside p50", "endpoint p50",
             "ASR p50", "respond p50 (NLU)", "TTS first p50", "playout p50", "p50 vs naive"]]  # fmt: skip
    base = {lang: pct([t["voice_to_voice_ms"] for c in results.get("naive", []) for t in c["turns"]
                       if lang in ("all", c["language"])], 50) for lang in ("en", "zh", "all")}  # fmt: skip
    for system, calls in results.items():
        for lang in ("en", "zh", "all"):
            ts = [t for c in calls for t in c["turns"] if lang in ("all", c["language"])]
            if not ts:
                continue
            p50 = pct([t["voice_to_voice_ms"] for t in ts], 50)
            col = [pct([t[p] for t in ts], 50) for p in PARTS]
            nlu = pct([t["nlu_ms"] for t in ts], 50)
            rows.append([system, lang, str(len(ts)), ms(p50), ms(pct([t["voice_to_voice_ms"] for t in ts], 95)),
                         ms(pct([t["outside_ms"] for t in ts], 50)), ms(col[0]), ms(col[1]),
                         f"{ms(col[2])} ({ms(nlu)})", ms(col[3]), ms(col[4]), ratio(p50, base[lang])])  # fmt: skip
    return rows


def share_rows(results: dict[str, list[dict]]) -> list[list[str]]:
    """Where the time goes: each stage's mean and its share of the mean voice-to-voice."""
    rows = [["system", "lang", "v2v mean", *(p.removesuffix("_ms") for p in PARTS)]]
    for system, calls in results.items():
        for lang in ("en", "zh"):
            ts = [t for c in calls for t in c["turns"] if c["language"] == lang]
            if not ts:
                continue
            total = float(np.mean([t["voice_to_voice_ms"] for t in ts]))
            cells = [f"{np.mean([t[p] for t in ts]):.0f} ({100 * np.mean([t[p] for t in ts]) / total:.0f}%)"
                     for p in PARTS]  # fmt: skip
            rows.append([system, lang, f"{total:.0f}", *cells])
    return rows


def endpoint_rows(results: dict[str, list[dict]]) -> list[list[str]]:
    """Turns by endpoint reason; final ASR started while the partial of the same speech ran."""
    rows = [["system", "endpoint reason", "turns", "silence needed s", "endpoint mean ms",
             "partial reused", "ASR mean ms", "ASR queued behind partial", "of it after the partial ms",
             "answered ahead (head start p50 ms)"]]  # fmt: skip
    for system, calls in results.items():
        ts = [t for c in calls for t in c["turns"]]
        for reason in sorted({t["endpoint_reason"] for t in ts}):
            rs = [t for t in ts if t["endpoint_reason"] == reason]
            queued = [t["after_inflight_partial_ms"] for t in rs if t["after_inflight_partial_ms"]]
            ahead = [t["ahead_ms"] for t in rs if t.get("ahead_ms") is not None]
            rows.append([system, reason, str(len(rs)), f"{rs[0]['silence_needed_s']:.2f}",
                         ms(np.mean([t["endpoint_ms"] for t in rs])),
                         f"{sum(t['reused_partial'] for t in rs)}/{len(rs)}",
                         ms(np.mean([t["asr_ms"] for t in rs])), f"{len(queued)}/{len(rs)}",
                         ms(np.mean(queued)) if queued else "-",
                         f"{len(ahead)}/{len(rs)} ({ms(pct(ahead, 50))})" if ahead else f"0/{len(rs)}"])  # fmt: skip
    return rows


def tts_rows(results: dict[str, list[dict]]) -> list[list[str]]:
    rows = [["system", "voice", "lang", "calls to TTS", "audio s", "synth s", "RTF",
             "first audio p50 ms", "first audio p95 ms"]]  # fmt: skip
    for system, calls in results.items():
        entries = [e for c in calls for e in c["tts"] if e["audio_s"]]
        for voice in sorted({e["voice"] for e in entries}):
            es = [e for e in entries if e["voice"] == voice]
            audio, synth = sum(e["audio_s"] for e in es), sum(e["synth_s"] for e in es)
            firsts = [t["tts_first_ms"] for c in calls for t in c["turns"] if t["voice"] == voice]
            rows.append([system, voice, ",".join(sorted({e["language"] for e in es})), str(len(es)),
                         f"{audio:.1f}", f"{synth:.1f}", f"{synth / audio:.3f}",
                         ms(pct(firsts, 50)), ms(pct(firsts, 95))])  # fmt: skip
    return rows


def barge_rows(results: dict[str, list[dict]]) -> list[list[str]]:
    rows = [["system", "kind", "lines", "during playback", "stopped", "by words / by length",
             "ignored", "silent p50 ms", "silent p95 ms", "silent max ms", "silent <= 300 ms",
             "stop p50 ms", "duck p50 ms", "paused, then on", "on again p50 ms"]]  # fmt: skip
    for system, calls in results.items():
        for kind in ("barge", "backchannel"):
            ls = [x for c in calls for x in c["lines"] if x["kind"] == kind and x["spoken"]]
            live = [x for x in ls if x["agent_playing"]]
            stops = [x["stop_ms"] for x in live if x["stop_ms"] is not None]
            silent = [x["silent_ms"] for x in live if x.get("silent_ms") is not None]
            back = [x["resumed_ms"] for x in live if x.get("resumed_ms") is not None]
            rows.append([system, kind, str(len(ls)), str(len(live)),
                         f"{sum(x['barge_in'] for x in live)}/{len(live)}",
                         f"{sum((x['why'] or '').startswith('caller said') for x in live)} / "
                         f"{sum((x['why'] or '').startswith('speech longer') for x in live)}",
                         f"{sum(not x['barge_in'] for x in live)}/{len(live)}",
                         ms(pct(silent, 50)), ms(pct(silent, 95)), ms(max(silent, default=None)),
                         f"{sum(s <= 300 for s in silent)}/{len(silent)}", ms(pct(stops, 50)),
                         ms(pct([x["duck_ms"] for x in live], 50)), f"{len(back)}/{len(live)}",
                         ms(pct(back, 50))])  # fmt: skip
        false = [c.get("false", {}) for c in calls]
        rows.append([system, "no caller speech", "", "", f"{sum(f.get('barge_in', 0) for f in false)} barge-ins",
                     "", "", "", "", "", "", "", "", f"{sum(f.get('paused', 0) for f in false)} pauses", ""])  # fmt: skip
    return rows


def asr_rows(results: dict[str, list[dict]]) -> list[list[str]]:
    rows = [["system", "lang", "caller turns", "errors / ref", "WER (en) / CER (zh)"]]
    for system, calls in results.items():
        for lang in ("en", "zh"):
            ls = [x for c in calls if c["language"] == lang for x in c["lines"]
                  if x["spoken"] and "errors" in x]  # fmt: skip
            if ls:
                e, n = sum(x["errors"] for x in ls), sum(x["ref_len"] for x in ls)
                rows.append([system, lang, str(len(ls)), f"{e}/{n}", f"{100 * e / max(1, n):.1f}%"])
    return rows


def line_rows(results: dict[str, list[dict]]) -> list[list[str]]:
    rows = [["system", "call", "line", "kind", "said", "heard (ASR)", "v2v ms", "endpoint",
             "barge-in / stop ms"]]  # fmt: skip
    for system, calls in results.items():
        for c in calls:
            by_line = {t["line"]: t for t in c["turns"]}
            for x in c["lines"]:
                t = by_line.get(x["line"])
                extra = ""
                if x["kind"] != "turn" and x["spoken"]:
                    extra = ("not during playback" if not x["agent_playing"] else
                             f"stopped {ms(x['stop_ms'])}" if x["barge_in"] else "ignored")  # fmt: skip
                rows.append([system, c["call"], str(x["line"]), x["kind"], x["text"],
                             x.get("transcript", "(not spoken)").replace("|", "/"),
                             ms(t["voice_to_voice_ms"]) if t else "-",
                             t["endpoint_reason"] if t else "-", extra])  # fmt: skip
    return rows


# -- main ---------------------------------------------------------------------------------------


def load(args, lm_name: str):
    from demo.phone.shared import SerialASR
    from demo.runtime import RuntimeOptions, build_runtime
    from fusion.types import TurnInput
    from voice.types import Transcript

    tmp = tempfile.mkdtemp(prefix="bench-session-")
    from dialogue.lm.shipped import choose

    lm_name, _, share = lm_name.partition("@")  # shipped@2: a streamed reply's later clauses
    lm, adapter = choose(lm_name)  # generated on 2 threads (LlamaCppOptions.stream_threads)
    runtime = build_runtime(RuntimeOptions(db=f"sqlite:///{tmp}/retail.db", kb=None, records=None,
                                           tts="offline", asr_model=args.asr_model, lm=lm, adapter=adapter))  # fmt: skip
    generator = runtime.services.generator
    if share and getattr(generator, "threads", None):
        generator.threads = (*generator.threads[:2], int(share))
    asr = SerialASR(runtime.services.asr)
    # warm-up, so that no call pays for loading: Whisper, both voices, the NLU
    asr.transcribe(Audio(np.zeros(16_000, np.float32), 16_000, "warm-up"))
    for lang, text in (("en", "Hello."), ("zh", "你好。")):
        runtime.speaker.synthesize(text, lang, args.rate)
        runtime.start("voice").respond(TurnInput(transcript=Transcript(text, lang, 1.0)))
    return runtime, asr


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help=f"two calls ({', '.join(QUICK)})")
    p.add_argument("--calls", default="", help="comma-separated call names (default: all six)")
    p.add_argument("--systems", default=DEFAULT_SYSTEMS, help="streaming (the session as it ships), naive (fixed 1 s endpoint, whole replies), after (streaming, but answering only once the turn has ended: SessionOptions(preemptive=False)); comma-separated, run side by side")  # fmt: skip
    p.add_argument("--rate", type=int, default=16_000, help="the line's rate, in and out")
    p.add_argument("--line-echo", nargs="?", const="delay", default=None, choices=LINE_ECHOES,
                   help="the agent's voice comes back 120 ms later at 0.3, with an echo canceller on: through a delay and a gain (delay, the default), or a phone hybrid's band and a short room (hybrid)")  # fmt: skip
    p.add_argument("--echo", default=DEFAULT_ECHO,
                   help=f"with --line-echo, the echo canceller: {', '.join(available_echo_cancellers())}; several, comma-separated, run side by side (default {DEFAULT_ECHO})")  # fmt: skip
    p.add_argument("--caller-voice", default="en=kokoro:jm_kumo,zh=kokoro:jf_nezumi",
                   help="the caller's voice.tts.speaker voice per language (the agent's: piper, kokoro)")  # fmt: skip
    p.add_argument("--asr-model", default="base", help="Whisper model (multilingual for zh)")
    p.add_argument("--lm", default="none", help="the dialogue model phrasing the replies: none (templates, the default here), shipped, or any --lm of cca chat; several, comma-separated, run side by side (none,shipped); shipped@N: its streamed replies' later clauses generated on N threads (LlamaCppOptions.stream_threads; default all)")  # fmt: skip
    p.add_argument(
        "--gap-s", type=float, default=0.5, help="caller's pause after the agent finished"
    )
    p.add_argument("--out", default=str(OUT / "session.json"))
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")  # fmt: skip
    names = (
        args.calls.split(",") if args.calls else QUICK if args.quick else [c.name for c in CALLS]
    )
    calls = [c for c in CALLS if c.name in names]
    systems = [s for s in args.systems.split(",") if s]
    if not calls or any(s not in SYSTEMS for s in systems):
        p.error(f"calls = {[c.name for c in CALLS]}, systems = {list(SYSTEMS)}")
    echoes = [x for x in args.echo.split(",") if x] if args.line_echo else [None]
    if args.line_echo and (not echoes or any(x not in available_echo_cancellers() for x in echoes)):
        p.error(f"--echo {args.echo!r}: choose from {available_echo_cancellers()}")
    busy = cpu_busy()
    if busy > 0.3:
        print(f"warning: the CPUs are {100 * busy:.0f}% busy before the run; times will be longer",
              file=sys.stderr)  # fmt: skip
    t_start = time.monotonic()
    voices = dict(x.split("=", 1) for x in args.caller_voice.split(","))
    audio = caller_audio(calls, voices, args.rate)
    lms = [x for x in args.lm.split(",") if x]
    loaded = {lm: load(args, lm) for lm in lms}  # a runtime per model, each with its own Whisper
    runtime = loaded[lms[0]][0]
    print(f"loaded in {time.monotonic() - t_start:.0f} s; {runtime.speaker.describe()}",
          file=sys.stderr)  # fmt: skip
    runs = [(s, lm, e, s + ("" if len(lms) == 1 else f", lm {lm}") + ("" if len(echoes) == 1 else f", echo {e}"))
            for s in systems for lm in lms for e in echoes]  # fmt: skip
    results: dict[str, list[dict]] = {name: [] for *_, name in runs}
    for i, call in enumerate(calls):
        for system, lm, echo, name in runs if i % 2 == 0 else runs[::-1]:
            t = time.monotonic()
            r = asyncio.run(run_call(system, *loaded[lm], call, audio, args, echo))
            results[name].append(r)
            v2v = " ".join(ms(x["voice_to_voice_ms"]) for x in r["turns"])
            print(f"{call.name} {name}: {time.monotonic() - t:.0f} s, v2v ms {v2v}, "
                  f"ended={r['ended'] or '-'}, errors={len(r['errors'])}", file=sys.stderr)  # fmt: skip
    config = {"calls": [c.name for c in calls], "systems": list(results), "rate": args.rate,
              "line_echo": args.line_echo, "echo": echoes, "caller_voice": args.caller_voice,
              "asr_model": args.asr_model, "speaker": runtime.speaker.describe(),
              "cpus": os.cpu_count(), "cpu_busy_before": round(busy, 2),
              "wall_s": round(time.monotonic() - t_start, 1)}  # fmt: skip
    sections = [
        ("Voice-to-voice latency (ms): session breakdown; outside = end of pushed line -> playback start", latency_rows),
        ("Where the time goes: mean ms per stage (share of mean voice-to-voice)", share_rows),
        ("Endpointing and the partial transcript", endpoint_rows),
        ("TTS in the session: RTF = synthesis s / audio s; first audio = reply text -> first chunk", tts_rows),
        ("Barge-ins honoured and backchannels ignored (ms from the caller's first sample)", barge_rows),
        ("ASR on the caller's turns", asr_rows),
        ("Every line", line_rows),
    ]  # fmt: skip
    print(f"\n{len(calls)} calls, {sum(len(c.lines) for c in calls)} caller lines, systems "
          f"{', '.join(systems)}; {config['wall_s']:.0f} s wall\n")  # fmt: skip
    for title, rows in sections:
        print(f"### {title}\n\n{md_table(rows(results))}\n")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"config": config, "results": results}, indent=1,
                                         ensure_ascii=False))  # fmt: skip
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
