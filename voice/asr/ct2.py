"""Convert CTranslate2 (faster-whisper format) Whisper checkpoints to openai-whisper models.

``model.bin`` (ctranslate2 binary versions 4-6) is little-endian: u32 version, str spec, u32
revision, u32 count, then per variable str name, u8 rank, u32 dims[rank], u8 dtype id, u32 byte
count, raw bytes; then u32 count and (str alias, str target) pairs. A str is a u16 length that
counts a trailing NUL, the UTF-8 bytes, then the NUL. Scalars such as ``encoder/num_heads``
(int16) are rank-0 variables.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from whisper.model import ModelDimensions, Whisper

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike
Sources = PathLike | Sequence[PathLike]
# dtype ids: 0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16 (read as u16 bits, widened to f32).
_DTYPES = [np.dtype(t) for t in ("<f4", "i1", "<i2", "<i4", "<f2", "<u2")]
_TYPE_IDS = {t: i for i, t in enumerate(_DTYPES[:5])}
# Decoder flags CT2 stores (int8), with the only values openai-whisper can represent.
_FLAGS = {"decoder/activation": 3, "decoder/pre_norm": 1, "decoder/alibi": 0}
_FLAGS |= {"decoder/scale_embeddings": 0, "decoder/start_from_zero_embedding": 0}
_IGNORED = {"decoder/alignment_heads", "decoder/alignment_layer", "decoder/projection/weight"}


@dataclass
class CT2Model:
    """A parsed ``model.bin``: variables by name, aliases resolved to the same arrays."""

    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]
    source: str


class _Stream:
    """Files read in order as one byte stream; a short read raises a ValueError naming them."""

    def __init__(self, paths: list[Path], label: str) -> None:
        self.files, self.label, self.offset = [open(p, "rb") for p in paths], label, 0  # noqa: SIM115

    def readinto(self, buf: memoryview) -> None:
        got = 0
        while got < len(buf) and self.files:
            n = self.files[0].readinto(buf[got:]) or 0
            got, self.offset = got + n, self.offset + n
            if n == 0:
                self.files.pop(0).close()
        if got < len(buf):
            raise ValueError(f"{self.label}: truncated at byte {self.offset}; re-download it")

    def unpack(self, fmt: str) -> int:
        buf = bytearray(struct.calcsize("<" + fmt))
        self.readinto(memoryview(buf))
        return struct.unpack("<" + fmt, buf)[0]

    def string(self) -> str:
        raw = bytearray(self.unpack("H"))
        self.readinto(memoryview(raw))
        if not raw.endswith(b"\0"):
            raise ValueError(f"{self.label}: corrupt string before byte {self.offset}")
        return raw[:-1].decode("utf-8", errors="replace")


def _model_paths(sources: Sources) -> list[Path]:
    one = isinstance(sources, (str, os.PathLike))
    paths = [Path(sources)] if one else [Path(p) for p in sources]  # type: ignore[arg-type]
    if len(paths) == 1 and paths[0].is_dir():
        paths = [paths[0] / "model.bin"]
    if not paths or (missing := [str(p) for p in paths if not p.is_file()]):
        raise FileNotFoundError(
            f"CT2 model not found: {missing or paths}; pass a faster-whisper folder, "
            "its model.bin, or all model.bin.partN files in order"
        )
    return paths


def read_ct2(path_or_paths: Sources) -> CT2Model:
    """Read a CT2 ``model.bin`` from a folder, a file, or parts read in order as one stream.

    Raises FileNotFoundError for a missing path and ValueError, naming the file(s), for a
    truncated or corrupt one.
    """
    paths = _model_paths(path_or_paths)
    label, total = " + ".join(map(str, paths)), sum(p.stat().st_size for p in paths)
    variables: dict[str, np.ndarray] = {}
    aliases: dict[str, str] = {}
    s = _Stream(paths, label)
    try:
        if not 4 <= (version := s.unpack("I")) <= 6:
            raise ValueError(
                f"{label}: binary version {version} is not 4-6: not a CT2 model.bin, parts out "
                "of order, or too new (re-convert with ctranslate2 4.x)"
            )
        spec, revision = s.string(), s.unpack("I")
        for _ in range(s.unpack("I")):
            name, rank = s.string(), s.unpack("B")
            shape = tuple(s.unpack("I") for _ in range(rank))
            type_id, nbytes = s.unpack("B"), s.unpack("I")
            dtype = _DTYPES[type_id] if type_id < len(_DTYPES) else None
            if dtype is None or nbytes != math.prod(shape) * dtype.itemsize:
                raise ValueError(f"{label}: corrupt header of {name!r} before byte {s.offset}")
            if s.offset + nbytes > total:
                raise ValueError(f"{label}: truncated in {name!r} ({total} bytes); re-download it")
            arr = np.empty(shape, dtype)
            s.readinto(memoryview(arr.reshape(-1).view(np.uint8)))
            variables[name] = (arr.astype("<u4") << 16).view("<f4") if type_id == 5 else arr
        for _ in range(s.unpack("I")):
            alias, target = s.string(), s.string()
            if target not in variables:
                raise ValueError(f"{label}: alias {alias!r} points to missing {target!r}")
            aliases[alias], variables[alias] = target, variables[target]
    finally:
        for f in s.files:
            f.close()
    if s.offset != total:
        raise ValueError(f"{label}: {total - s.offset} extra bytes: parts out of order or corrupt")
    logger.info("read %s: %s rev %d, %d variables", label, spec, revision, len(variables))
    return CT2Model(spec, revision, variables, aliases, label)


def _layout(n_enc: int, n_dec: int) -> tuple[dict[str, str], dict[str, list[str]]]:
    """CT2 name -> whisper key for 1:1 tensors; CT2 fused linear -> the whisper linears in it."""
    one = {"decoder/embeddings/weight": "decoder.token_embedding.weight"}
    fused: dict[str, list[str]] = {}

    def add(c: str, w: str, norm: bool = False) -> None:
        one.update({f"{c}/{'gamma' if norm else 'weight'}": f"{w}.weight"})
        one.update({f"{c}/{'beta' if norm else 'bias'}": f"{w}.bias"})

    for side, n in (("encoder", n_enc), ("decoder", n_dec)):
        one[f"{side}/position_encodings/encodings"] = f"{side}.positional_embedding"
        add(f"{side}/layer_norm", "encoder.ln_post" if side == "encoder" else "decoder.ln", True)
        for i in range(n):
            c, k = f"{side}/layer_{i}", f"{side}.blocks.{i}"
            fused[f"{c}/self_attention/linear_0"] = [
                f"{k}.attn.{p}" for p in ("query", "key", "value")
            ]
            add(f"{c}/self_attention/linear_1", f"{k}.attn.out")
            add(f"{c}/self_attention/layer_norm", f"{k}.attn_ln", True)
            if side == "decoder":
                add(f"{c}/attention/linear_0", f"{k}.cross_attn.query")
                fused[f"{c}/attention/linear_1"] = [f"{k}.cross_attn.key", f"{k}.cross_attn.value"]
                add(f"{c}/attention/linear_2", f"{k}.cross_attn.out")
                add(f"{c}/attention/layer_norm", f"{k}.cross_attn_ln", True)
            add(f"{c}/ffn/linear_0", f"{k}.mlp.0")
            add(f"{c}/ffn/linear_1", f"{k}.mlp.2")
            add(f"{c}/ffn/layer_norm", f"{k}.mlp_ln", True)
    add("encoder/conv1", "encoder.conv1")
    add("encoder/conv2", "encoder.conv2")
    return one, fused


def _dequantize(model: CT2Model) -> None:
    """Replace int8/int16 weights that have a ``<name>_scale`` by floats, in place (lossy)."""
    v = model.variables
    for name in [n for n in v if f"{n}_scale" in v and n not in model.aliases]:
        q, scale = v[name], v.pop(f"{name}_scale").astype(np.float32)
        rows = q.reshape(q.shape[0], -1).astype(np.float32)  # int8: a scale per output row
        deq = rows / (scale.reshape(-1, 1) if scale.ndim else scale)
        v[name] = deq.reshape(q.shape).astype(v["decoder/position_encodings/encodings"].dtype)
        logger.warning("%s: dequantized %s %s (lossy)", model.source, q.dtype, name)
    v.update({alias: v[target] for alias, target in model.aliases.items()})
    if bad := [n for n, x in v.items() if x.ndim and x.dtype.kind != "f"]:
        raise ValueError(f"{model.source}: integer weights with no scale: {bad[:4]}")


def ct2_to_whisper(
    ct2_dir_or_parts: Sources, config_json_path: PathLike | None = None
) -> tuple[ModelDimensions, dict[str, torch.Tensor], list[tuple[int, int]]]:
    """Map a CT2 Whisper model to openai-whisper dims, state dict (stored dtypes) and heads.

    The alignment heads come from ``config_json_path`` (default: the ``config.json`` beside the
    first model file), else whisper's default (every head of the top half). Whisper's key has
    no bias: a nonzero CT2 key bias is dropped, exactly, as softmax ignores a per-query constant.
    """
    model = read_ct2(ct2_dir_or_parts)
    src, v = model.source, model.variables
    if model.spec != "WhisperSpec" or "decoder/position_encodings/encodings" not in v:
        raise ValueError(f"{src}: spec {model.spec!r} is not a CT2 Whisper model (WhisperSpec)")
    _dequantize(model)
    n_enc, n_dec = (
        len({m[1] for k in v if (m := re.match(rf"{s}/layer_(\d+)/", k))})
        for s in ("encoder", "decoder")
    )
    one, fused = _layout(n_enc, n_dec)
    need = [*one, *(f"{c}/{p}" for c in fused for p in ("weight", "bias"))]
    need += [f"{s}/num_heads" for s in ("encoder", "decoder")]
    if missing := [n for n in need if n not in v]:
        raise ValueError(f"{src}: missing {missing[:4]}; the model is incomplete, re-download it")
    if extra := sorted(set(v) - set(need) - set(_FLAGS) - _IGNORED):
        raise ValueError(f"{src}: variables openai-whisper has no place for: {extra[:4]}")
    if bad := [f"{k}={int(v[k])}" for k, want in _FLAGS.items() if k in v and int(v[k]) != want]:
        raise ValueError(f"{src}: decoder settings openai-whisper cannot run: {bad}")
    emb, proj = v["decoder/embeddings/weight"], v.get("decoder/projection/weight")
    if proj is not None and proj is not emb and not np.array_equal(proj, emb):
        raise ValueError(f"{src}: output projection is not tied to the embedding as in whisper")

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a if a.base is None else a.copy())

    sd = {w: tensor(v[c]) for c, w in one.items()}
    for c, keys in fused.items():
        ws, bs = (np.split(v[f"{c}/{p}"], len(keys)) for p in ("weight", "bias"))
        for key, w, b in zip(keys, ws, bs, strict=True):
            sd[f"{key}.weight"] = tensor(w)
            if not key.endswith(".key"):
                sd[f"{key}.bias"] = tensor(b)
    (a_ctx, a_state), (t_ctx, t_state) = (
        v[f"{s}/position_encodings/encodings"].shape for s in ("encoder", "decoder")
    )
    a_head, t_head = (int(v[f"{s}/num_heads"]) for s in ("encoder", "decoder"))
    n_mels, (n_vocab, _) = v["encoder/conv1/weight"].shape[1], emb.shape
    dims = ModelDimensions(
        n_mels, a_ctx, a_state, a_head, n_enc, n_vocab, t_ctx, t_state, t_head, n_dec
    )
    config = config_json_path or _model_paths(ct2_dir_or_parts)[0].with_name("config.json")
    return dims, sd, _alignment_heads(Path(config), dims)


def _alignment_heads(config: Path, dims: ModelDimensions) -> list[tuple[int, int]]:
    heads = json.loads(config.read_text()).get("alignment_heads") if config.is_file() else None
    if heads is None:
        logger.warning("no alignment_heads in %s; using whisper's default (top half)", config)
        n, h = dims.n_text_layer, dims.n_text_head
        return [(i, j) for i in range(n // 2, n) for j in range(h)]
    out = [(int(layer), int(head)) for layer, head in heads]
    if any(not (0 <= i < dims.n_text_layer and 0 <= j < dims.n_text_head) for i, j in out):
        raise ValueError(f"{config}: alignment_heads {out} fall outside the decoder; fix the file")
    return out


def apply_alignment_heads(model: Whisper, heads: Sequence[Sequence[int]]) -> Whisper:
    """Set ``model.alignment_heads`` as ``Whisper.set_alignment_heads`` does (sparse bool)."""
    mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
    for layer, head in heads:
        mask[layer, head] = True
    model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    return model


def convert_ct2_checkpoint(
    sources: Sources, out_path: PathLike, config_json_path: PathLike | None = None
) -> Path:
    """Atomically write a checkpoint that ``whisper.load_model`` reads.

    It holds ``dims``, ``model_state_dict`` and ``alignment_heads`` ([[layer, head], ...]),
    which ``load_converted`` (or ``apply_alignment_heads``) re-applies.
    """
    dims, sd, heads = ct2_to_whisper(sources, config_json_path)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            heads_list = [list(h) for h in heads]
            torch.save(
                {"dims": asdict(dims), "model_state_dict": sd, "alignment_heads": heads_list}, f
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info("wrote %s (%s)", out, dims)
    return out


def load_converted(path: PathLike, device: str | torch.device = "cpu") -> Whisper:
    """Load a checkpoint written by ``convert_ct2_checkpoint``, with its alignment heads."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = Whisper(ModelDimensions(**ckpt["dims"]))
    model.load_state_dict(ckpt["model_state_dict"])
    return apply_alignment_heads(model, ckpt.get("alignment_heads") or []).to(device)


