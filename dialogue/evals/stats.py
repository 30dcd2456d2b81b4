"""What every agent evaluation reports about the replies themselves, whatever it scores: how many
fell back to the template because the guard rejected the model's draft (`reply_source` starting
with "template ("), how many were degenerate (`dialogue.policy.guard.degenerate`), and the
latency of a turn (p50 and p95 over the turns measured, in milliseconds)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dialogue.policy.guard import degenerate


def is_fallback(reply_source: str) -> bool:
    """A model draft the guard rejected: the template was sent instead."""
    return reply_source.startswith("template (")


def is_model(reply_source: str) -> bool:
    """The model's words reached the customer: its whole draft ("model"), or the part of a
    streamed draft the guard had released before the rest failed ("model (cut: WHY)")."""
    return reply_source == "model" or reply_source.startswith("model (")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    xs = sorted(values)
    at = (len(xs) - 1) * q / 100
    lo = int(at)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (at - lo)


def reply_stats(turns: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """turns: {"reply", "reply_source", "ms"} per turn -> counts and latency percentiles."""
    turns = list(turns)
    ms = [t["ms"] for t in turns]
    return {
        "turns": len(turns),
        "model": sum(is_model(t["reply_source"]) for t in turns),  # the model's words were sent
        "fallbacks": sum(is_fallback(t["reply_source"]) for t in turns),
        # streamed drafts that went wrong after a clause was said: the template followed it
        "cut": sum(t["reply_source"].startswith("model (cut") for t in turns),
        "degenerate": sum(bool(degenerate(t["reply"])) for t in turns),
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
    }


def side_by_side(rows: Sequence[tuple[str, float, dict[str, Any], str]], score: str) -> str:
    """One line per path (name, score, reply stats, extra): the template path and the model path
    of one suite, run in the same process on the same items."""
    head = f"{'path':<34} {score:>8} {'model':>6} {'fallbacks':>9} {'degenerate':>10} {'p50 ms':>7} {'p95 ms':>7}  "
    lines = [head, "-" * len(head)]
    for name, value, st, extra in rows:
        lines.append(
            f"{name[:34]:<34} {value:>8.1%} {st['model']:>6} {st['fallbacks']:>9} "
            f"{st['degenerate']:>10} {st['p50_ms']:>7.0f} {st['p95_ms']:>7.0f}  {extra}"
        )
    return "\n".join(lines)


def format_stats(stats: dict[str, Any]) -> str:
    return (
        f"model replies {stats['model']} (cut {stats.get('cut', 0)}), fallbacks {stats['fallbacks']}, degenerate {stats['degenerate']} of {stats['turns']} "
        f"turns; latency p50 {stats['p50_ms']:.0f} ms, p95 {stats['p95_ms']:.0f} ms"
    )
