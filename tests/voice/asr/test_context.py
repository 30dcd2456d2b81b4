"""voice.asr.context: the encoder over a window and some padding, and the language of encoded
windows, against openai-whisper's own over the full 30 s (a tiny random Whisper); marked
`weights`, the real packaged base on real speech."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
import whisper

from tests.conftest import SHARED, tiny_whisper, tone
from voice.asr.context import detect_languages, encode_fitted, fitted_frames
from voice.asr.types import ASROptions
from voice.asr.whisper import WhisperASR
from voice.types import Audio

FAST = ASROptions(max_new_tokens=8, temperatures=(0.0,))


def test_fitted_frames():
    assert fitted_frames(48_000, None, 1500, 16_000) is None  # the full context
    assert fitted_frames(48_000, 6.0, 1500, 16_000) == 450  # 3 s + 6 s, two mel frames each
    assert fitted_frames(48_000, 0.0, 1500, 16_000) == 150
    assert fitted_frames(16_000 * 29, 6.0, 1500, 16_000) is None  # no shorter than 30 s
    with pytest.raises(ValueError, match="context_pad_s"):
        ASROptions(context_pad_s=-1.0)


def test_over_the_full_30_s_it_is_whispers_encoder():
    model = tiny_whisper()
    mel = torch.randn(2, 80, 3000)
    with torch.no_grad():
        assert torch.allclose(encode_fitted(model.encoder, mel), model.encoder(mel), atol=1e-5)
        short = encode_fitted(model.encoder, mel[..., :600])
    assert short.shape == (2, 300, 64)


def test_language_probabilities_are_whispers_among_the_candidates():
    model = tiny_whisper()
    tokenizer = whisper.tokenizer.get_tokenizer(True, language="en")
    with torch.no_grad():
        features = model.encoder(torch.randn(3, 80, 3000))
        _, full = whisper.decoding.detect_language(model, features, tokenizer)
    langs, probs = detect_languages(model, features, tokenizer, ("en", "zh"))
    for lang, p, q in zip(langs, probs, full, strict=True):
        total = q["en"] + q["zh"]
        assert p["en"] == pytest.approx(q["en"] / total, rel=1e-4)
        assert p["zh"] == pytest.approx(q["zh"] / total, rel=1e-4)
        assert lang == max(p, key=p.get) and sum(p.values()) == pytest.approx(1.0)


def test_a_fitted_window_is_transcribed_and_an_unsure_language_asked_again_over_30_s():
    model = tiny_whisper()
    audio = Audio(tone(2.0), 16_000, "tone")
    full = WhisperASR(model, FAST).transcribe(audio)
    fitted = WhisperASR(model, replace(FAST, context_pad_s=2.0, redetect_below=0.0))
    sure = fitted.transcribe(audio)
    assert sure.duration_s == full.duration_s
    assert all(0.0 <= s.start_s <= s.end_s <= audio.duration_s for s in sure.segments)
    # every window unsure: its language is the one over the full 30 s
    again = WhisperASR(model, replace(FAST, context_pad_s=2.0, redetect_below=1.01))
    assert again.transcribe(audio).language_probs == pytest.approx(full.language_probs)


@pytest.mark.weights
def test_real_speech_is_heard_the_same_over_a_fitted_context():
    """On the real recordings beside the checkout, the words and the language over the window and
    6 s are the ones over 30 s, but for at most one word in all of them."""
    from voice.asr.models import available_packaged
    from voice.audio import load_audio

    root = SHARED / "data" / "speech" / "real"
    if "base" not in available_packaged() or not (root / "manifest.jsonl").exists():
        pytest.skip("needs the packaged Whisper base and shared/data/speech/real")
    full = WhisperASR.from_pretrained("base", device="cpu")
    fitted = WhisperASR(full.model, replace(full.options, context_pad_s=6.0))
    differ, languages = 0, []
    for line in (root / "manifest.jsonl").read_text().splitlines():
        audio = load_audio(root / json.loads(line)["audio"])
        a, b = full.transcribe(audio), fitted.transcribe(audio)
        languages.append((a.language, b.language))
        wa, wb = a.text.split(), b.text.split()
        differ += sum(x != y for x, y in zip(wa, wb, strict=False)) + abs(len(wa) - len(wb))
    assert all(x == y for x, y in languages)
    assert differ <= 1


def test_a_language_not_fitted_is_decoded_over_30_s():
    """A window heard in a language outside `fitted_languages` decodes from the full context:
    the same transcript, token for token, as without a fitted context."""
    model = tiny_whisper()
    audio = Audio(tone(1.5, 330.0), 16_000, "tone")
    zh = replace(FAST, languages=("zh",))  # detection can only say Chinese
    full = WhisperASR(model, zh).transcribe(audio)
    fitted = WhisperASR(model, replace(zh, context_pad_s=1.0, fitted_languages=("en",)))
    assert fitted.transcribe(audio) == full


def test_an_output_cut_short_over_a_fitted_context_is_decoded_again_over_30_s(monkeypatch):
    """A window whose fitted decode says too little for its length ("Sunday is" for a 3 s
    sentence) is decoded again from the full 30 s; a short one ("Okay.") is not checked."""
    from voice.asr.context import looks_cut

    assert looks_cut([1, 2], 50257, 3.0) and not looks_cut([1, 2, 3, 4, 5], 50257, 3.0)
    assert not looks_cut([1], 50257, 1.0)  # "Okay.": too short to judge
    assert not looks_cut([1, 2] + [50364 + k for k in range(20)], 50257, 1.9)
    model = tiny_whisper()
    asr = WhisperASR(model, replace(FAST, context_pad_s=2.0, max_new_tokens=1))
    frames_seen = []
    decode = asr._decode_with_fallback

    def spy(features, *args):
        frames_seen.append(features.shape[1])
        return decode(features, *args)

    monkeypatch.setattr(asr, "_decode_with_fallback", spy)
    asr.transcribe(Audio(tone(3.0), 16_000, "tone"))  # one token for 3.5 s: looks cut
    assert frames_seen[0] < 1500 and 1500 in frames_seen


def test_a_short_window_is_heard_over_30_s():
    """A window under FIT_FROM_S ("Okay.", a barge-in's first words) is detected and decoded over
    the full 30 s whatever its language: the transcript is the one without a fitted context."""
    from voice.asr.context import FIT_FROM_S

    model = tiny_whisper()
    audio = Audio(tone(FIT_FROM_S - 1.0, 330.0), 16_000, "tone")  # + the 0.5 s lead-in
    full = WhisperASR(model, FAST).transcribe(audio)
    every = replace(FAST, context_pad_s=1.0, fitted_languages=("en", "zh"), redetect_below=0.0)
    assert WhisperASR(model, every).transcribe(audio) == full
