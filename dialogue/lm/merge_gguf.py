"""A GGUF LoRA adapter merged into its GGUF base model, for llama.cpp.

    path = merged_gguf(base_gguf, adapter_gguf)  # cached: built once, ~30 s on a small CPU

llama.cpp applies a LoRA adapter at run time as extra matrix products beside every adapted
weight, and cannot use its repacked fast CPU kernels for them; the merged file reads a prompt
about a third faster (bench/bench_generate.py --merged measures it). The repository ships only the
adapter (a few MB); the merged model is built on the user's machine from the packaged base and
kept in the cache (`dialogue.lm.load.cache_dir()`/gguf-merged), named by both files' contents, so a new
adapter gives a new file.

Each adapted weight W (out, in) becomes W + (alpha / r) * B @ A, dequantized from the base's
type and written as Q8_0 (a near-lossless 8-bit type llama.cpp reads fast); every other tensor and
all metadata are copied unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

MERGED_TYPE = "Q8_0"


class MergeError(ValueError):
    """The adapter does not fit the base model."""


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:16]


def merged_gguf(base: str | Path, adapter: str | Path, out_dir: Path | None = None) -> Path:
    """The merged model's path, built on first use (a partial file never takes its name)."""
    base, adapter = Path(base), Path(adapter)
    from dialogue.lm.load import cache_dir

    out_dir = out_dir or cache_dir() / "gguf-merged"
    out = out_dir / f"merged-{_digest(base)}-{_digest(adapter)}.gguf"
    if out.is_file():
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.part")
    try:
        merge_lora(base, adapter, tmp)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def merge_lora(base: Path, adapter: Path, out: Path) -> None:
    import gguf
    from tqdm import tqdm

    b, a = gguf.GGUFReader(str(base)), gguf.GGUFReader(str(adapter))
    alpha = float(a.fields["adapter.lora.alpha"].contents())
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for t in a.tensors:
        name, part = t.name.rsplit(".", 1)  # blk.0.attn_q.weight, lora_a
        pairs.setdefault(name, {})[part] = np.asarray(t.data, dtype=np.float32)
    names = {t.name for t in b.tensors}
    missing = sorted(set(pairs) - names)
    if missing:
        raise MergeError(
            f"{adapter} adapts {missing[:3]}, which {base} does not have: it was trained on "
            "another base model"
        )
    arch = b.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(str(out), arch=arch)
    for field in b.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(field.name, field.contents(), kind, sub_type=sub)
    q8 = gguf.GGMLQuantizationType[MERGED_TYPE]
    for t in tqdm(b.tensors, desc="merging the adapter", unit="tensor", leave=False):
        lora = pairs.get(t.name)
        if lora is None:
            w.add_tensor(t.name, t.data, raw_shape=t.data.shape, raw_dtype=t.tensor_type)
            continue
        lo_a, lo_b = lora["lora_a"], lora["lora_b"]  # (r, in), (out, r)
        weight = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)  # (out, in)
        if weight.shape != (lo_b.shape[0], lo_a.shape[1]):
            raise MergeError(f"{t.name}: base {weight.shape}, adapter {lo_b.shape} @ {lo_a.shape}")
        weight += (alpha / lo_a.shape[0]) * (lo_b @ lo_a)
        data = gguf.quants.quantize(weight, q8)
        w.add_tensor(t.name, data, raw_shape=data.shape, raw_dtype=q8)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    logger.info("merged %s into %s: %s", adapter, base, out)
