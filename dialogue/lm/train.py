"""The Trainer behind `cca train` (dialogue.lm.train_cli): fine-tuning the dialogue model.

Loss on the agent's turns only (dialogue.lm.examples, dialogue.lm.loss); AdamW with weight decay
off biases and norms; linear warmup then linear decay; gradient accumulation and clipping; LoRA
through peft, or full fine-tuning; bf16 autocast on CUDA; the recipe is dialogue.lm.recipe. When
the examples carry screenshot image features (dialogue.lm.train_data reads a turn's `image` once
with the image encoder), the fusion projector (fusion.projector) trains jointly: its soft tokens
fill the image placeholders of the prompt, and it is saved beside the adapter
(OUT/best/projector.*). The dev loss is measured every `eval.every` optimizer steps: the best
adapter is kept in OUT/best, training stops after `eval.patience` evaluations without
improvement, and OUT/last holds everything needed to resume at the same step with the same state
(weights, optimizer, schedule, data order, random generators). Metrics go to OUT/metrics.jsonl
(and TensorBoard when installed), and the loss curves to OUT/loss.png at the end
(dialogue.lm.train_metrics).
"""

from __future__ import annotations

import json
import logging
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from dialogue.lm.examples import Example
from dialogue.lm.loss import agent_token_loss, collate
from dialogue.lm.recipe import LoraConfig, TrainConfig, config_dict
from dialogue.lm.train_metrics import plot_losses, tensorboard
from fusion.fuse import PROMPT_LAYOUT

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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
            board = tensorboard(self.out)
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
                    "config": config_dict(self.config),
                    "step": self.state.step,
                    "dev_loss": self.state.best_dev,
                    "prompt_layout": PROMPT_LAYOUT,
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
