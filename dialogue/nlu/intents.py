"""Intent classification: a softmax head on frozen sentence embeddings, with out-of-scope.

The head is multinomial logistic regression over `dialogue.embed` vectors, trained with AdamW on
a class-balanced cross-entropy and stopped early on the dev split (`train_intent_head`). A turn is
out of scope when the head picks `out_of_scope` or when its best probability is under a
threshold tuned on dev, where the out-of-scope examples come from categories the head never saw
(`tune_threshold`). The trained head is a small .npz: weights, bias, labels, the encoder's name,
the threshold and the training config (`IntentHead.save` / `IntentHead.load`).

`evaluate` and `format_report` give accuracy, macro-F1, a per-intent F1 table and out-of-scope
recall and precision.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

logger = logging.getLogger(__name__)

OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True)
class IntentHeadConfig:
    lr: float = 0.005  # AdamW learning rate (0.02 stops by epoch 5: too coarse for early stopping)
    weight_decay: float = 1e-4  # AdamW decoupled weight decay
    batch_size: int = 256  # examples per step
    max_epochs: int = 200  # upper bound; early stopping usually ends sooner
    patience: int = 15  # epochs without a better dev loss before stopping
    class_balanced: bool = True  # weight each class by n / (k * count), so small intents count
    logit_scale: float = 8.0  # embeddings are unit vectors; scale them so logits can be large
    seed: int = 0

    def __post_init__(self):
        if self.lr <= 0 or self.batch_size < 1 or self.max_epochs < 1 or self.patience < 1:
            raise ValueError(
                f"IntentHeadConfig needs lr > 0, batch_size >= 1, max_epochs >= 1 and "
                f"patience >= 1; got {self}"
            )


@dataclass(frozen=True)
class IntentPrediction:
    """The intent of one text.

    intent: a label, or "out_of_scope" (picked by the head, or its best probability was under
        the threshold)
    confidence: the probability of `intent`; for an out-of-scope call by threshold it is
        1 - the best in-scope probability
    top: the three most probable labels with their probabilities, best first
    """

    intent: str
    confidence: float
    out_of_scope: bool
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, eq=False)
class IntentHead:
    """A trained softmax head.

    weight: (n_labels, dim) float32, already multiplied by the config's logit_scale
    bias: (n_labels,) float32
    """

    weight: np.ndarray
    bias: np.ndarray
    labels: tuple[str, ...]
    encoder: str  # the dialogue.embed encoder name the head was trained on
    threshold: float = 0.0  # best probability under this -> out of scope
    config: dict = field(default_factory=dict)  # how it was trained, for the record

    def __post_init__(self):
        k, _ = self.weight.shape
        if k != len(self.labels) or self.bias.shape != (k,):
            raise ValueError(
                f"head has {k} weight rows, bias {self.bias.shape} and {len(self.labels)} "
                "labels; they must agree (a corrupt or hand-edited .npz?)"
            )

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, dim) embeddings -> (n, n_labels) probabilities."""
        x = np.asarray(embeddings, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"embeddings of shape {x.shape} do not fit a head of dim {self.dim}; embed with "
                f"the encoder the head was trained on ({self.encoder!r})"
            )
        logits = x @ self.weight.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, embeddings: np.ndarray) -> list[IntentPrediction]:
        """One prediction per row of (n, dim) embeddings."""
        return [decide(p, self.labels, self.threshold) for p in self.probabilities(embeddings)]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            weight=self.weight.astype(np.float32),
            bias=self.bias.astype(np.float32),
            labels=np.array(self.labels),
            encoder=np.array(self.encoder),
            threshold=np.array(self.threshold, dtype=np.float32),
            config=np.array(json.dumps(self.config)),
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> IntentHead:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"no intent head at {path}; train one with `cca nlu train --out {path}`"
            )
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(
                    weight=z["weight"],
                    bias=z["bias"],
                    labels=tuple(str(s) for s in z["labels"]),
                    encoder=str(z["encoder"]),
                    threshold=float(z["threshold"]),
                    config=json.loads(str(z["config"])),
                )
        except (KeyError, ValueError, OSError) as e:
            raise ValueError(
                f"{path} is not an intent head .npz ({e}); retrain it with `cca nlu train`"
            ) from e


