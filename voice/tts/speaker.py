"""Speech out: the TTS stage. A `Speaker` holds voices (backends) in order of preference.

Every backend declares `name`, `languages` and `sample_rate` and has one verb,
`synthesize(text, language) -> Audio` (float32 mono at its own rate). The Speaker owns the policy:
text normalisation (voice/tts/text.py), sentence streaming, which voice speaks which language
(mixed Chinese-English text goes whole to a voice that speaks both, else run by run), falling back
to the next capable voice when one fails, and resampling to the rate the consumer wants.

Voices by name (`load_voice`): `kokoro` (Kokoro-82M, en+zh, packaged weights), `kokoro:STYLE`,
`piper` (en), `espeak` (en+zh), `coqui:MODEL` (a Coqui model name or `coqui:MODEL.pth,CONFIG.json`).
Profiles (`load_speaker`): see PROFILES.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from voice.codec import StreamResampler
from voice.tts.text import normalize, script_runs, sentence_language, split_sentences
from voice.types import Audio

logger = logging.getLogger(__name__)

COQUI_DEFAULT = "tts_models/multilingual/multi-dataset/xtts_v2"
# profile -> voice names in order of preference; a voice that is not installed is skipped
PROFILES = {
    # packaged weights only, no network. Piper first for English: clearer and about 6x faster
    # than Kokoro on a CPU (bench/bench_tts.py); Kokoro speaks Chinese and mixed replies.
    "offline": ("piper", "kokoro", "espeak"),
    "online": (f"coqui:{COQUI_DEFAULT}", "kokoro", "piper", "espeak"),  # downloads XTTS-v2 once
    "fast": ("piper", "espeak"),  # smallest start-up
}


@runtime_checkable
class TTSBackend(Protocol):
    name: str
    languages: frozenset[str]
    sample_rate: int

    def synthesize(self, text: str, language: str) -> Audio: ...


class TTSError(RuntimeError):
    """Speech could not be made; `retryable` says whether trying again (or later) may help."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class SpeakerOptions:
    normalize_text: bool = True  # rewrite ids, amounts, dates, emails into words first
    sentence_pause_s: float = 0.25  # silence after each sentence
    run_pause_s: float = 0.04  # silence between script runs spoken by different voices
    fade_s: float = 0.006  # fade in/out of each independently made piece, so joins never click


def language_code(language: str) -> str:
    """ "zh-CN", "zh-cn", "cmn", "zh" -> "zh"; "en-US" -> "en"."""
    code = language.lower().replace("_", "-").split("-")[0]
    return "zh" if code in ("zh", "cmn") else code


