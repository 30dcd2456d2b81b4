"""`cca train` data: conversations, their pictures encoded once, the image setup, examples."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path

from dialogue.lm.examples import Example
from dialogue.lm.recipe import DataConfig, TrainConfig

logger = logging.getLogger(__name__)


def read_conversations(path: str, config: DataConfig, limit: int = 0) -> list:
    from dialogue.lm.convdata import read_jsonl

    convs = read_jsonl(path)
    if config.sources:
        convs = [c for c in convs if c.source in config.sources]
    convs = cap_sources(convs, dict(config.max_per_source))
    return interleave_sources(convs)[:limit] if limit else convs


def interleave_sources(convs: list) -> list:
    """One conversation of each source in turn, each source in its own order: the first N then
    hold every source, not the first file's source alone."""
    by_source: dict[str, list] = {}
    for c in convs:
        by_source.setdefault(c.source, []).append(c)
    out, queues = [], [iter(q) for q in by_source.values()]
    while queues:
        live = []
        for q in queues:
            c = next(q, None)
            if c is not None:
                out.append(c)
                live.append(q)
        queues = live
    return out


def cap_sources(convs: list, caps: dict[str, int]) -> list:
    """At most `caps[source]` conversations of each capped source, the ones whose id hashes
    lowest (the same choice whatever the file's order), the rest in their order."""
    import hashlib

    keep: set[str] = set()
    for source, n in caps.items():
        ids = sorted((c.id for c in convs if c.source == source), key=lambda i: hashlib.sha1(i.encode()).hexdigest())  # fmt: skip
        keep.update(ids[:n])
    return [c for c in convs if c.source not in caps or c.id in keep]


def image_paths(convs, jsonl: str) -> dict[str, Path]:
    """A turn's `image` -> the file (a relative path is relative to the JSONL file's folder)."""
    base = Path(jsonl).parent
    return {
        t.image: (Path(t.image) if Path(t.image).is_absolute() else base / t.image)
        for c in convs
        for t in c.turns
        if t.image
    }


def encode_images(
    paths: dict[str, Path], encoder, cache: dict[Path, object], progress: bool = True
) -> dict[str, object]:
    """The encoder's features of every picture (read once; `cache` is shared across files). A
    picture that cannot be read is logged and left out: its turn trains on its text alone."""
    from tqdm import tqdm

    from vision.image import ImageError, load_image

    todo = sorted({p for p in paths.values() if p not in cache})
    bar = tqdm(total=len(todo), desc="images", unit="img", disable=not progress or not todo, file=sys.stderr)  # fmt: skip
    for start in range(0, len(todo), encoder.batch_size):
        chunk, read = todo[start : start + encoder.batch_size], {}
        for path in chunk:
            try:
                read[path] = load_image(path)
            except (ImageError, OSError) as e:
                logger.warning("image left out, its turn keeps its text: %s", e)
                cache[path] = None
        for path, feats in zip(read, encoder.encode(list(read.values())), strict=True):
            cache[path] = feats
        bar.update(len(chunk))
    bar.close()
    return {key: cache[p] for key, p in paths.items() if cache.get(p) is not None}


def load_examples(
    path: str, tokenizer, fusion, config: DataConfig, limit: int = 0, images=None
) -> list[Example]:
    """Examples from a JSONL file; `images` (encoder, cache) adds image features to the turns
    that have a picture."""
    from dialogue.lm.examples import build_examples

    convs = read_conversations(path, config, limit)
    features = encode_images(image_paths(convs, path), *images) if images else None
    return build_examples(convs, tokenizer, fusion, config.max_len, features, config.per_turn)


def has_images(path: str, config: DataConfig, limit: int = 0) -> bool:
    return bool(image_paths(read_conversations(path, config, limit), path))


def image_setup(config: TrainConfig, model, tokenizer):
    """(encoder, projector, fusion options) when [images] is on and the training data has
    pictures, else (None, None, text-only fusion options). Adds the placeholder token to the
    tokenizer (and rows to the embeddings) when it is not one token yet."""
    from fusion.fuse import FusionOptions

    opts = FusionOptions()
    if not config.images.enabled or not has_images(config.data.train, config.data, config.data.max_train):  # fmt: skip
        return None, None, replace(opts, image_tokens=False)
    from fusion.projector import ImageProjector, ProjectorConfig
    from vision.encoder import ImageEncoder

    encoder = ImageEncoder.from_pretrained(config.images.encoder, device=config.run.device or None)
    if len(tokenizer.encode(opts.image_token, add_special_tokens=False)) != 1:
        tokenizer.add_special_tokens({"additional_special_tokens": [opts.image_token]})
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    hidden = model.get_input_embeddings().embedding_dim
    projector = ImageProjector(
        ProjectorConfig(encoder.d_vision, hidden, tokens_per_image=config.images.tokens_per_image)
    )
    return encoder, projector, replace(opts, tokens_per_image=config.images.tokens_per_image)
