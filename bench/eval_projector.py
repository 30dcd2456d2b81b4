"""Does the trained projector read the pictures? Loss per agent token on the test conversations
that carry a screenshot, for the fine-tuned model with its projector:

- the right pictures;
- the same pictures rotated among the conversations (each gets another one's screenshot);
- no pictures at all (the screenshot's text only, as a text-only model sees it);

and the base model on the text-only prompts. A projector that learned something makes the
right pictures better than rotated ones; one that learned nothing leaves them equal.

    python bench/eval_projector.py --adapter runs/gemma270m-images-cpu/best \\
        --test data/dialogue-img/test.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="packaged:gemma-3-270m")
    p.add_argument("--adapter", required=True, help="cca train's OUT/best, with projector.*")
    p.add_argument("--test", required=True, help="dialogue JSONL whose turns carry images")
    p.add_argument("--max-len", type=int, default=320)
    args = p.parse_args(argv)

    from dialogue.lm.examples import build_examples
    from dialogue.lm.model import DialogueLM
    from dialogue.lm.recipe import (
        DataConfig,
        ImagesConfig,
        OptimConfig,
        RunConfig,
        TrainConfig,
    )
    from dialogue.lm.train import Trainer
    from dialogue.lm.train_data import encode_images, image_paths, read_conversations
    from fusion.fuse import Fusion, FusionOptions
    from vision.encoder import ImageEncoder

    lm = DialogueLM.from_pretrained(args.model, adapter=args.adapter, device="cpu")
    if not lm.takes_images:
        print(f"{args.adapter} has no projector: train with images first", file=sys.stderr)
        return 2
    per_image = lm.projector.config.tokens_per_image
    convs = read_conversations(args.test, DataConfig())
    convs = [c for c in convs if any(t.image for t in c.turns)]
    encoder = ImageEncoder.from_pretrained(lm.image_encoder or "efficientnet_lite0", device="cpu")
    features = encode_images(image_paths(convs, args.test), encoder, {})
    fusion = Fusion(lm.tokenizer, FusionOptions(tokens_per_image=per_image))
    right = build_examples(convs, lm.tokenizer, fusion, args.max_len, features)
    right = [e for e in right if e.images]
    pictures = [e.images for e in right]
    rotated = [replace(e, images=pictures[(i + 1) % len(pictures)]) for i, e in enumerate(right)]
    text_fusion = Fusion(lm.tokenizer, FusionOptions(image_tokens=False))
    text_only = build_examples(convs, lm.tokenizer, text_fusion, args.max_len)

    config = TrainConfig(
        optim=OptimConfig(batch_size=4),
        images=ImagesConfig(tokens_per_image=per_image),
        run=RunConfig(out="/tmp/cca-eval-projector", device="cpu"),
    )
    trainer = Trainer(config, lm.model, lm.tokenizer, right, right, lm.projector)
    rows = {}
    for name, examples in (("right pictures", right), ("rotated pictures", rotated), ("no pictures", text_only)):  # fmt: skip
        trainer.dev_set = examples
        rows[name] = trainer.dev_loss()
    with lm.model.disable_adapter():
        trainer.dev_set = text_only
        rows["base model, no pictures"] = trainer.dev_loss()
    print(
        f"{len(right)} test conversations with a screenshot ({sum(len(p) for p in pictures)} pictures)"
    )
    print("| prompt | loss per agent token | perplexity |\n|---|---|---|")
    for name, loss in rows.items():
        print(f"| {name} | {loss:.4f} | {math.exp(loss):.2f} |")
    print(json.dumps({k: round(v, 4) for k, v in rows.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
