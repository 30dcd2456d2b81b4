"""Int8 weights for Whisper's text decoder on a CPU.

On a CPU, decoding a short turn is many small steps of the text decoder, one token for each
window (or beam) at a time. Each step reads every decoder weight once, the output projection
(n_vocab x n_state: 51,865 x 512 floats in base, 106 MB) most of all, so a step is bound by
memory, not arithmetic. `quantize_decoder(model)` gives the decoder's linear layers and that
projection int8 weights with a scale per output row, and int8 arithmetic on activations
quantized on the fly (PyTorch's dynamic quantization; fbgemm on x86, qnnpack on ARM): a quarter
of the bytes to read. The encoder is left alone: it runs once per window on 1,500 frames, where
bfloat16 (`ASROptions.compute_type`) pays better.

    model = load_whisper("base")
    quantize_decoder(model)          # in place; CPU only
    WhisperASR(model, options)

The weights are rounded, so the text can differ from float32 decoding on a hard word;
bench/bench_transcribe.py measures both on real speech (`--quantize int8`).
"""

from __future__ import annotations

import types
import warnings

import torch
from torch import nn

from voice.asr.head import decoder_forward, int8_linear

QUANTIZE = ("none", "int8")


def is_quantized(model) -> bool:
    return bool(getattr(model.decoder, "int8", False))


def quantize_decoder(model):
    """Int8 weights for `model.decoder` (a whisper.model.Whisper on the CPU), in place; returns
    the model. A second call does nothing."""
    if is_quantized(model):
        return model
    device = next(model.parameters()).device
    if device.type != "cpu":
        raise ValueError(
            f"int8 decoding is for a CPU; the model is on {device} (use compute_type float16 there)"
        )
    if next(model.decoder.parameters()).dtype != torch.float32:
        raise ValueError("int8 decoding quantizes float32 weights; load the model in float32")
    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError as e:  # pragma: no cover - depends on the torch release
        raise RuntimeError(
            "int8 decoding needs torch.ao.quantization, which this torch release lacks; "
            "use quantize='none'"
        ) from e
    decoder = model.decoder
    for module in decoder.modules():
        # whisper's Linear only adds a cast of its weights to the input's dtype
        if isinstance(module, nn.Linear) and type(module) is not nn.Linear:
            module.__class__ = nn.Linear
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        quantize_dynamic(decoder, {nn.Linear}, dtype=torch.qint8, inplace=True)
    # the token embedding in int8 as the output projection, all of it approximate
    decoder.head = int8_linear(decoder.token_embedding.weight)
    decoder.forward = types.MethodType(decoder_forward, decoder)
    decoder.int8 = True
    return model
