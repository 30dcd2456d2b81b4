"""How many calls the phone bridge holds, on the offline profile: the real Agent (templates), the
packaged Whisper behind the streaming VAD, the offline Speaker, the bridge on loopback and the
Twilio simulator (demo/phone/sim.py) as callers.

    python bench/bench_phone.py [--retail ../shared/data/retail] [--max-callers 8]
                                [--soak-s 1800] [--wav demo/samples/return-en-phone.wav]
                                [--asr serial|batched|http://HOST:PORT]

Load: waves of 1, 2, 4, ... callers at once, each saying the WAV and waiting `--tail-s`; a wave
passes when every call answered, p95 turn latency (end of caller speech -> first agent frame)
is under `--p95-ms` and no outbound frame was late (a gap over 40 ms inside a reply). Memory:
RSS before and at the peak of each wave (per call = delta / callers). Soak: the largest passing
wave, again and again for `--soak-s`, RSS sampled every 5 s; "flat" compares the last third's
median with the first third's. Prints one JSON object (and writes it to --out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo.phone.bridge import PhoneBridge, PhoneOptions  # noqa: E402
from demo.phone.call import CallOptions  # noqa: E402
from demo.phone.shared import session_factory  # noqa: E402
from demo.phone.sim import SimOptions, load_caller, run_callers  # noqa: E402


class FixedASR:
    """What the sample caller says, at once (no model): isolates the rest of the line."""

    def transcribe(self, audio):
        from voice.types import Transcript

        return Transcript("Hi, I want to return the shoes I bought. They are the wrong size.", "en",
                          audio.duration_s)  # fmt: skip


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1024**2


async def sample_rss(samples: list, stop: asyncio.Event, every_s: float) -> None:
    t0 = time.monotonic()
    while not stop.is_set():
        samples.append((round(time.monotonic() - t0, 1), round(rss_mb(), 1)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def wave(base: str, audio, n: int, sim: SimOptions) -> tuple[dict, float]:
    samples: list = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(samples, stop, 0.5))
    summary = await run_callers(base, audio, n, sim, stagger_s=0.2)
    stop.set()
    await sampler
    return summary, max(r for _, r in samples)


async def bench(args, bridge) -> dict:
    runner = await bridge.serve("127.0.0.1", args.port)
    base = f"http://127.0.0.1:{args.port}"
    audio = load_caller(args.wav)
    sim = SimOptions(tail_s=args.tail_s)
    out: dict = {"wav": args.wav, "speech_s": round(len(audio) / 8000, 2), "waves": []}
    try:
        await run_callers(base, audio, 1, sim)  # warm-up: models load on the first turn
        best, n = 0, 1
        while n <= args.max_callers:
            before = rss_mb()
            summary, peak = await wave(base, audio, n, sim)
            p95 = summary["turn_latency_ms"]["p95"]
            ok = (summary["ok"] == n and p95 is not None and p95 < args.p95_ms
                  and summary["late_frames"] == 0)  # fmt: skip
            row = {"callers": n, "ok_calls": summary["ok"], "p50_ms": summary["turn_latency_ms"]["p50"],
                   "p95_ms": p95, "late_frames": summary["late_frames"],
                   "jitter_ms_p99_max": summary["jitter_ms_p99_max"], "rss_before_mb": round(before, 1),
                   "rss_peak_mb": round(peak, 1), "rss_per_call_mb": round((peak - before) / n, 1),
                   "passed": ok}  # fmt: skip
            out["waves"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            if not ok:
                break
            best, n = n, n * 2
        out["max_concurrent_calls"] = best
        if args.soak_s > 0:  # at the largest passing wave, else one call at a time
            best = max(best, 1)
            samples: list = []
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_rss(samples, stop, 5.0))
            t_end, lat, late, calls = time.monotonic() + args.soak_s, [], 0, 0
            while time.monotonic() < t_end:
                s = await run_callers(base, audio, best, sim, stagger_s=0.2)
                lat += [x for c in s["calls"] for x in c.get("turn_latency_ms", [])]
                late += s["late_frames"]
                calls += s["callers"]
            stop.set()
            await sampler
            rss = [r for _, r in samples]
            third = max(1, len(rss) // 3)
            first, last = float(np.median(rss[:third])), float(np.median(rss[-third:]))
            out["soak"] = {"seconds": args.soak_s, "callers_at_once": best, "calls": calls,
                           "p50_ms": round(float(np.percentile(lat, 50)), 1) if lat else None,
                           "p95_ms": round(float(np.percentile(lat, 95)), 1) if lat else None,
                           "late_frames": late, "rss_first_third_mb": first, "rss_last_third_mb": last,
                           "rss_growth_mb": round(last - first, 1), "rss_samples": samples}  # fmt: skip
    finally:
        await runner.cleanup()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--retail", default=str(ROOT / "demo/samples/retail"), help="retail data loaded into a fresh back office (default: the sample shop; ../shared/data/retail for the full one)")  # fmt: skip
    p.add_argument("--wav", default=str(ROOT / "demo/samples/return-en-phone.wav"))
    p.add_argument("--max-callers", type=int, default=8)
    p.add_argument("--p95-ms", type=float, default=2000.0)
    p.add_argument("--tail-s", type=float, default=8.0)
    p.add_argument("--soak-s", type=float, default=180.0, help="0: no soak (goal: 1800)")
    p.add_argument("--port", type=int, default=18765)
    p.add_argument("--tts", default="offline", help="voice.tts.speaker profile (default offline)")
    p.add_argument("--vad", choices=("silero", "energy"), default="silero")
    p.add_argument("--asr-model", default="base",
                   help="packaged Whisper model (base, tiny.en), or `fixed`: a stand-in that "
                        "returns the sample's words at once, to measure the bridge, agent and TTS")  # fmt: skip
    p.add_argument("--asr", default="serial", help="how the calls share the ASR: serial, batched (voice.asr.batcher) or a `cca asr-serve` URL")  # fmt: skip
    p.add_argument("--out", default=str(ROOT / "bench/out/phone.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
    from demo.runtime import RuntimeOptions, build_runtime

    tmp = tempfile.mkdtemp(prefix="bench-phone-")
    t0 = time.monotonic()
    fixed = args.asr_model == "fixed"
    runtime = build_runtime(RuntimeOptions(db=f"sqlite:///{tmp}/retail.db", retail=args.retail, kb=None,
                                           records=None, tts=args.tts, asr_model="base" if fixed else args.asr_model))  # fmt: skip
    if fixed:
        runtime.services = replace(runtime.services, asr=FixedASR())
    options = PhoneOptions(call=CallOptions(greeting=""))
    bridge = PhoneBridge(runtime, session_factory(runtime, args.vad, asr=args.asr), options, http=None)  # fmt: skip
    startup_s = round(time.monotonic() - t0, 1)  # models load lazily: the first call pays the rest
    result = asyncio.run(bench(args, bridge))
    result.update(asr_model=args.asr_model, asr=args.asr, startup_s=startup_s, total_s=round(time.monotonic() - t0, 1), cpus=os.cpu_count(),
                  speaker=runtime.speaker.describe() if runtime.speaker else None)  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "soak"} | {"soak": {k: v for k, v in result.get("soak", {}).items() if k != "rss_samples"}}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
