"""`cca transcribe`: the command line over voice.asr.batch; a summary file, exit 1 if a file failed."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from voice.asr.batch import BatchOptions, BatchTranscriber, FileResult, expand_inputs
from voice.asr.formats import parse_formats
from voice.asr.types import HEADS
from voice.audio import AudioLimits

SUMMARY = "cca-transcribe-summary.json"


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
        "--quantize",
        default="none",
        choices=["none", "int8"],
        help="the text decoder's weights on a CPU: int8 reads a quarter of the bytes each step "
        "(default none: float32); ignored on a GPU",
    )
    p.add_argument(
        "--head",
        default=HEADS[0],
        choices=HEADS,
        help="the output projection on a CPU in float32: candidates found with int8 weights and "
        "scored exactly (default), or every token in float32 (full)",
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
    p.add_argument(
        "--context-pad-s",
        type=float,
        default=None,
        help="the encoder reads a batch's longest window and this much padding instead of "
        "Whisper's 30 s (English windows; voice.asr.context): faster on short clips (default: 30 s)",
    )
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
    p.add_argument(
        "--ray",
        metavar="auto|ADDRESS",
        default=None,
        help="spread the files over the workers of a Ray cluster: auto (a running cluster, else a "
        "local one), host:port or ray://host:port; every node needs the model and the inputs at "
        "the same path; outputs are written here (pip install 'contact-centre-agent[ray]')",
    )
    p.add_argument(
        "--ray-workers",
        type=int,
        default=None,
        help="Ray workers, each with its own model (default: one per node, one per GPU on GPUs)",
    )
    p.add_argument(
        "--ray-cpus-per-worker",
        type=float,
        default=None,
        help="CPUs (and model threads) per Ray worker (default: the cluster's CPUs shared out)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    from voice.asr.types import ASROptions
    from voice.asr.vad import load_vad
    from voice.asr.whisper import WhisperASR

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
            quantize=args.quantize,
            head=args.head,
            fallback_on_low_confidence=args.fallback_on_low_confidence,
            condition_on_previous_text=args.condition_on_previous_text,
            temperatures=tuple(float(t) for t in args.temperatures.split(",")),
            word_timestamps=args.word_timestamps,
            chinese_script=args.chinese_script,
            context_pad_s=args.context_pad_s,
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
        if args.ray:
            transcriber = _ray_transcriber(args, asr_options, options)
        else:
            asr = WhisperASR.from_pretrained(args.model, device=args.device, options=asr_options)
            transcriber = BatchTranscriber(asr, load_vad(args.vad), options)
    except (ValueError, RuntimeError, ImportError) as e:
        print(f"cca transcribe: error: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        results = transcriber.run(jobs, args.output_dir, progress=not args.no_progress)
    finally:
        if args.ray:
            transcriber.stop()
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


def _ray_transcriber(args, asr_options, options: BatchOptions):
    """Workers started and their models loaded (as a local run loads its model before timing)."""
    from voice.asr.distributed import RayOptions, RayTranscriber, WorkerSpec, connect, import_ray
    from voice.asr.vad import available_vads

    ray_options = RayOptions(
        address=args.ray, workers=args.ray_workers, cpus_per_worker=args.ray_cpus_per_worker
    )
    import_ray()  # the install hint before anything else
    if args.vad not in available_vads():
        raise ValueError(f"VAD {args.vad!r} not found; available VADs = {available_vads()}")
    spec = WorkerSpec(args.model, args.device, asr_options, args.vad, options)
    connect(ray_options.address)
    transcriber = RayTranscriber(spec, ray_options)
    transcriber.start()
    return transcriber
