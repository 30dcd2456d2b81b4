"""voice.asr.head: the output projection found in int8 and scored in float32, on random weights."""

from __future__ import annotations

import copy
import logging

import pytest
import torch

from tests.conftest import tiny_whisper, tone
from voice.asr.head import CandidateHead, has_head, install_head
from voice.asr.quantize import is_quantized, quantize_decoder
from voice.asr.types import ASROptions
from voice.asr.whisper import WhisperASR

EOT = 50257  # the multilingual tokenizer's end-of-text: special tokens from here on


def _embedding(n_vocab=51865, dim=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n_vocab, dim, generator=g) * 0.1


def test_candidates_and_special_tokens_get_exact_float32_scores():
    weight = _embedding()
    head = CandidateHead(weight, exact_from=EOT, k=16)
    x = torch.randn(3, 5, 64, generator=torch.Generator().manual_seed(1))
    got, full = head(x), x @ weight.T
    assert got.shape == full.shape and got.dtype == torch.float32
    best = head.approx(x).topk(16, dim=-1).indices
    # the 16 best int8 scores and every special token are the float32 scores
    torch.testing.assert_close(got.gather(-1, best), full.gather(-1, best), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[..., EOT:], full[..., EOT:], rtol=1e-5, atol=1e-5)
    # the rest are int8 approximations: close, not equal
    err = (got - full).abs()
    assert 0 < err.max() < 0.05 * full.abs().max()


def test_the_argmax_is_the_float32_argmax():
    weight = _embedding(seed=2)
    head = CandidateHead(weight, exact_from=EOT, k=16)
    g = torch.Generator().manual_seed(3)
    # hidden states near some token's embedding, as a trained decoder's are, and plain noise
    rows = torch.randint(0, weight.shape[0], (200,), generator=g)
    x = torch.cat([weight[rows] * 4 + torch.randn(200, 64, generator=g) * 0.2, torch.randn(200, 64, generator=g)])  # fmt: skip
    assert torch.equal(head(x).argmax(-1), (x @ weight.T).argmax(-1))


def test_bad_sizes_are_refused_with_the_bounds():
    with pytest.raises(ValueError, match="0 < k"):
        CandidateHead(_embedding(n_vocab=100), exact_from=90, k=0)
    with pytest.raises(ValueError, match="exact_from"):
        CandidateHead(_embedding(n_vocab=100), exact_from=101, k=4)


def _greedy(model, audio, steps=12):
    tokens = torch.tensor([[50258, 50259, 50359, 50363]] * audio.shape[0])
    with torch.no_grad():
        for _ in range(steps):
            nxt = model.decoder(tokens, audio)[:, -1].argmax(-1, keepdim=True)
            tokens = torch.cat([tokens, nxt], dim=1)
    return tokens


def test_installed_on_a_whisper_it_decodes_the_same_tokens():
    model = tiny_whisper(seed=4)
    fast = install_head(copy.deepcopy(model))
    assert has_head(fast) and not has_head(model)
    audio = torch.randn(2, 1500, 64, generator=torch.Generator().manual_seed(5))
    assert torch.equal(_greedy(fast, audio), _greedy(model, audio))
    head = fast.decoder.head
    assert install_head(fast) is fast and fast.decoder.head is head  # a second call: the same


def test_int8_decoding_replaces_it_and_it_keeps_int8():
    model = quantize_decoder(install_head(tiny_whisper()))
    assert is_quantized(model) and not isinstance(model.decoder.head, CandidateHead)
    head = model.decoder.head
    assert install_head(model).decoder.head is head


def test_it_refuses_weights_not_in_float32_with_the_fix():
    with pytest.raises(ValueError, match="head='full'"):
        install_head(tiny_whisper().to(torch.bfloat16))


def test_the_option_is_checked():
    assert ASROptions().head == "candidates"
    with pytest.raises(ValueError, match="head="):
        ASROptions(head="int4")


def test_whisper_asr_installs_it_on_a_cpu_and_full_keeps_float32(caplog):
    windows, offsets = [tone(1.5), tone(2.5, 330.0)], [0.0, 3.0]
    options = ASROptions(max_new_tokens=8, temperatures=(0.0,))
    full = WhisperASR(tiny_whisper(seed=6), ASROptions(max_new_tokens=8, temperatures=(0.0,), head="full"))  # fmt: skip
    fast = WhisperASR(tiny_whisper(seed=6), options)
    assert has_head(fast.model) and not has_head(full.model)
    a, b = full.decode_windows(windows, offsets), fast.decode_windows(windows, offsets)
    assert [r.language for r in a] == [r.language for r in b]
    assert [[s.text for s in r.segments] for r in a] == [[s.text for s in r.segments] for r in b]
    # "full" on a model that already has the head says so, and decodes with what is there
    with caplog.at_level(logging.WARNING, logger="voice.asr.whisper"):
        WhisperASR(fast.model, ASROptions(head="full"))
    assert "load the model again" in caplog.text
