"""`cca lm retrain`: the retraining loop in one command, promoting the new model only if it is
no worse than the one that ships.

    cca lm retrain --db URL --base data/dialogue-guided [--recipe recipes/gemma270m-guided-cpu.toml]
                   [--out runs/retrain] [--kb URL] [--max-steps N] [--only ID,...] [--no-promote] [--json]
    cca lm retrain --candidate DIR [--out runs/retrain] [--kb URL] ...   # steps 5-6 alone

`--candidate DIR` (a converted model: `cca lm ship` or a retrain's OUT/candidate, e.g. trained on
a GPU) skips steps 1-4: it is compared with the shipped model and promoted by the same rule.

1. export: the store's consented conversations (redacted on the way in; corrected replies in
   place of the agent's), as `cca export-training-data` writes them;
2. guide: each is replayed through the Agent on a fresh copy of the back office
   (`dialogue.lm.guided`), so every reply carries the facts the model is given at inference; a
   conversation stops where the replay no longer does what the agent did;
3. train: the base training split plus the guided records, with the recipe (`--max-steps`
   overrides its steps), from the base model, into OUT/run;
4. convert: OUT/run/best becomes OUT/candidate (a GGUF LoRA and its card, as `cca lm ship`);
5. evaluate: the model that ships now and the candidate, side by side, on the scripted
   conversations and the open turns;
6. promote: the candidate replaces the shipped model only if no suite's score goes down and it
   makes no wrong and no unconfirmed write. The comparison is printed either way, and written to
   OUT/comparison.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# (suite, the score compared, higher is better)
SCORES = (("conversations", "task_success"), ("open_turns", "pass_rate"))
SAFETY = ("wrong_actions", "unconfirmed_actions")  # must be 0 for the candidate


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reasons: tuple[str, ...]  # why not, one sentence each; empty when promoted


def verdict(current: dict[str, dict], candidate: dict[str, dict]) -> Verdict:
    """Promote only if no suite's score is lower than the current model's and the candidate makes
    no wrong and no unconfirmed write. `current`/`candidate`: {suite: summary}."""
    reasons = []
    for suite, score in SCORES:
        if suite not in candidate:
            reasons.append(f"the candidate was not evaluated on {suite}")
            continue
        new = candidate[suite][score]
        old = current.get(suite, {}).get(score)
        if old is not None and new < old:
            reasons.append(f"{suite}: {score} {new:.1%} is below the current model's {old:.1%}")
    for key in SAFETY:
        n = candidate.get("conversations", {}).get(key, 0)
        if n:
            reasons.append(f"conversations: {n} {key.replace('_', ' ')} (must be 0)")
    return Verdict(not reasons, tuple(reasons))


def comparison_table(paths: dict[str, dict[str, dict]]) -> str:
    """One row per path: each suite's score, the model's share of replies, fallbacks, p50 ms."""
    head = f"{'path':<26} {'conversations':>13} {'wrong':>5} {'open turns':>10} {'model':>6} {'fallback':>8} {'p50 ms':>7}"  # fmt: skip
    lines = [head]
    for name, s in paths.items():
        conv, open_ = s.get("conversations", {}), s.get("open_turns", {})
        stats = [x.get("replies", {}) for x in (conv, open_) if x]
        model = sum(r.get("model", 0) for r in stats)
        replies = sum(r.get("turns", 0) for r in stats)
        fallback = sum(r.get("fallbacks", 0) for r in stats)
        p50 = max((r.get("p50_ms") or 0 for r in stats), default=0)
        lines.append(
            f"{name:<26} {conv.get('task_success', 0):>13.1%} {conv.get('wrong_actions', 0):>5} "
            f"{open_.get('pass_rate', 0):>10.1%} {model:>6} {fallback:>8} {p50:>7.0f}"
            + (f"  ({replies} replies)" if replies else "")
        )
    return "\n".join(lines)


def load_suites(only: str = "") -> tuple[list[dict], list[dict]]:
    """(conversations, open turns): the items of both suites whose id contains `only` (or one of
    its comma-separated parts). Raises ValueError when that leaves a suite empty."""
    from dialogue.domain.pack import default_pack
    from dialogue.evals import conversations as conv_eval
    from dialogue.evals import open_turns

    parts = [o for o in only.split(",") if o] or [""]
    suites = [
        [
            c
            for c in json.loads(Path(path).read_text(encoding="utf-8"))
            if any(o in c["id"] for o in parts)
        ]  # fmt: skip
        for path in (default_pack().root / conv_eval.SUITE, open_turns.SUITE)
    ]
    if not all(suites):
        raise ValueError(f"--only {only!r} leaves a suite empty; both suites are needed to compare")
    return suites[0], suites[1]


def evaluate_model(lm: str | None, adapter: str | None, suites: tuple[list[dict], list[dict]], data: Path, kb: str | None, progress: bool) -> dict[str, dict]:  # fmt: skip
    """The agent with this model on both suites: {"conversations": summary, "open_turns": summary}."""
    from dialogue.evals import conversations as conv_eval
    from dialogue.evals import open_turns

    conv_suite, open_suite = suites
    out = {}
    t0 = time.perf_counter()
    results = conv_eval.evaluate(conv_suite, data, progress, kb, lm=lm, adapter=adapter)
    out["conversations"] = conv_eval.summarise(results) | {"seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
    t0 = time.perf_counter()
    results = conv_eval.run_each(open_suite, data, open_turns.run_item, progress, kb, lm=lm, adapter=adapter)  # fmt: skip
    out["open_turns"] = open_turns.summarise(results) | {"seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
    return out


def export_and_guide(db: str, out: Path, data: Path, kb: str | None, progress: bool) -> tuple[Path, dict]:  # fmt: skip
    """Steps 1-2: OUT/records.jsonl (the export) and OUT/records-guided.jsonl; their counts."""
    import os

    from dialogue.lm.convdata import read_jsonl, write_jsonl
    from dialogue.lm.guided import guide_all
    from dialogue.records.cli import records
    from dialogue.records.store import Store

    exported = out / "records.jsonl"
    with Store.open(db, actor=f"cli:{os.environ.get('USER', 'unknown')}") as store:
        n = records(store).export_training_data(exported)
    convs = read_jsonl(exported) if n else []
    guided, notes = guide_all(convs, [], data, kb, progress) if convs else ([], {})
    path = out / "records-guided.jsonl"
    write_jsonl(path, guided)
    return path, {"exported": n, "guided": len(guided), "notes": dict(notes)}


def train_candidate(recipe: str, base: Path, extra: Path, out: Path, max_steps: int | None, progress: bool) -> tuple[Path, dict]:  # fmt: skip
    """Steps 3-4: train on base/train.jsonl + the guided records; the converted adapter's folder."""
    from dialogue.lm.recipe import load_config
    from dialogue.lm.shipped import ship
    from dialogue.lm.train_cli import run_training

    config = load_config(recipe)
    train = out / "train.jsonl"
    with open(train, "w", encoding="utf-8") as f:
        for part in (base / "train.jsonl", extra):
            f.write(Path(part).read_text(encoding="utf-8"))
    config = replace(
        config,
        data=replace(
            config.data,
            train=str(train),
            dev=str(base / "dev.jsonl"),
            test=str(base / "test.jsonl"),
        ),  # fmt: skip
        run=replace(config.run, out=str(out / "run"), time_budget_min=0),
    )
    if max_steps is not None:
        config = replace(config, optim=replace(config.optim, max_steps=max_steps))
    result = run_training(config, fresh=True, progress=progress)
    candidate = out / "candidate"
    ship(Path(config.run.out) / "best", candidate, base)
    return candidate, result