def decide(p: np.ndarray, labels: Sequence[str], threshold: float) -> IntentPrediction:
    """The prediction for one row of probabilities over `labels`."""
    order = np.argsort(-p)
    top = tuple((labels[i], float(p[i])) for i in order[:3])
    best, best_p = labels[order[0]], float(p[order[0]])
    if best == OUT_OF_SCOPE:
        return IntentPrediction(OUT_OF_SCOPE, best_p, True, top)
    if best_p < threshold:
        return IntentPrediction(OUT_OF_SCOPE, 1.0 - best_p, True, top)
    return IntentPrediction(best, best_p, False, top)


@runtime_checkable
class IntentClassifier(Protocol):
    """The intent seam: one prediction per text. `HeadClassifier` (a head on a sentence
    encoder) and `dialogue.nlu.pack_intents.PackIntents` (a domain pack's model) are the real
    ones."""

    labels: tuple[str, ...]

    def classify(
        self, texts: Sequence[str], languages: Sequence[str]
    ) -> list[IntentPrediction]: ...


class HeadClassifier:
    """An `IntentHead` with the encoder it was trained on, as an `IntentClassifier`."""

    def __init__(self, head: IntentHead, encoder):
        if getattr(encoder, "name", None) != head.encoder:
            raise ValueError(
                f"the intent head was trained on encoder {head.encoder!r} but got "
                f"{getattr(encoder, 'name', None)!r}; pass load_text_encoder({head.encoder!r}) "
                f"or retrain the head with `cca nlu train --encoder {getattr(encoder, 'name', '')}`"
            )
        self.head, self.encoder, self.labels = head, encoder, head.labels

    def classify(self, texts: Sequence[str], languages: Sequence[str]) -> list[IntentPrediction]:
        return self.head.predict(self.encoder.embed(list(texts), kind="query"))


def class_weights(y: np.ndarray, k: int) -> np.ndarray:
    """n / (k_present * count) per class; 0 for a class with no example."""
    counts = np.bincount(y, minlength=k).astype(np.float64)
    present = counts > 0
    w = np.zeros(k)
    w[present] = len(y) / (present.sum() * counts[present])
    return w.astype(np.float32)


def train_intent_head(
    x: np.ndarray,
    y: Sequence[str],
    x_dev: np.ndarray,
    y_dev: Sequence[str],
    encoder: str,
    config: IntentHeadConfig = IntentHeadConfig(),
    labels: Sequence[str] | None = None,
    sample_weight: np.ndarray | None = None,
    progress: bool = False,
) -> IntentHead:
    """Fit the head on (n, dim) embeddings `x` with labels `y`, stopping on the dev loss.

    sample_weight: (n,) extra per-example weights (e.g. more for hand-written examples)
    The threshold is left at 0; set it with `tune_threshold`.
    """
    import torch
    from tqdm.auto import tqdm

    labels = tuple(labels) if labels else tuple(sorted({*y, *y_dev}))
    index = {label: i for i, label in enumerate(labels)}
    unknown = sorted({t for t in (*y, *y_dev) if t not in index})
    if unknown:
        raise ValueError(f"labels {unknown} are not in the label set {list(labels)}")
    if len(x) != len(y) or len(x_dev) != len(y_dev) or not len(x) or not len(x_dev):
        raise ValueError(
            f"need matching, non-empty examples and labels: train {len(x)}/{len(y)}, "
            f"dev {len(x_dev)}/{len(y_dev)}"
        )
    torch.manual_seed(config.seed)
    k, dim = len(labels), x.shape[1]
    xt = torch.as_tensor(np.asarray(x, np.float32)) * config.logit_scale
    yt = torch.as_tensor([index[t] for t in y])
    xd = torch.as_tensor(np.asarray(x_dev, np.float32)) * config.logit_scale
    yd = torch.as_tensor([index[t] for t in y_dev])
    cw = class_weights(yt.numpy(), k) if config.class_balanced else np.ones(k, np.float32)
    sw = torch.as_tensor(cw)[yt]
    if sample_weight is not None:
        sw = sw * torch.as_tensor(np.asarray(sample_weight, np.float32))
    dev_w = torch.as_tensor(class_weights(yd.numpy(), k))[yd]
    model = torch.nn.Linear(dim, k)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    best = (float("inf"), 0, None)
    bar = tqdm(
        range(config.max_epochs), desc="train intent head", unit="epoch", disable=not progress
    )
    for epoch in bar:
        perm = torch.randperm(len(xt))
        for s in range(0, len(xt), config.batch_size):
            b = perm[s : s + config.batch_size]
            loss = torch.nn.functional.cross_entropy(model(xt[b]), yt[b], reduction="none")
            loss = (loss * sw[b]).sum() / sw[b].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            dev_loss = torch.nn.functional.cross_entropy(model(xd), yd, reduction="none")
            dev_loss = float((dev_loss * dev_w).sum() / dev_w.sum())
        if dev_loss < best[0] - 1e-5:
            best = (dev_loss, epoch, {n: t.detach().clone() for n, t in model.state_dict().items()})
        bar.set_postfix(dev_loss=f"{dev_loss:.4f}", best_epoch=best[1])
        if epoch - best[1] >= config.patience:
            break
    logger.info("intent head: best dev loss %.4f at epoch %d", best[0], best[1])
    state = best[2]
    return IntentHead(
        weight=(state["weight"].numpy() * config.logit_scale).astype(np.float32),
        bias=state["bias"].numpy().astype(np.float32),
        labels=labels,
        encoder=encoder,
        config={**asdict(config), "best_epoch": best[1], "dev_loss": round(best[0], 5)},
    )


