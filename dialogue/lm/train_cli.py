"""Fine-tuning the dialogue model: `cca train CONFIG.toml`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

import torch

from dialogue.lm.recipe import config_dict, load_config
from dialogue.lm.train import Trainer, seed_everything, wrap_lora
from dialogue.lm.train_data import image_setup, load_examples


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
    try:
        result = run_training(config, fresh=args.fresh, progress=not args.no_progress)
    except (ImportError, OSError, ValueError) as e:
        print(f"cca train: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


def run_training(config, fresh: bool = False, progress: bool = True) -> dict:
    """Train (or resume) the recipe's run; its summary: stopped, steps, best step and dev loss,
    out. Raises ImportError/OSError/ValueError with the reason when the model or data cannot load."""
    from dialogue.lm.examples import data_hash
    from dialogue.lm.load import load_pretrained, prepare_vocabulary
    from fusion.fuse import Fusion

    seed_everything(config.run.seed)
    model, tokenizer = load_pretrained(config.model.name, dtype=torch.float32)
    prepare_vocabulary(model, tokenizer)
    rows = model.get_input_embeddings().num_embeddings
    encoder, projector, fusion_options = image_setup(config, model, tokenizer)
    added_image_token = model.get_input_embeddings().num_embeddings == rows + 1
    fusion = Fusion(tokenizer, fusion_options)
    images = (encoder, {}, progress) if encoder else None
    d = config.data
    train = load_examples(d.train, tokenizer, fusion, d, d.max_train, images)
    dev_config = replace(d, sources=d.dev_sources) if d.dev_sources else d
    dev = load_examples(d.dev, tokenizer, fusion, dev_config, d.max_dev, images)
    model = wrap_lora(model, config.lora)
    trainer = Trainer(config, model, tokenizer, train, dev, projector, fusion_options.image_token)
    trainer.only_image_token_added = added_image_token
    Path(config.run.out).mkdir(parents=True, exist_ok=True)
    run = {
        "config": config_dict(config),
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
    st = trainer.train(resume=not fresh, progress=progress)
    return {
        "stopped": st.stopped,
        "steps": st.step,
        "best_step": st.best_step,
        "best_dev_loss": st.best_dev,
        "out": config.run.out,
    }
