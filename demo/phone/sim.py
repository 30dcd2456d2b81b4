"""`cca phone-sim`: call the phone bridge exactly as Twilio would, and measure it.

    cca phone-sim http://localhost:8080 --wav caller.wav [--callers 8] [--webhook --auth-token T]
                  [--dtmf 4567#] [--tail-s 8] [--out heard/]

Per caller: (with --webhook) POST /voice with a valid X-Twilio-Signature and read the TwiML's
<Stream url> and <Parameter>s; open the WebSocket; send `connected` and `start`; stream the WAV
as real-time 20 ms mu-law `media` frames, then `--tail-s` of silence; send the DTMF digits at
`--dtmf-at-s`; play the agent's frames on a virtual line (a frame plays after the one before
it), echo each `mark` once the audio before it has played, and drop unplayed audio on `clear`,
as Twilio does; then `stop`. Prints one JSON object: per call, the turn latencies (end of a
caller utterance -> first agent frame after it), outbound pacing (gaps between frames inside a
reply), marks and clears; and p50/p95 over all calls. Exit status 1 when a call failed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import sys
import time
import uuid
import wave
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from demo.phone.wire import twilio_signature
from voice.codec import FRAME_BYTES, mulaw_decode, mulaw_encode, resample

logger = logging.getLogger(__name__)

FRAME_S = 0.02


@dataclass(frozen=True)
class SimOptions:
    tail_s: float = 6.0  # silence streamed after the caller's audio
    dtmf: str = ""  # keypad digits to send ("4567#")
    dtmf_at_s: float = 1.0  # when, from the start of the stream
    webhook: bool = False  # POST /voice first (signed when auth_token is set)
    auth_token: str = ""
    out_dir: Path | None = None  # write what each caller heard as a WAV
    min_gap_s: float = 0.4  # a gap this long between agent frames separates two replies


def speech_ends(x: np.ndarray, rate: int = 8000, quiet_s: float = 0.6) -> list[float]:
    """Where each utterance of the caller's audio ends (20 ms frames over -40 dBFS)."""
    n = int(rate * FRAME_S)
    loud = [np.sqrt(np.mean(x[i : i + n] ** 2)) > 0.01 for i in range(0, len(x) - n + 1, n)]
    ends, last, quiet = [], None, 0
    for k, is_loud in enumerate(loud):
        if is_loud:
            last, quiet = k, 0
        elif last is not None:
            quiet += 1
            if quiet * FRAME_S >= quiet_s:
                ends.append((last + 1) * FRAME_S)
                last = None
    if last is not None:
        ends.append((last + 1) * FRAME_S)
    return ends


def _pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 1) if xs else None


