"""Which engine runs the dialogue model, chosen by the value of `--lm`:

- `llama.cpp:FILE.gguf` or `llama.cpp:packaged:gemma-3-270m`: llama.cpp on the GGUF file
  (`dialogue.lm.llama_cpp`); `--adapter` is a LoRA folder (`cca train`'s OUT/best), used as its
  `adapter.gguf` when it ships one, else converted once into the cache (`dialogue.lm.lora_gguf`),
  and merged into the base model once (`dialogue.lm.merge_gguf`: a third faster than applying it
  at run time; `CCA_LORA_MERGE=0` applies it at run time instead).
- `openai:http://HOST:PORT/v1[/MODEL]`: any OpenAI-compatible server (`dialogue.lm.openai_client`).
- anything else (a model folder, `packaged:NAME`, a hub name): transformers
  (`dialogue.lm.model.DialogueLM`), the one engine that takes pictures as soft tokens.

`build_generator(lm, adapter)` returns the generator, the fusion module that renders its prompts
with the model's chat template, and the image encoder a projector came with (or None).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from dialogue.lm.decoding import GenerationOptions

logger = logging.getLogger(__name__)

ENGINES = {
    "llama.cpp": "llama.cpp:FILE.gguf or llama.cpp:packaged:gemma-3-270m (fast on a CPU)",
    "openai": "openai:http://HOST:PORT/v1[/MODEL] (vLLM, llama.cpp's server)",
    "transformers": "a model folder, packaged:gemma-3-270m or a hub name (pictures as soft tokens)",
}
REPLY = GenerationOptions(max_new_tokens=120)
LM_HELP = (
    "a dialogue model to phrase replies: llama.cpp:FILE.gguf or llama.cpp:packaged:gemma-3-270m, "
    "openai:http://HOST:PORT/v1[/MODEL], or a transformers model (packaged:gemma-3-270m, a "
    "folder); default: templates"
)
ADAPTER_HELP = "a LoRA adapter for --lm (cca train's OUT/best; converted for llama.cpp once)"


def available_engines() -> list[str]:
    return list(ENGINES)


def engine_of(lm: str) -> str:
    for name in ("llama.cpp", "openai"):
        if lm.startswith(name + ":"):
            return name
    return "transformers"


def prompt_tokenizer(adapter: str | Path | None = None):
    """The tokenizer whose chat template renders the prompts: the adapter folder's (the one it
    was trained with), else (no adapter, or a folder with only adapter.gguf) packaged
    Gemma-3-270m's, read once from its GGUF and kept in the
    cache (the first read takes about 20 s on a small CPU, the cached one well under one)."""
    from transformers import AutoTokenizer

    from dialogue.lm.load import cache_dir, packaged_gguf
    from dialogue.lm.template import ensure_chat_template

    if adapter and (Path(adapter) / "adapter.gguf").is_file() and not (Path(adapter) / "tokenizer_config.json").is_file():  # fmt: skip
        adapter = None  # a GGUF adapter alone (the shipped one): the packaged base's tokenizer
    if adapter:
        if not (Path(adapter) / "tokenizer_config.json").is_file():
            raise FileNotFoundError(f"{adapter} has no tokenizer_config.json: --adapter names a folder that `cca train` wrote (OUT/best), with its tokenizer")  # fmt: skip
        tokenizer = AutoTokenizer.from_pretrained(adapter)
    else:
        cached = cache_dir() / "tokenizers" / "gemma-3-270m"
        if (cached / "tokenizer_config.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(cached)
        else:
            gguf = packaged_gguf("gemma-3-270m")
            logger.info("reading packaged:gemma-3-270m's tokenizer from its GGUF once into %s", cached)  # fmt: skip
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            tokenizer.save_pretrained(cached)
    ensure_chat_template(tokenizer)
    return tokenizer


def lora_file(adapter: str | Path, base_gguf: Path) -> Path:
    """The adapter as a GGUF LoRA: its own `adapter.gguf`, else converted once into the cache."""
    from dialogue.lm.load import cache_dir
    from dialogue.lm.lora_gguf import convert_lora

    adapter = Path(adapter)
    if (adapter / "adapter.gguf").is_file():
        return adapter / "adapter.gguf"
    weights = adapter / "adapter_model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{adapter} has neither adapter.gguf nor adapter_model.safetensors: give the folder `cca train` wrote (OUT/best)")  # fmt: skip
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    out = cache_dir() / "gguf-lora" / f"{adapter.name}-{digest}.gguf"
    if not out.is_file():
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(base_gguf.parent, gguf_file=base_gguf.name)
        logger.info("converting %s to a GGUF LoRA once: %s", adapter, out)
        tmp = convert_lora(adapter, out.with_suffix(".part"), config)
        tmp.replace(out)
    return out


def build_generator(lm: str, adapter: str | Path | None = None, options: GenerationOptions = REPLY) -> tuple[Any, Any, str | None]:  # fmt: skip
    """(generator, fusion, image encoder name or None) for the `--lm` value (see the module)."""
    from fusion.fuse import Fusion, FusionOptions

    engine = engine_of(lm)
    if engine == "openai":
        from dialogue.lm.openai_client import OpenAIGenerator

        generator = OpenAIGenerator.from_spec(lm, options)  # fails now when the server is down
        return generator, Fusion(prompt_tokenizer(adapter), FusionOptions(image_tokens=False)), None
    if engine == "llama.cpp":
        from dialogue.lm.llama_cpp import LlamaCppGenerator, resolve_gguf

        model = lm.removeprefix("llama.cpp:")
        lora = lora_file(adapter, resolve_gguf(model)) if adapter else None
        if lora is not None and os.environ.get("CCA_LORA_MERGE", "1") != "0":
            from dialogue.lm.merge_gguf import merged_gguf

            name = f"llama.cpp:{model}+{Path(lora).name} (merged)"
            model, lora = str(merged_gguf(resolve_gguf(model), lora)), None
        else:
            name = None
        generator = LlamaCppGenerator.from_pretrained(model, lora=lora, options=options)
        generator.name = name or generator.name
        return generator, Fusion(prompt_tokenizer(adapter), FusionOptions(image_tokens=False)), None
    from dialogue.lm.generator import LMGenerator
    from dialogue.lm.model import DialogueLM

    model = DialogueLM.from_pretrained(lm, adapter=adapter)
    per_image = model.projector.config.tokens_per_image if model.takes_images else 0
    fusion_options = FusionOptions(image_tokens=model.takes_images, tokens_per_image=per_image or 16)  # fmt: skip
    return (
        LMGenerator(model, options, lm),
        Fusion(model.tokenizer, fusion_options),
        model.image_encoder,
    )
