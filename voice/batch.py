"""`cca transcribe`: offline batch transcription of folders of call recordings.

Files are decoded and cut at pauses (VAD) by worker threads while the model decodes windows
from many files together in one batch. Finished files are recorded in a manifest in the output
folder, so a second run skips them (same model and options) and a killed run loses at most the
files in flight. A bad file is reported and skipped; the exit status is 1 if any file failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import hashlib
import json
import logging
import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voice.audio import (
    AUDIO_EXTENSIONS,
    AudioError,
    AudioLimits,
    load_audio,
    load_channels,
    probe,
)
from voice.formats import parse_formats, write_transcript
from voice.text import join_texts
from voice.vad import plan_windows
from voice.whisper_asr import WindowResult

logger = logging.getLogger(__name__)

MANIFEST = ".cca-transcribe.jsonl"
SUMMARY = "cca-transcribe-summary.json"


@dataclass(frozen=True)
class Job:
    source: Path  # the audio file
    stem: Path  # output path without extension, relative to the output folder


@dataclass(frozen=True)
class BatchOptions:
    formats: tuple[str, ...] = ("txt", "srt", "vtt", "json")  # files written per input
    batch_size: int = 8  # windows decoded together on the model
    workers: int = 2  # threads decoding audio and running VAD ahead of the model
    split_channels: bool = False  # transcribe each channel of a stereo file on its own
    channel_labels: tuple[str, ...] = ("agent", "customer")  # speaker names per channel
    overwrite: bool = False  # redo files already done with the same model and options
    limits: AudioLimits = AudioLimits()  # size and duration limits per file


@dataclass(frozen=True)
class FileResult:
    source: str
    status: str  # "done", "skipped" or "failed"
    duration_s: float = 0.0
    error: str = ""
    outputs: tuple[str, ...] = ()


@dataclass
class _Prepared:
    """A decoded file: windows per stream (channel), waiting for the model."""

    job: Job
    duration_s: float
    labels: list[str]
    windows: list[list[tuple[np.ndarray, float]]]  # per stream: (samples, offset_s)
    results: list[list[WindowResult | None]] = field(init=False)
    remaining: int = field(init=False)  # windows still to decode; -1 once the file has failed

    def __post_init__(self):
        self.results = [[None] * len(w) for w in self.windows]
        self.remaining = sum(len(w) for w in self.windows)


def expand_inputs(inputs: list[str]) -> list[Job]:
    """Files, folders (searched recursively for audio) and glob patterns, in a stable order."""
    found: list[tuple[Path, Path]] = []
    for arg in inputs:
        path = Path(arg)
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
            )
            found += [(p, p.relative_to(path).with_suffix("")) for p in files]
        elif not path.exists() and glob.has_magic(arg):
            found += [
                (Path(p), Path(Path(p).stem))
                for p in sorted(glob.glob(arg, recursive=True))
                if Path(p).is_file()
            ]
        else:
            found.append((path, Path(path.stem)))  # a missing file is reported as a failure later
    jobs, seen, stems = [], set(), set()
    for source, stem in found:
        key = source.resolve()
        if key in seen:
            continue
        seen.add(key)
        if stem in stems:  # call.wav and call.mp3 in one run: keep both, named in full
            stem = stem.with_name(source.name)
        stems.add(stem)
        jobs.append(Job(source, stem))
    return jobs


class BatchTranscriber:
    """Runs jobs through decode -> VAD -> batched ASR -> files, with progress and a manifest."""

    def __init__(self, asr, vad, options: BatchOptions = BatchOptions()):
        self.asr = asr
        self.vad = vad
        self.options = options
        self.key = self._options_key()
        # each window reads the text before it: a stream's windows go to the model in order,
        # and batches are filled across files instead
        self.in_order = bool(getattr(asr.options, "condition_on_previous_text", False))

    def _options_key(self) -> str:
        o = self.options
        desc = {
            "model": self.asr.name,
            "asr": dataclasses.asdict(self.asr.options),
            "vad": getattr(self.vad, "name", type(self.vad).__name__),
            "split": [o.split_channels, list(o.channel_labels)],
        }
        return hashlib.sha256(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()[
            :16
        ]

    # -- resume ------------------------------------------------------------------------------

    def _done_before(self, out_dir: Path) -> dict[str, dict]:
        done = {}
        manifest = out_dir / MANIFEST
        if manifest.is_file():
            for line in manifest.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a killed run
                if row.get("key") == self.key:
                    done[row["source"]] = row
        return done

    def _is_done(self, job: Job, out_dir: Path, done: dict[str, dict]) -> bool:
        row = done.get(str(job.source.resolve()))
        if not row:
            return False
        wanted = {str(out_dir / f"{job.stem}.{fmt}") for fmt in self.options.formats}
        return wanted <= set(row["outputs"]) and all(Path(p).is_file() for p in wanted)

    # -- stages ------------------------------------------------------------------------------

    def _prepare(self, job: Job) -> _Prepared:
        o = self.options
        info = probe(job.source, o.limits)
        if o.split_channels and info.channels > 1:
            streams = load_channels(job.source, limits=o.limits, info=info)
            labels = [_label(ch, o.channel_labels) for ch in range(len(streams))]
        else:
            streams, labels = [load_audio(job.source, limits=o.limits, info=info)], [""]
        windows = []
        for audio in streams:
            spans = plan_windows(self.vad.speech(audio), audio.duration_s, self.asr.max_window_s)
            windows.append([(audio.slice(s, e).samples, s) for s, e in spans])
        duration = max(a.duration_s for a in streams)
        return _Prepared(job, duration, labels, windows)

    def _finish(self, p: _Prepared, out_dir: Path) -> FileResult:
        labelled = [
            dataclasses.replace(
                r, segments=tuple(dataclasses.replace(s, speaker=label) for s in r.segments)
            )
            for label, stream in zip(p.labels, p.results, strict=True)
            for r in stream
        ]
        transcript = self.asr.assemble(labelled, p.duration_s)
        extra = {"source": str(p.job.source)}
        outputs = write_transcript(transcript, out_dir / p.job.stem, self.options.formats, extra)
        row = {
            "source": str(p.job.source.resolve()),
            "key": self.key,
            "outputs": [str(x) for x in outputs],
        }
        with open(out_dir / MANIFEST, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        return FileResult(
            str(p.job.source), "done", p.duration_s, outputs=tuple(str(x) for x in outputs)
        )

    # -- the loop ----------------------------------------------------------------------------

    def run(self, jobs: list[Job], out_dir: Path, progress: bool = True) -> list[FileResult]:
        from tqdm import tqdm

        o = self.options
        out_dir.mkdir(parents=True, exist_ok=True)
        done_before = {} if o.overwrite else self._done_before(out_dir)
        results: list[FileResult] = []
        todo = deque()
        for job in jobs:
            if self._is_done(job, out_dir, done_before):
                results.append(FileResult(str(job.source), "skipped"))
            else:
                todo.append(job)
        bar = tqdm(
            total=len(todo), unit="file", disable=not progress, dynamic_ncols=True, file=sys.stderr
        )
        t0, audio_s = time.perf_counter(), 0.0

        def record(r: FileResult) -> None:
            nonlocal audio_s
            results.append(r)
            audio_s += r.duration_s
            if r.status == "failed" and progress:
                bar.write(f"failed: {r.error}")
            wall = time.perf_counter() - t0
            heard = f"{audio_s / 3600:.2f}h" if audio_s >= 3600 else f"{audio_s / 60:.1f}min"
            failed = sum(x.status == "failed" for x in results)
            rtf = wall / max(audio_s, 1e-9)
            bar.set_postfix_str(f"audio={heard} rtf={rtf:.3f} failed={failed}")
            bar.update(1)

        pending: deque[tuple[_Prepared, int, int]] = deque()  # (file, stream, window)
        # Decoded files are taken in input order, not as their threads finish: batches then
        # form the same way on every run, and so do the transcripts.
        in_flight: deque[Future] = deque()
        with ThreadPoolExecutor(max_workers=max(1, o.workers), thread_name_prefix="decode") as pool:
            while todo or in_flight or pending:
                ahead = max(2 * o.workers, o.batch_size if self.in_order else 0, 1)
                while todo and len(in_flight) < ahead:
                    job = todo.popleft()
                    fut = pool.submit(self._prepare, job)
                    fut.job = job  # type: ignore[attr-defined]
                    in_flight.append(fut)
                if len(pending) < o.batch_size and in_flight:
                    self._take(in_flight.popleft(), pending, out_dir, record)
                    if len(pending) < o.batch_size and (in_flight or todo):
                        continue
                if pending:
                    self._run_batch(pending, out_dir, record)
        bar.close()
        return results

    def _take(self, fut: Future, pending: deque, out_dir: Path, record) -> None:
        try:
            p = fut.result()
        except AudioError as e:
            record(FileResult(str(fut.job.source), "failed", error=str(e)))
            return
        except Exception as e:  # a decoder or VAD crash on one file must not stop the batch
            logger.exception("preparing %s failed", fut.job.source)
            record(_failure(fut.job.source, f"{type(e).__name__}: {e}"))
            return
        if p.remaining == 0:  # silence: an empty transcript, still written
            self._complete(p, out_dir, record)
            return
        for si, stream in enumerate(p.windows):
            pending.extend(
                (p, si, wi) for wi in range(1 if self.in_order else len(stream)) if stream
            )

    def _run_batch(self, pending: deque, out_dir: Path, record) -> None:
        batch = [pending.popleft() for _ in range(min(self.options.batch_size, len(pending)))]
        samples = [p.windows[si][wi][0] for p, si, wi in batch]
        offsets = [p.windows[si][wi][1] for p, si, wi in batch]
        prompts = [
            join_texts(p.results[si][wi - 1].segments) if self.in_order and wi > 0 else ""
            for p, si, wi in batch
        ]
        try:
            decoded = self.asr.decode_windows(samples, offsets, prompts)
        except Exception as e:
            logger.exception("model failed on a batch of %d windows", len(batch))
            failed = {id(p): p for p, _, _ in batch}
            for p in failed.values():
                p.remaining = -1
                record(_failure(p.job.source, f"ASR failed: {e}", p.duration_s))
            # drop the rest of these files' windows
            keep = [item for item in pending if id(item[0]) not in failed]
            pending.clear()
            pending.extend(keep)
            return
        for (p, si, wi), res in zip(batch, decoded, strict=True):
            if p.remaining < 0:
                continue
            p.results[si][wi] = res
            p.windows[si][wi] = (np.empty(0, np.float32), p.windows[si][wi][1])  # free the samples
            p.remaining -= 1
            if self.in_order and wi + 1 < len(p.windows[si]):
                pending.append((p, si, wi + 1))
            if p.remaining == 0:
                self._complete(p, out_dir, record)

    def _complete(self, p: _Prepared, out_dir: Path, record) -> None:
        try:
            record(self._finish(p, out_dir))
        except OSError as e:  # a full disk or a read-only folder fails this file, not the run
            record(_failure(p.job.source, f"writing output failed: {e}", p.duration_s))


def _failure(source: Path, why: str, duration_s: float = 0.0) -> FileResult:
    return FileResult(str(source), "failed", duration_s, error=f"{source}: {why}")


def _label(channel: int, labels: tuple[str, ...]) -> str:
    return labels[channel] if channel < len(labels) else f"channel{channel}"


def summarize(results: list[FileResult], wall_s: float) -> dict:
    audio_s = sum(r.duration_s for r in results if r.status == "done")
    return {
        "files": len(results),
        "done": sum(r.status == "done" for r in results),
        "skipped": sum(r.status == "skipped" for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "audio_hours": round(audio_s / 3600, 4),
        "wall_s": round(wall_s, 2),
        "real_time_factor": round(wall_s / audio_s, 4) if audio_s else None,
        "failures": [
            {"source": r.source, "error": r.error} for r in results if r.status == "failed"
        ],
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cca transcribe", description="Transcribe audio files, folders and globs."
    )
    p.add_argument(
        "inputs", nargs="+", help="audio files, folders (searched recursively) or glob patterns"
    )
    p.add_argument(
        "-o", "--output-dir", required=True, type=Path, help="folder for the transcripts"
    )
    p.add_argument(
        "--model",
        default="base",
        help="Whisper name (base, small, turbo, ...), packaged:NAME, or a path (default: base)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if present)")
    p.add_argument(
        "--compute-type",
        default="auto",
        choices=["auto", "float32", "bfloat16", "float16"],
        help="activation dtype (default auto: float16 on CUDA, bfloat16 on a CPU that has it, else float32)",
    )
    p.add_argument(
        "--format", default="all", help="comma list of txt,srt,vtt,json, or all (default)"
    )
    p.add_argument(
        "--language",
        default="auto",
        help="force a language code, or auto to detect per window (default)",
    )
    p.add_argument("--languages", default="en,zh", help="candidates for detection (default: en,zh)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="windows decoded together (default 8; 16-32 on a GPU)",
    )
    p.add_argument("--workers", type=int, default=2, help="audio decoding threads (default 2)")
    p.add_argument(
        "--beam-size",
        type=int,
        default=2,
        help="beam search width; 1 is greedy, the fastest; 5 is the whisper CLI's (default 2)",
    )
    p.add_argument(
        "--temperatures",
        default="0,0.2,0.4,0.6,0.8,1.0",
        help="decoding temperatures tried in turn when a window decodes badly (repetition, low "
        "confidence); 0 alone turns the fallback off (default 0,0.2,...,1.0)",
    )
    p.add_argument(
        "--fallback-on-low-confidence",
        action="store_true",
        help="also re-decode windows with a low average log-probability at higher temperatures, "
        "as the whisper CLI does (slower on hard audio; by default only repetition loops are)",
    )
    p.add_argument(
        "--condition-on-previous-text",
        action="store_true",
        help="each window reads the text before it as context (as the whisper CLI does); a "
        "file's windows then decode in order, batched across files",
    )
    p.add_argument("--word-timestamps", action="store_true", help="add per-word times to json")
    p.add_argument(
        "--chinese-script", default="simplified", choices=["simplified", "traditional", "original"]
    )
    p.add_argument(
        "--split-channels",
        action="store_true",
        help="transcribe each channel of a stereo call apart",
    )
    p.add_argument(
        "--channel-labels",
        default="agent,customer",
        help="speaker per channel (default agent,customer)",
    )
    p.add_argument("--vad", default="silero", help="silero (default) or energy")
    p.add_argument("--overwrite", action="store_true", help="redo files already transcribed")
    p.add_argument(
        "--max-bytes",
        type=float,
        default=AudioLimits.max_bytes,
        help="largest file accepted, bytes",
    )
    p.add_argument(
        "--max-duration",
        type=float,
        default=AudioLimits.max_duration_s,
        help="longest audio accepted, seconds",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    from voice.vad import load_vad
    from voice.whisper_asr import ASROptions, WhisperASR

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        formats = parse_formats(args.format)
        asr_options = ASROptions(
            languages=tuple(x.strip() for x in args.languages.split(",") if x.strip()),
            language=None if args.language == "auto" else args.language,
            beam_size=None if args.beam_size == 1 else args.beam_size,  # 1: greedy, no beam
            compute_type=args.compute_type,
            fallback_on_low_confidence=args.fallback_on_low_confidence,
            condition_on_previous_text=args.condition_on_previous_text,
            temperatures=tuple(float(t) for t in args.temperatures.split(",")),
            word_timestamps=args.word_timestamps,
            chinese_script=args.chinese_script,
        )
        options = BatchOptions(
            formats=formats,
            batch_size=args.batch_size,
            workers=args.workers,
            split_channels=args.split_channels,
            channel_labels=tuple(x.strip() for x in args.channel_labels.split(",")),
            overwrite=args.overwrite,
            limits=AudioLimits(int(args.max_bytes), float(args.max_duration)),
        )
        if options.batch_size < 1:
            raise ValueError("--batch-size must be at least 1")
        jobs = expand_inputs(args.inputs)
        if not jobs:
            raise ValueError(f"no audio files found in {args.inputs}")
        asr = WhisperASR.from_pretrained(args.model, device=args.device, options=asr_options)
        vad = load_vad(args.vad)
    except (ValueError, RuntimeError, ImportError) as e:
        print(f"cca transcribe: error: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    results = BatchTranscriber(asr, vad, options).run(
        jobs, args.output_dir, progress=not args.no_progress
    )
    summary = summarize(results, time.perf_counter() - t0)
    (args.output_dir / SUMMARY).write_text(
        json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    rtf = summary["real_time_factor"]
    speed = f", {1 / rtf:.1f}x real time" if rtf else ""
    print(
        f"{summary['done']} done, {summary['skipped']} skipped, {summary['failed']} failed of {summary['files']} files; "
        f"{summary['audio_hours']:.3f} h of audio in {summary['wall_s']:.1f} s{speed}",
        file=sys.stderr,
    )
    for f in summary["failures"]:
        print(f"  failed: {f['error']}", file=sys.stderr)
    return 1 if summary["failed"] else 0
