"""Offline batch transcription of folders of call recordings (the engine of `cca transcribe`).

Files are decoded and cut at pauses (VAD) by worker threads while the model decodes windows
from many files together in one batch. Finished files are recorded in a manifest in the output
folder, so a second run skips them (same model and options) and a killed run loses at most the
files in flight. A bad file is reported and skipped, and the run goes on with the next.
"""

from __future__ import annotations

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

from voice.asr.formats import write_transcript
from voice.asr.text import join_texts
from voice.asr.types import WindowResult
from voice.asr.vad import plan_windows
from voice.audio import (
    AUDIO_EXTENSIONS,
    AudioError,
    AudioLimits,
    load_audio,
    load_channels,
    probe,
)
from voice.types import Transcript

logger = logging.getLogger(__name__)

MANIFEST = ".cca-transcribe.jsonl"


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


class Manifest:
    """The record of finished files in an output folder (`MANIFEST`), and the only writer of
    transcripts there: a file's outputs are written atomically, then its line is appended.

    `key` names the model and options; a file counts as done only under the same key.
    """

    def __init__(self, out_dir: Path, key: str, formats: tuple[str, ...]):
        self.out_dir = out_dir
        self.key = key
        self.formats = formats

    def done_before(self) -> dict[str, dict]:
        done = {}
        manifest = self.out_dir / MANIFEST
        if manifest.is_file():
            for line in manifest.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a killed run
                if row.get("key") == self.key:
                    done[row["source"]] = row
        return done

    def plan(self, jobs: list[Job], overwrite: bool) -> tuple[deque[Job], list[FileResult]]:
        """The jobs still to do, and a "skipped" result for each one done before."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        done = {} if overwrite else self.done_before()
        todo, skipped = deque(), []
        for job in jobs:
            if self._is_done(job, done):
                skipped.append(FileResult(str(job.source), "skipped"))
            else:
                todo.append(job)
        return todo, skipped

    def _is_done(self, job: Job, done: dict[str, dict]) -> bool:
        row = done.get(str(job.source.resolve()))
        if not row:
            return False
        wanted = {str(self.out_dir / f"{job.stem}.{fmt}") for fmt in self.formats}
        return wanted <= set(row["outputs"]) and all(Path(p).is_file() for p in wanted)

    def write(self, job: Job, transcript: Transcript, duration_s: float) -> FileResult:
        extra = {"source": str(job.source)}
        outputs = write_transcript(transcript, self.out_dir / job.stem, self.formats, extra)
        row = {
            "source": str(job.source.resolve()),
            "key": self.key,
            "outputs": [str(x) for x in outputs],
        }
        with open(self.out_dir / MANIFEST, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        return FileResult(str(job.source), "done", duration_s, outputs=tuple(map(str, outputs)))


class Progress:
    """A progress bar over files with the audio heard, the real-time factor and the failures;
    `record` appends each result to `results`."""

    def __init__(self, total: int, results: list[FileResult], show: bool = True):
        from tqdm import tqdm

        self.results = results
        self.show = show
        self.bar = tqdm(
            total=total, unit="file", disable=not show, dynamic_ncols=True, file=sys.stderr
        )
        self.t0, self.audio_s = time.perf_counter(), 0.0

    def record(self, r: FileResult) -> None:
        self.results.append(r)
        self.audio_s += r.duration_s
        if r.status == "failed" and self.show:
            self.bar.write(f"failed: {r.error}")
        wall = time.perf_counter() - self.t0
        a = self.audio_s
        heard = f"{a / 3600:.2f}h" if a >= 3600 else f"{a / 60:.1f}min"
        failed = sum(x.status == "failed" for x in self.results)
        rtf = wall / max(a, 1e-9)
        self.bar.set_postfix_str(f"audio={heard} rtf={rtf:.3f} failed={failed}")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


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
        asr = dataclasses.asdict(self.asr.options)
        if asr.get("context_pad_s", 0) is None:  # over the full 30 s these change nothing
            for name in ("context_pad_s", "redetect_below", "fitted_languages"):
                asr.pop(name)
        if asr.get("head") == "candidates":  # the default: keys made before it stay valid
            asr.pop("head")
        desc = {
            "model": self.asr.name,
            "asr": asr,
            "vad": getattr(self.vad, "name", type(self.vad).__name__),
            "split": [o.split_channels, list(o.channel_labels)],
        }
        return hashlib.sha256(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()[
            :16
        ]

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

    def _transcript(self, p: _Prepared) -> Transcript:
        labelled = [
            dataclasses.replace(
                r, segments=tuple(dataclasses.replace(s, speaker=label) for s in r.segments)
            )
            for label, stream in zip(p.labels, p.results, strict=True)
            for r in stream
        ]
        return self.asr.assemble(labelled, p.duration_s)

    # -- the loop ----------------------------------------------------------------------------

    def run(self, jobs: list[Job], out_dir: Path, progress: bool = True) -> list[FileResult]:
        """Transcribe the jobs not done before into `out_dir`; one result per job, in any order."""
        manifest = Manifest(out_dir, self.key, self.options.formats)
        todo, results = manifest.plan(jobs, self.options.overwrite)
        bar = Progress(len(todo), results, progress)

        def complete(p: _Prepared) -> FileResult:
            return manifest.write(p.job, self._transcript(p), p.duration_s)

        self._loop(todo, complete, bar.record)
        bar.close()
        return results

    def transcribe(self, jobs: list[Job]) -> list[tuple[FileResult, Transcript | None]]:
        """The jobs' transcripts, written nowhere (the work of one `cca transcribe --ray` worker);
        a failed file comes with None."""
        transcripts: dict[str, Transcript] = {}
        results: list[FileResult] = []

        def complete(p: _Prepared) -> FileResult:
            transcripts[str(p.job.source)] = self._transcript(p)
            return FileResult(str(p.job.source), "done", p.duration_s)

        self._loop(deque(jobs), complete, results.append)
        return [(r, transcripts.get(r.source) if r.status == "done" else None) for r in results]

    def count_windows(self, jobs: list[Job]) -> list[int]:
        """Windows each job gives the model (0 for silence or a file that fails to decode);
        the local loop's batches are the windows of the jobs in order, `batch_size` at a time."""

        def count(job: Job) -> int:
            try:
                return sum(len(w) for w in self._prepare(job).windows)
            except Exception:  # reported when the file is transcribed
                return 0

        with ThreadPoolExecutor(max(1, self.options.workers), thread_name_prefix="decode") as pool:
            return list(pool.map(count, jobs))

    def _loop(self, todo: deque, complete, record) -> None:
        """Decode `todo` jobs; `complete(file) -> FileResult` finishes each, `record` takes it."""
        o = self.options
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
                    self._take(in_flight.popleft(), pending, complete, record)
                    if len(pending) < o.batch_size and (in_flight or todo):
                        continue
                if pending:
                    self._run_batch(pending, complete, record)

    def _take(self, fut: Future, pending: deque, complete, record) -> None:
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
            self._complete(p, complete, record)
            return
        for si, stream in enumerate(p.windows):
            pending.extend(
                (p, si, wi) for wi in range(1 if self.in_order else len(stream)) if stream
            )

    def _run_batch(self, pending: deque, complete, record) -> None:
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
                self._complete(p, complete, record)

    def _complete(self, p: _Prepared, complete, record) -> None:
        try:
            record(complete(p))
        except OSError as e:  # a full disk or a read-only folder fails this file, not the run
            record(_failure(p.job.source, f"writing output failed: {e}", p.duration_s))


def _failure(source: Path, why: str, duration_s: float = 0.0) -> FileResult:
    return FileResult(str(source), "failed", duration_s, error=f"{source}: {why}")


def _label(channel: int, labels: tuple[str, ...]) -> str:
    return labels[channel] if channel < len(labels) else f"channel{channel}"
