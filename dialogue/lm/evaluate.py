"""`cca eval dialogue`: the dialogue model on held-out conversations, base against fine-tuned.

- perplexity of the agent's turns (the training loss, exponentiated), per model;
- reply quality: each agent turn generated from the conversation before it (greedy) and scored
  against the reference reply with chrF and BLEU (sacrebleu; Chinese BLEU on characters),
  separately for English and Chinese;
- intent accuracy of the NLU on customer turns that carry an intent label;
- a few turns printed side by side: the customer, the reference, the base model, the fine-tuned.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from dialogue.lm.examples import IGNORE, build_examples, messages_of
from dialogue.lm.loss import agent_token_loss, collate


@dataclass(frozen=True)
class Scored:
    perplexity: float
    chrf: dict[str, float]
    bleu: dict[str, float]
    n_turns: dict[str, int]


@torch.no_grad()
def perplexity(model, tokenizer, examples, batch_size: int = 4) -> float:
    model.eval()
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    total, tokens = 0.0, 0
    for i in range(0, len(examples), batch_size):
        chunk = examples[i : i + batch_size]
        batch = collate(chunk, pad)
        if batch.pop("images"):
            raise ValueError(
                "perplexity here is on text-only examples; build them without image features"
            )
        batch = {k: v.to(device) for k, v in batch.items()}
        n = int((batch["labels"][:, 1:] != IGNORE).sum())
        total += agent_token_loss(model, batch).item() * n
        tokens += n
    return math.exp(total / max(tokens, 1))


def turns_to_generate(conversations, fusion, max_turns: int):
    """(conversation id, language, prompt messages, customer text, reference reply) per agent turn."""
    out = []
    for conv in _interleaved(conversations):
        messages = messages_of(conv, fusion)
        for i, m in enumerate(messages):
            if m.role == "assistant" and i >= 2:
                out.append(
                    (conv.id, conv.language, messages[:i], messages[i - 1].content, m.content)
                )
        if len(out) >= max_turns:
            break
    return out[:max_turns]


def _interleaved(conversations):
    """English, Chinese, English, ... (and each source in turn), so a small sample has both."""
    groups: dict[tuple[str, str], list] = {}
    for c in conversations:
        groups.setdefault((c.language, getattr(c, "source", "")), []).append(c)
    queues = [list(g) for _, g in sorted(groups.items())]
    while any(queues):
        for q in queues:
            if q:
                yield q.pop(0)


def generate_replies(lm, items, max_new_tokens: int, progress: bool = True) -> list[str]:
    from tqdm import tqdm

    from dialogue.lm.decoding import GenerationOptions

    options = GenerationOptions(max_new_tokens=max_new_tokens)
    replies = []
    for _, _, messages, _, _ in tqdm(items, unit="turn", disable=not progress, file=sys.stderr):
        prompt = lm.tokenizer.apply_chat_template(
            [m.to_dict() for m in messages], tokenize=False, add_generation_prompt=True
        )
        replies.append(lm.generate(prompt, options).strip())
    return replies


def score(items, replies) -> tuple[dict[str, float], dict[str, float], dict[str, int]]:
    import sacrebleu

    chrf, bleu, n = {}, {}, {}
    for lang in sorted({it[1] for it in items}):
        idx = [k for k, it in enumerate(items) if it[1] == lang]
        hyp = [replies[k] for k in idx]
        ref = [[items[k][4] for k in idx]]
        chrf[lang] = sacrebleu.corpus_chrf(hyp, ref).score
        bleu[lang] = sacrebleu.corpus_bleu(hyp, ref, tokenize="zh" if lang == "zh" else "13a").score
        n[lang] = len(idx)
    return chrf, bleu, n


def intent_accuracy(conversations) -> dict[str, float] | None:
    labelled = [
        (t.text, t.intent, c.language)
        for c in conversations
        for t in c.turns
        if t.role == "customer" and getattr(t, "intent", None) and t.text
    ]
    if not labelled:
        return None
    from dialogue.nlu.understand import NLU

    nlu = NLU.load()
    hits: dict[str, list[int]] = {}
    for text, intent, lang in labelled:
        hits.setdefault(lang, []).append(int(nlu.analyse(text).intent == intent))
    return {lang: sum(v) / len(v) for lang, v in hits.items()} | {"n": len(labelled)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cca eval dialogue", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="packaged:gemma-3-270m", help="the base model")
    p.add_argument(
        "--adapter", default=None, help="the fine-tuned adapter folder (cca train's OUT/best)"
    )
    p.add_argument("--test", default="data/dialogue/test.jsonl")
    p.add_argument("--max-conversations", type=int, default=200, help="for perplexity")
    p.add_argument("--max-turns", type=int, default=60, help="agent turns generated per model")
    p.add_argument("--max-len", type=int, default=512)
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--show", type=int, default=4, help="turns printed side by side")
    p.add_argument("--sources", default="", help="only these sources, comma-separated")
    p.add_argument("--out", default=None, help="write the report as JSON here")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    from dialogue.lm.convdata import read_jsonl
    from dialogue.lm.model import DialogueLM
    from fusion.fuse import Fusion

    try:
        convs = read_jsonl(args.test)
    except (OSError, ValueError) as e:
        print(f"cca eval dialogue: {e}", file=sys.stderr)
        return 2
    if args.sources:
        convs = [c for c in convs if c.source in args.sources.split(",")]
    convs = list(_interleaved(convs))[: args.max_conversations]  # both languages, every source
    report: dict = {"test": args.test, "conversations": len(convs), "models": {}}
    systems = [("base", None)] + ([("fine-tuned", args.adapter)] if args.adapter else [])
    replies_by: dict[str, list[str]] = {}
    items = None
    for name, adapter in systems:
        lm = DialogueLM.from_pretrained(args.model, adapter=adapter)
        fusion = Fusion(lm.tokenizer)
        examples = build_examples(convs, lm.tokenizer, fusion, args.max_len)
        ppl = perplexity(lm.model, lm.tokenizer, examples)
        items = turns_to_generate(convs, fusion, args.max_turns)
        replies = generate_replies(lm, items, args.max_new_tokens, progress=not args.no_progress)
        chrf, bleu, n = score(items, replies)
        replies_by[name] = replies
        report["models"][name] = {"perplexity": ppl, "chrF": chrf, "BLEU": bleu, "turns": n}
        del lm
    report["intent_accuracy"] = intent_accuracy(convs)
    print(
        f"{'model':<12} {'perplexity':>11} "
        + " ".join(
            f"{'chrF ' + k:>9} {'BLEU ' + k:>9}" for k in sorted(report["models"]["base"]["chrF"])
        )
    )
    for name, r in report["models"].items():
        print(
            f"{name:<12} {r['perplexity']:>11.2f} "
            + " ".join(f"{r['chrF'][k]:>9.1f} {r['BLEU'][k]:>9.1f}" for k in sorted(r["chrF"]))
        )
    if report["intent_accuracy"]:
        print(
            "NLU intent accuracy on labelled customer turns:", json.dumps(report["intent_accuracy"])
        )
    for k in range(min(args.show, len(items or []))):
        _, lang, _, customer, reference = items[k]
        print(f"\n--- {lang} ---\ncustomer:   {customer[:300]}\nreference:  {reference}")
        for name in replies_by:
            print(f"{name + ':':<12}{replies_by[name][k]}")
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                report
                | {
                    "samples": [
                        {
                            "customer": it[3],
                            "reference": it[4],
                            **{n: replies_by[n][k] for n in replies_by},
                        }
                        for k, it in enumerate(items or [])
                    ]
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    return 0
