"""`cca eval WHAT`: one command for the evaluations, each a `main(argv)` in the module that owns it."""

from __future__ import annotations

import importlib
import sys

EVALS = {
    "conversations": ("dialogue.evals.conversations", "the agent on scripted conversations"),
    "dialogue": ("dialogue.lm.evaluate", "the dialogue model on held-out conversations"),
    "injection": ("dialogue.evals.injection", "prompt-injection attempts on four channels"),
    "open-turns": ("dialogue.evals.open_turns", "the agent on open turns, checked one by one"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: cca eval {" + ",".join(EVALS) + "} [ARGS...]\n")
        print("\n".join(f"  {name:<14} {help_}" for name, (_, help_) in EVALS.items()))
        return 0 if argv else 2
    if argv[0] not in EVALS:
        print(
            f"cca eval: unknown evaluation {argv[0]!r}; choose from {list(EVALS)}", file=sys.stderr
        )
        return 2
    return importlib.import_module(EVALS[argv[0]][0]).main(argv[1:])
