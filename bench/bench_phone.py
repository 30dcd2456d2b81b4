"""How many calls the phone bridge holds, on the offline profile: the real Agent (templates), the
packaged Whisper behind the streaming VAD, the offline Speaker, the bridge on loopback and the
Twilio simulator (demo/phone/sim.py) as callers.

    python bench/bench_phone.py [--retail ../shared/data/retail] [--max-callers 8]
                                [--soak-s 1800] [--wav demo/samples/return-en-phone.wav]
                                [--asr serial|batched|serve|http://HOST:PORT] [--workers N]

`--asr serve` starts one `cca asr-serve` (the same Whisper, batching) for the line; `--workers N`
(N > 1) runs N workers, each a process of its own built as the one-worker line is, and sends
the callers to them in turn, as a round-robin balancer would. RSS is then the sum over the
workers and the ASR server.

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
import subprocess
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


PROCS = [psutil.Process()]  # whose memory counts: this process, or the workers and the ASR server


def rss_mb() -> float:
    return sum(p.memory_info().rss for p in PROCS if p.is_running()) / 1024**2


async def callers_over(bases: list[str], audio, n: int, sim: SimOptions) -> dict:
    """`n` callers sent to the workers in turn; one summary over all of them (sim.run_callers's)."""
    shares = [len(range(i, n, len(bases))) for i in range(len(bases))]
    parts = await asyncio.gather(*(run_callers(b, audio, k, sim, stagger_s=0.2 * len(bases)) for b, k in zip(bases, shares, strict=True) if k))  # fmt: skip
    calls = [c for part in parts for c in part["calls"]]
    lat = [x for c in calls for x in c.get("turn_latency_ms", [])]
    jitter = [c["jitter_ms_p99"] for c in calls if c.get("jitter_ms_p99") is not None]
    pct = (lambda q: round(float(np.percentile(lat, q)), 1)) if lat else (lambda q: None)
    return {"callers": n, "ok": sum(c["ok"] for c in calls),
            "turn_latency_ms": {"p50": pct(50), "p95": pct(95), "n": len(lat)},
            "late_frames": sum(c.get("late_frames", 0) for c in calls),
            "jitter_ms_p99_max": max(jitter) if jitter else None, "calls": calls}  # fmt: skip


def start(cmd: list[str], url: str, what: str, timeout_s: float = 600.0) -> subprocess.Popen:
    """A child process, once GET `url` answers 200."""
    import urllib.request

    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {' '.join(cmd)}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                return proc
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"{what} did not answer {url} within {timeout_s:g} s")


async def sample_rss(samples: list, stop: asyncio.Event, every_s: float) -> None:
    t0 = time.monotonic()
    while not stop.is_set():
        samples.append((round(time.monotonic() - t0, 1), round(rss_mb(), 1)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def wave(bases: list[str], audio, n: int, sim: SimOptions) -> tuple[dict, float]:
    samples: list = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(samples, stop, 0.5))
    summary = await callers_over(bases, audio, n, sim)
    stop.set()
    await sampler
    return summary, max(r for _, r in samples)


async def bench(args, bridge, bases: list[str]) -> dict:
    runner = await bridge.serve("127.0.0.1", args.port) if bridge is not None else None
    audio = load_caller(args.wav)
    sim = SimOptions(tail_s=args.tail_s)
    out: dict = {"wav": args.wav, "speech_s": round(len(audio) / 8000, 2), "waves": []}
    try:
        for base in bases:  # warm-up: models load on each worker's first turn
            await run_callers(base, audio, 1, sim)
        best, n = 0, 1
        while n <= args.max_callers:
            before = rss_mb()
            summary, peak = await wave(bases, audio, n, sim)
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
                s = await callers_over(bases, audio, best, sim)
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
        if runner is not None:
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
    p.add_argument("--asr", default="serial", help="how the calls share the ASR: serial, batched (voice.asr.batcher), serve (start a `cca asr-serve` of --asr-model) or a `cca asr-serve` URL")  # fmt: skip
    p.add_argument("--workers", type=int, default=1, help="phone workers, each a process of its own when over 1 (default 1: in this process)")  # fmt: skip
    p.add_argument(
        "--serve-worker", action="store_true", help=argparse.SUPPRESS
    )  # one of --workers
    p.add_argument("--out", default=str(ROOT / "bench/out/phone.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(message)s")
    if args.serve_worker:
        return serve_worker(args)
    children: list[subprocess.Popen] = []
    try:
        if args.asr == "serve":
            port = args.port + 100
            serve = [
                "-c",
                "import sys; from demo.asr_server import main; sys.exit(main(sys.argv[1:]))",
            ]
            children.append(start([sys.executable, *serve, "--model", args.asr_model, "--port", str(port)], f"http://127.0.0.1:{port}/healthz", "cca asr-serve"))  # fmt: skip
            args.asr = f"http://127.0.0.1:{port}"
        if args.workers > 1:
            bases = [f"http://127.0.0.1:{args.port + 1 + i}" for i in range(args.workers)]
            for base in bases:
                cmd = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]), "--serve-worker", "--port", base.rsplit(":", 1)[1], "--asr", args.asr]  # fmt: skip
                children.append(start(cmd, base + "/healthz", "a phone worker"))
            PROCS[:] = [psutil.Process(c.pid) for c in children]
            return run_bench(args, None, bases)
        if children:
            PROCS.append(psutil.Process(children[0].pid))  # the ASR server's memory counts too
        return run_bench(args, build_line(args)[0], [f"http://127.0.0.1:{args.port}"])
    finally:
        for c in children:
            c.terminate()
            c.wait(timeout=60)


def build_line(args):
    """(bridge, startup seconds, speaker description): one worker as the bench runs it."""
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
    return bridge, startup_s, runtime.speaker.describe() if runtime.speaker else None


def serve_worker(args) -> int:
    """One of --workers: the line's worker on --port until terminated."""
    bridge = build_line(args)[0]

    async def run() -> None:
        await bridge.serve("127.0.0.1", args.port)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


def run_bench(args, bridge, bases: list[str]) -> int:
    t0 = time.monotonic()
    result = asyncio.run(bench(args, bridge, bases))
    load = os.getloadavg()
    result.update(asr_model=args.asr_model, asr=args.asr, workers=args.workers, total_s=round(time.monotonic() - t0, 1),
                  cpus=os.cpu_count(), load_avg_at_end=[round(x, 2) for x in load])  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "soak"} | {"soak": {k: v for k, v in result.get("soak", {}).items() if k != "rss_samples"}}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
