"""TTS backends beside the ONNX voices: the espeak-ng program (and its IPA, which the Kokoro and
Piper voices read), and Coqui TTS models.

espeak-ng is a separate GPL program run as a command (Debian/Ubuntu: apt-get install espeak-ng).
Coqui TTS is the `coqui-tts` package (import `TTS`); its models download by name on a connected
machine, or load from a local checkpoint and config.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from voice.types import Audio

logger = logging.getLogger(__name__)

ESPEAK_RATE = 22_050
_CLAUSE = re.compile(r"[^,.;:!?，。；：！？]+|[,.;:!?，。；：！？]+")
_ZH_PUNCT = str.maketrans("，。；：！？、", ",.;:!?,")


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def _espeak_exe() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError(
            "the `espeak-ng` program is needed for this voice but is not on PATH; "
            "install it (Debian/Ubuntu: apt-get install espeak-ng)"
        )
    return exe


def espeak_ipa(text: str, voice: str = "en-us", tie: str | None = None) -> str:
    """IPA with stress marks for `text`, clause by clause, keeping the clauses' punctuation
    ("Hello, world." -> "həlˈoʊ, wˈɜːld."). `tie` joins multi-letter phonemes ("o^ʊ")."""
    exe = _espeak_exe()
    out = []
    for piece in _CLAUSE.findall(text.translate(_ZH_PUNCT)):
        if not re.search(r"\w", piece):
            out.append(piece.strip())
            continue
        cmd = [exe, "-q", "-v", voice, "--ipa"]
        cmd += [f"--tie={tie}"] if tie else []
        proc = subprocess.run(cmd, input=piece.strip().encode(), capture_output=True, timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(
                f"espeak-ng failed on {piece!r}: {proc.stderr.decode(errors='replace')}"
            )
        ipa = " ".join(proc.stdout.decode().split())
        out.append((" " if out else "") + ipa)
    return "".join(out).strip()


def _wav_samples(data: bytes) -> tuple[np.ndarray, int]:
    """16-bit mono WAV bytes as espeak-ng writes them to stdout (sizes left unset)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RuntimeError("espeak-ng did not write a WAV file")
    rate = int.from_bytes(data[24:28], "little")
    at = data.find(b"data", 12)
    pcm = np.frombuffer(data[at + 8 : at + 8 + (len(data) - at - 8) // 2 * 2], dtype="<i2")
    return (pcm / 32768.0).astype(np.float32), rate


@dataclass(frozen=True)
class EspeakOptions:
    en_voice: str = "en-us"
    zh_voice: str = "cmn-latn-pinyin"  # reads pinyin with tone numbers as Mandarin
    words_per_minute: int = 160
    pitch: int = 50  # 0-99


class EspeakTTS:
    """The espeak-ng program: robotic but always there; the last resort for en and zh.

    Chinese is turned into pinyin with tone numbers (pypinyin) and read by the `cmn-latn-pinyin`
    voice, which says the tones; the plain `cmn` voice reads Latin letters and digits as English.
    """

    name = "espeak"
    sample_rate = ESPEAK_RATE

    def __init__(self, exe: str, options: EspeakOptions = EspeakOptions(), zh: bool = True):
        self.exe = exe
        self.options = options
        self.languages = frozenset({"en", "zh"} if zh else {"en"})

    @classmethod
    def from_system(cls, options: EspeakOptions = EspeakOptions()) -> EspeakTTS:
        import importlib.util

        zh = importlib.util.find_spec("pypinyin") is not None
        if not zh:
            logger.info("espeak: English only (Chinese needs pypinyin: pip install pypinyin)")
        return cls(_espeak_exe(), options, zh=zh)

    def preprocess(self, text: str, language: str) -> tuple[str, str]:
        if language != "zh":
            return text, self.options.en_voice
        from pypinyin import Style, lazy_pinyin

        syllables = lazy_pinyin(
            text.translate(_ZH_PUNCT), style=Style.TONE3, neutral_tone_with_five=True
        )
        return " ".join(syllables).replace(" ,", ",").replace(" .", "."), self.options.zh_voice

    def synthesize(self, text: str, language: str) -> Audio:
        if language not in self.languages:
            raise ValueError(f"espeak speaks {sorted(self.languages)}, not {language!r}")
        said, voice = self.preprocess(text, language)
        cmd = [
            self.exe,
            "-v",
            voice,
            "-s",
            str(self.options.words_per_minute),
            "-p",
            str(self.options.pitch),
            "--stdout",
        ]
        proc = subprocess.run(cmd, input=said.encode(), capture_output=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"espeak-ng failed: {proc.stderr.decode(errors='replace').strip()}")
        samples, rate = _wav_samples(proc.stdout)
        if rate != self.sample_rate:
            raise RuntimeError(f"espeak-ng wrote {rate} Hz audio, expected {self.sample_rate}")
        return Audio(samples, rate, self.name)


# --- Coqui TTS ------------------------------------------------------------------------------

# Coqui model name -> (our languages, speaker for multi-speaker models, our code -> Coqui's code)
COQUI_MODELS: dict[str, tuple[tuple[str, ...], str | None, Mapping[str, str]]] = {
    "tts_models/multilingual/multi-dataset/xtts_v2": (
        ("en", "zh"),
        "Ana Florence",
        {"en": "en", "zh": "zh-cn"},
    ),
    "tts_models/en/ljspeech/vits": (("en",), None, {}),
    "tts_models/en/vctk/vits": (("en",), "p225", {}),
    "tts_models/zh-CN/baker/tacotron2-DDC-GST": (("zh",), None, {}),
}


def _coqui():
    try:
        from TTS.api import TTS
    except ImportError as e:
        raise ImportError(
            "Coqui voices need the coqui-tts package: pip install 'contact-centre-agent[coqui]' "
            "(coqui-tts, torchaudio, torchcodec, six)"
        ) from e
    return TTS


class CoquiTTS:
    """A Coqui TTS model. Takes a built model: either a Coqui `Synthesizer` (what loading by name
    or checkpoint gives, with its vocoder) or a bare end-to-end model such as `Vits`."""

    def __init__(
        self,
        model,
        *,
        languages: frozenset[str] | set[str] | tuple[str, ...],
        sample_rate: int,
        name: str = "coqui",
        speaker: str | None = None,
        language_codes: Mapping[str, str] | None = None,
        synthesizer=None,
    ):
        if not languages:
            raise ValueError("say which languages this Coqui model speaks, e.g. languages={'en'}")
        self.model = model
        self.synthesizer = (
            synthesizer  # a TTS.utils.synthesizer.Synthesizer, or None for a bare model
        )
        self.languages = frozenset(languages)
        self.sample_rate = sample_rate
        self.name = name
        self.speaker = speaker
        self.language_codes = dict(language_codes or {})

    @classmethod
    def from_pretrained(cls, model_name: str, device: str = "cpu") -> CoquiTTS:
        """By Coqui model name (downloads once into Coqui's cache; needs the network)."""
        if model_name not in COQUI_MODELS:
            raise ValueError(
                f"Coqui model {model_name!r} has no declared languages here; known = {list(COQUI_MODELS)}; "
                "for another model use CoquiTTS.from_checkpoint(..., languages=...)"
            )
        languages, speaker, codes = COQUI_MODELS[model_name]
        api = _coqui()(model_name).to(device)
        synth = api.synthesizer
        return cls(synth.tts_model, languages=languages, sample_rate=synth.output_sample_rate,
                   name=f"coqui:{model_name}", speaker=speaker, language_codes=codes, synthesizer=synth)  # fmt: skip

    @classmethod
    def from_checkpoint(
        cls,
        model_path: str,
        config_path: str,
        languages=("en",),
        speaker: str | None = None,
        device: str = "cpu",
    ) -> CoquiTTS:
        """From a local model file and its config.json (no network)."""
        api = _coqui()(model_path=model_path, config_path=config_path).to(device)
        synth = api.synthesizer
        return cls(synth.tts_model, languages=languages, sample_rate=synth.output_sample_rate,
                   name=f"coqui:{model_path}", speaker=speaker, synthesizer=synth)  # fmt: skip

    def synthesize(self, text: str, language: str) -> Audio:
        if language not in self.languages:
            raise ValueError(f"{self.name} speaks {sorted(self.languages)}, not {language!r}")
        code = self.language_codes.get(language)
        if self.synthesizer is not None:
            wav = self.synthesizer.tts(
                text, speaker_name=self.speaker, language_name=code, split_sentences=False
            )
        else:
            import torch

            with torch.inference_mode():
                out = self.model.synthesize(
                    text, speaker=self.speaker, language=code, use_griffin_lim=True
                )
            wav = out["wav"]
        samples = np.asarray(wav, dtype=np.float32).reshape(-1)
        return Audio(np.clip(samples, -1, 1), self.sample_rate, self.name)
