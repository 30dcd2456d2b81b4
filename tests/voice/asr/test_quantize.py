"""voice.asr.quantize: int8 weights for Whisper's text decoder, on a tiny random Whisper."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.ao.nn.quantized.dynamic import Linear as QLinear

from tests.conftest import tiny_whisper, tone
from voice.asr.quantize import is_quantized, quantize_decoder
from voice.asr.types import ASROptions
from voice.asr.whisper import WhisperASR


def _step_logits(model, tokens, audio):
    cache, hooks = model.install_kv_cache_hooks()
    try:
        with torch.no_grad():
            first = model.decoder(tokens, audio, kv_cache=cache)
            nxt = first[:, -1].argmax(-1, keepdim=True)
            second = model.decoder(nxt, audio, kv_cache=cache)  # a step that reads the cache
    finally:
        for h in hooks:
            h.remove()
    return first, second


def test_int8_decoder_gives_the_float_logits_within_rounding():
    model = tiny_whisper(seed=3)
    q = quantize_decoder(copy.deepcopy(model))
    assert is_quantized(q) and not is_quantized(model)
    torch.manual_seed(0)
    audio = torch.randn(2, 1500, 64)
    tokens = torch.tensor([[50258, 50259, 50359, 50363]] * 2)
    for ref, got in zip(_step_logits(model, tokens, audio), _step_logits(q, tokens, audio), strict=True):  # fmt: skip
        assert got.shape == ref.shape and got.dtype == torch.float32
        cos = torch.nn.functional.cosine_similarity(got.flatten(1), ref.flatten(1), dim=1)
        assert cos.min() > 0.99, cos
    # every linear layer of the decoder is int8 now, the encoder's are untouched
    assert not any(isinstance(m, torch.nn.Linear) for m in q.decoder.modules())
    assert (
        sum(type(m) is QLinear for m in q.decoder.modules()) == 2 * 10 + 1
    )  # 2 blocks of 10, the head
    assert all(isinstance(m, torch.nn.Linear) for n, m in q.encoder.named_modules() if n.endswith(("query", "fc1")))  # fmt: skip


def test_quantizing_twice_changes_nothing_more():
    model = quantize_decoder(tiny_whisper())
    head = model.decoder.head
    assert quantize_decoder(model) is model and model.decoder.head is head


def test_half_weights_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="float32"):
        quantize_decoder(tiny_whisper().half())


def test_an_unknown_quantization_is_refused_at_construction():
    with pytest.raises(ValueError, match="quantize"):
        ASROptions(quantize="int4")


@pytest.mark.parametrize("beam_size", [None, 2])
def test_whisper_asr_decodes_with_int8_weights(beam_size):
    options = ASROptions(max_new_tokens=8, temperatures=(0.0,), quantize="int8", beam_size=beam_size)  # fmt: skip
    asr = WhisperASR(tiny_whisper(), options, name="tiny-random")
    assert is_quantized(asr.model)
    windows = [tone(1.5), tone(2.5, 330.0)]
    results = asr.decode_windows(windows, [0.0, 3.0])
    assert len(results) == 2
    for r, off, w in zip(results, [0.0, 3.0], windows, strict=True):
        assert r.language in ("en", "zh")
        for s in r.segments:  # times stay inside the window, whatever the text
            assert off <= s.start_s <= s.end_s <= off + len(w) / 16_000 + asr.options.lead_pad_s
