"""Whisper's encoder over a window and a little padding instead of the whole 30 s, and the
language of encoded windows.

Whisper reads every window as 30 s of log-mel (1500 encoder frames), the speech then zeros. A
caller's turn on a live line is a few seconds, so most of the encoder's work, and most of each
decoding step's cross-attention, is spent on padding. `encode_fitted` runs the encoder on the
window and `ASROptions.context_pad_s` of that padding only (its positions are the first of the
30 s, where the speech is), which on a CPU takes about half the time of a short turn's
transcript (bench/bench_live_asr.py). Whisper was trained on 30 s, so a window goes back to the
full 30 s where the shorter context was measured to hear it worse: its language is unsure
(`ASROptions.redetect_below`), it is under `FIT_FROM_S`, it is heard in a language outside
`ASROptions.fitted_languages`, or its output `looks_cut`. With those, the real and synthesized
turns of the bench were heard word for word as over 30 s.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from voice.types import SAMPLE_RATE

HOP_S = 0.01  # one log-mel frame; the encoder's frames are two of them
# the padding a customer's turns are transcribed with (dialogue.chat: cca chat, demo, phone)
TURN_CONTEXT_PAD_S = 6.0
# a window shorter than this ("Okay.", a barge-in's first words) is heard over the full 30 s:
# over a fitted context a 0.5 s "Okay." was once heard as Chinese, and the caller's backchannel
# stopped the agent (bench_session.py)
FIT_FROM_S = 2.0
# a fitted window's output under this many text tokens a second (speech is 2.5 to 5) is decoded
# again over 30 s
MIN_TOKENS_PER_S = 1.5


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


class FittedContext:
    """The encoding and the language detection of `voice.asr.whisper.WhisperASR` (mixed into
    it: `self.model`, `self.options`, `self._tokenizer`, `self._decode_with_fallback`), over
    the full 30 s or a fitted context."""

    def _encode(self, mels: list[torch.Tensor], longest: int | None) -> torch.Tensor:
        """The encoder's features of a batch: over the full 30 s (`longest` None), or over the
        longest window and `context_pad_s` (voice.asr.context). bfloat16 pays in the encoder's
        large matmuls; the decoder's small steps are faster in float32."""
        dims, pad = self.model.dims, self.options.context_pad_s
        if longest is None or longest < FIT_FROM_S * SAMPLE_RATE:  # short windows only: 30 s
            pad = None
        frames = fitted_frames(longest or 0, pad, dims.n_audio_ctx, SAMPLE_RATE)
        batch = torch.stack(mels)
        if frames is None:
            features = self.model.encoder(batch)
        else:
            features = encode_fitted(self.model.encoder, batch[..., : 2 * frames])
        return features.float() if features.dtype == torch.bfloat16 else features

    def _full(self, idx: list[int], mels: list[torch.Tensor], full: dict) -> torch.Tensor:
        """Windows `idx` encoded over the full 30 s, each once (kept in `full`)."""
        todo = [i for i in idx if i not in full]
        if todo:
            full.update(zip(todo, self._encode([mels[i] for i in todo], None), strict=True))
        return torch.stack([full[i] for i in idx])

    def _parts(self, lang: str, idx: list[int], features, mels, full, sizes) -> list[tuple]:
        """(windows, their features, fitted?) for windows `idx` heard in `lang`: the batch's
        features where they are fitted and `lang` is in `ASROptions.fitted_languages` and the
        window is `FIT_FROM_S` or longer; the others over the full 30 s."""
        if features.shape[1] == self.model.dims.n_audio_ctx:
            return [(idx, features[idx], False)]
        fits = lang in self.options.fitted_languages
        ok = [i for i in idx if fits and sizes[i] >= FIT_FROM_S * SAMPLE_RATE]
        rest = [i for i in idx if i not in ok]
        parts = [(ok, features[ok], True)] if ok else []
        return parts + ([(rest, self._full(rest, mels, full), False)] if rest else [])

    def _languages(self, features, mels, full, sizes) -> tuple[list[str], list[dict[str, float]]]:  # fmt: skip
        """Each window's language; over a shortened context, a window unsure of it, or shorter
        than `FIT_FROM_S`, is asked again over the full 30 s."""
        o = self.options
        if o.language or not self.model.is_multilingual:
            lang = o.language or "en"
            return [lang] * len(features), [{lang: 1.0}] * len(features)
        tokenizer = self._tokenizer("en")
        langs, probs = detect_languages(self.model, features, tokenizer, o.languages)
        short = FIT_FROM_S * SAMPLE_RATE
        unsure = [i for i, p in enumerate(probs) if max(p.values()) < o.redetect_below or sizes[i] < short]  # fmt: skip
        if unsure and features.shape[1] < self.model.dims.n_audio_ctx:
            again = detect_languages(self.model, self._full(unsure, mels, full), tokenizer, o.languages)  # fmt: skip
            for k, i in enumerate(unsure):
                langs[i], probs[i] = again[0][k], again[1][k]
        return langs, probs

    def _redo_cut(self, lang, idx, durations, rows, results, mels, full) -> list:
        """`results` of windows `idx` decoded over a fitted context, where one that looks cut
        short (`looks_cut`) is decoded again over the full 30 s."""
        end = self._tokenizer(lang).eot
        cut = [k for k, (r, d) in enumerate(zip(results, durations, strict=True)) if looks_cut(r.tokens, end, d)]  # fmt: skip
        if not cut:
            return results
        again = self._decode_with_fallback(
            self._full([idx[k] for k in cut], mels, full), lang, [durations[k] for k in cut],
            [rows[k] for k in cut] if rows is not None else None,
        )  # fmt: skip
        results = list(results)
        for k, r in zip(cut, again, strict=True):
            results[k] = r
        return results


def looks_cut(tokens, eot: int, duration_s: float) -> bool:
    """Whether a window's output is too short for its length to be all it says: under
    `MIN_TOKENS_PER_S` text tokens a second over a window of `FIT_FROM_S` or more. Whisper
    sometimes ends its output early (a batch of short clips, beam 2, over a 6 s context: "Sunday
    is" for "Sunday is the best part of the week.")."""
    text = sum(1 for t in tokens if t < eot)
    return duration_s >= FIT_FROM_S and text < MIN_TOKENS_PER_S * duration_s
