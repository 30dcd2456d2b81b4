"""Fine-tuning the dialogue model: `cca train CONFIG.toml`.

Loss on the agent's turns only (dialogue.examples); AdamW with weight decay off biases and norms;
linear warmup then linear decay; gradient accumulation and clipping; LoRA through peft, or full
fine-tuning; bf16 autocast on CUDA. When training conversations carry screenshot images (a
turn's `image`), the image encoder reads them once and the fusion projector (fusion.projector)
trains jointly: its soft tokens fill the image placeholders of the prompt, and it is saved beside
the adapter (OUT/best/projector.*). The dev loss is measured every `eval.every` optimizer steps:
the best adapter is kept in OUT/best, training stops after `eval.patience` evaluations without
improvement, and OUT/last holds everything needed to resume at the same step with the same state
(weights, optimizer, schedule, data order, random generators). Metrics go to OUT/metrics.jsonl
(and TensorBoard when installed), and the loss curves to OUT/loss.png at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from dialogue.examples import IGNORE, Example

logger = logging.getLogger(__name__)


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
    sources: tuple[str, ...] = ()  # keep only these sources ("retail", "stc3", "abcd"); () all


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


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def collate(batch: list[Example], pad_id: int) -> dict:
    """Padded tensors, and under "images" the examples' image features, batch-major."""
    n = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), n), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, e in enumerate(batch):
        k = len(e.input_ids)
        ids[i, :k] = torch.tensor(e.input_ids)
        labels[i, :k] = torch.tensor(e.labels)
        mask[i, :k] = 1
    images = [f for e in batch for f in e.images]
    return {"input_ids": ids, "labels": labels, "attention_mask": mask, "images": images}


