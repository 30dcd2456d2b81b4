"""Transcription benchmark: the whisper CLI vs `cca transcribe` vs faster-whisper (int8, batched).

Every system gets the same files (bench/make_material.py), the same Whisper model and device, and
runs as its own subprocess; we time it and read its peak RSS from os.wait4. Model loading counts
in every system's wall time. Outputs are scored against the references (WER en, CER zh) and
written to bench/out/results.{json,md}. Run by hand, never as a test:

    .venv/bin/python bench/bench_transcribe.py [--device cpu|cuda] [--model base] [--quick]

`--material DIR` takes real recordings instead: DIR/manifest.jsonl with one {"audio", "text",
"lang"} per line (../shared/data/speech/real). `--models tiny.en,base,small` runs every system
once per model (rows named system:model), the speed ratios against the first row, to choose a
model per language:

    .venv/bin/python bench/bench_transcribe.py --material ../shared/data/speech/real \
        --systems cca --models tiny.en,base,small
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jiwer

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
BIN = Path(sys.executable).parent  # the venv's console scripts
sys.path[:0] = [str(REPO), str(BENCH)]

from make_material import AUDIO, build, ct2_dir, summary  # noqa: E402


class Unavailable(Exception):
    """A system cannot run here yet; the message says why and what to do."""


# -- the three systems: each turns (files, outdir, args) into one command line ---------------------


def whisper_cli(files: list[Path], outdir: Path, args: argparse.Namespace) -> list[str]:
    """openai-whisper's own CLI with its default options, all files in one call."""
    ckpt = args.whisper_checkpoint
    if ckpt is None:
        from voice.asr.models import checkpoint_path

        ckpt = checkpoint_path(args.model)
    return [str(BIN / "whisper"), *map(str, files), "--model", str(ckpt), "--device", args.device,
            "--output_format", "json", "--output_dir", str(outdir)]  # fmt: skip


def cca(files: list[Path], outdir: Path, args: argparse.Namespace) -> list[str]:
    """Our batch tool, `cca transcribe`."""
    if (BIN / "cca").is_file():
        cli = [str(BIN / "cca")]
    elif (REPO / "demo" / "cli.py").is_file():  # not pip-installed: the same entry point
        cli = [sys.executable, "-c", "import sys; from demo.cli import main; sys.exit(main())"]
    else:
        raise Unavailable("no .venv/bin/cca and no demo/cli.py yet")
    return [*cli, "transcribe", *map(str, files), "-o", str(outdir), "--model", args.model,
            "--device", args.device, "--format", "json", "--batch-size", str(args.batch_size),
            "--overwrite", *shlex.split(args.cca_args)]  # fmt: skip


def faster_whisper(files: list[Path], outdir: Path, args: argparse.Namespace) -> list[str]:
    """faster-whisper's BatchedInferencePipeline, int8 on the CPU, float16 on CUDA."""
    return [sys.executable, str(BENCH / "fw_batched.py"), str(ct2_dir(args.model)), str(outdir),
            *map(str, files), "--device", args.device, "--batch-size", str(args.batch_size)]  # fmt: skip


# name -> (command line builder, its beam-width option)
RUNNERS: dict[str, tuple[Callable[[list[Path], Path, argparse.Namespace], list[str]], str]] = {
    "whisper": (whisper_cli, "--beam_size"),
    "cca": (cca, "--beam-size"),
    "faster-whisper": (faster_whisper, "--beam-size"),
}
BASELINE = "whisper"


# -- running and measuring ---------------------------------------------------------------------------


@dataclass
class Run:
    wall_s: float
    cpu_s: float  # user + system time of the subprocess (and the children it waited for)
    peak_rss_mb: float
    returncode: int


