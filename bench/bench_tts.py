"""TTS benchmark: every offline voice installed here on contact-centre replies, en and zh.

Per voice and language: real-time factor (synthesis time / audio length), time to first audio when
streaming vs the time to make the whole reply, and intelligibility: the audio transcribed back by
Whisper (`--asr base`, one column per model), in the sentence's own language, scored as WER (en)
and CER (zh) over the whole set (errors / reference length) with bench_transcribe's scoring: both
sides simplified and normalised the same way (digits spelled, 幺 read as 一). Ratios are against
the espeak-ng baseline. `--set service` is 20 Chinese customer-service sentences full of numbers,
amounts, dates, ids and polyphones (行 还 重 长 为 得 了 一 不), and 10 English ones.
Writes bench/out/tts.{json,md}. Run by hand, never as a test:

    .venv/bin/python bench/bench_tts.py [--voices kokoro piper espeak] [--set service]
        [--asr base,small] [--no-asr] [--no-stream] [--show]
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
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

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

# What an agent says on a Chinese line: amounts, dates, ids, phone numbers and the polyphones
# (行 háng/xíng, 还 hái/huán, 重 chóng/zhòng, 长 cháng/zhǎng, 为 wèi/wéi, 得 de/děi, 了 le/liǎo)
# and tone sandhi (一, 不, third tones) a G2P gets wrong.
ZH_SERVICE = [
    "您好，感谢您的来电，请问有什么可以帮您？",
    "您的订单号是W2378156，已经于2026年3月4日发货。",
    "我们已经为您退款29.9元，请注意查收。",
    "退款会在三到五个工作日内原路退回。",
    "这件商品还有库存，您可以重新下单。",
    "尾号6217的银行卡已经绑定成功。",
    "您的会员积分还剩1280分，可以抵扣12.8元。",
    "快递员会在明天下午3:30之前送达。",
    "这个问题我们会重点跟进，请您放心。",
    "为了保护您的账户安全，请不要把验证码告诉别人。",
    "长时间没有收到货的话，您得先联系快递公司。",
    "您还可以选择换成大一号的尺码，一共需要补差价5元。",
    "这笔订单的运费是12元，满99元包邮。",
    "我觉得这个方案挺好的，您看行不行？",
    "我已经帮您把收货地址改好了。",
    "客服热线是400-820-1234，工作时间是早上九点到晚上六点。",
    "您的退货申请已经审核通过了，请在七天内寄回。",
    "很抱歉给您带来了不便，我们会补偿您一张十元的优惠券。",
    "您的账户余额是1050.75元，本月还款日是5月20日。",
    "请问您的手机号码是13812345678吗？",
]
EN_SERVICE = [
    *EN,
    "Your refund of $29.90 was approved on March 4th, 2026.",
    "Please call us back at 400-820-1234 between 9 and 6.",
]
SETS = {"replies": {"en": EN, "zh": ZH}, "service": {"en": EN_SERVICE, "zh": ZH_SERVICE}}


def _said(text: str, language: str) -> str:
    """The text as scored: simplified, normalised (digits spelled), no punctuation."""
    from bench_transcribe import normalise_zh

    if language == "zh":  # digit groups Whisper writes "400、820、1234" are one number, as said
        text = re.sub(r"(?<=\d)[、，\s](?=\d)", "-", text)
        return normalise_zh(normalize(text, "zh")).replace("幺", "一")
    return normalize(text, "en")


def transcribe(asr, audio: Audio, language: str) -> str:
    import numpy as np

    from voice.types import SAMPLE_RATE

    x = resample(audio.samples, audio.sample_rate, SAMPLE_RATE)
    return asr.transcribe(Audio(np.asarray(x, np.float32), SAMPLE_RATE, "tts")).text


def score(reference: str, hyp: str, language: str) -> tuple[int, int]:
    """(errors, reference length) as bench_transcribe scores them, after `_said` on both sides."""
    from bench_transcribe import score as score_text

    return score_text(_said(reference, language), _said(hyp, language), language)


def load_asr(names: list[str]) -> dict:
    """Whisper models by name, each forced to the sentence's language at use."""
    from voice.asr.whisper import WhisperASR

    models = {}
    for name in names:
        try:
            models[name] = WhisperASR.from_pretrained(name)
        except (ValueError, FileNotFoundError, RuntimeError) as e:
            print(f"asr {name}: skipped ({e})", file=sys.stderr)
    return models


