"""`cca eval open-turns`: the agent on single open turns, the kind no task script covers.

Each item of the suite (dialogue/data/open_turns.json) is a conversation so far and one turn to
check, run on a fresh copy of the default pack's back office:

    {"id", "category", "language",
     "user": "a user id"        (optional: the conversation starts authenticated as this user),
     "history": ["turn", ...]   (customer turns said before; their replies are not checked),
     "turn": "the turn checked",
     "expect": {"facts": [["5-7 business days", "5 to 7 business days"], ...],  every group: one
                                of its strings is in the reply (case-insensitive)
                "absent": ["..."],  none of these is in the reply
                "refusal": false,   the reply refuses (out of scope) or not
                "auth": false,      the reply asks the customer to verify who they are or not
                "handoff": false,   the turn hands over to a person or not
                "source": true}}    the reply comes from a knowledge passage, kept on the turn

Every key of "expect" is optional; the reply is always checked to be in the item's language
(`dialogue.policy.guard.wrong_language`: ids and product names may stay as they are).
Reported: the pass rate per category and language, and for the checked turns the fallbacks to
the template, the degenerate replies and the latency (`dialogue.evals.stats`). Rule questions
need a knowledge base (`--kb`), for instance one built from the shared data and the sample pack's FAQ:

    cca kb add /work/shared/data/kb domains/retail/knowledge/faq.csv --db sqlite:///knowledge.db
    cca eval open-turns --kb sqlite:///knowledge.db
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from dialogue.agent import Agent, AgentServices, CustomerTurn
from dialogue.evals.conversations import (
    add_service_args,
    data_folder,
    model_paths,
    report_runs,
    run_each,
)
from dialogue.evals.stats import format_stats, reply_stats
from dialogue.paths import PACKAGE_DATA
from dialogue.policy.guard import wrong_language

logger = logging.getLogger(__name__)

SUITE = PACKAGE_DATA / "open_turns.json"
REFUSALS = {"out_of_scope"}  # the templates that say "I can't help with that"
AUTH_ASKS = {"ask_auth", "auth_failed"}
EXPECT_KEYS = {"facts", "absent", "refusal", "auth", "handoff", "source"}


@dataclass(frozen=True)
class OpenTurnResult:
    id: str
    category: str
    language: str
    passed: bool
    failures: list[str] = field(default_factory=list)  # what did not hold, one line each
    reply: str = ""
    reply_source: str = ""
    template: str = ""  # the policy's decision, as its template key
    source: str = ""  # the knowledge passage the reply came from, if any
    handoff: bool = False
    ms: float = 0.0  # the checked turn, from the customer's words to the reply
    history: list[dict] = field(default_factory=list)  # the turns before: customer, agent, template


def check_suite(suite: list[dict]) -> None:
    """Raise ValueError naming the item and the problem, before anything runs."""
    seen = set()
    for n, item in enumerate(suite):
        where = f"item {n} ({item.get('id', '?')})"
        missing = {"id", "category", "language", "turn"} - set(item)
        if missing:
            raise ValueError(f"{where}: missing {sorted(missing)}")
        if item["language"] not in ("en", "zh"):
            raise ValueError(f"{where}: language must be en or zh, got {item['language']!r}")
        unknown = set(item.get("expect", {})) - EXPECT_KEYS
        if unknown:
            raise ValueError(
                f"{where}: unknown checks {sorted(unknown)}; known: {sorted(EXPECT_KEYS)}"
            )
        if item["id"] in seen:
            raise ValueError(f"{where}: the id is used twice")
        seen.add(item["id"])


def run_item(item: dict, services: AgentServices, stream: bool = False) -> OpenTurnResult:
    """`stream`: the turn's reply is said clause by clause (`Agent.respond(say=...)`), as on a
    voice line; what is judged is the reply on the record, which is what was said."""
    agent = Agent(services, session_id=item["id"])
    if item.get("user"):  # as if the customer had been verified earlier in the conversation
        agent.state.tools.user_id = item["user"]
    history = []
    for text in item.get("history", []):
        said = agent.respond(CustomerTurn(text=text))
        history.append({"customer": text, "agent": said.reply, "template": said.decision.template})
    t0 = time.perf_counter()
    turn = agent.respond(CustomerTurn(text=item["turn"]), say=(lambda *_: None) if stream else None)  # fmt: skip
    ms = (time.perf_counter() - t0) * 1000
    source = str(turn.decision.slots.get("source", ""))
    failures = judge(item, turn.reply, turn.decision.template, turn.handoff, source)
    return OpenTurnResult(
        item["id"], item["category"], item["language"], not failures, failures, turn.reply,
        turn.reply_source, turn.decision.template, source, turn.handoff, round(ms, 1), history,
    )  # fmt: skip


def judge(item: dict, reply: str, template: str, handoff: bool, source: str) -> list[str]:
    """What in the item's expectations the reply breaks; [] when it passes."""
    expect, said, failures = item.get("expect", {}), reply.lower(), []
    for group in expect.get("facts", []):
        options = [group] if isinstance(group, str) else group
        if not any(o.lower() in said for o in options):
            failures.append(f"missing fact {' / '.join(options)!r}")
    failures += [f"says {a!r}" for a in expect.get("absent", []) if a.lower() in said]
    if "refusal" in expect and (template in REFUSALS) != expect["refusal"]:
        failures.append("refused" if expect["refusal"] is False else "did not refuse")
    if "auth" in expect and (template in AUTH_ASKS) != expect["auth"]:
        failures.append("asked to authenticate" if not expect["auth"] else "did not authenticate")
    if "handoff" in expect and handoff != expect["handoff"]:
        failures.append("handed over" if handoff else "did not hand over")
    if expect.get("source") and not source:
        failures.append("no knowledge source on the turn")
    wrong = wrong_language(reply, item["language"])
    if wrong:
        failures.append(f"replied {wrong}")
    return failures


