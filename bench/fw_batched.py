"""faster-whisper's batched pipeline over files, one <outdir>/<stem>.json each (the benchmark's
third system; bench_transcribe.py runs it as a subprocess so that its time and memory are its own).

    .venv/bin/python bench/fw_batched.py MODEL_DIR OUTDIR FILE... [--device cpu] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model_dir", help="a CTranslate2 Whisper folder")
    p.add_argument("outdir", type=Path)
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--beam-size", type=int, default=5, help="faster-whisper's default")
    args = p.parse_args(argv)

    from faster_whisper import BatchedInferencePipeline, WhisperModel

    compute_type = "float16" if args.device == "cuda" else "int8"
    model = WhisperModel(args.model_dir, device=args.device, compute_type=compute_type)
    pipeline = BatchedInferencePipeline(model)
    args.outdir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in args.files:
        try:
            segments, info = pipeline.transcribe(
                str(path), batch_size=args.batch_size, beam_size=args.beam_size
            )
            segs = [{"start_s": s.start, "end_s": s.end, "text": s.text} for s in segments]
        except Exception as e:  # one bad file must not stop the batch
            print(f"{path}: {type(e).__name__}: {e}", file=sys.stderr)
            failed += 1
            continue
        out = {
            "text": "".join(s["text"] for s in segs).strip(),
            "language": info.language,
            "duration_s": info.duration,
            "segments": segs,
            "model": f"faster-whisper {args.model_dir} {compute_type}",
        }
        (args.outdir / f"{path.stem}.json").write_text(json.dumps(out, ensure_ascii=False))
        print(f"{path.name}: [{info.language}] {out['text']}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
