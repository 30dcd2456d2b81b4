"""A customer's turn transcribed over Whisper's full 30 s against over the turn and some padding.

    .venv/bin/python bench/bench_live_asr.py [--pads 6,3] [--heads full,candidates] [--repeat 3]

The material is turn-sized speech: the real recordings of ../shared/data/speech/real (10 English
sentences, one Mandarin clip, with references) and every caller line of bench_session.py's six
calls (English and Mandarin, synthesized once by its caller voices and cached in
bench/material/session/; their references are the scripts' text). Each clip is transcribed as a
voice session transcribes a turn (`WhisperASR.transcribe`, greedy, the packaged weights on the
CPU), in one process: with `context_pad_s=None` (the baseline: 30 s, as Whisper
was trained) and with each `--pads` value (`ASROptions.context_pad_s`, voice.asr.context),
each with every `--heads` output projection (`ASROptions.head`, voice.asr.head: "full" float32,
"candidates" found in int8 and scored in float32; one model loaded per head), taking turns
clip by clip. The first system (30 s, the first head) is the baseline. Prints per system: the median and 90th-percentile time of a turn's
transcript, the ratio against the baseline, WER (English) and CER (Chinese) against the
references, the clips whose language differs from the baseline's, and whose text differs.
Run by hand, never as a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

from bench_session import CALLS, caller_audio  # noqa: E402
from bench_transcribe import cpu_busy, md_table, score  # noqa: E402

from voice.types import Audio  # noqa: E402

REAL = REPO.parent / "shared" / "data" / "speech" / "real"


def material() -> list[tuple[str, str, str, str, Audio]]:
    """(name, kind, language, reference, audio): real recordings, then synthesized caller lines."""
    from voice.audio import load_audio

    clips = []
    if (REAL / "manifest.jsonl").exists():
        for line in (REAL / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            clips.append((item["audio"], "real", item["lang"], item["text"], load_audio(REAL / item["audio"])))  # fmt: skip
    voices = {"en": "kokoro:jm_kumo", "zh": "kokoro:jf_nezumi"}  # bench_session's callers
    audio = caller_audio(CALLS, voices, 16_000)
    for call in CALLS:
        for k, line in enumerate(call.lines):
            samples = audio[call.name, k].astype(np.float32)
            clips.append((f"{call.name}:{k}", "synthesized", call.language, line.text,
                          Audio(samples, 16_000, f"{call.name}:{k}")))  # fmt: skip
    return clips


def rate(rows: list[dict]) -> str:
    """Errors over reference length (words or characters), as a percentage; "-" for none."""
    if not rows:
        return "-"
    return f"{100 * sum(r['errors'] for r in rows) / max(1, sum(r['ref_len'] for r in rows)):.1f}%"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pads", default="6", help="context_pad_s values to run beside the full 30 s")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per clip and system")
    p.add_argument("--heads", default="full,candidates", help="ASROptions.head values to run")
    p.add_argument("--model", default="base")
    p.add_argument("--out", default=str(BENCH / "out" / "live_asr.json"))
    args = p.parse_args(argv)
    from voice.asr.types import ASROptions
    from voice.asr.whisper import WhisperASR

    busy = cpu_busy()
    if busy > 0.3:
        print(f"warning: the CPUs are {100 * busy:.0f}% busy before the run", file=sys.stderr)
    systems = {}
    for head in (h.strip() for h in args.heads.split(",") if h.strip()):
        options = ASROptions(head=head)
        one = WhisperASR.from_pretrained(args.model, device="cpu", options=options)
        systems[f"30 s, {head}"] = one
        for pad in (float(x) for x in args.pads.split(",") if x):
            systems[f"turn + {pad:g} s, {head}"] = WhisperASR(one.model, replace(options, context_pad_s=pad), one.name)  # fmt: skip
    base = next(iter(systems.values()))
    clips = material()
    base.transcribe(clips[0][4])  # warm-up
    results = {name: [] for name in systems}
    for i, (clip, kind, language, ref, audio) in enumerate(clips):
        order = list(systems.items()) if i % 2 == 0 else list(systems.items())[::-1]
        for name, asr in order:
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                heard = asr.transcribe(audio)
                times.append(time.perf_counter() - t0)
            errors, length = score(ref, heard.text, language)
            results[name].append({"clip": clip, "kind": kind, "language": language,
                                  "duration_s": audio.duration_s, "ms": 1000 * float(np.median(times)),
                                  "text": heard.text, "heard_language": heard.language,
                                  "errors": errors, "ref_len": length})  # fmt: skip
        print(f"{clip} ({kind}, {audio.duration_s:.1f} s): " + ", ".join(
            f"{n} {results[n][-1]['ms']:.0f} ms" for n in systems), file=sys.stderr)  # fmt: skip
    rows = [["system", "material", "clips", "turn p50 ms", "turn p90 ms", "vs 30 s",
             "WER en", "CER zh", "language not the baseline's", "text not the baseline's"]]  # fmt: skip
    first = next(iter(systems))
    for kind in ("real", "synthesized", "all"):
        base_ms = None
        for name in systems:
            rs = [r for r in results[name] if kind in ("all", r["kind"])]
            bs = [r for r in results[first] if kind in ("all", r["kind"])]
            if not rs:
                continue
            p50 = float(np.median([r["ms"] for r in rs]))
            base_ms = p50 if name == first else base_ms
            wer = [r for r in rs if r["language"] == "en"]
            cer = [r for r in rs if r["language"] == "zh"]
            wer_s, cer_s = rate(wer), rate(cer)
            lang = sum(r["heard_language"] != b["heard_language"] for r, b in zip(rs, bs, strict=True))  # fmt: skip
            text = sum(r["text"] != b["text"] for r, b in zip(rs, bs, strict=True))
            rows.append([name, kind, str(len(rs)), f"{p50:.0f}", f"{np.percentile([r['ms'] for r in rs], 90):.0f}",
                         f"{base_ms / p50:.2f}x", wer_s, cer_s, str(lang), str(text)])  # fmt: skip
    print(
        f"\nWhisper {args.model} on the CPU, {len(clips)} clips, median of {args.repeat} runs each\n"
    )
    print(md_table(rows))
    for name in list(systems)[1:]:
        for r, b in zip(results[name], results[first], strict=True):
            if r["text"] != b["text"] or r["heard_language"] != b["heard_language"]:
                print(f"- {r['clip']}: 30 s {b['heard_language']} {b['text']!r}; {name} {r['heard_language']} {r['text']!r}")  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"cpu_busy_before": busy, "results": results}, indent=1, ensure_ascii=False))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