def _fade(x: np.ndarray, n: int) -> np.ndarray:
    n = min(n, len(x) // 2)
    if n <= 0:
        return x
    x = x.copy()
    ramp = np.sin(np.linspace(0, np.pi / 2, n, dtype=np.float32)) ** 2
    x[:n] *= ramp
    x[-n:] *= ramp[::-1]
    return x


class Speaker:
    """The TTS stage: text in a language -> speech, whole or sentence by sentence."""

    def __init__(self, backends: Sequence[TTSBackend], options: SpeakerOptions = SpeakerOptions()):
        if not backends:
            raise ValueError(
                "a Speaker needs at least one voice; see voice.tts.speaker.available_voices()"
            )
        for b in backends:
            if not isinstance(b, TTSBackend):
                raise TypeError(
                    f"{b!r} is not a TTS backend (needs name, languages, sample_rate, synthesize)"
                )
        self.backends = tuple(backends)
        self.options = options

    @classmethod
    def from_names(
        cls, names: Sequence[str], options: SpeakerOptions = SpeakerOptions()
    ) -> Speaker:
        """Voices by name, in order of preference (see `available_voices()`)."""
        return cls([load_voice(n) for n in names], options)

    @property
    def languages(self) -> frozenset[str]:
        return frozenset().union(*(b.languages for b in self.backends))

    def describe(self) -> dict[str, list[str]]:
        return {b.name: sorted(b.languages) for b in self.backends}

    def voice_for(self, language: str) -> TTSBackend:
        """The first voice that speaks `language`."""
        lang = language_code(language)
        for b in self.backends:
            if lang in b.languages:
                return b
        raise TTSError(
            f"no voice here speaks {language!r}; voices and their languages = {self.describe()}"
        )

    def synthesize(self, text: str, language: str, sample_rate: int | None = None) -> Audio:
        """The whole of `text` as one Audio (at `sample_rate`, default the rate of the language's
        first voice)."""
        chunks = list(self.stream(text, language, sample_rate))
        rate = chunks[0].sample_rate
        return Audio(np.concatenate([c.samples for c in chunks]), rate, "tts")

    def stream(self, text: str, language: str, sample_rate: int | None = None) -> Iterator[Audio]:
        """Speech sentence by sentence: each chunk is yielded as soon as its sentence is made, at
        `sample_rate` (default: the rate of the language's first voice). The chunks join with no
        seam: one streaming resampler runs across them."""
        if not text or not text.strip():
            raise ValueError("nothing to say: the text is empty")
        lang = language_code(language)
        out_rate = sample_rate or self.voice_for(lang).sample_rate
        if out_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        resampler: StreamResampler | None = None
        sentences = split_sentences(text) or [text.strip()]
        for i, sentence in enumerate(sentences):
            said = sentence
            if self.options.normalize_text:
                said = normalize(sentence, sentence_language(sentence, lang))
            out = []
            for piece, pause_s in self._pieces(said, lang):
                if resampler is None or resampler.from_rate != piece.sample_rate:
                    if resampler is not None:
                        out.append(resampler.flush())
                    resampler = StreamResampler(piece.sample_rate, out_rate)
                n_fade = int(self.options.fade_s * piece.sample_rate)
                silence = np.zeros(int(pause_s * piece.sample_rate), np.float32)
                out.append(resampler.process(_fade(piece.samples, n_fade)))
                out.append(resampler.process(silence))
            if i == len(sentences) - 1 and resampler is not None:
                out.append(resampler.flush())
            yield Audio(np.concatenate(out).astype(np.float32), out_rate, "tts")

    # --- which voice says what --------------------------------------------------------------

    def _pieces(self, sentence: str, lang: str) -> list[tuple[Audio, float]]:
        """(audio, pause after it) for one sentence; runs by script when no voice says it all."""
        runs = script_runs(sentence, lang) or [(lang, sentence)]
        langs = frozenset(r for r, _ in runs)
        pause = self.options.sentence_pause_s
        if len(langs) == 1:
            return [(self._say(sentence, next(iter(langs))), pause)]
        whole = [b for b in self.backends if langs <= b.languages]
        if whole:
            try:
                return [(self._say(sentence, lang, whole), pause)]
            except TTSError as e:
                logger.warning("%s; saying the sentence run by run instead", e)
        pieces = [(self._say(run, run_lang), self.options.run_pause_s) for run_lang, run in runs]
        pieces[-1] = (pieces[-1][0], pause)
        return pieces

    def _say(self, text: str, lang: str, candidates: Sequence[TTSBackend] | None = None) -> Audio:
        """`text` by the first capable voice that succeeds; failures are logged and skipped."""
        if candidates is None:
            candidates = [b for b in self.backends if lang in b.languages]
        if not candidates:
            raise TTSError(
                f"no voice here speaks {lang!r}; voices and their languages = {self.describe()}"
            )
        failures = []
        for b in candidates:
            try:
                audio = b.synthesize(text, lang)
            except Exception as e:  # a model failure: try the next voice
                logger.warning(
                    "voice %s failed on %s text (%s: %s); trying the next",
                    b.name,
                    lang,
                    type(e).__name__,
                    e,
                )
                failures.append(f"{b.name}: {e}")
                continue
            if audio.samples.ndim != 1 or audio.sample_rate != b.sample_rate:
                failures.append(
                    f"{b.name}: returned {audio.samples.shape} at {audio.sample_rate} Hz"
                )
                logger.warning(
                    "voice %s broke its contract (%s); trying the next", b.name, failures[-1]
                )
                continue
            return Audio(audio.samples.astype(np.float32, copy=False), audio.sample_rate, b.name)
        raise TTSError(f"every voice for {lang!r} failed: {'; '.join(failures)}", retryable=True)


# --- voices by name -------------------------------------------------------------------------


def available_voices() -> dict[str, str]:
    """Voice names usable here -> what they are. `coqui:MODEL` is accepted too when coqui-tts is
    installed (see voice/tts/backends.py)."""
    import importlib.util

    from voice.tts import backends as tts_backends
    from voice.tts import kokoro, piper

    out = {}
    if kokoro.packaged_available():
        out["kokoro"] = (
            f"Kokoro-82M int8 ONNX ({', '.join(sorted(kokoro.available_languages()))}), 24 kHz, style {kokoro.DEFAULT_STYLE}"
        )
        out.update(
            {
                f"kokoro:{s}": f"Kokoro-82M with style {s}"
                for s in kokoro.STYLES
                if s != kokoro.DEFAULT_STYLE
            }
        )
    if piper.packaged_available():
        out["piper"] = "Piper en_US-joe-medium (en), 22.05 kHz"
    if tts_backends.espeak_available():
        out["espeak"] = "espeak-ng formant synthesis (en, zh via pinyin), 22.05 kHz"
    if importlib.util.find_spec("TTS") is not None:
        out[f"coqui:{COQUI_DEFAULT}"] = "Coqui XTTS-v2 (en, zh); downloads on first use"
    return out


def load_voice(name: str) -> TTSBackend:
    """A voice by name: kokoro, kokoro:STYLE, piper, espeak, coqui:MODEL."""
    kind, _, arg = name.partition(":")
    if kind == "kokoro":
        from voice.tts.kokoro import KokoroTTS

        return KokoroTTS.from_packaged(style=arg or None)
    if kind == "piper" and not arg:
        from voice.tts.piper import PiperTTS

        return PiperTTS.from_packaged()
    if kind == "espeak" and not arg:
        from voice.tts.backends import EspeakTTS

        return EspeakTTS.from_system()
    if kind == "coqui" and arg:
        from voice.tts.backends import CoquiTTS

        model, _, config = arg.partition(",")
        if config:
            return CoquiTTS.from_checkpoint(model, config)
        return CoquiTTS.from_pretrained(model)
    raise ValueError(
        f"voice {name!r} not found; available voices = {list(available_voices())}, "
        "or coqui:MODEL_NAME / coqui:MODEL.pth,CONFIG.json"
    )


def load_speaker(profile: str = "offline", options: SpeakerOptions = SpeakerOptions()) -> Speaker:
    """A Speaker with the voices of a profile that load here; each choice is logged with why."""
    if profile not in PROFILES:
        raise ValueError(
            f"TTS profile {profile!r} not found; available profiles = {list(PROFILES)}"
        )
    voices, skipped = [], []
    for name in PROFILES[profile]:
        try:
            voice = load_voice(name)
        except (ImportError, FileNotFoundError, OSError, ValueError, RuntimeError) as e:
            logger.info("tts profile %s: skipping %s (%s)", profile, name, e)
            skipped.append(f"{name}: {e}")
            continue
        logger.info(
            "tts profile %s: %s speaks %s at %d Hz",
            profile,
            voice.name,
            sorted(voice.languages),
            voice.sample_rate,
        )
        voices.append(voice)
    if not voices:
        raise RuntimeError(
            f"no voice of the {profile!r} profile loads here: {'; '.join(skipped)}. Install the "
            "offline voices with pip install 'contact-centre-agent[offline]' and apt-get install espeak-ng"
        )
    speaker = Speaker(voices, options)
    for lang in sorted(speaker.languages):
        logger.info(
            "tts: %s is spoken by %s (first capable voice of %s)",
            lang,
            speaker.voice_for(lang).name,
            profile,
        )
    return speaker