def summarise(results: list[OpenTurnResult]) -> dict[str, Any]:
    table: dict[tuple[str, str], list[OpenTurnResult]] = {}
    for r in results:
        table.setdefault((r.category, r.language), []).append(r)
        table.setdefault((r.category, "all"), []).append(r)
        table.setdefault(("all", r.language), []).append(r)
    rows = [
        {"category": c, "language": lang, "items": len(v), "passed": sum(r.passed for r in v)}
        for (c, lang), v in sorted(table.items(), key=lambda kv: (kv[0][0] == "all", kv[0]))
    ]
    for row in rows:
        row["pass_rate"] = row["passed"] / row["items"]
    n = len(results)
    return {
        "items": n,
        "pass_rate": sum(r.passed for r in results) / max(n, 1),
        "table": rows,
        "replies": reply_stats(asdict(r) for r in results),
        "failed": [r.id for r in results if not r.passed],
    }


def format_table(summary: dict[str, Any]) -> str:
    lines = [f"{'category':<18} {'lang':<4} {'items':>5} {'passed':>6} {'rate':>7}"]
    for row in summary["table"]:
        lines.append(
            f"{row['category']:<18} {row['language']:<4} {row['items']:>5} {row['passed']:>6} "
            f"{row['pass_rate']:>7.1%}"
        )
    lines.append(
        f"open turns: {summary['pass_rate']:.1%} of {summary['items']} passed; "
        f"{format_stats(summary['replies'])}; {summary['seconds']} s"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cca eval open-turns", description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", default=str(SUITE), help="open turns JSON (default: the project's)")
    add_service_args(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    data = data_folder(args)
    if data is None:
        return 2
    try:
        suite = json.loads(Path(args.suite).read_text(encoding="utf-8"))
        check_suite(suite)
    except (OSError, ValueError) as e:
        print(f"cca eval open-turns: {args.suite}: {e}", file=sys.stderr)
        return 2
    if args.only:
        suite = [item for item in suite if args.only in item["id"]]
    if not args.kb:
        print("cca eval open-turns: no --kb: rule questions cannot be answered", file=sys.stderr)
    try:
        paths = model_paths(args)
    except RuntimeError as e:
        print(f"cca eval open-turns: {e}", file=sys.stderr)
        return 2
    runs = []
    for name, lm, adapter in paths:
        t0 = time.perf_counter()
        item = partial(run_item, stream=args.stream)
        results = run_each(suite, data, item, not args.no_progress, args.kb, lm=lm, adapter=adapter)
        summary = summarise(results) | {"seconds": round(time.perf_counter() - t0, 1)}
        runs.append((name, summary, results))
        if not args.json:
            print(name)
            for r in results:
                if not r.passed:
                    print(f"FAIL {r.id}: {'; '.join(r.failures)}\n     {r.reply[:160]!r}")
            print(format_table(summary))
    return report_runs(runs, args.json, "pass_rate", "passed")