def write_ct2(
    state_dict: dict[str, torch.Tensor],
    dims: ModelDimensions,
    path: PathLike,
    dtype: str | None = None,
) -> Path:
    """Write a whisper state dict as a CT2 ``model.bin`` (the inverse of ``ct2_to_whisper``).

    ``dtype``: None keeps each tensor's float32/float16; "float32"/"float16" cast; "int8"
    quantizes the weights per output row as ctranslate2 does (int8_float32).
    """
    cast = {"float16": torch.float16, "float32": torch.float32, "int8": torch.float32}
    if dtype is not None and dtype not in cast:
        raise ValueError(f"dtype {dtype!r}: use None, 'float32', 'float16' or 'int8'")

    def a(key: str) -> np.ndarray:
        t = state_dict[key].detach().cpu()
        return (t.to(cast[dtype]) if dtype else t).numpy()

    one, fused = _layout(dims.n_audio_layer, dims.n_text_layer)
    v = {c: a(w) for c, w in one.items()}
    for c, keys in fused.items():
        ws = [a(f"{k}.weight") for k in keys]
        bs = [
            np.zeros_like(w[:, 0]) if k.endswith(".key") else a(f"{k}.bias")
            for k, w in zip(keys, ws, strict=True)
        ]
        v[f"{c}/weight"], v[f"{c}/bias"] = np.concatenate(ws), np.concatenate(bs)
    v |= {k: np.array(x, np.int8) for k, x in _FLAGS.items()}
    heads = {"encoder/num_heads": dims.n_audio_head, "decoder/num_heads": dims.n_text_head}
    heads |= {"decoder/alignment_heads": 1, "decoder/alignment_layer": -1}  # CT2's defaults
    v |= {k: np.array(x, np.int16) for k, x in heads.items()}
    for name in [n for n in v if n.endswith("/weight")] if dtype == "int8" else []:
        rows = v[name].reshape(v[name].shape[0], -1)
        amax = np.abs(rows).max(axis=1)
        v[f"{name}_scale"] = scale = (127.0 / np.where(amax == 0, 127.0, amax)).astype(np.float32)
        v[name] = np.rint(rows * scale[:, None]).astype(np.int8).reshape(v[name].shape)

    def s(text: str) -> bytes:
        return struct.pack("<H", len(text.encode()) + 1) + text.encode() + b"\0"

    chunks = [struct.pack("<I", 6), s("WhisperSpec"), struct.pack("<II", 3, len(v))]
    for name in sorted(v):
        x = np.asarray(v[name], order="C")  # keeps rank 0
        if x.dtype not in _TYPE_IDS:
            raise ValueError(f"{name}: dtype {x.dtype} cannot be written; pass dtype='float32'")
        meta = struct.pack(f"<B{x.ndim}IBI", x.ndim, *x.shape, _TYPE_IDS[x.dtype], x.nbytes)
        chunks += [s(name), meta, x.tobytes()]
    chunks += [struct.pack("<I", 1), s("decoder/projection/weight"), s("decoder/embeddings/weight")]
    out = Path(path)
    out.write_bytes(b"".join(chunks))
    return out
