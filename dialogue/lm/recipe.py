"""The `cca train` recipe: a frozen dataclass per TOML section, load_config, and config_dict."""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True)
class ModelConfig:
    name: str = "packaged:gemma-3-270m"  # a folder, packaged:NAME, or a hub name (GPU: Qwen/Qwen2.5-1.5B-Instruct)


@dataclass(frozen=True)
class DataConfig:
    train: str = "data/dialogue/train.jsonl"
    dev: str = "data/dialogue/dev.jsonl"
    test: str = "data/dialogue/test.jsonl"
    max_len: int = 512  # tokens per example; the oldest exchanges are dropped to fit
    max_train: int = 0  # use at most this many training conversations (0: all)
    max_dev: int = 64  # dev conversations evaluated each time
    sources: tuple[str, ...] = ()  # keep only these sources ("stc3", "abcd", a pack's name); () all
    per_turn: bool = False  # one example per agent turn, its tool results quoted as the Agent does
    # at most N conversations of a source, e.g. {stc3 = 300}: a style share that does not swamp the
    # rest; the kept ones are chosen by a hash of their id, so the choice does not follow file order
    max_per_source: tuple[tuple[str, int], ...] = ()
    dev_sources: tuple[
        str, ...
    ] = ()  # the dev loss reads only these sources; () the same as `sources`

    def __post_init__(self):
        caps = self.max_per_source
        if isinstance(caps, dict):
            caps = tuple(sorted(caps.items()))
        for source, n in caps:
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ValueError(
                    f"[data] max_per_source.{source} must be a whole number >= 0, got {n!r}"
                )
        object.__setattr__(self, "max_per_source", tuple((str(s), int(n)) for s, n in caps))


@dataclass(frozen=True)
class LoraConfig:
    enabled: bool = True  # False: full fine-tuning
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 2e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    batch_size: int = 4
    grad_accum: int = 2
    max_grad_norm: float = 1.0
    epochs: int = 1
    max_steps: int = 0  # stop after this many optimizer steps (0: the epochs decide)


@dataclass(frozen=True)
class EvalConfig:
    every: int = 50  # optimizer steps between dev evaluations (and checkpoints)
    patience: int = 3  # evaluations without a better dev loss before stopping


@dataclass(frozen=True)
class ImagesConfig:
    enabled: bool = True  # train the projector when the data has images (False: their text only)
    encoder: str = "efficientnet_lite0"  # vision.encoder.ImageEncoder.from_pretrained name
    tokens_per_image: int = 16  # soft tokens per picture (a square number)
    lr: float = 1e-3  # the projector starts from random weights: a higher rate than LoRA's


@dataclass(frozen=True)
class RunConfig:
    out: str = "runs/dialogue"
    seed: int = 0
    device: str = ""  # "" chooses cuda when present
    time_budget_min: float = 0.0  # stop (with a checkpoint) after this many minutes; 0 no limit


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    images: ImagesConfig = field(default_factory=ImagesConfig)
    run: RunConfig = field(default_factory=RunConfig)


def load_config(path: str | Path) -> TrainConfig:
    """A TOML recipe: sections [model] [data] [lora] [optim] [eval] [images] [run]; unknown keys
    are errors."""
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    parts = {}
    for f in fields(TrainConfig):
        section = raw.pop(f.name, {})
        cls = type(f.default_factory())
        known = {x.name for x in fields(cls)}
        unknown = set(section) - known
        if unknown:
            raise ValueError(
                f"{path}: unknown keys in [{f.name}]: {sorted(unknown)}; known: {sorted(known)}"
            )
        parts[f.name] = cls(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in section.items()}
        )
    if raw:
        raise ValueError(
            f"{path}: unknown sections {sorted(raw)}; known: {[f.name for f in fields(TrainConfig)]}"
        )
    return TrainConfig(**parts)


def config_dict(config: TrainConfig) -> dict:
    """The config as plain JSON data (tuples become lists), as run.json and cca_run.json hold it."""
    return json.loads(json.dumps(asdict(config), default=list))
