"""Whisper's encoder over a window and a little padding instead of the whole 30 s, and the
language of encoded windows.

Whisper reads every window as 30 s of log-mel (1500 encoder frames), the speech then zeros. A
caller's turn on a live line is a few seconds, so most of the encoder's work, and most of each
decoding step's cross-attention, is spent on padding. `encode_fitted` runs the encoder on the
window and `ASROptions.context_pad_s` of that padding only (its positions are the first of the
30 s, where the speech is), which on a CPU takes about half the time of a short turn's
transcript (bench/bench_live_asr.py). Whisper was trained on 30 s, and with less padding its
language detection leans to Chinese on short English ("Okay." was heard as Chinese at 0.82), so
`detect_languages` is asked again over the full 30 s for a window whose language is unsure
(`ASROptions.redetect_below`); the words themselves came out the same, or one word apart, on the
real speech measured.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

HOP_S = 0.01  # one log-mel frame; the encoder's frames are two of them
# the padding a customer's turns are transcribed with (dialogue.chat: cca chat, demo, phone)
TURN_CONTEXT_PAD_S = 6.0


def fitted_frames(longest_samples: int, pad_s: float | None, n_audio_ctx: int, rate: int) -> int | None:  # fmt: skip
    """Encoder frames for a batch whose longest window has `longest_samples`: the window and
    `pad_s` seconds after it, at most Whisper's `n_audio_ctx`; None: the full context."""
    if pad_s is None:
        return None
    mel_frames = longest_samples / rate / HOP_S + pad_s / HOP_S
    frames = math.ceil(mel_frames / 2)
    return None if frames >= n_audio_ctx else frames


def encode_fitted(encoder, mel: torch.Tensor) -> torch.Tensor:
    """openai-whisper's `AudioEncoder.forward` on a log-mel shorter than 30 s ((batch, n_mels,
    2 * frames)): the positional embedding of the first `frames` positions."""
    x = F.gelu(encoder.conv1(mel))
    x = F.gelu(encoder.conv2(x))
    x = x.permute(0, 2, 1)
    x = (x + encoder.positional_embedding[: x.shape[1]]).to(x.dtype)
    for block in encoder.blocks:
        x = block(x)
    return encoder.ln_post(x)


@torch.no_grad()
def detect_languages(
    model, features: torch.Tensor, tokenizer, candidates: tuple[str, ...]
) -> tuple[list[str], list[dict[str, float]]]:
    """Each encoded window's language among `candidates`, and their probabilities (summing to
    1): whisper's `detect_language` (the decoder's first step after start-of-transcript), on
    features of any length."""
    x = torch.tensor([[tokenizer.sot]] * len(features), device=features.device)
    logits = model.logits(x, features)[:, 0].float()
    codes = [c for c in candidates if c in tokenizer.all_language_codes]
    ids = [tokenizer.all_language_tokens[tokenizer.all_language_codes.index(c)] for c in codes]
    probs = logits[:, ids].softmax(dim=-1).cpu().numpy()
    langs, out = [], []
    for row in probs:
        sub = {c: float(p) for c, p in zip(codes, row, strict=True)}
        langs.append(codes[int(np.argmax(row))])
        out.append(sub)
    return langs, out
