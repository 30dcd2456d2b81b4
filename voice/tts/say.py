"""`cca say TEXT -o OUT.wav`: text to a WAV file with the TTS stage; prints a one-line JSON summary."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import wave
from pathlib import Path

import numpy as np

from voice.tts.speaker import PROFILES, Speaker, TTSError, available_voices, load_speaker
from voice.tts.text import guess_language

logger = logging.getLogger(__name__)


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cca say", description="Say TEXT into a WAV file (English or Chinese)."
    )
    p.add_argument("text", help="what to say; '-' reads it from standard input")
    p.add_argument("-o", "--output", required=True, help="the WAV file to write")
    p.add_argument(
        "--language",
        choices=["en", "zh"],
        help="default: zh if the text has Chinese characters, else en",
    )
    p.add_argument(
        "--voice",
        help="one voice by name (see --list-voices); default: the profile's voices in order",
    )
    p.add_argument(
        "--profile",
        default="offline",
        choices=list(PROFILES),
        help="voices to use when --voice is not given",
    )
    p.add_argument("--rate", type=int, help="output sample rate in Hz (default: the voice's own)")
    p.add_argument(
        "--list-voices", action="store_true", help="print the voices installed here and exit"
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", help="log which voice was chosen and why"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.list_voices:
        for name, what in available_voices().items():
            print(f"{name:<32} {what}")
        return 0
    text = sys.stdin.read() if args.text == "-" else args.text
    if not text.strip():
        print("cca say: nothing to say: the text is empty", file=sys.stderr)
        return 2
    if args.rate is not None and not 4000 <= args.rate <= 192_000:
        print(
            f"cca say: --rate {args.rate} is out of range; use 4000 to 192000 Hz (8000 for phone audio)",
            file=sys.stderr,
        )
        return 2
    language = args.language or guess_language(text)
    try:
        speaker = Speaker.from_names([args.voice]) if args.voice else load_speaker(args.profile)
    except ValueError as e:
        print(f"cca say: {e}", file=sys.stderr)
        return 2
    except (ImportError, FileNotFoundError, RuntimeError) as e:
        print(f"cca say: the voice could not be loaded: {e}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    try:
        audio = speaker.synthesize(text, language, args.rate)
    except TTSError as e:
        print(f"cca say: {e}", file=sys.stderr)
        return 2 if not e.retryable else 1
    synth_s = time.perf_counter() - start
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_wav(out, audio.samples, audio.sample_rate)
    summary = {
        "out": str(out),
        "voice": speaker.voice_for(language).name,
        "language": language,
        "duration_s": round(audio.duration_s, 3),
        "sample_rate": audio.sample_rate,
        "synth_s": round(synth_s, 3),
        "rtf": round(synth_s / audio.duration_s, 4) if audio.duration_s else None,
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
