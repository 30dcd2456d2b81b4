"""`cca eval conversations`: the agent against a pack's scripted conversations.

Each conversation (PACK/eval/conversations.json; the sample pack's are built by
bench/make_conversations.py on its tau-bench back office) runs on a fresh copy of the back office,
built by the pack's [code] services, and states what must happen: the write actions (tool and key
arguments), the records' statuses afterwards (`office.order(id)`), and whether the agent hands
over to a person. A pack that declares its tools is run by `dialogue.evals.pack_conversations`.
Reported:

- task success: the expected writes ran, no other write ran, the database ends as expected, and
  the handoff is as expected;
- wrong actions: writes that ran but were not expected (target 0);
- unconfirmed actions: writes that ran in a turn where the customer had not just said yes (0);
- handoff precision and recall over conversations;
- the replies (`dialogue.evals.stats`): fallbacks to the template, degenerate replies, and the
  latency of a turn (p50, p95).

`--lm` (and `--adapter`) let a dialogue model phrase the replies, as in `cca chat`.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from dialogue.agent import Agent, AgentServices, CustomerTurn
from dialogue.evals.stats import format_stats, reply_stats, side_by_side
from dialogue.policy.toolkit import TOOLS

logger = logging.getLogger(__name__)

SUITE = Path("eval") / "conversations.json"  # inside the pack
_YES = (
    "yes",
    "yeah",
    "yep",
    "sure",
    "ok",
    "okay",
    "confirm",
    "go ahead",
    "please do",
    "是",
    "对",
    "好",
    "可以",
    "确认",
    "确定",
    "没问题",
    "行",
)


@dataclass(frozen=True)
class ConversationResult:
    id: str
    language: str
    category: str
    success: bool
    wrong_actions: list[dict] = field(default_factory=list)
    unconfirmed_actions: list[dict] = field(default_factory=list)
    missing_actions: list[dict] = field(default_factory=list)
    db_mismatches: list[str] = field(default_factory=list)
    handoff_expected: bool = False
    handoff: bool = False
    turns: list[dict] = field(default_factory=list)


def render_page(lines: list[str], source: str = "screenshot"):
    """A plain white page with these lines, for screenshot turns (vision.synth draws richer ones)."""
    import numpy as np
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    from vision.image import from_array
    from vision.synth import font_files

    font = ImageFont.truetype(font_files("zh")[0], 26)
    im = PILImage.new("RGB", (900, 60 + 48 * len(lines)), "white")
    draw = ImageDraw.Draw(im)
    for i, line in enumerate(lines):
        draw.text((40, 30 + 48 * i), line, font=font, fill=(20, 20, 20))
    return from_array(np.asarray(im), source=source)


def _turn(spec: dict) -> CustomerTurn:
    images = tuple(
        render_page(spec["image"]["lines"], source=spec["image"].get("name", "screenshot.png"))
        for _ in [0]
        if spec.get("image")
    )
    return CustomerTurn(text=spec.get("text", ""), images=images)


def _said_yes(text: str) -> bool:
    t = text.strip().lower()
    return any(t.startswith(y) for y in _YES)


def _matches(expected: dict, action: dict) -> bool:
    if expected["tool"] != action["tool"]:
        return False
    for k, v in expected.get("args", {}).items():
        got = action["args"].get(k)
        if isinstance(v, list):
            if sorted(map(str, v)) != sorted(map(str, got or [])):
                return False
        elif str(v).lstrip("#").lower() != str(got).lstrip("#").lower():
            return False
    return True


def play(spec: dict, services: AgentServices, write_tools, stream: bool = False) -> tuple[list, list, list]:  # fmt: skip
    """Run a scripted conversation through a fresh Agent: (turns, writes, unconfirmed writes).
    `write_tools`: the tools that change the back office; `stream`: each reply said clause by
    clause, as on a voice line (`Agent.respond(say=...)`)."""
    agent = Agent(services, session_id=spec["id"])
    say = (lambda *_: None) if stream else None
    writes, unconfirmed, turns = [], [], []
    for t in spec["turns"]:
        t0 = time.perf_counter()
        turn = agent.respond(_turn(t), say=say)
        turns.append({
            "customer": t.get("text", "") or "(screenshot)", "agent": turn.reply,
            "intent": turn.intent, "actions": [a.tool for a in turn.actions],
            "handoff": turn.handoff, "reply_source": turn.reply_source,
            "ms": (time.perf_counter() - t0) * 1000,
        })  # fmt: skip
        for a in turn.actions:
            if a.tool in write_tools and a.ok:
                writes.append(a.to_dict())
                if not _said_yes(t.get("text", "")):
                    unconfirmed.append(a.to_dict())
    return turns, writes, unconfirmed


def write_errors(expect: dict, writes: list) -> tuple[list, list]:
    """(expected writes that did not happen, writes that were not expected)."""
    expected = list(expect.get("writes", []))
    missing = [e for e in expected if not any(_matches(e, w) for w in writes)]
    wrong = [w for w in writes if not any(_matches(e, w) for e in expected)]
    return missing, wrong


def write_tools() -> set[str]:
    """The registered tools that change the back office (`dialogue.policy.toolkit`)."""
    return {name for name, t in TOOLS.items() if t.writes}


def run_conversation(spec: dict, services: AgentServices, stream: bool = False) -> ConversationResult:  # fmt: skip
    """`stream`: each reply said clause by clause, as on a voice line (`Agent.respond(say=...)`)."""
    turns, writes, unconfirmed = play(spec, services, write_tools(), stream)
    expect = spec["expect"]
    missing, wrong = write_errors(expect, writes)
    mismatches = []
    for rid, want in expect.get("orders", {}).items():  # the suite's key: the records' statuses
        got = services.office.order(rid)
        if got is None or got["status"] != want["status"]:
            mismatches.append(
                f"{rid}: status {got and got['status']!r}, expected {want['status']!r}"
            )
    handoff = any(t["handoff"] for t in turns)
    success = not (missing or wrong or unconfirmed or mismatches) and handoff == expect.get(
        "handoff", False
    )
    return ConversationResult(
        spec["id"], spec["language"], spec.get("category", ""), success, wrong, unconfirmed, missing,
        mismatches, expect.get("handoff", False), handoff, turns,
    )  # fmt: skip


def run_each(
    suite: list[dict],
    data: Path,
    run: Callable[[dict, AgentServices], Any],
    progress: bool = True,
    kb: str | None = None,
    lm: str | None = None,
    adapter: str | None = None,
    domain: str | Path | None = None,
) -> list:
    """`run(spec, services)` for every spec of the suite, each on a fresh copy of the back office
    the pack's [code] services load from `data` (pack `domain`, default the default pack); the
    models (NLU, knowledge, dialogue model) are built once."""
    from tqdm import tqdm

    from dialogue.chat import build_services

    work = Path(tempfile.mkdtemp(prefix="cca-eval-"))
    try:
        template = work / "template.db"
        base = build_services(
            domain, f"sqlite:///{template}", kb=kb, data=str(data), lm=lm, adapter=adapter
        )
        base.office.close()
        office_class = type(base.office)  # opened with .open(url), as a pack's back office is
        results = []
        for spec in tqdm(suite, unit="item", disable=not progress, file=sys.stderr):
            db = work / f"{spec['id']}.db"
            shutil.copy(template, db)
            office = office_class.open(f"sqlite:///{db}")
            try:
                results.append(run(spec, replace(base, office=office)))
            finally:
                office.close()
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def evaluate(
    suite: list[dict], data: Path, progress: bool = True, kb: str | None = None,
    stream: bool = False, **models,
) -> list[ConversationResult]:  # fmt: skip
    run = partial(run_conversation, stream=stream)
    return run_each(suite, data, run, progress, kb, **models)


def add_service_args(p: argparse.ArgumentParser) -> None:
    """The options that build the agent's services, shared by the agent evaluations."""
    p.add_argument(
        "--data",
        "--retail",  # its name before packs, kept so that scripts still run
        dest="data",
        default=None,
        help="the data folder the suite was written on (default: the pack's [code] data)",
    )
    p.add_argument("--kb", default=None, help="a knowledge base to answer questions from")
    p.add_argument("--lm", default=None, help="a dialogue model to phrase replies (cca chat --lm)")
    p.add_argument("--adapter", default=None, help="a LoRA adapter for --lm")
    p.add_argument("--compare", action="store_true", help="with --lm: run the template path too, on the same items, and print both side by side")  # fmt: skip
    p.add_argument("--stream", action="store_true", help="the model's draft streamed clause by clause, as a voice line says it (Agent.respond(say=...)); the replies judged are what was said")  # fmt: skip
    p.add_argument("--only", default=None, help="run the items whose id contains this")
    p.add_argument("--json", action="store_true", help="print every result as JSON")
    p.add_argument("--no-progress", action="store_true")


