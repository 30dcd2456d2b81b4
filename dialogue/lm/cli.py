"""`cca lm`: the shipped dialogue model (`info`, `ship`: dialogue.lm.shipped) and the retraining
loop (`retrain`: dialogue.lm.retrain), which evaluates with the agent and so sits above both."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["-h"], ["--help"], []):
        print("usage: cca lm {info,ship,retrain} ...   (cca lm COMMAND -h for each)")
        return 0
    if argv[:1] == ["retrain"]:
        from dialogue.lm.retrain import main as retrain

        return retrain(argv[1:])
    from dialogue.lm.shipped import main as shipped

    return shipped(argv)
