"""What openai-whisper's decoding needs for batches of windows: a task that decodes several
windows at once (beam search, best-of-n, per-window context), and the reading of its output's
timestamp tokens into segments."""

from __future__ import annotations

import torch
from whisper.decoding import DecodingTask

from voice.types import Word

SECONDS_PER_TIMESTAMP = 0.02


def split_timestamps(
    tokens, timestamp_begin: int, eot: int, duration_s: float
) -> tuple[list[tuple[float, float, list[int]]], float]:
    """(start_s, end_s, text tokens) per segment of one window's output, and how many seconds
    of the window they account for.

    As in openai-whisper: output that ends on a pair of timestamps, or runs on without a
    closing one, leaves the audio after its last finished segment undecoded (the model expects
    that audio in the next window), and the unfinished text is dropped. Text after a lone last
    timestamp runs to the end of the window.
    """
    tb = timestamp_begin
    tokens = [t for t in tokens if t < eot or t >= tb]
    single_ending = len(tokens) >= 2 and tokens[-1] >= tb and tokens[-2] < tb
    pairs = [k for k in range(1, len(tokens)) if tokens[k] >= tb and tokens[k - 1] >= tb]
    consumed = duration_s
    if pairs and not single_ending:
        consumed = min((tokens[pairs[-1] - 1] - tb) * SECONDS_PER_TIMESTAMP, duration_s)
        tokens = tokens[: pairs[-1]]
    segments: list[tuple[float, float, list[int]]] = []
    start, text = 0.0, []
    for tok in tokens:
        if tok >= tb:
            t = min((tok - tb) * SECONDS_PER_TIMESTAMP, duration_s)
            if text:
                segments.append((start, max(t, start), text))
                text = []
            start = t
        else:
            text.append(tok)
    if text:
        segments.append((start, duration_s, text))
    return segments, consumed


class GroupDecodingTask(DecodingTask):
    """Beam search and best-of-n over a batch of several windows.

    openai-whisper 20250625 repeats the tokens n_group times but not the audio features, so any
    batch of more than one window fails in cross-attention; repeat them here. The language is
    always given, so no detection runs on the repeated features. The decoder runs in the dtype
    of the features it is given.
    """

    def _get_audio_features(self, mel):
        # WhisperASR always passes the encoder's output, in its compute dtype (bfloat16 too,
        # which openai-whisper's own dtype check would refuse)
        # (over the full 30 s, or fewer frames: voice.asr.context)
        assert mel.shape[-1] == self.model.dims.n_audio_state
        assert mel.shape[-2] <= self.model.dims.n_audio_ctx
        return mel.repeat_interleave(self.n_group, dim=0) if self.n_group > 1 else mel

    row_prompts: torch.Tensor | None = None  # (n_audio, prompt length): each window's context

    def _detect_language(self, audio_features, tokens):
        return super()._detect_language(audio_features[:: self.n_group], tokens)

    def _main_loop(self, audio_features, tokens):
        # openai-whisper gives every row the same prompt; put each window's own context in its
        # place (same length, so the rest of the sequence is where whisper expects it)
        if self.row_prompts is not None:
            tokens = tokens.clone()
            length = self.row_prompts.shape[1]
            tokens[:, 1 : 1 + length] = self.row_prompts.repeat_interleave(self.n_group, dim=0)
        return super()._main_loop(audio_features, tokens)


def word_timings(model, spans, tokenizer, mel: torch.Tensor, n_samples: int) -> list[tuple[Word, ...]]:  # fmt: skip
    """Word timings (relative to the window) of (start_s, end_s, text, tokens) spans, from the
    cross-attention alignment heads (openai-whisper's `add_word_timestamps`, which encodes the
    window's full 30 s log-mel `mel` itself)."""
    from whisper.audio import HOP_LENGTH
    from whisper.timing import add_word_timestamps

    dicts = [{"seek": 0, "start": s, "end": e, "tokens": toks} for s, e, _, toks in spans]
    if not dicts:
        return []
    add_word_timestamps(
        segments=dicts,
        model=model,
        tokenizer=tokenizer,
        mel=mel,
        num_frames=n_samples // HOP_LENGTH,
        last_speech_timestamp=0.0,
    )
    return [
        tuple(
            Word(w["start"], w["end"], w["word"].strip(), float(w["probability"]))
            for w in d.get("words", [])
        )
        for d in dicts
    ]