def predict_labels(head: IntentHead, probs: np.ndarray, threshold: float) -> list[str]:
    """Labels from (n, n_labels) probabilities at a given threshold."""
    best = probs.argmax(axis=1)
    return [OUT_OF_SCOPE if probs[i, j] < threshold else head.labels[j] for i, j in enumerate(best)]


def tune_threshold(
    head: IntentHead, x_dev: np.ndarray, y_dev: Sequence[str], grid: Sequence[float] = ()
) -> tuple[float, float]:
    """(threshold, dev macro-F1): the threshold on the best probability that maximises macro-F1
    over all labels (out_of_scope included) on dev; the lowest of any ties."""
    probs = head.probabilities(x_dev)
    grid = grid or [round(t, 2) for t in np.arange(0.0, 0.96, 0.01)]
    scores = [(evaluate(y_dev, predict_labels(head, probs, t)).macro_f1, -t) for t in grid]
    f1, neg_t = max(scores)
    return -neg_t, f1


@dataclass(frozen=True)
class EvalReport:
    """Scores of predictions against gold labels.

    per_label: label -> (precision, recall, f1, support)
    """

    n: int
    accuracy: float
    macro_f1: float  # over labels with gold examples, out_of_scope included
    oos_recall: float  # share of out-of-scope texts called out of scope (nan when none)
    oos_precision: float  # share of out-of-scope calls that were right (nan when none)
    per_label: dict[str, tuple[float, float, float, int]]


def evaluate(gold: Sequence[str], pred: Sequence[str]) -> EvalReport:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    per_label = {}
    for label in sorted(set(gold) | set(pred)):
        tp = sum(g == p == label for g, p in zip(gold, pred, strict=True))
        n_pred, n_gold = sum(p == label for p in pred), sum(g == label for g in gold)
        precision = tp / n_pred if n_pred else float("nan")
        recall = tp / n_gold if n_gold else float("nan")
        f1 = 2 * tp / (n_pred + n_gold) if n_pred + n_gold else float("nan")
        per_label[label] = (precision, recall, f1, n_gold)
    scored = [v[2] for v in per_label.values() if v[3]]
    oos = per_label.get(OUT_OF_SCOPE, (float("nan"),) * 3 + (0,))
    return EvalReport(
        n=len(gold),
        accuracy=float(np.mean([g == p for g, p in zip(gold, pred, strict=True)])) if gold else 0.0,
        macro_f1=float(np.mean(scored)) if scored else 0.0,
        oos_recall=oos[1],
        oos_precision=oos[0],
        per_label=per_label,
    )


def format_report(title: str, report: EvalReport) -> str:
    lines = [
        f"== {title}: {report.n} examples",
        f"accuracy {report.accuracy:.3f}   macro-F1 {report.macro_f1:.3f}   "
        f"out-of-scope recall {report.oos_recall:.3f}   precision {report.oos_precision:.3f}",
        f"  {'intent':<20} {'prec':>6} {'recall':>6} {'F1':>6} {'n':>5}",
    ]
    for label, (p, r, f1, n) in report.per_label.items():
        lines.append(f"  {label:<20} {p:>6.3f} {r:>6.3f} {f1:>6.3f} {n:>5}")
    return "\n".join(lines)