async def sim_call(session, base_url: str, audio: np.ndarray, index: int = 0,
                   options: SimOptions = SimOptions(), messages: list | None = None) -> dict:  # fmt: skip
    """One caller; `audio` is float32 at 8 kHz. `session` is an aiohttp.ClientSession;
    `messages` (a list) collects every message the bridge sent."""
    call_sid, stream_sid = f"CA{uuid.uuid4().hex}", f"MZ{uuid.uuid4().hex}"
    account = "AC" + "0" * 32
    base = base_url.rstrip("/")
    stream_url, params = base.replace("http", "ws", 1) + "/media", {}
    result: dict = {"call": index, "call_sid": call_sid, "ok": False}
    if options.webhook:
        form = {"CallSid": call_sid, "AccountSid": account, "From": f"+1555010{index:04d}",
                "To": "+15550199", "CallStatus": "ringing", "Direction": "inbound"}  # fmt: skip
        headers = {}
        if options.auth_token:
            sig = twilio_signature(base + "/voice", form.items(), options.auth_token)
            headers["X-Twilio-Signature"] = sig
        async with session.post(base + "/voice", data=form, headers=headers) as r:
            if r.status != 200:
                result["error"] = f"webhook answered HTTP {r.status}"
                return result
            root = ET.fromstring(await r.text())
        stream = root.find("./Connect/Stream")
        stream_url = stream.get("url")
        params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    pcm = np.concatenate([audio, np.zeros(int(options.tail_s * 8000), np.float32)])
    payload = mulaw_encode(pcm)
    payload += b"\xff" * (-len(payload) % FRAME_BYTES)
    frames = [payload[i : i + FRAME_BYTES] for i in range(0, len(payload), FRAME_BYTES)]
    arrivals: list[float] = []
    heard: list[tuple[float, bytes]] = []  # (play time from t0, frame)
    line = {"end": 0.0, "marks": 0, "clears": 0, "dropped": 0}
    echoes: set[asyncio.Task] = set()
    ws = await session.ws_connect(stream_url, max_msg_size=1 << 20)
    t0 = time.monotonic()

    async def send(obj: dict) -> None:
        if not ws.closed:
            await ws.send_str(json.dumps(obj))

    async def echo_mark(name: str, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        line["marks"] += 1
        await send({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})

    async def receive() -> None:
        async for msg in ws:
            m = json.loads(msg.data)
            now = time.monotonic()
            if messages is not None:
                messages.append(m)
            if m["event"] == "media":
                arrivals.append(now - t0)
                start = max(now, line["end"])
                line["end"] = start + FRAME_S
                heard.append((start - t0, base64.b64decode(m["media"]["payload"])))
            elif m["event"] == "mark":
                task = asyncio.create_task(echo_mark(m["mark"]["name"], line["end"]))
                echoes.add(task)
                task.add_done_callback(echoes.discard)
            elif m["event"] == "clear":
                line["clears"] += 1
                line["dropped"] += sum(1 for t, _ in heard if t > now - t0)
                heard[:] = [(t, f) for t, f in heard if t <= now - t0]
                line["end"] = now

    async def stream() -> None:
        await send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await send({"event": "start", "sequenceNumber": "1", "streamSid": stream_sid,
                    "start": {"streamSid": stream_sid, "callSid": call_sid, "accountSid": account,
                              "tracks": ["inbound"], "customParameters": params,
                              "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                              "channels": 1}}})  # fmt: skip
        digits = list(options.dtmf)
        for k, frame in enumerate(frames):
            await asyncio.sleep(max(0.0, t0 + k * FRAME_S - time.monotonic()))
            if ws.closed:
                return
            b64 = base64.b64encode(frame).decode()
            await send({"event": "media", "streamSid": stream_sid, "media": {
                "track": "inbound", "chunk": str(k + 1), "timestamp": str(k * 20), "payload": b64}})  # fmt: skip
            if digits and k * FRAME_S >= options.dtmf_at_s + 0.1 * (
                len(options.dtmf) - len(digits)
            ):
                await send({"event": "dtmf", "streamSid": stream_sid,
                            "dtmf": {"track": "inbound_track", "digit": digits.pop(0)}})  # fmt: skip
        await send({"event": "stop", "streamSid": stream_sid,
                    "stop": {"accountSid": account, "callSid": call_sid}})  # fmt: skip

    rx = asyncio.create_task(receive())
    try:
        await stream()
        result["ended_by"] = "agent" if ws.closed else "caller"
    finally:
        await asyncio.sleep(0.2)
        await ws.close()
        rx.cancel()
        await asyncio.gather(rx, *echoes, return_exceptions=True)
    gaps = np.diff(arrivals) if len(arrivals) > 1 else np.zeros(0)
    inside = gaps[gaps < options.min_gap_s]
    starts = [t for i, t in enumerate(arrivals) if i == 0 or t - arrivals[i - 1] >= options.min_gap_s]  # fmt: skip
    latencies = []
    for end in speech_ends(audio):
        after = [t for t in starts if t > end]
        if after:
            latencies.append(round(1000 * (after[0] - end), 1))
    result.update(ok=True, duration_s=round(time.monotonic() - t0, 2), turn_latency_ms=latencies,
                  frames_in=len(arrivals), replies=len(starts),
                  late_frames=int(np.sum(inside > 2 * FRAME_S)),
                  jitter_ms_p99=round(1000 * float(np.percentile(np.abs(inside - FRAME_S), 99)), 1) if len(inside) else None,
                  marks_echoed=line["marks"], clears=line["clears"], dropped_on_clear=line["dropped"])  # fmt: skip
    if options.out_dir is not None and heard:
        result["wav"] = str(write_heard(Path(options.out_dir) / f"call-{index}.wav", heard))
    return result


def write_heard(path: Path, heard: list[tuple[float, bytes]], rate: int = 8000) -> Path:
    n = int((heard[-1][0] + FRAME_S) * rate) + 1
    x = np.zeros(n, np.float32)
    for t, frame in heard:
        at = int(t * rate)
        y = mulaw_decode(frame)[: n - at]
        x[at : at + len(y)] += y
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


async def run_callers(base_url: str, audio: np.ndarray, callers: int = 1,
                      options: SimOptions = SimOptions(), stagger_s: float = 0.1) -> dict:  # fmt: skip
    import aiohttp

    async def one(i: int) -> dict:
        await asyncio.sleep(i * stagger_s)
        try:
            return await sim_call(session, base_url, audio, i, options)
        except (TimeoutError, aiohttp.ClientError, OSError, ET.ParseError) as e:
            return {"call": i, "ok": False, "error": f"{type(e).__name__}: {e}"}

    async with aiohttp.ClientSession() as session:
        calls = await asyncio.gather(*(one(i) for i in range(callers)))
    lat = [x for c in calls for x in c.get("turn_latency_ms", [])]
    jitter = [c["jitter_ms_p99"] for c in calls if c.get("jitter_ms_p99") is not None]
    return {"callers": callers, "ok": sum(c["ok"] for c in calls),
            "turn_latency_ms": {"p50": _pct(lat, 50), "p95": _pct(lat, 95), "n": len(lat)},
            "late_frames": sum(c.get("late_frames", 0) for c in calls),
            "jitter_ms_p99_max": max(jitter) if jitter else None, "calls": list(calls)}  # fmt: skip


def load_caller(path: str) -> np.ndarray:
    from voice.audio import load_audio

    a = load_audio(path)
    return resample(a.samples, a.sample_rate, 8000)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cca phone-sim", description=__doc__.split("\n\n")[0])
    p.add_argument("url", help="the bridge, e.g. http://localhost:8080")
    p.add_argument("--wav", required=True, help="what the caller says (any audio file)")
    p.add_argument("--callers", type=int, default=1, help="callers at once (default 1)")
    p.add_argument("--tail-s", type=float, default=6.0, help="silence after the audio (default 6)")
    p.add_argument("--dtmf", default="", help="keypad digits to send, e.g. 4567#")
    p.add_argument("--dtmf-at-s", type=float, default=1.0)
    p.add_argument("--webhook", action="store_true", help="POST /voice first, as Twilio does")
    p.add_argument("--auth-token", default="", help="sign the webhook with this token")
    p.add_argument("--out", default="", help="write what each caller heard to OUT/call-N.wav")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        audio = load_caller(args.wav)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"cca phone-sim: {args.wav}: {e}", file=sys.stderr)
        return 2
    options = SimOptions(tail_s=args.tail_s, dtmf=args.dtmf, dtmf_at_s=args.dtmf_at_s,
                         webhook=args.webhook or bool(args.auth_token), auth_token=args.auth_token,
                         out_dir=Path(args.out) if args.out else None)  # fmt: skip
    summary = asyncio.run(run_callers(args.url, audio, args.callers, options))
    print(json.dumps(summary, indent=1))
    for c in summary["calls"]:
        if not c["ok"]:
            print(f"cca phone-sim: call {c['call']} failed: {c.get('error')}", file=sys.stderr)
    return 0 if summary["ok"] == args.callers else 1