def cpu_busy(seconds: float = 1.0) -> float:
    """Fraction of all CPUs busy over the next `seconds` (Linux /proc/stat), before a run."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        return ticks[3] + ticks[4], sum(ticks)  # idle + iowait, total

    (idle0, total0), _, (idle1, total1) = sample(), time.sleep(seconds), sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def measure(name: str, argv: list[str], outdir: Path, outputs: list[Path]) -> Run:
    """Run argv with its output in <outdir>.log; show elapsed time and files done meanwhile."""
    tty = sys.stdout.isatty()
    cr = "\r" if tty else ""
    log = outdir.with_name(outdir.name + ".log")  # "cca:tiny.en" keeps its ".en"
    t0 = time.perf_counter()
    shown = 0.0
    with log.open("w") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            elapsed = time.perf_counter() - t0
            if pid:
                break
            if tty or elapsed - shown >= 15:
                done = sum(o.is_file() for o in outputs)
                print(
                    f"{cr}  {name}: {elapsed:6.1f} s, {done}/{len(outputs)} files",
                    end="" if tty else "\n",
                    flush=True,
                )
                shown = elapsed
            time.sleep(0.25)
    except BaseException:
        proc.kill()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    print(f"{cr}  {name}: {elapsed:6.1f} s, exit {proc.returncode}, log {log.relative_to(REPO)}")
    cpu_s = usage.ru_utime + usage.ru_stime
    return Run(elapsed, cpu_s, usage.ru_maxrss / 1024, proc.returncode)  # ru_maxrss is KiB on Linux


# -- scoring -----------------------------------------------------------------------------------------

_en_normalizer = None
_t2s = None


def normalise_en(text: str) -> list[str]:
    """Whisper's English normaliser, plus: e-mail '@'/'.' as spoken, digits one by one."""
    global _en_normalizer
    if _en_normalizer is None:
        from whisper.normalizers import EnglishTextNormalizer

        _en_normalizer = EnglishTextNormalizer()
    text = re.sub(r"(?<=[A-Za-z])\.(?=[A-Za-z])", " dot ", text.replace("@", " at "))
    return re.sub(r"(\d)", r" \1 ", _en_normalizer(text)).split()


def normalise_zh(text: str) -> str:
    """Simplified characters, no punctuation, symbols or whitespace."""
    global _t2s
    if _t2s is None:
        import opencc

        _t2s = opencc.OpenCC("t2s")
    text = _t2s.convert(text).lower()
    return "".join(c for c in text if unicodedata.category(c)[0] not in "PSZC")


def score(ref: str, hyp: str, language: str) -> tuple[int, int]:
    """(errors, reference length): words for English, characters for Chinese."""
    if language == "zh":
        r, h = normalise_zh(ref), normalise_zh(hyp)
        if not h:
            return len(r), len(r)
        o = jiwer.process_characters(r, h)
    else:
        r, h = normalise_en(ref), normalise_en(hyp)
        if not h:
            return len(r), len(r)
        o = jiwer.process_words(" ".join(r), " ".join(h))
    return o.substitutions + o.deletions + o.insertions, o.substitutions + o.deletions + o.hits


