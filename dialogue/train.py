"""Fine-tuning the dialogue model: `cca train CONFIG.toml`.

Loss on the agent's turns only (dialogue.examples); AdamW with weight decay off biases and norms;
linear warmup then linear decay; gradient accumulation and clipping; LoRA through peft, or full
fine-tuning; bf16 autocast on CUDA. The dev loss is measured every `eval.every` optimizer steps:
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
    run: RunConfig = field(default_factory=RunConfig)


def load_config(path: str | Path) -> TrainConfig:
    """A TOML recipe: sections [model] [data] [lora] [optim] [eval] [run]; unknown keys are errors."""
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


def collate(batch: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    n = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), n), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, e in enumerate(batch):
        k = len(e.input_ids)
        ids[i, :k] = torch.tensor(e.input_ids)
        labels[i, :k] = torch.tensor(e.labels)
        mask[i, :k] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def agent_token_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The mean cross-entropy over target tokens, computing the output layer only where there is
    a target. Gemma's vocabulary has 262,144 entries: full logits for every position of a batch
    cost more than the rest of the network on a CPU, and most positions are the customer's."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head, body = getattr(base, "lm_head", None), getattr(base, "model", None)
    if head is None or body is None:  # not the usual decoder + head layout: the plain way
        return model(**batch).loss
    hidden = body(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state
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
        self, config: TrainConfig, model, tokenizer, train: list[Example], dev: list[Example]
    ):
        if not train:
            raise ValueError(
                "no training examples: check [data] train and that its conversations have agent turns"
            )
        self.config, self.model, self.tokenizer = config, model, tokenizer
        self.train_set, self.dev_set = train, dev
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
        self.optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": o.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=o.lr,
        )
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
    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.autocast(
            self.device.type,
            dtype=self.autocast or torch.float32,
            enabled=self.autocast is not None,
        ):
            return agent_token_loss(self.model, batch)

    @torch.no_grad()
    def dev_loss(self) -> float:
        """Mean loss per target token over the dev examples."""
        if not self.dev_set:
            return math.nan
        self.model.eval()
        total, tokens = 0.0, 0
        for i in range(0, len(self.dev_set), self.config.optim.batch_size):
            chunk = self.dev_set[i : i + self.config.optim.batch_size]
            n = sum(e.n_target for e in chunk)
            total += self._loss(collate(chunk, self.pad_id)).item() * n
            tokens += n
        self.model.train()
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
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), o.max_grad_norm)
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
        self.model.save_pretrained(folder)  # a peft model saves only its adapter
        self.tokenizer.save_pretrained(folder)
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
        trainable = {
            n: p.detach().cpu().clone() for n, p in self.model.named_parameters() if p.requires_grad
        }
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
        params = dict(self.model.named_parameters())
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


def load_examples(
    path: str, tokenizer, fusion, config: DataConfig, limit: int = 0
) -> list[Example]:
    from dialogue.convdata import read_jsonl
    from dialogue.examples import build_examples

    convs = read_jsonl(path)
    if config.sources:
        convs = [c for c in convs if c.source in config.sources]
    if limit:
        convs = convs[:limit]
    return build_examples(convs, tokenizer, fusion, config.max_len)


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
    fusion = Fusion(tokenizer)
    try:
        train = load_examples(
            config.data.train, tokenizer, fusion, config.data, config.data.max_train
        )
        dev = load_examples(config.data.dev, tokenizer, fusion, config.data, config.data.max_dev)
    except (OSError, ValueError) as e:
        print(f"cca train: {e}", file=sys.stderr)
        return 2
    model = wrap_lora(model, config.lora)
    trainer = Trainer(config, model, tokenizer, train, dev)
    Path(config.run.out).mkdir(parents=True, exist_ok=True)
    run = {
        "config": _plain(config),
        "data_hash": data_hash([config.data.train, config.data.dev]),
        "train_examples": len(train),
        "dev_examples": len(dev),
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
