"""Which of the orders the agent offered the customer means, and the offer as it is said aloud.

Read out, "W4817420 (pending), W6247578 (processed), ..." is a list no caller can hold: the
spoken offer gives the count and the statuses ("You have 5 orders: 3 delivered, 1 pending and 1
processed"), and the customer answers the way people do:

- the last digits of the number ("the one ending in four two oh", "420", "尾号四二零");
- its status, when one order has it ("the pending one", "待处理的那个");
- its place in the list ("the first one", "第二个").

`pick_offered` returns the order id when exactly one offered order fits, else None (the agent
then asks again with the full list in the text). `pick_reason` reads an answer by place to the
either/or of a cancel's reason ("the first one", "后者").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from dialogue.nlu.digits import digit_runs
from domains.retail.outcomes import STATUS_ZH, status_name
from domains.retail.rules import REASONS

# places in the list as read ("last" is left out: "my last order" means the newest one)
_ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4,
             "第一": 0, "第二": 1, "第三": 2, "第四": 3, "第五": 4}  # fmt: skip
_ORDINAL_EN = re.compile(r"\bthe\s+(first|second|third|fourth|fifth)\b(?:\s+(?:one|order))?", re.I)
_ORDINAL_ZH = re.compile(r"(第[一二三四五])(?:个|笔|单)")


def pick_offered(text: str, offered: Sequence[tuple[str, str]]) -> str | None:
    """The one offered order (id, status) the customer's words point at, or None."""
    if not offered:
        return None
    ids = [oid for oid, _ in offered]
    for run in digit_runs(text):
        if len(run.digits) >= 2:
            hits = [oid for oid in ids if re.sub(r"\D", "", oid).endswith(run.digits)]
            if len(hits) == 1:
                return hits[0]
    lowered = text.lower()
    statuses = {st for _, st in offered}
    named = [st for st in statuses if st in lowered or (STATUS_ZH.get(st) or st) in text]
    if len(named) == 1:
        hits = [oid for oid, st in offered if st == named[0]]
        if len(hits) == 1:
            return hits[0]
    m = _ORDINAL_EN.search(text) or _ORDINAL_ZH.search(text)
    if m:
        place = _ORDINALS[m.group(1).lower()]
        if place < len(ids):
            return ids[place]
    return None


_FIRST = re.compile(r"\b(?:the )?(?:first|former)\b|第一|前者|前一个|前面(?:那|这)个", re.I)
_SECOND = re.compile(r"\b(?:the )?(?:second|latter)\b|第二|后者|后一个|后面(?:那|这)个", re.I)


def pick_reason(text: str) -> str | None:
    """The cancel reason named by its place in the question ("no longer needed, or ordered by
    mistake?", in `rules.REASONS` order): "the first one" -> "no longer needed"; None if neither
    or both are named."""
    first, second = bool(_FIRST.search(text)), bool(_SECOND.search(text))
    if first == second:
        return None
    return list(REASONS)[0 if first else 1]


def by_status(offered: Sequence[tuple[str, str]], language: str) -> str:
    """ "3 delivered, 1 pending and 1 processed" / "3个已送达、1个待处理和1个已处理"."""
    counts = Counter(st for _, st in offered)
    parts = [
        f"{n}个{status_name(st, 'zh')}" if language == "zh" else f"{n} {status_name(st, 'en')}"
        for st, n in counts.most_common()
    ]
    if len(parts) == 1:
        return parts[0]
    joiner = ("、", "和") if language == "zh" else (", ", " and ")
    return joiner[0].join(parts[:-1]) + joiner[1] + parts[-1]
