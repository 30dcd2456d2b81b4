"""Whisper's output projection on a CPU: candidates found in int8, scored exactly in float32.

Each decoding step ends with the output projection, the hidden state times the token embedding
(n_vocab x n_state: 51,865 x 512 floats in base, 106 MB). For one token of one window that is a
matrix-vector product bound by memory: on a 2-core CPU it was 40% of a live turn's transcript
(bench/bench_live_asr.py, profiled). `CandidateHead` reads an int8 copy of the embedding instead
(a quarter of the bytes; PyTorch's dynamic quantization, fbgemm on x86 and qnnpack on ARM), then
scores exactly, in float32, what decoding decides on:
- the `k` highest of those approximate logits, among which the argmax and every beam's next
  token are unless the int8 error outweighs the gap to the 17th token (on the 41 turns of
  bench/bench_live_asr.py no transcript changed);
- every special token from end-of-text on: languages, no-speech, no-timestamps and the
  timestamps, whose log-sum-exp the timestamp rule compares with the best text token.
The rest keep their approximate scores, which only enter softmax denominators and sampling at
fallback temperatures. Greedy decoding picks the tokens the full float32 projection picks,
unless two candidates tie within float32 rounding. Beam search ranks beams by summed
log-probabilities, whose denominators are approximate by a little, so a near tie between two
beams can go the other way.

    install_head(model, k=16)    # in place; CPU and float32 decoding only

`ASROptions.head` ("candidates", the default, or "full") chooses; `WhisperASR` installs it.
"""

from __future__ import annotations

import logging
import types
import warnings

import torch
from torch import nn

logger = logging.getLogger(__name__)


def decoder_forward(self, x: torch.Tensor, xa: torch.Tensor, kv_cache: dict | None = None):
    """whisper.model.TextDecoder.forward in float32, with the output projection through
    `self.head` instead of a float32 matmul with the whole token embedding."""
    offset = next(iter(kv_cache.values())).shape[1] if kv_cache else 0
    x = self.token_embedding(x) + self.positional_embedding[offset : offset + x.shape[-1]]
    x = x.to(torch.float32)
    xa = xa.to(torch.float32)
    for block in self.blocks:
        x = block(x, xa, mask=self.mask, kv_cache=kv_cache)
    return self.head(self.ln(x)).float()


def int8_linear(weight: torch.Tensor) -> nn.Module:
    """A dynamic-int8 `x @ weight.T` (scale per output row), or a RuntimeError that says why
    this torch cannot."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        try:
            from torch.ao.nn.quantized.dynamic import Linear as QLinear
            from torch.ao.quantization import default_dynamic_qconfig
        except ImportError as e:  # pragma: no cover - depends on the torch release
            raise RuntimeError(
                "int8 weights need torch.ao.quantization, which this torch release lacks"
            ) from e
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        linear.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
        linear.qconfig = default_dynamic_qconfig
        return QLinear.from_float(linear)


class CandidateHead(nn.Module):
    """`x -> x @ embedding.T`: approximate in int8, exact in float32 for the `k` best tokens and
    for every token from `exact_from` on (Whisper's special tokens)."""

    def __init__(self, embedding: torch.Tensor, exact_from: int, k: int = 16):
        super().__init__()
        n_vocab = embedding.shape[0]
        if not 0 < k <= n_vocab or not 0 <= exact_from <= n_vocab:
            raise ValueError(
                f"CandidateHead needs 0 < k <= {n_vocab} and 0 <= exact_from <= {n_vocab}; "
                f"got k={k}, exact_from={exact_from}"
            )
        self.weight = embedding.detach().float()  # shared with the token embedding, not copied
        self.k, self.exact_from = k, exact_from
        self.approx = int8_linear(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        out = self.approx(x)
        best = out.topk(self.k, dim=-1).indices
        out.scatter_(-1, best, (self.weight[best] @ x.unsqueeze(-1)).squeeze(-1))
        out[..., self.exact_from :] = x @ self.weight[self.exact_from :].T
        return out


def has_head(model) -> bool:
    return isinstance(getattr(model.decoder, "head", None), nn.Module)


def install_head(model, k: int = 16):
    """A `CandidateHead` for `model.decoder` (a whisper.model.Whisper decoding in float32 on a
    CPU), in place; returns the model. A second call, or a decoder already in int8
    (voice.asr.quantize), keeps what is there. Raises ValueError for a model off the CPU or in
    another dtype, RuntimeError where this torch has no int8 kernels."""
    if has_head(model):
        return model
    weight = model.decoder.token_embedding.weight
    if weight.device.type != "cpu" or weight.dtype != torch.float32:
        raise ValueError(
            f"the candidate head is for float32 decoding on a CPU; this decoder is "
            f"{weight.dtype} on {weight.device} (use head='full')"
        )
    from whisper.tokenizer import get_tokenizer

    eot = get_tokenizer(model.is_multilingual, num_languages=model.num_languages).eot
    model.decoder.head = CandidateHead(weight, exact_from=eot, k=k)
    model.decoder.forward = types.MethodType(decoder_forward, model.decoder)
    return model