def model_paths(args) -> list[tuple[str, str | None, str | None]]:
    """(name, lm, adapter) of each path to run: the model's (`--lm`; `shipped` is the model that
    ships), after the templates with `--compare`; the templates alone without `--lm`."""
    from dialogue.lm.shipped import choose

    lm, adapter = choose(args.lm or "none", args.adapter)
    paths = [("templates", None, None)] if args.compare and lm else []
    return [*paths, (f"model {args.lm}" if lm else "templates", lm, adapter)]


def report_runs(runs: list, as_json: bool, score: str, label: str, extra=None) -> int:
    """After each path ran (`runs`: [(name, summary, results)]): the last one as JSON, with every
    path's summary under "compare" when there were two; or the side-by-side table."""
    _, summary, results = runs[-1]
    if as_json:
        out = {"summary": summary, "results": [asdict(r) for r in results]}
        if len(runs) > 1:
            out["compare"] = [{"path": name, "summary": s} for name, s, _ in runs]
        print(json.dumps(out, ensure_ascii=False, indent=2))
    elif len(runs) > 1:
        rows = [(name, s[score], s["replies"], extra(s) if extra else "") for name, s, _ in runs]
        print(side_by_side(rows, label))
    return 0


def data_folder(args, domain: str | Path | None = None) -> Path | None:
    """`--data`, else the folder the pack's [code] data gives; None (said) when it is missing."""
    from dialogue.domain.pack import DomainError, DomainPack, default_pack

    try:
        pack = DomainPack.load(domain) if domain else default_pack()
        data = Path(args.data) if args.data else Path(pack.code("data")())
    except DomainError as e:
        print(f"cca eval: {e}; or pass --data FOLDER", file=sys.stderr)
        return None
    if not data.is_dir():
        print(f"cca eval: no data folder at {data}; pass --data FOLDER", file=sys.stderr)
        return None
    return data


