"""The dialogue model inside the Agent, turn by turn: how much of each prompt llama.cpp's cache
already held, the time to the model's first token, and the whole turn, beside the template path.

    .venv/bin/python bench/bench_model_turns.py [--lm shipped] [--kb sqlite:///knowledge.db]
        [--conversations 12] [--retail ../shared/data/retail] [--before] [--tool-results]
        [--read-ahead] [--pause-s 1.0]

The scripted conversations of `cca eval conversations` (the first N, English and Chinese), each
on a fresh copy of the back office, through the real Agent: once with the templates alone (the
baseline a user has with `--no-lm`), once with the model. For every turn the model drafted:
prompt tokens, the tokens the model's cache already held (fusion's layout keeps the system message and the
history a stable prefix, which the model reads between turns: `Generator.prefill`; only the new
turn and its facts are read after the customer's words arrive), the first token's time and the
generation time. Each turn comes after a pause (`--pause-s`, 1 s: a customer takes longer to
say or type a turn) and is timed from the moment it arrives. Prints a table of percentiles and writes bench/out/model_turns.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dialogue.agent import Agent  # noqa: E402
from dialogue.domain.pack import default_pack  # noqa: E402
from dialogue.evals.conversations import SUITE, _turn, run_each  # noqa: E402
from dialogue.evals.stats import percentile  # noqa: E402
from dialogue.lm.shipped import choose  # noqa: E402
from dialogue.paths import shared_data  # noqa: E402

PAUSE_S = 1.0  # the customer's pause before each turn (main sets it from --pause-s)
# the tools' results quoted in the prompt (the path main runs with --tool-results)
TOOL_RESULTS = False
# the customer's words read while the policy decides (the path main runs with --read-ahead)
READ_AHEAD = False


def run(spec: dict, services) -> list[dict]:
    services = dataclasses.replace(
        services, tool_results_in_prompt=TOOL_RESULTS, read_turn_ahead=READ_AHEAD
    )
    agent = Agent(services, session_id=spec["id"])
    gen = services.generator
    rows = []
    for i, t in enumerate(spec["turns"]):
        time.sleep(PAUSE_S)  # the customer reads the reply and types or says the next turn
        t0 = time.perf_counter()
        turn = agent.respond(_turn(t))
        row = {"conversation": spec["id"], "turn": i, "ms": (time.perf_counter() - t0) * 1000, "source": turn.reply_source}  # fmt: skip
        last = getattr(gen, "last", None)
        if last is not None and "generate" in turn.timings_ms:
            row |= {
                "prompt_tokens": last.prompt_tokens, "reused_tokens": last.reused_tokens,
                "new_tokens": last.new_tokens, "first_token_ms": (last.first_token_s or last.total_s) * 1000,
                "generate_ms": turn.timings_ms["generate"],
            }  # fmt: skip
            gen.last = type(last)()  # the next turn that skips the model leaves no stale numbers
        rows.append(row)
    return rows


@contextmanager
def engine_as(faster: bool):
    """`faster=False`: the engine as it was before the adapter was merged into the base model and
    the history read between turns (the adapter applied at run time, no prefill)."""
    from dialogue.lm.llama_cpp import LlamaCppGenerator

    merge, prefill = os.environ.get("CCA_LORA_MERGE"), LlamaCppGenerator.prefill
    if not faster:
        os.environ["CCA_LORA_MERGE"] = "0"
        LlamaCppGenerator.prefill = lambda self, prefix: None
    try:
        yield
    finally:
        LlamaCppGenerator.prefill = prefill
        if merge is None:
            os.environ.pop("CCA_LORA_MERGE", None)
        else:
            os.environ["CCA_LORA_MERGE"] = merge


def pct(values, qs=(50, 95)) -> str:
    return " / ".join(f"{percentile(values, q):.0f}" for q in qs) if values else "-"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lm", default="shipped")
    p.add_argument("--adapter", default=None)
    p.add_argument("--kb", default=None)
    p.add_argument("--conversations", type=int, default=12)
    p.add_argument("--retail", default=str(shared_data() / "retail"))
    p.add_argument("--before", action="store_true", help="also run the engine as it was before: "
                   "the adapter applied at run time, nothing read between turns")  # fmt: skip
    p.add_argument("--tool-results", action="store_true", help="also run the model with the "
                   "tools' results quoted in its prompt, as it was before")  # fmt: skip
    p.add_argument("--read-ahead", action="store_true", help="also run the model reading the "
                   "customer's words while the policy decides (AgentServices.read_turn_ahead)")  # fmt: skip
    p.add_argument("--pause-s", type=float, default=1.0, help="the customer's pause before each "
                   "turn, in which the model may read the history (a person takes longer)")  # fmt: skip
    args = p.parse_args()
    global PAUSE_S, TOOL_RESULTS, READ_AHEAD
    PAUSE_S = args.pause_s
    suite = json.loads((default_pack().root / SUITE).read_text(encoding="utf-8"))
    en = [c for c in suite if c["language"] == "en"][: args.conversations // 2]
    zh = [c for c in suite if c["language"] == "zh"][: args.conversations - len(en)]
    items = en + zh
    lm, adapter = choose(args.lm, args.adapter)
    out = {}
    paths = [("templates", (None, None), True), (f"model {args.lm}", (lm, adapter), True)]
    if args.tool_results:
        paths.insert(1, ("model, tool results", (lm, adapter), True))
    if args.read_ahead:
        paths.append(("model, read ahead", (lm, adapter), True))
    if args.before:
        paths.insert(1, ("model, before", (lm, adapter), False))
    for name, (m, a), faster in paths:
        TOOL_RESULTS = name in ("model, tool results", "model, before")
        READ_AHEAD = name == "model, read ahead"
        with engine_as(faster):
            done = run_each(items, Path(args.retail), run, True, args.kb, lm=m, adapter=a)
        out[name] = [r for rows in done for r in rows]
    print(
        f"{len(items)} conversations ({len(en)} en, {len(zh)} zh), {len(paths)} paths, same turns"
    )
    print(f"{'path':<18} {'turns':>5} {'turn p50/p95 ms':>16} {'drafts':>6} {'prompt tok p50':>14} {'reused p50':>10} {'new read p50':>12} {'first token p50/p95 ms':>22} {'generate p50 ms':>15}")  # fmt: skip
    for name, rows in out.items():
        drafted = [r for r in rows if "prompt_tokens" in r]
        first_turns = [r for r in drafted if r["reused_tokens"] == 0]
        print(
            f"{name:<18} {len(rows):>5} {pct([r['ms'] for r in rows]):>16} {len(drafted):>6} "
            f"{pct([r['prompt_tokens'] for r in drafted], (50,)):>14} {pct([r['reused_tokens'] for r in drafted], (50,)):>10} "
            f"{pct([r['prompt_tokens'] - r['reused_tokens'] for r in drafted], (50,)):>12} "
            f"{pct([r['first_token_ms'] for r in drafted]):>22} {pct([r['generate_ms'] for r in drafted], (50,)):>15}"
        )  # fmt: skip
        if drafted:
            later = [r for r in drafted if r["reused_tokens"] > 0]
            print(f"  first token with the cache reused ({len(later)} turns): p50/p95 {pct([r['first_token_ms'] for r in later])} ms; "
                  f"without ({len(first_turns)} turns): {pct([r['first_token_ms'] for r in first_turns])} ms")  # fmt: skip
    dest = ROOT / "bench" / "out" / "model_turns.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, ensure_ascii=False, indent=1))
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
