"""Whisper's temperature fallback: decode a batch at 0, then again hotter where the output loops."""

from __future__ import annotations

import math

import torch
import whisper

from voice.asr.decoding import GroupDecodingTask
from voice.asr.types import ASROptions


def decode_with_fallback(
    model,
    options: ASROptions,
    features: torch.Tensor,
    language: str,
    durations_s: list[float],
    row_prompts: list[list[int]] | None = None,
    *,
    device: torch.device,
    fp16: bool,
) -> list:
    """Decode encoded windows (features: (n_windows, n_frames, d_model)) with `model` at
    temperature 0, then again hotter where the output loops.

    row_prompts: context tokens per window; all are cut to the shortest one's length, as
    every row of a batch must start with the same number of tokens.
    """
    o = options
    prompt, rows = o.initial_prompt, None
    if row_prompts:
        length = min(len(r) for r in row_prompts)
        rows = torch.tensor([r[len(r) - length :] for r in row_prompts], device=device)
        prompt = rows[0].tolist()
    best: list = [None] * len(features)
    todo = list(range(len(features)))
    for t in o.temperatures:
        opts = whisper.DecodingOptions(
            task=o.task,
            language=language,
            temperature=t,
            sample_len=sample_len(o, [durations_s[i] for i in todo], model.dims.n_text_ctx),
            beam_size=o.beam_size if t == 0 else None,
            best_of=o.best_of if t > 0 else None,
            prompt=prompt,
            fp16=fp16,
        )
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # sampling is repeatable, and
            torch.manual_seed(o.seed)  # the caller's random state is left alone
            task = GroupDecodingTask(model, opts)
            task.row_prompts = None if rows is None else rows[todo]
            decoded = task.run(features[todo])
        for i, res in zip(todo, decoded, strict=True):
            best[i] = res
        todo = [i for i in todo if needs_fallback(best[i], o)]
        if not todo:
            break
    return best


def sample_len(options: ASROptions, durations_s: list[float], n_text_ctx: int) -> int | None:
    """Tokens to allow a batch: enough for the fastest speech in its longest window.

    A window that hallucinates runs to this length, and the whole batch with it, so a
    5-second window gets ~76 tokens rather than the model's 224 (`n_text_ctx` // 2).
    """
    o = options
    if o.max_new_tokens:
        return o.max_new_tokens
    if o.max_tokens_per_s <= 0:
        return None
    limit = n_text_ctx // 2
    return min(limit, math.ceil(o.max_tokens_per_s * max(durations_s)) + 16)


def needs_fallback(r, options: ASROptions) -> bool:
    """Whether decoding result `r` (a whisper DecodingResult) should be decoded again hotter."""
    o = options
    if r.no_speech_prob > o.no_speech_threshold and r.avg_logprob < o.logprob_threshold:
        return False  # silence: decoding again will not help
    if r.compression_ratio > o.compression_ratio_threshold:
        return True  # a repetition loop
    return o.fallback_on_low_confidence and r.avg_logprob < o.logprob_threshold