def agent_token_loss(
    model, batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None = None
) -> torch.Tensor:
    """The mean cross-entropy over target tokens, computing the output layer only where there is
    a target. Gemma's vocabulary has 262,144 entries: full logits for every position of a batch
    cost more than the rest of the network on a CPU, and most positions are the customer's.
    `inputs_embeds` (image soft tokens merged in) replaces the ids as the input when given."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head, body = getattr(base, "lm_head", None), getattr(base, "model", None)
    given = {"input_ids": batch["input_ids"]} if inputs_embeds is None else {"inputs_embeds": inputs_embeds}  # fmt: skip
    if head is None or body is None:  # not the usual decoder + head layout: the plain way
        return model(**given, attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
    hidden = body(**given, attention_mask=batch["attention_mask"]).last_hidden_state
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE
    logits = head(hidden[:, :-1][keep]).float()
    cap = getattr(base.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return torch.nn.functional.cross_entropy(logits, targets[keep])


def wrap_lora(model, cfg: LoraConfig):
    if not cfg.enabled:
        return model
    from peft import LoraConfig as PeftLora
    from peft import get_peft_model

    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in cfg.target_modules if t not in names]
    if missing:
        raise ValueError(
            f"LoRA target modules {missing} are not in this model; it has e.g. {sorted(names)[:12]}"
        )
    peft_cfg = PeftLora(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=list(cfg.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_cfg)


@dataclass
class TrainState:
    step: int = 0  # optimizer steps done
    epoch: int = 0
    position: int = 0  # examples of this epoch already used
    best_dev: float = math.inf
    best_step: int = 0
    bad_evals: int = 0
    stopped: str = ""  # why training ended: "early stopping", "max steps", "epochs", "time budget"


class Trainer:
    """Trains `model` (already built, LoRA-wrapped or not) on examples; see the module docstring."""

    def __init__(
        self,
        config: TrainConfig,
        model,
        tokenizer,
        train: list[Example],
        dev: list[Example],
        projector=None,
        image_token: str = "<image>",
    ):
        """`projector` (fusion.projector.ImageProjector) is needed when examples carry images;
        `image_token` is the placeholder the prompts hold (fusion.FusionOptions.image_token)."""
        if not train:
            raise ValueError(
                "no training examples: check [data] train and that its conversations have agent turns"
            )
        self.config, self.model, self.tokenizer = config, model, tokenizer
        self.train_set, self.dev_set = train, dev
        self.projector = projector
        if projector is None and any(e.images for e in (*train, *dev)):
            raise ValueError(
                "the examples carry images but no projector was given: pass an ImageProjector, "
                "or build the examples without image features ([images] enabled = false)"
            )
        self.image_token_id = tokenizer.convert_tokens_to_ids(image_token) if projector else None
        self.only_image_token_added = False  # set by whoever grew the vocabulary for it alone
        self.out = Path(config.run.out)
        self.device = torch.device(
            config.run.device or ("cuda" if torch.cuda.is_available() else "cpu")
        )
        self.model.to(self.device)
        o = config.optim
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
        groups = [
            {"params": decay, "weight_decay": o.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        if projector is not None:
            projector.to(self.device).train()
            groups.append(
                {
                    "params": list(projector.parameters()),
                    "weight_decay": o.weight_decay,
                    "lr": config.images.lr,
                }  # fmt: skip
            )
        self.optimizer = torch.optim.AdamW(groups, lr=o.lr)
        per_epoch = math.ceil(len(train) / (o.batch_size * o.grad_accum))
        self.total_steps = o.max_steps or per_epoch * o.epochs
        warmup = max(1, int(o.warmup_ratio * self.total_steps))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: min(
                (s + 1) / warmup,
                max(0.0, (self.total_steps - s) / max(1, self.total_steps - warmup)),
            ),
        )
        self.state = TrainState()
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )
        self.autocast = torch.bfloat16 if self.device.type == "cuda" else None

    # ------------------------------------------------------------------ loss
    def _loss(self, batch: dict) -> torch.Tensor:
        images = batch.pop("images", [])
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.autocast(
            self.device.type,
            dtype=self.autocast or torch.float32,
            enabled=self.autocast is not None,
        ):
            embeds = None
            if images:
                from fusion.projector import merge_image_embeddings

                embeds = self.model.get_input_embeddings()(batch["input_ids"])
                soft = self.projector.project(images, self.device, embeds.dtype)
                embeds = merge_image_embeddings(
                    embeds, batch["input_ids"], self.image_token_id, soft
                )
            return agent_token_loss(self.model, batch, embeds)

    def named_trainables(self) -> dict[str, torch.nn.Parameter]:
        """What the optimizer changes: the model's trainable parameters and the projector's."""
        out = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        if self.projector is not None:
            out |= {f"projector.{n}": p for n, p in self.projector.named_parameters()}
        return out

    @torch.no_grad()
    def dev_loss(self) -> float:
        """Mean loss per target token over the dev examples."""
        if not self.dev_set:
            return math.nan
        self.model.eval()
        if self.projector is not None:
            self.projector.eval()
        total, tokens = 0.0, 0
        for i in range(0, len(self.dev_set), self.config.optim.batch_size):
            chunk = self.dev_set[i : i + self.config.optim.batch_size]
            n = sum(e.n_target for e in chunk)
            total += self._loss(collate(chunk, self.pad_id)).item() * n
            tokens += n
        self.model.train()
        if self.projector is not None:
            self.projector.train()
        return total / max(tokens, 1)

    # ------------------------------------------------------------------ the loop
    def order(self, epoch: int) -> list[int]:
        rng = random.Random(self.config.run.seed * 1000 + epoch)
        idx = list(range(len(self.train_set)))
        rng.shuffle(idx)
        return idx

    def train(
        self, resume: bool = True, until_step: int | None = None, progress: bool = True
    ) -> TrainState:
        from tqdm import tqdm

        c, o, st = self.config, self.config.optim, self.state
        self.out.mkdir(parents=True, exist_ok=True)
        if resume and (self.out / "last" / "state.pt").is_file():
            self.load_checkpoint(self.out / "last")
            st = self.state
            logger.info("resumed at step %d (epoch %d, example %d)", st.step, st.epoch, st.position)
        else:
            seed_everything(c.run.seed)
        stop_at = min(self.total_steps, until_step or self.total_steps)
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as metrics:
            board = _tensorboard(self.out)
            t0 = time.perf_counter()
            bar = tqdm(
                total=self.total_steps,
                initial=st.step,
                unit="step",
                disable=not progress,
                file=sys.stderr,
                dynamic_ncols=True,
            )
            self.model.train()
            micro, running = 0, 0.0
            while st.step < stop_at and not st.stopped:
                order = self.order(st.epoch)
                while st.position < len(order) and st.step < stop_at:
                    chunk = [
                        self.train_set[i] for i in order[st.position : st.position + o.batch_size]
                    ]
                    st.position += len(chunk)
                    loss = self._loss(collate(chunk, self.pad_id)) / o.grad_accum
                    loss.backward()
                    running += loss.item()
                    micro += 1
                    if micro % o.grad_accum and st.position < len(order):
                        continue
                    torch.nn.utils.clip_grad_norm_(
                        list(self.named_trainables().values()), o.max_grad_norm
                    )
                    self.optimizer.step()
                    self.scheduler.step()
                    self.optimizer.zero_grad(set_to_none=True)
                    st.step += 1
                    row = {
                        "step": st.step,
                        "epoch": st.epoch,
                        "loss": running * o.grad_accum / max(micro, 1),
                        "lr": self.scheduler.get_last_lr()[0],
                    }
                    micro, running = 0, 0.0
                    if st.step % c.eval.every == 0 or st.step == self.total_steps:
                        row["dev_loss"] = self.dev_loss()
                        self._after_eval(row["dev_loss"])
                    row["time_s"] = round(time.perf_counter() - t0, 2)
                    metrics.write(json.dumps(row) + "\n")
                    metrics.flush()
                    if board:
                        for k in ("loss", "lr", "dev_loss"):
                            if k in row:
                                board.add_scalar(k, row[k], st.step)
                    bar.set_postfix_str(
                        f"loss={row['loss']:.3f}"
                        + (f" dev={row['dev_loss']:.3f}" if "dev_loss" in row else "")
                    )
                    bar.update(1)
                    if (
                        c.run.time_budget_min
                        and time.perf_counter() - t0 > 60 * c.run.time_budget_min
                    ):
                        st.stopped = "time budget"
                    if st.stopped:
                        break
                else:
                    if st.position >= len(order):
                        st.epoch, st.position = st.epoch + 1, 0
                        if not o.max_steps and st.epoch >= o.epochs:
                            st.stopped = "epochs"
            if st.step >= self.total_steps and not st.stopped:
                st.stopped = "max steps"
            self.save_checkpoint(self.out / "last")
            bar.close()
        if board:
            board.close()
        plot_losses(self.out / "metrics.jsonl", self.out / "loss.png")
        return st

    def _after_eval(self, dev: float) -> None:
        st = self.state
        if dev < st.best_dev - 1e-4:
            st.best_dev, st.best_step, st.bad_evals = dev, st.step, 0
            self.save_model(self.out / "best")
        else:
            st.bad_evals += 1
            if st.bad_evals >= self.config.eval.patience:
                st.stopped = "early stopping"
        self.save_checkpoint(self.out / "last")

    # ------------------------------------------------------------------ checkpoints
    def save_model(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        # a peft model saves only its adapter; the image placeholder's embedding row is never
        # read (the projector's tokens replace it), so growing the vocabulary for it alone does
        # not make peft save the whole 262k-row embedding matrix with the adapter
        kw = {"save_embedding_layers": False} if self.only_image_token_added else {}
        self.model.save_pretrained(folder, **kw)
        self.tokenizer.save_pretrained(folder)
        if self.projector is not None:
            self.projector.save(folder, encoder=self.config.images.encoder)
        (folder / "cca_run.json").write_text(
            json.dumps(
                {
                    "config": _plain(self.config),
                    "step": self.state.step,
                    "dev_loss": self.state.best_dev,
                },
                indent=2,
            )
        )

    def save_checkpoint(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        trainable = {n: p.detach().cpu().clone() for n, p in self.named_trainables().items()}
        tmp = folder / "state.pt.tmp"
        torch.save(
            {
                "trainable": trainable, "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "state": asdict(self.state), "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
            },
            tmp,
        )  # fmt: skip
        tmp.replace(folder / "state.pt")

    def load_checkpoint(self, folder: Path) -> None:
        ck = torch.load(folder / "state.pt", map_location="cpu", weights_only=False)
        params = self.named_trainables()
        with torch.no_grad():
            for n, v in ck["trainable"].items():
                params[n].copy_(v.to(params[n].device))
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.state = TrainState(**ck["state"])
        random.setstate(ck["rng"]["python"])
        np.random.set_state(ck["rng"]["numpy"])
        torch.set_rng_state(ck["rng"]["torch"])


def _plain(obj):
    return json.loads(json.dumps(asdict(obj), default=list))


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


def plot_losses(metrics: Path, png: Path) -> None:
    """Training and dev loss against the step, as a PNG (matplotlib, when installed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.info("no matplotlib: no loss plot")
        return
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label="train", alpha=0.6)
    dev = [r for r in rows if "dev_loss" in r]
    if dev:
        ax.plot([r["step"] for r in dev], [r["dev_loss"] for r in dev], "o-", label="dev")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss per agent token")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def read_conversations(path: str, config: DataConfig, limit: int = 0) -> list:
    from dialogue.convdata import read_jsonl

    convs = read_jsonl(path)
    if config.sources:
        convs = [c for c in convs if c.source in config.sources]
    return convs[:limit] if limit else convs


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
    from dialogue.examples import build_examples

    convs = read_conversations(path, config, limit)
    features = encode_images(image_paths(convs, path), *images) if images else None
    return build_examples(convs, tokenizer, fusion, config.max_len, features)


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cca train", description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="a TOML recipe (see recipes/)")
    p.add_argument("--fresh", action="store_true", help="ignore OUT/last and start again")
    p.add_argument("--max-steps", type=int, default=None, help="override [optim] max_steps")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    try:
        config = load_config(args.config)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as e:
        print(f"cca train: {e}", file=sys.stderr)
        return 2
    if args.max_steps is not None:
        config = replace(config, optim=replace(config.optim, max_steps=args.max_steps))
    from dialogue.examples import data_hash
    from dialogue.lm_load import load_pretrained, prepare_vocabulary
    from fusion.fuse import Fusion

    seed_everything(config.run.seed)
    try:
        model, tokenizer = load_pretrained(config.model.name, dtype=torch.float32)
    except (ImportError, OSError, ValueError) as e:
        print(f"cca train: {e}", file=sys.stderr)
        return 2
    prepare_vocabulary(model, tokenizer)
    try:
        rows = model.get_input_embeddings().num_embeddings
        encoder, projector, fusion_options = image_setup(config, model, tokenizer)
        added_image_token = model.get_input_embeddings().num_embeddings == rows + 1
        fusion = Fusion(tokenizer, fusion_options)
        images = (encoder, {}, not args.no_progress) if encoder else None
        d = config.data
        train = load_examples(d.train, tokenizer, fusion, d, d.max_train, images)
        dev = load_examples(d.dev, tokenizer, fusion, d, d.max_dev, images)
    except (ImportError, OSError, ValueError) as e:
        print(f"cca train: {e}", file=sys.stderr)
        return 2
    model = wrap_lora(model, config.lora)
    trainer = Trainer(config, model, tokenizer, train, dev, projector, fusion_options.image_token)
    trainer.only_image_token_added = added_image_token
    Path(config.run.out).mkdir(parents=True, exist_ok=True)
    run = {
        "config": _plain(config),
        "data_hash": data_hash([config.data.train, config.data.dev]),
        "train_examples": len(train),
        "dev_examples": len(dev),
        "train_images": sum(len(e.images) for e in train),
    }
    (Path(config.run.out) / "run.json").write_text(json.dumps(run, indent=2))
    print(
        f"training on {len(train)} conversations ({sum(e.n_target for e in train)} agent tokens), dev {len(dev)}; {trainer.total_steps} steps",
        file=sys.stderr,
    )
    st = trainer.train(resume=not args.fresh, progress=not args.no_progress)
    print(
        json.dumps(
            {
                "stopped": st.stopped,
                "steps": st.step,
                "best_step": st.best_step,
                "best_dev_loss": st.best_dev,
                "out": config.run.out,
            }
        )
    )
    return 0
