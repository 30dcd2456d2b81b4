"""TTS benchmark: every offline voice installed here on contact-centre replies, en and zh.

Per voice and language: real-time factor (synthesis time / audio length), time to first audio when
streaming vs the time to make the whole reply, and intelligibility: the audio transcribed back by
the project's packaged Whisper (`packaged:base`), scored as WER (en) and CER (zh) against the
normalised text. Ratios are against the espeak-ng baseline. Writes bench/out/tts.{json,md}.
Run by hand, never as a test:

    .venv/bin/python bench/bench_tts.py [--voices kokoro piper espeak] [--no-asr] [--n 10]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
sys.path.insert(0, str(BENCH.parent))

from voice.codec import resample  # noqa: E402
from voice.tts.speaker import Speaker, SpeakerOptions, available_voices, load_voice  # noqa: E402
from voice.tts.text import normalize  # noqa: E402
from voice.types import Audio  # noqa: E402

EN = [
    "Thank you for calling. How can I help you today?",
    "Your order #W2378156 was shipped on 2026-03-04.",
    "I have issued a refund of $12.50 to your card.",
    "The refund should reach your account within five business days.",
    "Could you please confirm the email address on the account?",
    "I am sorry for the delay. Let me check that for you.",
    "Your new tracking number has been sent by text message.",
    "The replacement will arrive on Friday, before noon.",
    "Is there anything else I can help you with?",
    "Thank you for your patience. Have a great day.",
]
ZH = [
    "您好，感谢您的来电，请问有什么可以帮您？",
    "您的订单已经于3月4日发货。",
    "我们已经为您退款128.5元。",
    "退款会在五个工作日内到账。",
    "请您确认一下账户绑定的手机号码。",
    "非常抱歉让您久等了，我帮您查一下。",
    "新的快递单号已经通过短信发给您了。",
    "换货商品会在周五中午之前送达。",
    "请问还有其他可以帮您的吗？",
    "感谢您的耐心等待，祝您生活愉快。",
]


def score(asr, audio: Audio, reference: str, language: str) -> float:
    import jiwer
    import numpy as np

    from voice.types import SAMPLE_RATE

    x = resample(audio.samples, audio.sample_rate, SAMPLE_RATE)
    hyp = asr.transcribe(Audio(np.asarray(x, np.float32), SAMPLE_RATE, "tts")).text
    if language == "zh":
        import opencc

        hyp = opencc.OpenCC("t2s").convert(hyp)
        strip = lambda s: re.sub(r"[^\w]", "", normalize(s, "zh"))  # noqa: E731
        return jiwer.cer(strip(reference), strip(hyp) or "-")
    strip = lambda s: re.sub(r"[^\w' ]", " ", normalize(s, "en").lower()).split()  # noqa: E731
    return jiwer.wer(" ".join(strip(reference)), " ".join(strip(hyp)) or "-")


def run_voice(name: str, sentences: dict[str, list[str]], asr) -> list[dict]:
    t0 = time.perf_counter()
    voice = load_voice(name)
    load_s = time.perf_counter() - t0
    speaker = Speaker([voice], SpeakerOptions())
    rows = []
    for language, texts in sentences.items():
        if language not in voice.languages:
            continue
        speaker.synthesize(
            texts[0], language
        )  # warm-up (first-call allocations, jieba's dictionary)
        synth_s = audio_s = first_s = whole_s = 0.0
        errors = []
        replies = [
            " ".join(texts[i : i + 2]) if language == "en" else "".join(texts[i : i + 2])
            for i in range(0, len(texts), 2)
        ]
        for text in texts:
            start = time.perf_counter()
            audio = speaker.synthesize(text, language)
            synth_s += time.perf_counter() - start
            audio_s += audio.duration_s
            if asr is not None:
                errors.append(score(asr, audio, text, language))
        for reply in replies:  # two-sentence replies: first audio (stream) vs the whole reply
            start = time.perf_counter()
            stream = speaker.stream(reply, language)
            next(stream)
            first_s += time.perf_counter() - start
            list(stream)
            whole_s += time.perf_counter() - start
        rows.append({
            "voice": name, "language": language, "sentences": len(texts), "load_s": round(load_s, 2),
            "audio_s": round(audio_s, 2), "synth_s": round(synth_s, 2), "rtf": round(synth_s / audio_s, 3),
            "first_audio_s": round(first_s / len(replies), 3), "whole_reply_s": round(whole_s / len(replies), 3),
            "error_rate": round(sum(errors) / len(errors), 3) if errors else None,
        })  # fmt: skip
    return rows


def markdown(rows: list[dict]) -> str:
    base = {r["language"]: r for r in rows if r["voice"] == "espeak"}
    lines = [
        "| voice | lang | RTF | x espeak | first audio s | whole reply s | WER/CER | x espeak | audio s | load s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        b = base.get(r["language"])
        rtf_x = f"{r['rtf'] / b['rtf']:.1f}" if b and b["rtf"] else "-"
        err = "-" if r["error_rate"] is None else f"{r['error_rate']:.3f}"
        err_x = (
            f"{r['error_rate'] / b['error_rate']:.2f}"
            if b and r["error_rate"] is not None and b["error_rate"]
            else "-"
        )
        lines.append(f"| {r['voice']} | {r['language']} | {r['rtf']:.3f} | {rtf_x} | {r['first_audio_s']:.2f} | "
                     f"{r['whole_reply_s']:.2f} | {err} | {err_x} | {r['audio_s']:.1f} | {r['load_s']:.1f} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--voices", nargs="*", default=["kokoro", "piper", "espeak"])
    p.add_argument("--n", type=int, default=10, help="sentences per language")
    p.add_argument("--no-asr", action="store_true", help="skip the Whisper intelligibility check")
    args = p.parse_args(argv)
    installed = available_voices()
    voices = [v for v in args.voices if v in installed]
    print(f"voices: {voices} (installed: {list(installed)})", file=sys.stderr)
    asr = None
    if not args.no_asr:
        from voice.asr.whisper import WhisperASR

        asr = WhisperASR.from_pretrained("packaged:base")
    sentences = {"en": EN[: args.n], "zh": ZH[: args.n]}
    rows = [row for name in voices for row in run_voice(name, sentences, asr)]
    table = markdown(rows)
    OUT.mkdir(exist_ok=True)
    (OUT / "tts.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    (OUT / "tts.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
