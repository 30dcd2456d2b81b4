"""A PEFT LoRA adapter (what `cca train` writes) as a GGUF LoRA file, for the llama.cpp engine.

    convert_lora(adapter_dir, out_path, base_config)  # base_config: the base model's HF config

llama.cpp applies the adapter at run time on top of the base GGUF (quantized or not), so the
shipped artefact stays a few megabytes. The file follows llama.cpp's adapter format:
`general.type = "adapter"`, `adapter.type = "lora"`, `adapter.lora.alpha`, and for every adapted
weight `W` (GGUF name, e.g. `blk.3.attn_q.weight`) the pair `W.lora_a` (rank x in) and
`W.lora_b` (out x rank); llama.cpp scales by alpha / rank, as PEFT does without rsLoRA. For the
llama architecture, whose GGUF query and key rows are permuted for llama.cpp's rotary layout,
`lora_b` of q and k is permuted the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

ARCH = {"gemma3": "GEMMA3", "gemma3_text": "GEMMA3", "llama": "LLAMA", "qwen2": "QWEN2"}
PERMUTE_QK = {"LLAMA"}  # architectures whose q/k rows llama.cpp's converter permutes


class LoraConversionError(ValueError):
    """The adapter cannot be written for llama.cpp; the message says why and what would work."""


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row order: within each head, the two rotary halves interleaved."""
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def _base_name(peft_name: str) -> tuple[str, str] | None:
    """'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight' ->
    ('model.layers.0.self_attn.q_proj.weight', 'a'); None for anything else."""
    for marker, part in ((".lora_A.weight", "a"), (".lora_B.weight", "b")):
        if peft_name.endswith(marker):
            name = peft_name.removeprefix("base_model.model.").removesuffix(marker) + ".weight"
            return name.replace("model.language_model.", "model."), part
    return None


def convert_lora(
    adapter_dir: str | Path, out: str | Path, base_config: Any, half: bool = False
) -> Path:
    """Write `adapter_dir` (adapter_config.json + adapter_model.safetensors) as a GGUF LoRA;
    `half` stores the matrices as float16 (half the size, what ships with the package)."""
    import gguf
    from safetensors.numpy import load_file

    adapter_dir, out = Path(adapter_dir), Path(out)
    config_path, weights_path = adapter_dir / "adapter_config.json", adapter_dir / "adapter_model.safetensors"  # fmt: skip
    if not config_path.is_file() or not weights_path.is_file():
        raise LoraConversionError(f"{adapter_dir} is not a PEFT LoRA adapter: it needs adapter_config.json and adapter_model.safetensors")  # fmt: skip
    lora = json.loads(config_path.read_text(encoding="utf-8"))
    if lora.get("use_rslora") or lora.get("use_dora"):
        raise LoraConversionError("rsLoRA and DoRA adapters are not supported by llama.cpp's LoRA format; train a plain LoRA")  # fmt: skip
    cfg = getattr(base_config, "text_config", None) or base_config
    model_type = getattr(cfg, "model_type", "")
    if model_type not in ARCH:
        raise LoraConversionError(f"no llama.cpp mapping for model type {model_type!r}; supported: {sorted(ARCH)}")  # fmt: skip
    arch = getattr(gguf.MODEL_ARCH, ARCH[model_type])
    names = gguf.get_tensor_name_map(arch, cfg.num_hidden_layers)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for name, tensor in load_file(weights_path).items():
        parsed = _base_name(name)
        if parsed is None:
            raise LoraConversionError(
                f"{name}: only LoRA A/B matrices can go into a llama.cpp adapter (an adapter "
                "that saves embeddings or other full weights must be merged instead)"
            )
        base, part = parsed
        target = names.get_name(base, try_suffixes=(".weight",))
        if target is None:
            raise LoraConversionError(f"{base}: no llama.cpp tensor of architecture {model_type} has this name")  # fmt: skip
        pairs.setdefault(target, {})[part] = tensor.astype(np.float32)
    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[arch])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(lora["lora_alpha"]))
    for target, ab in sorted(pairs.items()):
        if set(ab) != {"a", "b"}:
            raise LoraConversionError(f"{target}: the adapter has lora_{set(ab).pop().upper()} but not its pair")  # fmt: skip
        a, b = ab["a"], ab["b"]
        if ARCH[model_type] in PERMUTE_QK and ".attn_q." in target:
            b = _permute(b, cfg.num_attention_heads)
        elif ARCH[model_type] in PERMUTE_QK and ".attn_k." in target:
            b = _permute(b, cfg.num_key_value_heads)
        dtype = np.float16 if half else np.float32
        writer.add_tensor(target + ".lora_a", np.ascontiguousarray(a, dtype=dtype))
        writer.add_tensor(target + ".lora_b", np.ascontiguousarray(b, dtype=dtype))
    out.parent.mkdir(parents=True, exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
