"""The TTS stage: voice choice, fallback, mixed-script routing, streaming and its seams, the
backends (a tiny random-weight Coqui VITS; espeak-ng; the packaged Kokoro and Piper voices under
the `weights` marker) and `cca say`."""

from __future__ import annotations

import importlib.util
import json
import wave

import numpy as np
import pytest

from tests.conftest import requires_espeak, tiny_vits
from tests.fakes import FakeTTS
from voice.tts import say
from voice.tts.speaker import (
    Speaker,
    SpeakerOptions,
    TTSBackend,
    TTSError,
    load_speaker,
    load_voice,
)
from voice.types import Audio

QUIET = SpeakerOptions(sentence_pause_s=0.1)


def test_first_capable_voice_speaks_and_languages_are_declared():
    en_only = FakeTTS("en-only", frozenset({"en"}))
    both = FakeTTS("both")
    speaker = Speaker([en_only, both], QUIET)
    assert speaker.voice_for("en").name == "en-only"
    assert speaker.voice_for("zh-CN").name == "both"
    speaker.synthesize("Hello there.", "en")
    speaker.synthesize("您好。", "zh")
    assert en_only.calls == [("Hello there.", "en")]
    assert both.calls == [("您好。", "zh")]


def test_failing_voice_falls_back_to_the_next_capable_one(caplog):
    broken, good = FakeTTS("broken", fail=True), FakeTTS("good")
    audio = Speaker([broken, good], QUIET).synthesize("Hello.", "en")
    assert audio.duration_s > 0.2
    assert broken.calls and good.calls
    assert "broken failed" in caplog.text


def test_every_voice_failing_is_a_retryable_error():
    with pytest.raises(TTSError, match="every voice") as e:
        Speaker([FakeTTS("a", fail=True), FakeTTS("b", fail=True)]).synthesize("Hi.", "en")
    assert e.value.retryable


def test_no_voice_for_a_language_lists_the_voices():
    with pytest.raises(TTSError, match="en-only"):
        Speaker([FakeTTS("en-only", frozenset({"en"}))]).synthesize("您好", "zh")


def test_empty_text_and_empty_speaker_are_refused():
    with pytest.raises(ValueError, match="empty"):
        Speaker([FakeTTS()]).synthesize("  ", "en")
    with pytest.raises(ValueError, match="at least one voice"):
        Speaker([])


def test_mixed_text_goes_whole_to_a_bilingual_voice():
    en, both = FakeTTS("en", frozenset({"en"})), FakeTTS("both")
    Speaker([en, both], QUIET).synthesize("请登录 App 然后重试。", "zh")
    assert en.calls == [] and len(both.calls) == 1


def test_mixed_text_is_split_by_script_when_no_voice_says_both():
    en = FakeTTS("en", frozenset({"en"}), sample_rate=22_050)
    zh = FakeTTS("zh", frozenset({"zh"}), sample_rate=16_000)
    audio = Speaker([en, zh], QUIET).synthesize("请登录 App 然后重试。", "zh")
    assert [c[1] for c in zh.calls] == ["zh", "zh"] and en.calls == [("App", "en")]
    assert audio.sample_rate == 16_000  # the rate of the first zh voice


def test_text_is_normalised_per_sentence_language():
    fake = FakeTTS()
    Speaker([fake], QUIET).synthesize("Your total is $12.50. 退款128.5元。", "zh")
    assert fake.calls == [
        ("Your total is twelve dollars and fifty cents.", "en"),
        ("退款一百二十八点五元。", "zh"),
    ]


def test_first_chunk_arrives_before_later_sentences_are_made():
    fake = FakeTTS()
    chunks = Speaker([fake], QUIET).stream("One. Two. Three.", "en", sample_rate=16_000)
    first = next(chunks)
    assert len(fake.calls) == 1 and first.sample_rate == 16_000 and len(first.samples) > 0
    rest = list(chunks)
    assert len(fake.calls) == 3 and len(rest) == 2


def test_streamed_chunks_join_without_clicks():
    """A continuous tone cut into sentences: the biggest sample-to-sample step where chunks meet
    is no bigger than inside a chunk (one resampler runs across the joins; pieces are faded)."""
    fake = FakeTTS(freq=300, sample_rate=24_000)
    speaker = Speaker([fake], SpeakerOptions(sentence_pause_s=0.0))
    chunks = [c.samples for c in speaker.stream("Aaaa. Bbbb. Cccc. Dddd.", "en", sample_rate=8_000)]
    inner = max(np.max(np.abs(np.diff(c))) for c in chunks)
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert abs(float(b[0]) - float(a[-1])) <= inner * 1.05
    whole = np.concatenate(chunks)
    assert np.max(np.abs(np.diff(whole))) <= inner * 1.05
    assert abs(len(whole) / 8_000 - 4 * 0.25) < 0.01  # 4 x 5 characters x 0.05 s, no samples lost


