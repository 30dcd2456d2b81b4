"""Sentence embeddings of many texts, cached on disk per encoder, so that training an intent head
again (another learning rate, another seed, another pack) embeds only the new texts.

Environment:
- `CCA_CACHE_DIR`: where caches go; default ~/.cache/cca.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    env = os.environ.get("CCA_CACHE_DIR")  # where caches go; default ~/.cache/cca
    return Path(env) if env else Path.home() / ".cache" / "cca"


def _text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def embed_cached(
    encoder, texts: Sequence[str], directory: Path | None = None, progress: bool = True,
    batch_size: int = 64, shard_size: int = 1024,
) -> np.ndarray:  # fmt: skip
    """(len(texts), dim) embeddings, computing only the texts not in the cache.

    The cache is a folder per encoder of .npz shards (keys: sha1 of the text, vectors), under
    `directory` or cache_dir()/embeddings; a shard is written every `shard_size` new texts, so
    an interrupted run keeps most of its work.
    """
    from tqdm.auto import tqdm

    folder = (directory or cache_dir() / "embeddings") / re.sub(
        r"[^A-Za-z0-9_.-]", "_", encoder.name
    )
    known: dict[str, np.ndarray] = {}
    for shard in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
        with np.load(shard, allow_pickle=False) as z:
            known.update(zip((str(k) for k in z["keys"]), z["vectors"], strict=True))
    keys = [_text_hash(t) for t in texts]
    todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if todo:
        folder.mkdir(parents=True, exist_ok=True)
        bar = tqdm(
            total=len(todo), desc=f"embed ({encoder.name})", unit="text", disable=not progress
        )
        for s in range(0, len(todo), shard_size):
            chunk = todo[s : s + shard_size]
            vectors = []
            for b in range(0, len(chunk), batch_size):
                vectors.append(encoder.embed([t for _, t in chunk[b : b + batch_size]]))
                bar.update(len(chunk[b : b + batch_size]))
            vectors = np.concatenate(vectors).astype(np.float32)
            name = hashlib.sha1("".join(k for k, _ in chunk).encode()).hexdigest()[:16]
            np.savez(folder / f"{name}.npz", keys=np.array([k for k, _ in chunk]), vectors=vectors)
            known.update(zip((k for k, _ in chunk), vectors, strict=True))
        bar.close()
    if not keys:
        return np.zeros((0, getattr(encoder, "dim", 0)), np.float32)
    return np.stack([known[k] for k in keys]).astype(np.float32)
