"""Mandarin phonemes for Kokoro: tone sandhi, service-line polyphones, misaki's format kept."""

from __future__ import annotations

import pytest

pytest.importorskip("misaki.tone_sandhi")
pytest.importorskip("jieba")

from voice.tts.kokoro import KokoroOptions  # noqa: E402
from voice.tts.mandarin import MandarinG2P  # noqa: E402


@pytest.fixture(scope="module")
def g2p() -> MandarinG2P:
    return MandarinG2P()


def syllables(g2p: MandarinG2P, text: str) -> list[str]:
    return [s for _, word in g2p.pinyin(text) for s in word]


@pytest.mark.parametrize(("text", "said"), [
    ("一共", ["yi2", "gong4"]),  # 一 before a fourth tone
    ("一张", ["yi4", "zhang1"]),  # 一 before other tones
    ("不便", ["bu2", "bian4"]),  # 不 before a fourth tone
    ("可以", ["ke2", "yi3"]),  # two third tones
    ("行不行", ["xing2", "bu5", "xing2"]),
    ("银行卡", ["yin2", "hang2", "ka3"]),
    ("本月还款日", ["ben3", "yue4", "huan2", "kuan3", "ri4"]),
    ("还有库存", ["hai2", "you3", "ku4", "cun2"]),
    ("长时间", ["chang2", "shi2", "jian1"]),
    ("重新下单", ["chong2", "xin1", "xia4", "dan1"]),
    ("重点跟进", ["zhong4", "dian3", "gen1", "jin4"]),
    ("为您退款", ["wei4", "nin2", "tui4", "kuan3"]),
    ("您得先登录", ["nin2", "dei3", "xian1", "deng1", "lu4"]),
    ("改好了", ["gai2", "hao3", "le5"]),
])  # fmt: skip
def test_readings(g2p, text, said):
    assert syllables(g2p, text) == said


def test_phonemes_keep_misakis_format(g2p):
    # pinyin to IPA with tone arrows, words apart, Chinese punctuation as ASCII
    assert g2p("您好，一共五元。") == "ni↗nxau↓, i↗kʊ↘ŋ u↓ɥɛ↗n."
    assert g2p("") == ""


def test_digits_left_over_are_read_as_numbers(g2p):
    assert syllables(g2p, "共3件") == syllables(g2p, "共三件")


def test_unknown_phonemizer_fails_with_the_choices():
    with pytest.raises(ValueError, match="mandarin"):
        KokoroOptions(zh_g2p="espeak")


@pytest.mark.weights
def test_kokoro_chinese_is_heard_back_by_whisper():
    import numpy as np

    from voice.asr.models import available_packaged
    from voice.asr.types import ASROptions
    from voice.asr.whisper import WhisperASR
    from voice.codec import resample
    from voice.tts import kokoro
    from voice.tts.text import normalize
    from voice.types import SAMPLE_RATE, Audio

    if not kokoro.packaged_available() or "base" not in available_packaged():
        pytest.skip("needs the packaged Kokoro voice and Whisper base (offline extra)")
    jiwer = pytest.importorskip("jiwer")
    text = "我们已经为您退款29.9元，请注意查收。"
    audio = kokoro.KokoroTTS.from_packaged().synthesize(text, "zh")
    x = resample(audio.samples, audio.sample_rate, SAMPLE_RATE)
    asr = WhisperASR.from_pretrained("packaged:base", options=ASROptions(language="zh"))
    heard = asr.transcribe(Audio(np.asarray(x, np.float32), SAMPLE_RATE, "kokoro")).text
    said = [normalize(t, "zh").strip("，。,. ") for t in (text, heard)]
    assert jiwer.cer(*[s.replace("，", "").replace(",", "") for s in said]) <= 0.2, heard