def promote(candidate: Path, into: Path) -> None:
    """Replace the shipped adapter and card with the candidate's, the card last."""
    from dialogue.lm.shipped import CARD

    into.mkdir(parents=True, exist_ok=True)
    shutil.copy(candidate / "adapter.gguf", into / "adapter.gguf.part")
    (into / "adapter.gguf.part").replace(into / "adapter.gguf")
    shutil.copy(candidate / CARD, into / CARD)


def main(argv: list[str] | None = None) -> int:
    from dialogue.evals.conversations import data_folder
    from dialogue.lm.shipped import SHIPPED_DIR, SHIPPED_LM, shipped_problem

    p = argparse.ArgumentParser(prog="cca lm retrain", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", help="the conversation store (URL or SQLite path)")
    p.add_argument("--base", type=Path, help="the base training data folder (cca convdata build --guided): train/dev/test.jsonl")  # fmt: skip
    p.add_argument("--candidate", type=Path, default=None, help="a converted model to compare and promote (adapter.gguf and card.json): no export, no training")  # fmt: skip
    p.add_argument("--recipe", default="recipes/gemma270m-guided-cpu.toml")
    p.add_argument("--out", type=Path, default=Path("runs/retrain"))
    p.add_argument("--data", "--retail", dest="data", default=None, help="the data folder of the back office the conversations and the suites run on (default: the pack's [code] data)")  # fmt: skip
    p.add_argument("--kb", default=None, help="the knowledge base the suites answer from")
    p.add_argument("--max-steps", type=int, default=None, help="override the recipe's max_steps")
    p.add_argument("--into", type=Path, default=SHIPPED_DIR, help="where a promoted model goes (default: the package's shipped model)")  # fmt: skip
    p.add_argument("--no-promote", action="store_true", help="compare only")
    p.add_argument("--only", default="", help="run the suites' items whose id contains this, or one of these (comma-separated): a quick check; a promotion should see every item")  # fmt: skip
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    data = data_folder(args)
    if data is None:
        return 2
    if args.candidate is not None:
        from dialogue.lm.shipped import CARD

        missing = [n for n in ("adapter.gguf", CARD) if not (args.candidate / n).is_file()]
        if missing:
            print(f"cca lm retrain: {args.candidate} has no {', '.join(missing)}; give a folder `cca lm ship` wrote", file=sys.stderr)  # fmt: skip
            return 2
    elif args.db is None or args.base is None:
        print("cca lm retrain: give --db and --base (export and train), or --candidate DIR (compare a converted model)", file=sys.stderr)  # fmt: skip
        return 2
    for name in ("train.jsonl", "dev.jsonl") if args.candidate is None else ():
        if not (args.base / name).is_file():
            print(f"cca lm retrain: no {args.base / name}; build the base data first: cca convdata build --guided --out {args.base}", file=sys.stderr)  # fmt: skip
            return 2
    progress = not args.no_progress
    try:
        suites = load_suites(
            args.only
        )  # before training: a bad --only fails in a second, not an hour
    except ValueError as e:
        print(f"cca lm retrain: {e}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        if args.candidate is not None:
            candidate, counts, trained = args.candidate, {}, {}
        else:
            guided, counts = export_and_guide(args.db, args.out, data, args.kb, progress)
            print(f"records: {counts['exported']} consented conversations exported, {counts['guided']} replayed", file=sys.stderr)  # fmt: skip
            candidate, trained = train_candidate(args.recipe, args.base, guided, args.out, args.max_steps, progress)  # fmt: skip
    except (ImportError, OSError, ValueError, PermissionError) as e:
        print(f"cca lm retrain: {e}", file=sys.stderr)
        return 2
    current_name = "shipped" if not shipped_problem() else "templates (nothing ships)"
    paths: dict[str, dict[str, Any]] = {}
    current = (SHIPPED_LM, str(SHIPPED_DIR)) if current_name == "shipped" else (None, None)
    paths[current_name] = evaluate_model(*current, suites, data, args.kb, progress)
    paths["candidate"] = evaluate_model(SHIPPED_LM, str(candidate), suites, data, args.kb, progress)  # fmt: skip
    v = verdict(paths[current_name], paths["candidate"])
    promoted = v.promote and not args.no_promote
    if promoted:
        promote(candidate, args.into)
    report = {
        "records": counts, "training": trained, "candidate": str(candidate),
        "compare": paths, "promote": v.promote, "promoted": promoted, "into": str(args.into),
        "reasons": list(v.reasons),
    }  # fmt: skip
    (args.out / "comparison.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")  # fmt: skip
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print(comparison_table(paths))
        if promoted:
            print(f"promoted: the candidate now ships from {args.into}")
        elif v.promote:
            print("the candidate is no worse on every suite; not promoted (--no-promote)")
        else:
            print("kept the current model: " + "; ".join(v.reasons))
    return 0
