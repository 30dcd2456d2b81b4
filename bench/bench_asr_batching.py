"""Callers' turns arriving at once at one Whisper: one at a time (`SerialASR`, the phone line's
default) against decoded in shared batches (`BatchingASR`), side by side on the same audio.

    .venv/bin/python bench/bench_asr_batching.py [--callers 8] [--rounds 2] [--model base]
        [--files ../shared/data/speech/real/*.wav demo/samples/*.flac]

Each round sends every file as one caller's turn, all at once from their own threads, through
each system in turn (the order alternates between rounds). It reports the wall time until
every caller has its transcript, each turn's latency (p50, p95) and whether both systems heard
the same words. Real speech: the held-out recordings in ../shared/data/speech/real (English,
Mandarin) and the demo's samples. Run by hand on an idle machine, never as a test.
"""

from __future__ import annotations

import argparse
import glob
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def at_once(asr, audios) -> tuple[float, list[float], list[str]]:
    """(wall s, per-turn latency s, texts) for every audio sent at the same moment."""
    lat, texts = [0.0] * len(audios), [""] * len(audios)
    start = threading.Barrier(len(audios) + 1)

    def go(i):
        start.wait()
        t = time.perf_counter()
        texts[i] = asr.transcribe(audios[i]).text
        lat[i] = time.perf_counter() - t

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(audios))]
    for th in threads:
        th.start()
    t0 = time.perf_counter()
    start.wait()
    for th in threads:
        th.join()
    return time.perf_counter() - t0, lat, texts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = sorted(glob.glob(str(ROOT.parent / "shared/data/speech/real/*.wav")))
    default += sorted(glob.glob(str(ROOT / "demo/samples/*.flac")))
    p.add_argument("--files", nargs="*", default=default)
    p.add_argument("--callers", type=int, default=8, help="turns sent at once (the first N files)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--model", default="base")
    args = p.parse_args()
    from demo.phone.shared import SerialASR
    from dialogue.evals.stats import percentile
    from voice.asr.batcher import BatchingASR
    from voice.asr.stt import WithVAD
    from voice.asr.vad import SileroVAD
    from voice.asr.whisper import WhisperASR
    from voice.audio import load_audio

    files = args.files[: args.callers]
    audios = [load_audio(f) for f in files]
    stt = WithVAD(WhisperASR.from_pretrained(args.model), SileroVAD.load())
    systems = {"serial (baseline)": SerialASR(stt), "batched": BatchingASR(stt)}
    stt.transcribe(audios[0])  # warm-up
    seen: dict[str, list] = {name: [] for name in systems}
    texts: dict[str, list[str]] = {}
    for r in range(args.rounds):
        for name in list(systems) if r % 2 == 0 else list(systems)[::-1]:
            wall, lat, got = at_once(systems[name], audios)
            seen[name].append((wall, lat))
            texts[name] = got
            print(f"round {r + 1} {name}: {wall:.1f} s", file=sys.stderr)
    speech_s = sum(a.duration_s for a in audios)
    print(f"{len(audios)} turns at once ({speech_s:.0f} s of speech), Whisper {args.model}, "
          f"best of {args.rounds} rounds by wall time")  # fmt: skip
    print(f"{'system':<18} {'wall s':>7} {'turn p50 s':>10} {'turn p95 s':>10} {'vs serial':>9}")
    base = min(w for w, _ in seen["serial (baseline)"])
    for name, runs in seen.items():
        wall, lat = min(runs, key=lambda x: x[0])
        print(f"{name:<18} {wall:>7.1f} {percentile(lat, 50):>10.1f} {percentile(lat, 95):>10.1f} {base / wall:>8.2f}x")  # fmt: skip
    same = sum(a == b for a, b in zip(*texts.values(), strict=True))
    print(f"same words from both: {same} of {len(audios)} turns")
    batches = list(systems["batched"].batch_sizes)
    print(f"batch sizes: {batches}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
