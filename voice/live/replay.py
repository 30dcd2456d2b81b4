"""Replay a recorded caller through a `VoiceSession`: 20 ms frames on the session's clock.

    clock = VirtualClock()  # or RealClock() to replay in real time
    session = VoiceSession(vad, asr, responder, tts, in_rate=8000, out_rate=8000, clock=clock)
    result = asyncio.run(replay(session, load_audio("call.wav"), line_echo=(0.12, 0.3)))
    result.metrics, result.events, result.heard

The caller's audio (resampled to the session's `in_rate`) is pushed frame by frame, each when it
has been fully "spoken" on the clock, then `tail_s` of silence; the replay stops early when the
session ends. `line_echo=(delay_s, gain)` adds to the input what the session played `delay_s`
earlier, times `gain`: the echo of a telephone line.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from voice.live.frames import StreamResampler
from voice.types import Audio


@dataclass(frozen=True, eq=False)
class Replay:
    heard: Audio  # what the caller heard, on the input's timeline, at the session's out_rate
    frames: tuple[tuple[float, Audio], ...]  # (clock time, frame) of every output frame
    events: tuple  # voice.live.session.Event
    metrics: tuple  # voice.live.session.TurnMetrics
    ended: str  # why the session ended, "" if it did not


async def replay(session, audio: Audio, *, frame_ms: float = 20.0, tail_s: float = 3.0,
                 line_echo: tuple[float, float] | None = None, greeting: str = "") -> Replay:  # fmt: skip
    clock, rate = session.clock, session.in_rate
    x = audio.samples.astype(np.float32)
    if audio.sample_rate != rate:
        r = StreamResampler(audio.sample_rate, rate)
        x = np.concatenate([r.process(x), r.process(np.zeros(2 * r.half, np.float32))])[
            r.half * rate // audio.sample_rate :
        ]
    n = int(round(rate * frame_ms / 1000))
    total = len(x) + int(tail_s * rate)
    x = np.concatenate([x, np.zeros(total - len(x) + n, np.float32)])
    heard = np.zeros(total + n, np.float32)  # the output on the input timeline, at in_rate
    frames: list[tuple[float, Audio]] = []
    to_in = StreamResampler(session.out_rate, rate)
    t0 = clock.now()

    async def consume():
        async for frame in session.output():
            t = clock.now()
            frames.append((t, frame))
            y = to_in.process(frame.samples)
            at = int(round((t - t0) * rate))
            if 0 <= at < len(heard):
                y = y[: len(heard) - at]
                heard[at : at + len(y)] += y

    events: list = []

    async def watch():
        async for event in session.events():
            events.append(event)

    tasks = [asyncio.create_task(consume()), asyncio.create_task(watch())]
    await asyncio.sleep(0)
    if greeting:
        await session.say(greeting)
    for i in range(0, total, n):
        await clock.sleep(t0 + (i + n) / rate - clock.now())
        frame = x[i : i + n].copy()
        if line_echo is not None:
            d = int(round(line_echo[0] * rate))
            frame += (
                line_echo[1] * heard[max(0, i - d) : max(0, i - d) + n][: len(frame)] * (i >= d)
            )
        await session.push(frame)
        if session.ended:
            break
    await session.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    out = StreamResampler(rate, session.out_rate).process(heard)
    return Replay(
        Audio(out, session.out_rate, audio.source), tuple(frames), tuple(events),
        tuple(session.metrics), session.ended,
    )  # fmt: skip
