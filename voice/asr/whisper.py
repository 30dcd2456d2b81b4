"""Whisper ASR: batched decoding of speech windows, per-window language, segments and words.

`WhisperASR(model, options)` wraps an already-built `whisper.model.Whisper`;
`WhisperASR.from_pretrained(name_or_path)` loads one (see `voice.asr.models`). The one verb is
`transcribe(audio) -> Transcript`; the batch tool uses the two halves, `decode_windows` (many
windows from many files in one model batch) and `assemble` (one file's windows back together).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from voice.asr.text import cut_repetitions, join_texts, to_script
from voice.device import compute_dtype
from voice.types import SAMPLE_RATE, Audio, Segment, Transcript, Word

try:
    import whisper
except ImportError as e:  # pragma: no cover - depends on the install
    raise ImportError(
        "Whisper ASR needs openai-whisper: pip install 'contact-centre-agent[voice]'"
    ) from e

from voice.asr.context import FittedContext
from voice.asr.decoding import split_timestamps, word_timings
from voice.asr.fallback import decode_with_fallback
from voice.asr.types import ASRError, ASROptions, WindowResult

logger = logging.getLogger(__name__)

MIN_TAIL_S = 1.0  # an undecoded rest of a window shorter than this is not decoded again


class WhisperASR(FittedContext):
    """Transcribes with an openai-whisper model in batches of up to 30-second windows."""

    streaming = False

    def __init__(
        self,
        model,
        options: ASROptions = ASROptions(),
        name: str = "whisper",
    ):
        self.model = model
        self.name = name
        self.device = next(model.parameters()).device
        weights = next(model.parameters()).dtype
        # activations in `dtype`; whisper's layers cast their float32 weights to it as they go
        self.dtype = (
            weights
            if weights != torch.float32
            else compute_dtype(self.device, options.compute_type)
        )
        self.languages = tuple(whisper.tokenizer.LANGUAGES) if model.is_multilingual else ("en",)
        bad = [
            lang
            for lang in (options.language, *options.languages)
            if lang and lang not in self.languages
        ]
        if bad and not model.is_multilingual:
            logger.info("model %s is English-only: languages %s ignored", name, bad)
            options = replace(options, language="en", languages=("en",))
        elif bad:
            raise ValueError(
                f"unknown language code(s) {bad}; Whisper knows {sorted(self.languages)}"
            )
        self.options = options
        if options.quantize == "int8":
            if self.device.type == "cpu" and self.dtype != torch.float16:
                from voice.asr.quantize import quantize_decoder

                quantize_decoder(model)
            else:
                logger.info("int8 decoding is for a CPU; %s decodes as it is", self.device)
        self._install_head()

    def _install_head(self) -> None:
        """The candidate head (voice.asr.head) where the decoder runs in float32 on a CPU."""
        from voice.asr.head import has_head, install_head

        if self.options.head == "full":
            if has_head(self.model):
                logger.warning(
                    "%s: head='full' asked for, but this model's decoder already has the "
                    "candidate head or int8 weights (load the model again for float32)",
                    self.name,
                )
            return
        weights = self.model.decoder.token_embedding.weight.dtype
        if self.device.type != "cpu" or weights != torch.float32:  # a GPU, or half weights
            return
        try:
            install_head(self.model)
        except RuntimeError as e:  # pragma: no cover - a torch without int8 kernels
            logger.info("%s: full float32 output projection (%s)", self.name, e)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        device: str | None = None,
        options: ASROptions = ASROptions(),
    ) -> WhisperASR:
        """By official name ("base", "turbo", ...), checkpoint path, CT2 folder or packaged name."""
        from voice.asr.models import load_whisper
        from voice.device import choose_device

        dev = choose_device(device)
        model = load_whisper(name_or_path, dev)
        if compute_dtype(dev, options.compute_type) == torch.float16:
            model = model.half()  # weights too: on CUDA, half the memory and no casts
        return cls(model, options, name=name_or_path)

    @property
    def max_window_s(self) -> float:
        """The longest window to give `decode_windows`: 30 s less the lead-in silence."""
        return whisper.audio.CHUNK_LENGTH - self.options.lead_pad_s

    @property
    def max_window_samples(self) -> int:
        return int(round(self.max_window_s * SAMPLE_RATE))

    # -- the one verb -------------------------------------------------------------------------

    def transcribe(self, audio: Audio, vad=None) -> Transcript:
        """Transcribe one piece of audio; `vad` (voice.asr.vad) skips silence and cuts at pauses."""
        from voice.asr.vad import SpeechRegion, plan_windows

        if audio.sample_rate != SAMPLE_RATE:
            raise ValueError(
                f"{audio.source}: audio must be {SAMPLE_RATE} Hz; use voice.audio.from_array"
            )
        regions = vad.speech(audio) if vad is not None else [SpeechRegion(0.0, audio.duration_s)]
        spans = plan_windows(regions, audio.duration_s, self.max_window_s)
        windows = [audio.slice(s, e).samples for s, e in spans]
        if not self.options.condition_on_previous_text:
            return self.assemble(
                self.decode_windows(windows, [s for s, _ in spans]), audio.duration_s
            )
        results: list[WindowResult] = []
        for w, (s, _) in zip(windows, spans, strict=True):  # in order: each reads the last's text
            prompt = join_texts(results[-1].segments) if results else ""
            results += self.decode_windows([w], [s], [prompt])
        return self.assemble(results, audio.duration_s)

    # -- batch halves -------------------------------------------------------------------------

    def decode_windows(
        self,
        windows: Sequence[np.ndarray],
        offsets_s: Sequence[float],
        prompts: Sequence[str] | None = None,
    ) -> list[WindowResult]:
        """Decode windows (each (n_samples,) at 16 kHz, <= max_window_s) in one batch on the model.

        prompts: per window, the text heard just before it ("" for none), which the model reads
        as context, as openai-whisper does with `condition_on_previous_text`.
        """
        if not windows:
            return []
        try:
            return self._decode_windows(windows, offsets_s, prompts=prompts)
        except torch.cuda.OutOfMemoryError as e:
            raise ASRError(
                f"out of GPU memory decoding {len(windows)} windows; lower --batch-size", True
            ) from e

    @torch.no_grad()
    def _decode_windows(
        self, windows, offsets_s, languages=None, prompts=None
    ) -> list[WindowResult]:
        too_long = [len(w) / SAMPLE_RATE for w in windows if len(w) > self.max_window_samples]
        if too_long:
            raise ValueError(
                f"windows of {too_long} s are longer than max_window_s={self.max_window_s}; "
                "cut audio with voice.asr.vad.plan_windows(..., max_window_s=asr.max_window_s)"
            )
        # Whisper tends to drop a first word that starts at 0. VAD regions come with real audio
        # before the speech, except where a recording starts talking: pad just those windows.
        leads = [self.options.lead_pad_s if off <= 0.0 else 0.0 for off in offsets_s]
        padded = [
            np.concatenate([np.zeros(int(lead * SAMPLE_RATE), np.float32), w])
            for lead, w in zip(leads, windows, strict=True)
        ]
        mels = [self._mel(w) for w in padded]
        sizes = [len(w) for w in padded]
        features = self._encode(mels, max(sizes))
        full: dict[int, torch.Tensor] = {}  # windows encoded over 30 s too (voice.asr.context)
        if languages is None:
            langs, probs = self._languages(features, mels, full, sizes)
        else:
            langs, probs = list(languages), [{lang: 1.0} for lang in languages]
        decoded: list = [None] * len(windows)
        by_lang: dict[str, list[int]] = defaultdict(list)
        for i, lang in enumerate(langs):
            by_lang[lang].append(i)
        for lang, lang_idx in by_lang.items():
            tokenizer = self._tokenizer(lang)
            context = {
                i: self._prompt_tokens(tokenizer, prompts[i] if prompts else "") for i in lang_idx
            }
            # windows with context and windows without decode apart: a batch shares one prompt length
            for idx in (
                [i for i in lang_idx if context[i]],
                [i for i in lang_idx if not context[i]],
            ):
                if not idx:
                    continue
                for part, feats, fitted in self._parts(lang, idx, features, mels, full, sizes):
                    durations = [sizes[i] / SAMPLE_RATE for i in part]
                    rows = [context[i] for i in part] if context[part[0]] else None
                    results = self._decode_with_fallback(feats, lang, durations, rows)
                    if fitted:  # an output cut short is decoded again over 30 s
                        results = self._redo_cut(lang, part, durations, rows, results, mels, full)
                    for i, res in zip(part, results, strict=True):
                        decoded[i] = res
        results, tails = [], []
        for i, res in enumerate(decoded):
            result, consumed_s = self._window_result(
                res, langs[i], probs[i], offsets_s[i], len(padded[i]), mels[i], leads[i]
            )
            results.append(result)
            if MIN_TAIL_S <= consumed_s <= result.duration_s - MIN_TAIL_S:
                tails.append((i, consumed_s))
        if tails:
            # Whisper stopped at a timestamp and left the rest of the window for "the next
            # window" (as openai-whisper's sequential loop expects): decode those rests now.
            rests = self._decode_windows(
                [windows[i][int(c * SAMPLE_RATE) :] for i, c in tails],
                [offsets_s[i] + c for i, c in tails],
                [langs[i] for i, _ in tails],
                [join_texts(results[i].segments) for i, _ in tails],
            )
            for (i, _), rest in zip(tails, rests, strict=True):
                results[i] = replace(results[i], segments=results[i].segments + rest.segments)
        return results

    def _window_result(
        self, res, language, probs, offset_s, n_samples, mel, lead_s
    ) -> tuple[WindowResult, float]:
        """Segments of one decoded window, and how far into it (s) they reach.

        `n_samples` and `mel` include `lead_s` of lead-in silence; the returned times do not.
        """
        duration = n_samples / SAMPLE_RATE
        tokenizer = self._tokenizer(language)
        spans, consumed = self._spans(res, tokenizer, language, duration)
        words: list[tuple[Word, ...]] = [()] * len(spans)
        if self.options.word_timestamps and spans:
            words = word_timings(self.model, spans, tokenizer, mel, n_samples)
            # as openai-whisper does: a segment spans its words once they are aligned
            spans = [
                (w[0].start_s, w[-1].end_s, *sp[2:]) if w else sp
                for sp, w in zip(spans, words, strict=True)
            ]

        def shift(t: float) -> float:  # window time (after the lead-in) to audio time
            return round(offset_s + max(0.0, t - lead_s), 3)

        segments = tuple(
            Segment(
                start_s=shift(s),
                end_s=shift(e),
                text=text,
                language=language,
                avg_logprob=float(res.avg_logprob),
                no_speech_prob=float(res.no_speech_prob),
                words=tuple(replace(w, start_s=shift(w.start_s), end_s=shift(w.end_s)) for w in ws),
            )
            for (s, e, text, _), ws in zip(spans, words, strict=True)
        )
        return WindowResult(segments, language, probs, duration - lead_s), max(
            0.0, consumed - lead_s
        )

    def assemble(
        self, results: Sequence[WindowResult], duration_s: float, speaker: str = ""
    ) -> Transcript:
        """One transcript from windows, in time order; the language is the duration-weighted vote.

        `speaker` labels every segment (one channel of a stereo call); "" keeps their labels.
        """
        segments = tuple(
            s if not speaker else replace(s, speaker=speaker) for r in results for s in r.segments
        )
        segments = tuple(sorted(segments, key=lambda s: s.start_s))
        votes: dict[str, float] = defaultdict(float)
        for r in results:
            if r.segments:
                for lang, p in r.language_probs.items():
                    votes[lang] += p * r.duration_s
        total = sum(votes.values())
        probs = (
            {k: v / total for k, v in sorted(votes.items(), key=lambda kv: -kv[1])} if total else {}
        )
        language = next(iter(probs), self.options.language or "")
        return Transcript(
            text=join_texts(segments),
            language=language,
            duration_s=duration_s,
            segments=segments,
            language_probs=probs,
            model=self.name,
        )

    # -- inside ------------------------------------------------------------------------------

    def _mel(self, samples: np.ndarray) -> torch.Tensor:
        """(n_mels, 3000) log-mel of a window, padded as openai-whisper's transcribe pads it.

        The spectrogram of the audio (with zero samples after it, as openai-whisper computes
        it) is cut to the audio's frames, then padded with zeros in the log-mel domain, as
        openai-whisper and faster-whisper feed the encoder. The log-mel of zero samples is a
        different input: with it, Whisper base heard "语音识别" as "云食别" in a short Mandarin
        clip. One FFT window of zeros after the audio gives its frames exactly what
        openai-whisper's 30 s of zeros give them (a frame reads half a window either side), at
        half the cost or less.
        """
        x = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
        mel = whisper.log_mel_spectrogram(
            x, self.model.dims.n_mels, padding=whisper.audio.N_FFT, device=self.device
        )
        mel = whisper.pad_or_trim(
            mel[:, : len(samples) // whisper.audio.HOP_LENGTH], whisper.audio.N_FRAMES
        )
        return mel.to(self.dtype)

    def _tokenizer(self, language: str):
        return whisper.tokenizer.get_tokenizer(
            self.model.is_multilingual,
            num_languages=self.model.num_languages,
            language=language,
            task=self.options.task,
        )

    def _prompt_tokens(self, tokenizer, text: str) -> list[int]:
        """The last `max_prompt_tokens` tokens of the context before a window, or [] for none."""
        text = text.strip() if self.options.condition_on_previous_text else ""
        if not text:
            return []
        return tokenizer.encode(" " + text)[-self.options.max_prompt_tokens :]

    def _decode_with_fallback(self, features, language, durations_s, row_prompts=None) -> list:
        """Decode at temperature 0, then again hotter where the output loops: the decoder call
        of `decode_windows`, with the arguments of `voice.asr.fallback.decode_with_fallback`."""
        return decode_with_fallback(
            self.model,
            self.options,
            features,
            language,
            durations_s,
            row_prompts,
            device=self.device,
            fp16=self.dtype == torch.float16,
        )

    def _spans(
        self, r, tokenizer, language: str, duration_s: float
    ) -> tuple[list[tuple[float, float, str, list[int]]], float]:
        """(start_s, end_s, text, text tokens) per segment, and the seconds of the window they
        account for (see `split_timestamps`); times relative to the window."""
        o = self.options
        if r.no_speech_prob > o.no_speech_threshold and r.avg_logprob < o.logprob_threshold:
            return [], duration_s
        raw, consumed = split_timestamps(
            r.tokens, tokenizer.timestamp_begin, tokenizer.eot, duration_s
        )
        spans = [(s, e, self._clean(tokenizer.decode(t), language), t) for s, e, t in raw]
        return [sp for sp in spans if sp[2]], consumed

    def _clean(self, text: str, language: str) -> str:
        text = cut_repetitions(text.strip())
        return to_script(text, self.options.chinese_script) if language == "zh" else text
