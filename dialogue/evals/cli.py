"""`cca eval WHAT`: one command for the evaluations, each a `main(argv)` in the module that owns it."""

from __future__ import annotations

import importlib
import sys

EVALS = {
    "conversations": ("dialogue.evals.conversations", "the agent on scripted conversations"),
    "dialogue": ("dialogue.lm.evaluate", "the dialogue model on held-out conversations"),
    "injection": (
        "",
        "prompt-injection attempts on four channels (the pack's [code] eval_injection)",
    ),
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
    module = EVALS[argv[0]][0]
    if not module:  # an evaluation the default pack brings: its [code] eval_NAME, a main(argv)
        from dialogue.domain.pack import DomainError, default_pack

        try:
            run = default_pack().code(f"eval_{argv[0].replace('-', '_')}")
        except DomainError as e:
            print(f"cca eval {argv[0]}: {e}", file=sys.stderr)
            return 2
        return run(argv[1:])
    return importlib.import_module(module).main(argv[1:])