def load_manifest(folder: Path) -> dict[str, dict]:
    """References of real recordings: {name: {"text", "language", "duration_s", "quick"}}."""
    from make_material import duration_s

    refs = {}
    for line in (folder / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            refs[item["audio"]] = {"text": item["text"], "language": item["lang"], "quick": True,
                                   "duration_s": duration_s(folder / item["audio"])}  # fmt: skip
    return refs


def output_path(outdir: Path, name: str) -> Path:
    """Where every system writes the transcript of audio file `name`."""
    return outdir / f"{Path(name).stem}.json"


def read_output(outdir: Path, name: str) -> dict | None:
    path = output_path(outdir, name)
    return json.loads(path.read_text()) if path.is_file() else None


def evaluate(system: str, run: Run, refs: dict[str, dict], audio_s: float) -> dict:
    """Per-file errors and the set's totals (total errors / total reference units per language)."""
    files, totals = {}, {"en": [0, 0], "zh": [0, 0]}
    lang_ok = 0
    for name, ref in refs.items():
        out = read_output(OUT / system, name)
        hyp = (out or {}).get("text", "")
        errors, n = score(ref["text"], hyp, ref["language"])
        totals[ref["language"]][0] += errors
        totals[ref["language"]][1] += n
        lang = (out or {}).get("language", "")
        lang_ok += lang == ref["language"]
        files[name] = {
            "errors": errors,
            "n": n,
            "language": lang,
            "text": hyp,
            "missing": out is None,
        }
    return {
        "wall_s": round(run.wall_s, 2),
        "audio_s_per_wall_s": round(audio_s / run.wall_s, 2),
        "cpu_s": round(run.cpu_s, 1),
        "wer_en": round(totals["en"][0] / totals["en"][1], 4) if totals["en"][1] else None,
        "cer_zh": round(totals["zh"][0] / totals["zh"][1], 4) if totals["zh"][1] else None,
        "language_id_ok": f"{lang_ok}/{len(refs)}",
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "returncode": run.returncode,
        "missing": sum(f["missing"] for f in files.values()),
        "files": files,
    }


# -- reporting ---------------------------------------------------------------------------------------


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def summary_rows(results: dict[str, dict]) -> list[list[str]]:
    first = next(iter(results), BASELINE)
    baseline = BASELINE if BASELINE in results else first
    base = results.get(baseline)
    rows = [["system", "wall s", "audio s / wall s", f"speed-up vs {baseline}", "WER en",
             "CER zh", "lang id ok", "peak RSS MB", "CPU s", "exit", "missing"]]  # fmt: skip
    for name, r in results.items():
        speedup = f"{base['wall_s'] / r['wall_s']:.2f}x" if base else "-"
        rows.append([name, f"{r['wall_s']:.1f}", f"{r['audio_s_per_wall_s']:.2f}", speedup,
                     pct(r["wer_en"]), pct(r["cer_zh"]), r["language_id_ok"],
                     f"{r['peak_rss_mb']:.0f}", f"{r['cpu_s']:.0f}", str(r["returncode"]),
                     str(r["missing"])])  # fmt: skip
    return rows


def file_rows(results: dict[str, dict], refs: dict[str, dict]) -> list[list[str]]:
    rows = [["file", "lang", "dur s", "ref n", *results]]
    for name, ref in refs.items():
        cells = []
        for r in results.values():
            f = r["files"][name]
            cells.append(
                "missing" if f["missing"] else f"{pct(f['errors'] / f['n'])} [{f['language']}]"
            )
        n = next(iter(results.values()))["files"][name]["n"] if results else 0
        rows.append([name, ref["language"], f"{ref['duration_s']:.1f}", str(n), *cells])
    return rows


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def md_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    lines.insert(1, "|" + "---|" * len(rows[0]))
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------------


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda if available, else cpu")
    p.add_argument("--model", default="base", help="Whisper model for every system")
    p.add_argument("--quick", action="store_true", help="the ~1.5-minute subset")
    p.add_argument("--batch-size", type=int, help="cca and faster-whisper; default 8 cpu, 16 cuda")
    p.add_argument("--beam-size", type=int, help="for every system (default: each one's own: "
                   "whisper CLI 5, faster-whisper 5, cca 2)")  # fmt: skip
    p.add_argument("--systems", default=",".join(RUNNERS), help=f"comma list of {list(RUNNERS)}")
    p.add_argument("--whisper-checkpoint", help="openai-whisper .pt for the whisper CLI "
                   "(default: voice.asr.whisper.checkpoint_path(model))")  # fmt: skip
    p.add_argument(
        "--cca-args",
        default="",
        help="more options for cca transcribe, given with =: --cca-args='--beam-size 5'",
    )
    p.add_argument("--models", help="comma list: run every system once per Whisper model")
    p.add_argument("--material", type=Path, help="a folder of real recordings with manifest.jsonl")
    p.add_argument("--rebuild", action="store_true", help="rebuild the material")
    p.add_argument("-v", "--verbose", action="store_true", help="print the per-file table too")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that measure() kills its child
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if unknown := [s for s in systems if s not in RUNNERS]:
        p.error(f"unknown system(s) {unknown}; available: {list(RUNNERS)}")
    if args.device is None:
        args.device = default_device()
        print(f"device={args.device} (cuda {'found' if args.device == 'cuda' else 'not found'})")
    if args.batch_size is None:
        args.batch_size = 16 if args.device == "cuda" else 8

    print("[1] material")
    if args.material:
        refs, folder = load_manifest(args.material), args.material
    else:
        refs, folder = build(force=args.rebuild), AUDIO
    if args.quick:
        refs = {k: v for k, v in refs.items() if v["quick"]}
    print(summary(refs, "using"))
    files = [folder / name for name in refs]
    audio_s = sum(r["duration_s"] for r in refs.values())

    models = [m for m in (args.models or args.model).split(",") if m]
    runs = [(s, m) for m in models for s in systems]
    results: dict[str, dict] = {}
    for i, (system, model) in enumerate(runs, 2):
        name = f"{system}:{model}" if args.models else system
        print(f"[{i}] {name}")
        outdir = OUT / name
        command, beam_option = RUNNERS[system]
        try:
            argv_ = command(files, outdir, argparse.Namespace(**{**vars(args), "model": model}))
            argv_ += [beam_option, str(args.beam_size)] if args.beam_size else []
        except Unavailable as e:
            print(f"  skipped: {e}")
            continue
        shutil.rmtree(outdir, ignore_errors=True)
        outdir.mkdir(parents=True)
        busy = cpu_busy()
        if busy > 0.2:
            print(f"  warning: the CPUs were {busy:.0%} busy before the run; something else is "
                  "running and the times will be too long")  # fmt: skip
        run = measure(name, argv_, outdir, [output_path(outdir, f.name) for f in files])
        results[name] = evaluate(name, run, refs, audio_s)
        results[name]["cpu_busy_before"] = round(busy, 2)
        r = results[name]
        print(f"  WER en {pct(r['wer_en'])}, CER zh {pct(r['cer_zh'])}, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB, {r['missing']} outputs missing")  # fmt: skip

    if not results:
        print("no system ran")
        return 1
    head = (f"model {args.models or args.model}, device {args.device}, batch size {args.batch_size}, "
            f"beam size {args.beam_size or 'each default'}, "
            f"{len(files)} files, {audio_s / 60:.2f} min of audio, {os.cpu_count()} CPUs")  # fmt: skip
    print(f"\n{head}\n{text_table(summary_rows(results))}")
    if args.verbose:
        print(f"\nper file: error rate [detected language]\n{text_table(file_rows(results, refs))}")
    config = {"model": args.models or args.model, "material": str(args.material or AUDIO),
              "device": args.device, "batch_size": args.batch_size,
              "beam_size": args.beam_size,
              "quick": args.quick, "files": len(files), "audio_s": round(audio_s, 2),
              "cpu_count": os.cpu_count(), "platform": platform.platform(),
              "python": platform.python_version()}  # fmt: skip
    (OUT / "results.json").write_text(
        json.dumps({"config": config, "systems": results}, ensure_ascii=False, indent=1) + "\n"
    )
    (OUT / "results.md").write_text(
        f"# Transcription benchmark\n\n{head}.\n\n{md_table(summary_rows(results))}\n\n"
        f"## Per file: error rate [detected language]\n\n{md_table(file_rows(results, refs))}\n"
    )
    print(
        f"\nwrote {(OUT / 'results.json').relative_to(REPO)}, {(OUT / 'results.md').relative_to(REPO)}"
    )
    return 0 if all(r["returncode"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
