"""`cca transcribe` on one machine against `cca transcribe --ray` with 1 and with 2 Ray workers.

Each row is its own `cca transcribe` subprocess over the same folder, the same model and options,
into a fresh output folder. "command s" is the whole command (Python start, a local Ray cluster
started by `--ray auto`, every worker loading the model); "transcribe s" is the run's own wall
time from its summary (after the model or the workers are loaded). Every row's transcripts are
compared with the local run's, byte for byte. Run by hand, never as a test:

    .venv/bin/python bench/bench_transcribe_ray.py [DIR] [--model base] [--copies 1]

`--copies K` transcribes K copies of every file (named apart), for a longer run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CCA = Path(sys.executable).parent / "cca"
SPEECH = REPO.parent / "shared" / "data" / "speech" / "real"
ROWS = [
    ("local (`cca transcribe`, default threads)", []),
    ("`--ray auto --ray-workers 1` (2 CPUs)", ["--ray", "auto", "--ray-workers", "1"]),
    ("`--ray auto --ray-workers 2` (1 CPU each)", ["--ray", "auto", "--ray-workers", "2"]),
]


def transcripts(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*.*"))
        if p.suffix in (".txt", ".srt", ".vtt", ".json") and not p.name.startswith("cca-")
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", type=Path, default=SPEECH)
    p.add_argument("--model", default="base")
    p.add_argument("--copies", type=int, default=1)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cca-ray-bench-"))
    files = sorted(x for x in args.folder.iterdir() if x.suffix in (".wav", ".flac", ".mp3"))
    src = work / "in"
    src.mkdir()
    for k in range(args.copies):
        for f in files:
            shutil.copy(f, src / f"{f.stem}-{k}{f.suffix}")
    rows, reference = [], None
    for i, (name, extra) in enumerate(ROWS):
        out = work / f"out{i}"
        cmd = [str(CCA), "transcribe", str(src), "-o", str(out), "--model", args.model]
        cmd += ["--device", "cpu", "--no-progress", *extra]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        summary = json.loads((out / "cca-transcribe-summary.json").read_text())
        got = transcripts(out)
        reference = reference or got
        rows.append((name, wall, summary["wall_s"], summary["done"], got == reference))
        print(f"{name}: {wall:.1f} s, {summary['wall_s']:.1f} s transcribing", file=sys.stderr)
    base = rows[0][2]
    audio = len(files) * args.copies
    print(f"\n{audio} files, model {args.model}, {os.cpu_count()} CPUs\n")
    print("| run | command s | transcribe s | vs local | files | same transcripts |")
    print("|---|---|---|---|---|---|")
    for name, wall, t, done, same in rows:
        print(
            f"| {name} | {wall:.1f} | {t:.1f} | {base / t:.2f}x | {done} | {'yes' if same else 'NO'} |"
        )
    print(f"\n2 Ray workers against 1: {rows[1][2] / rows[2][2]:.2f}x (transcribe s)")
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