def test_fake_tts_keeps_the_backend_contract():
    assert isinstance(FakeTTS(), TTSBackend)


def test_unknown_voice_and_profile_list_the_choices():
    with pytest.raises(ValueError, match="available voices"):
        load_voice("nope")
    with pytest.raises(ValueError, match="available profiles"):
        load_speaker("nope")


# --- backends -------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("TTS") is None, reason="needs coqui-tts")
def test_coqui_wrapper_speaks_through_a_tiny_random_vits():
    from voice.tts.backends import CoquiTTS

    model, config = tiny_vits()
    voice = CoquiTTS(
        model, languages={"en"}, sample_rate=config.audio.sample_rate, name="tiny-vits"
    )
    assert isinstance(voice, TTSBackend)
    audio = Speaker([voice]).synthesize("Hello. Your order shipped.", "en")
    assert audio.sample_rate == 22_050 and audio.samples.dtype == np.float32
    assert audio.duration_s > 0.1 and np.isfinite(audio.samples).all()
    with pytest.raises(ValueError, match="languages"):
        CoquiTTS(model, languages=(), sample_rate=22_050)


@requires_espeak
@pytest.mark.parametrize(
    ("text", "language"), [("Your refund is on its way.", "en"), ("您的退款已经处理了。", "zh")]
)
def test_espeak_speaks_en_and_zh(text, language):
    voice = load_voice("espeak")
    audio = voice.synthesize(text, language)
    assert audio.sample_rate == voice.sample_rate and audio.duration_s > 0.5
    assert np.abs(audio.samples).max() > 0.05


@requires_espeak
def test_espeak_reads_chinese_as_pinyin_with_tones():
    from voice.tts.backends import EspeakTTS

    said, voice = EspeakTTS.from_system().preprocess("您好，再见。", "zh")
    assert (said, voice) == ("nin2 hao3, zai4 jian4.", "cmn-latn-pinyin")


@requires_espeak
def test_say_writes_a_wav_and_a_summary(tmp_path, capsys):
    out = tmp_path / "hi.wav"
    assert (
        say.main(["Hello, order 12345.", "-o", str(out), "--voice", "espeak", "--rate", "8000"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert (
        summary["voice"] == "espeak"
        and summary["sample_rate"] == 8000
        and summary["language"] == "en"
    )
    with wave.open(str(out)) as w:
        assert w.getframerate() == 8000 and w.getnframes() / 8000 == pytest.approx(
            summary["duration_s"], abs=0.01
        )


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["", "-o", "x.wav"], "empty"), (["hi", "-o", "x.wav", "--voice", "nope"], "available voices"),
     (["hi", "-o", "x.wav", "--rate", "5"], "out of range")],
)  # fmt: skip
def test_say_refuses_bad_input_with_status_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert say.main(argv) == 2
    assert message in capsys.readouterr().err


def _packaged(name: str):
    from voice.tts import kokoro, piper

    available = {"kokoro": kokoro.packaged_available, "piper": piper.packaged_available}[name]()
    if not available:
        pytest.skip(f"the packaged {name} voice is not installed (offline extra)")
    return load_voice(name)


@pytest.mark.weights
@requires_espeak
@pytest.mark.parametrize(("name", "text", "language"), [
    ("kokoro", "Your refund of twelve dollars is on its way.", "en"),
    ("kokoro", "您好，您的订单已经发货了。", "zh"),
    ("piper", "Your refund of twelve dollars is on its way.", "en"),
])  # fmt: skip
def test_packaged_voices_speak(name, text, language):
    voice = _packaged(name)
    audio: Audio = voice.synthesize(text, language)
    assert audio.sample_rate == voice.sample_rate and 1.0 < audio.duration_s < 8.0
    assert 0.05 < np.abs(audio.samples).max() <= 1.0


@pytest.mark.weights
@requires_espeak
def test_offline_profile_speaks_english_with_piper_and_chinese_with_kokoro():
    _packaged("kokoro")
    speaker = load_speaker("offline")
    assert speaker.voice_for("en").name == "piper" and speaker.voice_for("zh").name == "kokoro"
    chunks = list(speaker.stream("Hello. 您好。", "en", sample_rate=8_000))
    assert len(chunks) == 2 and all(c.sample_rate == 8_000 for c in chunks)