def summarise(results: list[ConversationResult]) -> dict[str, Any]:
    n = len(results)
    by_lang: dict[str, list[ConversationResult]] = {}
    for r in results:
        by_lang.setdefault(r.language, []).append(r)
    predicted = [r for r in results if r.handoff]
    expected = [r for r in results if r.handoff_expected]
    both = [r for r in results if r.handoff and r.handoff_expected]
    return {
        "conversations": n,
        "task_success": sum(r.success for r in results) / max(n, 1),
        "task_success_by_language": {
            k: sum(r.success for r in v) / len(v) for k, v in sorted(by_lang.items())
        },
        "wrong_actions": sum(len(r.wrong_actions) for r in results),
        "unconfirmed_actions": sum(len(r.unconfirmed_actions) for r in results),
        "missing_actions": sum(len(r.missing_actions) for r in results),
        "handoff_precision": len(both) / len(predicted) if predicted else 1.0,
        "handoff_recall": len(both) / len(expected) if expected else 1.0,
        "replies": reply_stats(
            {"reply": t["agent"], "reply_source": t["reply_source"], "ms": t["ms"]}
            for r in results
            for t in r.turns
        ),
        "failed": [r.id for r in results if not r.success],
    }


def _print_run(name: str, results: list[ConversationResult], summary: dict[str, Any]) -> None:
    for r in results:
        if not r.success:
            why = "; ".join(filter(None, [
                f"missing {[a['tool'] for a in r.missing_actions]}" if r.missing_actions else "",
                f"wrong {[a['tool'] for a in r.wrong_actions]}" if r.wrong_actions else "",
                f"unconfirmed {len(r.unconfirmed_actions)}" if r.unconfirmed_actions else "",
                "; ".join(r.db_mismatches),
                f"handoff {r.handoff} (expected {r.handoff_expected})" if r.handoff != r.handoff_expected else "",
            ]))  # fmt: skip
            print(f"FAIL {r.id}: {why}")
    print(f"{name}: task success {summary['task_success']:.1%} of {summary['conversations']} conversations "
          f"({', '.join(f'{k} {v:.1%}' for k, v in summary['task_success_by_language'].items())}); "
          f"wrong actions {summary['wrong_actions']}, unconfirmed actions {summary['unconfirmed_actions']}, "
          f"handoff precision {summary['handoff_precision']:.1%}, recall {summary['handoff_recall']:.1%}; "
          f"{format_stats(summary['replies'])}; {summary['seconds']} s")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="cca eval conversations", description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", default=None, help=f"conversations JSON (default PACK/{SUITE})")
    add_service_args(p)
    p.add_argument("--domain", default=None, help="the domain pack (default: $CCA_DOMAIN, else the sample pack): its own suite on its own back office; a pack that declares its tools runs in dialogue.evals.pack_conversations")  # fmt: skip
    args = p.parse_args(argv)
    from dialogue.domain.pack import DomainError, DomainPack, default_pack

    try:
        pack = DomainPack.load(args.domain) if args.domain else default_pack()
    except DomainError as e:
        print(f"cca eval conversations: {e}", file=sys.stderr)
        return 2
    if not pack.has_code("services"):  # a declared pack's evaluation, which builds on this module
        import importlib

        named = [] if args.domain else ["--domain", str(pack.root)]
        return importlib.import_module("dialogue.evals.pack_conversations").main([*argv, *named])
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    data = data_folder(args, pack.root)
    if data is None:
        return 2
    suite = json.loads(Path(args.suite or pack.root / SUITE).read_text(encoding="utf-8"))
    if args.only:
        suite = [c for c in suite if args.only in c["id"]]
    try:
        paths = model_paths(args)
    except RuntimeError as e:
        print(f"cca eval conversations: {e}", file=sys.stderr)
        return 2
    runs = []
    for name, lm_, adapter_ in paths:
        t0 = time.perf_counter()
        results = evaluate(suite, data, not args.no_progress, args.kb, args.stream, lm=lm_, adapter=adapter_, domain=pack.root)  # fmt: skip
        summary = summarise(results) | {"seconds": round(time.perf_counter() - t0, 1)}
        runs.append((name, summary, results))
        if not args.json:
            _print_run(name, results, summary)
    extra = lambda s: f"wrong writes {s['wrong_actions']}, unconfirmed {s['unconfirmed_actions']}"  # noqa: E731
    return report_runs(runs, args.json, "task_success", "success", extra)
