"""`cca nlu train` and `cca nlu eval` for the sample shop's packaged intent head: trained on
Bitext (mapped onto the shop's labels), Banking77 as out of scope and the hand-written turns
(`domains.retail.intent_data`). Declared in domain.toml as [code] nlu_train and nlu_eval."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dialogue.nlu.intents import IntentHead, IntentHeadConfig, format_report
from dialogue.nlu.understand import SHIPPED_HEAD


def train_main(argv: list[str]) -> int:
    from dialogue.embed import available_text_encoders, load_text_encoder
    from domains.retail import intent_data

    p = argparse.ArgumentParser(prog="cca nlu train", description="train the intent head")
    p.add_argument("--encoder", default="usem3", help=f"one of {available_text_encoders()}")
    p.add_argument("--out", type=Path, required=True, help="where to write the head (.npz)")
    p.add_argument("--data", type=Path, default=None, help="folder with bitext/ and banking77/")
    p.add_argument("--lr", type=float, default=IntentHeadConfig.lr)
    p.add_argument("--weight-decay", type=float, default=IntentHeadConfig.weight_decay)
    p.add_argument("--handwritten-weight", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    config = IntentHeadConfig(lr=args.lr, weight_decay=args.weight_decay, seed=args.seed)
    try:
        splits = intent_data.build_dataset(args.data)
        encoder = load_text_encoder(args.encoder)
    except (FileNotFoundError, ValueError, ImportError) as e:
        print(f"cca nlu train: {e}", file=sys.stderr)
        return 2
    print(", ".join(f"{k} {len(v)}" for k, v in splits.items()), "examples")
    t0 = time.perf_counter()
    head = intent_data.fit(splits, encoder, config, args.handwritten_weight)
    head.save(args.out)
    print(
        f"trained in {time.perf_counter() - t0:.0f} s: threshold {head.threshold:.2f}, "
        f"best epoch {head.config['best_epoch']}, dev macro-F1 {head.config['dev_macro_f1']:.3f}"
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return _report(head, encoder, splits["test"])


def _report(head: IntentHead, encoder, test) -> int:
    from domains.retail.intent_data import evaluate_head

    for name, report in evaluate_head(head, encoder, test).items():
        print(format_report(name, report))
    return 0


def eval_main(argv: list[str]) -> int:
    from dialogue.embed import load_text_encoder
    from domains.retail import intent_data

    p = argparse.ArgumentParser(prog="cca nlu eval", description="test report of an intent head")
    p.add_argument("--head", type=Path, default=SHIPPED_HEAD, help="a trained head (.npz)")
    p.add_argument("--data", type=Path, default=None, help="folder with bitext/ and banking77/")
    args = p.parse_args(argv)
    try:
        head = IntentHead.load(args.head)
        splits = intent_data.build_dataset(args.data)
        encoder = load_text_encoder(head.encoder)
    except (FileNotFoundError, ValueError, ImportError) as e:
        print(f"cca nlu eval: {e}", file=sys.stderr)
        return 2
    return _report(head, encoder, splits["test"])
