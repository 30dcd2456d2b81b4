"""The types Whisper ASR shares with its callers: its options, one decoded window, its error."""

from __future__ import annotations

from dataclasses import dataclass, field

from voice.asr.text import SCRIPTS
from voice.types import Segment

HEADS = ("candidates", "full")  # ASROptions.head (voice.asr.head)


class ASRError(RuntimeError):
    """The ASR model failed at run time; `retryable` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class ASROptions:
    languages: tuple[str, ...] = ("en", "zh")  # candidates when the language is detected
    language: str | None = None  # force one language and skip detection
    task: str = "transcribe"  # or "translate" (to English)
    beam_size: int | None = None  # None: greedy decoding at temperature 0 (fastest)
    best_of: int = 5  # samples drawn at each fallback temperature
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # fallback ladder
    compression_ratio_threshold: float = 2.4  # above this a window is re-decoded (repetition)
    logprob_threshold: float = -1.0  # below this a window is unsure (see the next two)
    # also re-decode unsure windows, as openai-whisper does
    fallback_on_low_confidence: bool = False
    no_speech_threshold: float = 0.6  # with a low logprob, above this a window is silence
    word_timestamps: bool = False  # per-word start/end from cross-attention alignment
    chinese_script: str = "simplified"  # Chinese output: simplified, traditional or original
    initial_prompt: str | None = None  # text that primes vocabulary (product names, ...)
    condition_on_previous_text: bool = False  # each window reads the text before it as context
    max_prompt_tokens: int = 64  # how much of that text
    max_new_tokens: int | None = None  # cap on tokens per window; None: from its duration
    max_tokens_per_s: float = 12.0  # no speech is faster; longer output is a loop (0: no cap)
    # the encoder's dtype; auto: float16 on CUDA, bfloat16 on a CPU that has it, else float32
    compute_type: str = "auto"
    # the text decoder's weights on a CPU: "int8" reads a quarter of the bytes a step
    # (voice.asr.quantize); "none" keeps float32. Ignored on a GPU.
    quantize: str = "none"
    # the output projection when decoding in float32 on a CPU: "candidates" finds the likely
    # next tokens with int8 weights and scores them and the special tokens exactly in float32
    # (voice.asr.head: the tokens float32 greedy decoding picks, a quarter of the bytes a step); "full" scores every
    # token in float32. Ignored on a GPU, in bfloat16 or float16, and with quantize="int8".
    head: str = "candidates"
    seed: int = 0  # for the sampling at fallback temperatures: the same input, the same output
    # silence put before audio that starts with speech (Whisper drops such a first word)
    lead_pad_s: float = 0.5
    # None: the encoder reads each window padded to Whisper's 30 s, as it was trained; seconds:
    # the longest window of a batch and this much padding only (voice.asr.context), far less
    # work for a short live turn; a window's language detected there below `redetect_below` is
    # detected again over the full 30 s
    context_pad_s: float | None = None
    redetect_below: float = 0.9
    # the languages decoded over that shortened context; a window heard in another is encoded
    # over 30 s again and decoded there (Mandarin measured worse: bench/bench_live_asr.py)
    fitted_languages: tuple[str, ...] = ("en",)

    def __post_init__(self):
        if self.chinese_script not in SCRIPTS:
            raise ValueError(f"chinese_script={self.chinese_script!r}; choose one of {SCRIPTS}")
        if self.quantize not in ("none", "int8"):
            raise ValueError(f"quantize={self.quantize!r}; choose 'none' or 'int8'")
        if self.head not in HEADS:
            raise ValueError(f"head={self.head!r}; choose one of {HEADS}")
        if self.beam_size is not None and self.beam_size < 1:
            raise ValueError("beam_size must be >= 1, or None for greedy decoding")
        if not 0.0 <= self.lead_pad_s <= 5.0:
            raise ValueError("lead_pad_s must be between 0 and 5 seconds")
        if not self.temperatures or self.temperatures[0] != 0.0:
            raise ValueError("temperatures must start at 0.0, e.g. (0.0, 0.2, 0.4)")
        if self.context_pad_s is not None and not 0.0 <= self.context_pad_s <= 30.0:
            raise ValueError("context_pad_s must be between 0 and 30 seconds, or None for all 30")
        if self.language is None and not self.languages:
            raise ValueError("give languages to detect among, or force one with language=")


@dataclass(frozen=True)
class WindowResult:
    """One decoded window: segments carry absolute times (window offset added)."""

    segments: tuple[Segment, ...]
    language: str
    language_probs: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