def run_voice(name: str, sentences: dict[str, list[str]], asr: dict, stream: bool = True,
              show: bool = False, kokoro_options=None) -> list[dict]:  # fmt: skip
    from dataclasses import replace

    t0 = time.perf_counter()
    voice = None if kokoro_options and name.startswith("kokoro") else load_voice(name)
    if kokoro_options is not None and name.partition(":")[0] == "kokoro":
        from voice.tts.kokoro import KokoroTTS

        voice = KokoroTTS.from_packaged(name.partition(":")[2] or None, kokoro_options)
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
        errors = {m: [0, 0] for m in asr}
        heard = []  # (model, text, what it heard, errors, reference length)
        for model in asr.values():
            model.options = replace(model.options, language=language)
        replies = [
            " ".join(texts[i : i + 2]) if language == "en" else "".join(texts[i : i + 2])
            for i in range(0, len(texts), 2)
        ]
        for text in texts:
            start = time.perf_counter()
            audio = speaker.synthesize(text, language)
            synth_s += time.perf_counter() - start
            audio_s += audio.duration_s
            for m, model in asr.items():
                hyp = transcribe(model, audio, language)
                e, n = score(text, hyp, language)
                errors[m][0] += e
                errors[m][1] += n
                heard.append({"asr": m, "text": text, "heard": hyp, "errors": e, "n": n})
                if show and e:
                    print(
                        f"  {name} {m} {e}/{n}: {_said(text, language)} -> {hyp}", file=sys.stderr
                    )
        for reply in (
            replies if stream else []
        ):  # two-sentence replies: first audio (stream) vs the whole reply
            start = time.perf_counter()
            stream = speaker.stream(reply, language)
            next(stream)
            first_s += time.perf_counter() - start
            list(stream)
            whole_s += time.perf_counter() - start
        rows.append({
            "voice": name, "language": language, "sentences": len(texts), "load_s": round(load_s, 2),
            "audio_s": round(audio_s, 2), "synth_s": round(synth_s, 2), "rtf": round(synth_s / audio_s, 3),
            "first_audio_s": round(first_s / len(replies), 3) if stream else None,
            "whole_reply_s": round(whole_s / len(replies), 3) if stream else None,
            "errors": {m: round(e / max(1, n), 3) for m, (e, n) in errors.items()},
            "heard": heard,
        })  # fmt: skip
    return rows


def markdown(rows: list[dict], asr: list[str]) -> str:
    base = {r["language"]: r for r in rows if r["voice"] == "espeak"}
    f2 = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
    head = ["voice", "lang", "RTF", "x espeak", "first audio s", "whole reply s"]
    head += [f"WER/CER {m}" for m in asr] + ["audio s", "load s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        b = base.get(r["language"])
        rtf_x = f"{r['rtf'] / b['rtf']:.1f}" if b and b["rtf"] else "-"
        cells = [r["voice"], r["language"], f"{r['rtf']:.3f}", rtf_x]
        cells += [f2(r["first_audio_s"]), f2(r["whole_reply_s"])]
        cells += [f"{r['errors'][m]:.3f}" if m in r["errors"] else "-" for m in asr]
        cells += [f"{r['audio_s']:.1f}", f"{r['load_s']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--voices", nargs="*", default=["kokoro", "piper", "espeak"])
    p.add_argument("--set", choices=list(SETS), default="replies", help="the sentences")
    p.add_argument("--languages", default="en,zh", help="comma list")
    p.add_argument("--n", type=int, default=20, help="sentences per language, at most")
    p.add_argument("--asr", default="base", help="comma list of Whisper models that listen")
    p.add_argument("--no-asr", action="store_true", help="skip the Whisper intelligibility check")
    p.add_argument("--no-stream", action="store_true", help="skip the first-audio timing")
    p.add_argument("--show", action="store_true", help="print every sentence heard wrong")
    p.add_argument("--kokoro-g2p", help="Kokoro's Chinese phonemes: mandarin (default) or misaki")
    p.add_argument("--kokoro-speed", type=float, help="Kokoro's speed (default 1.0)")
    args = p.parse_args(argv)
    installed = available_voices()
    voices = [v for v in args.voices if v in installed]
    print(f"voices: {voices} (installed: {list(installed)})", file=sys.stderr)
    asr = {} if args.no_asr else load_asr([m for m in args.asr.split(",") if m])
    langs = args.languages.split(",")
    sentences = {k: v[: args.n] for k, v in SETS[args.set].items() if k in langs}
    kokoro_options = None
    if args.kokoro_g2p or args.kokoro_speed:
        from dataclasses import replace

        from voice.tts.kokoro import KokoroOptions

        changes = {"zh_g2p": args.kokoro_g2p, "speed": args.kokoro_speed}
        kokoro_options = replace(KokoroOptions(), **{k: v for k, v in changes.items() if v})
    rows = [
        row
        for name in voices
        for row in run_voice(name, sentences, asr, not args.no_stream, args.show, kokoro_options)
    ]
    table = markdown(rows, list(asr))
    OUT.mkdir(exist_ok=True)
    (OUT / "tts.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    (OUT / "tts.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
