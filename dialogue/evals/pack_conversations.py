"""`cca eval conversations --domain PACK`: a domain pack's agent against the pack's own scripted
conversations (PACK/eval/conversations.json by default), each on a fresh copy of the pack's back
office, seeded as on first use.

A conversation is `{"id", "language", "category", "turns": [{"text"}, ...], "expect": {...}}`,
the sample pack's suite format, with records of any kind in place of its "orders":

    "writes": [{"tool": "freeze_card", "args": {"last4": "4417"}}]   the writes that must run
    "records": {"card:4417": {"status": "frozen"}}    fields of records afterwards, read with the
                                                      back office's record(kind, key)
    "handoff": false
    "never_said": ["2026-11-28"]                      words no reply may hold (no data shown)
    "must_say": ["45 days"]                           words some reply must hold

Task success, wrong, unconfirmed and missing writes and the handoff are counted as for the
sample pack's suite (`dialogue.evals.conversations`).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from dialogue.agent import AgentServices
from dialogue.evals.conversations import (
    ConversationResult,
    _print_run,
    model_paths,
    play,
    report_runs,
    summarise,
    write_errors,
)

SUITE = Path("eval") / "conversations.json"  # inside the pack


def run_pack_conversation(spec: dict, services: AgentServices, writes_tools: set[str], stream: bool = False) -> ConversationResult:  # fmt: skip
    """`stream`: each reply said clause by clause, as on a voice line (`Agent.respond(say=...)`)."""
    turns, writes, unconfirmed = play(spec, services, writes_tools, stream)
    expect = spec["expect"]
    missing, wrong = write_errors(expect, writes)
    mismatches = []
    for ref, fields in expect.get("records", {}).items():
        kind, _, key = ref.partition(":")
        got = services.office.record(kind, key)
        for name, want in fields.items():
            if got is None or got.get(name) != want:
                mismatches.append(f"{ref}: {name} {got and got.get(name)!r}, expected {want!r}")
    for words in expect.get("never_said", []):
        if any(words in t["agent"] for t in turns):
            mismatches.append(f"a reply said {words!r}")
    for words in expect.get("must_say", []):
        if not any(words in t["agent"] for t in turns):
            mismatches.append(f"no reply said {words!r}")
    handoff = any(t["handoff"] for t in turns)
    success = not (missing or wrong or unconfirmed or mismatches) and handoff == expect.get("handoff", False)  # fmt: skip
    return ConversationResult(
        spec["id"], spec["language"], spec.get("category", ""), success, wrong, unconfirmed, missing,
        mismatches, expect.get("handoff", False), handoff, turns,
    )  # fmt: skip


def evaluate_pack(suite: list[dict], folder: Path, progress: bool = True, kb: str | None = None,
                  lm: str | None = None, adapter: str | None = None, stream: bool = False) -> list[ConversationResult]:  # fmt: skip
    """Every conversation of `suite` on a fresh copy of the pack's back office; the models (NLU,
    knowledge, dialogue model) are built once. Without `kb`, the pack's knowledge/ is indexed
    into a temporary store."""
    from tqdm import tqdm

    from dialogue.chat import build_pack_services
    from dialogue.policy.pack_tools import PackTools, open_office

    work = Path(tempfile.mkdtemp(prefix="cca-eval-pack-"))
    try:
        template = work / "template.db"
        base = build_pack_services(folder, f"sqlite:///{template}", kb or f"sqlite:///{work / 'kb.db'}", lm, adapter)  # fmt: skip
        declarations = base.policy.d
        writes_tools = {n for n, d in declarations.tools.items() if d.writes}
        base.office.close()
        results = []
        for spec in tqdm(suite, unit="item", disable=not progress, file=sys.stderr):
            db = work / f"{spec['id']}.db"
            shutil.copy(template, db)
            office = open_office(declarations, f"sqlite:///{db}")
            tools = PackTools(declarations, office)
            try:
                services = replace(base, office=office, sessions=tools.session)
                results.append(run_pack_conversation(spec, services, writes_tools, stream))
            finally:
                office.close()
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """`cca eval conversations --domain PACK [--suite FILE] [--kb URL] [--lm ...] [--json]`."""
    p = argparse.ArgumentParser(prog="cca eval conversations --domain", description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("--domain", required=True, help="the pack (a folder with domain.toml)")
    p.add_argument("--suite", default=None, help=f"conversations JSON (default PACK/{SUITE})")
    p.add_argument("--kb", default=None, help="a knowledge base (default: the pack's knowledge/, indexed)")  # fmt: skip
    p.add_argument("--lm", default=None, help="a dialogue model to phrase replies (cca chat --lm)")
    p.add_argument("--adapter", default=None, help="a LoRA adapter for --lm")
    p.add_argument("--compare", action="store_true", help="with --lm: the template path too")
    p.add_argument("--stream", action="store_true", help="each reply said clause by clause, as on a voice line")  # fmt: skip
    p.add_argument("--only", default=None, help="run the items whose id contains this")
    p.add_argument("--json", action="store_true", help="print every result as JSON")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    folder = Path(args.domain)
    path = Path(args.suite) if args.suite else folder / SUITE
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"cca eval conversations: {path}: {e}; write the pack's suite there or pass --suite", file=sys.stderr)  # fmt: skip
        return 2
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
        try:
            results = evaluate_pack(suite, folder, not args.no_progress, args.kb, lm_, adapter_, args.stream)  # fmt: skip
        except (ValueError, ImportError, ConnectionError, FileNotFoundError) as e:
            print(f"cca eval conversations: {e}", file=sys.stderr)
            return 2
        summary = summarise(results) | {"seconds": round(time.perf_counter() - t0, 1)}
        runs.append((name, summary, results))
        if not args.json:
            _print_run(name, results, summary)
    extra = lambda s: f"wrong writes {s['wrong_actions']}, unconfirmed {s['unconfirmed_actions']}"  # noqa: E731
    return report_runs(runs, args.json, "task_success", "success", extra)
