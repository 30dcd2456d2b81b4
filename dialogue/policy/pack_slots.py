"""What a turn gives a domain pack's task, read from the pack's [slots]: an NLU entity, a regex's
group, or a value named by its words; and the one item of a list (a card, a payment) that the
customer's words describe ("the 89.99 charge at Skyline Electronics on November 28", "我的信用卡").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from dialogue.policy.declare import SlotDecl, Words

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")  # fmt: skip
_NUMBER = re.compile(r"(?<![\d.])(\d{1,7}(?:[.,]\d{1,2})?)(?![\d])")


def read_slots(decls: Mapping[str, SlotDecl], slots: dict[str, Any], text: str,
               entities: Sequence[dict[str, Any]]) -> list[str]:  # fmt: skip
    """Keep in `slots` what the turn says for each declared slot; the names it filled."""
    filled = []
    for name, decl in decls.items():
        value = _value(decl, text, entities)
        if value is not None:
            slots[name] = value
            filled.append(name)
    return filled


def _value(decl: SlotDecl, text: str, entities: Sequence[dict[str, Any]]) -> str | None:
    if decl.entity:
        for e in entities:
            if e.get("type") == decl.entity and e.get("value"):
                return str(e["value"])
    if decl.pattern:
        m = re.search(decl.pattern, text, re.I)
        if m:
            return (m.group(1) if m.groups() else m.group(0)).strip()
    for value, patterns in decl.values.items():
        if any(re.search(p, text, re.I) for ps in patterns.values() for p in ps):
            return value
    return None


def described(items: Sequence[dict[str, Any]], fields: Sequence[str], text: str,
              values: Mapping[str, Words]) -> dict[str, Any] | None:  # fmt: skip
    """The one item whose `fields` the text names most (an amount, a merchant, a date, a card's
    digits or kind); None when none or several fit as well."""
    scores = [sum(_names(item.get(f), text, values) for f in fields) for item in items]
    best = max(scores, default=0)
    if best == 0 or scores.count(best) > 1:
        return None
    return items[scores.index(best)]


def _names(value: Any, text: str, values: Mapping[str, Words]) -> bool:
    if value in (None, ""):
        return False
    value = str(value)
    low = text.lower()
    if re.fullmatch(r"\d+\.\d{2}", value):  # an amount: the same number said
        return any(_same_amount(n, value) for n in _NUMBER.findall(text))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return _names_date(value, low)
    if re.fullmatch(r"\d{4}", value):
        return re.search(rf"(?<!\d){value}(?!\d)", text) is not None
    words = {value.lower(), *(w.lower() for w in values.get(value, {}).values())}
    if any(w and w in low for w in words):
        return True
    first = value.split()[0].lower()  # "Skyline" for "Skyline Electronics"
    return len(first) >= 4 and re.search(rf"\b{re.escape(first)}\b", low) is not None


def _same_amount(said: str, amount: str) -> bool:
    try:
        return Decimal(said.replace(",", ".")) == Decimal(amount)
    except InvalidOperation:
        return False


def _names_date(iso: str, low: str) -> bool:
    year, month, day = (int(x) for x in iso.split("-"))
    name = MONTHS[month - 1]
    forms = (
        iso, f"{month}月{day}日", f"{month}月{day}号", f"{month}/{day}",
        rf"\b(?:{name}|{name[:3]})\.? {day}(?:st|nd|rd|th)?\b",
        rf"\b{day}(?:st|nd|rd|th)? (?:of )?(?:{name}|{name[:3]})\b",
    )  # fmt: skip
    return any(re.search(f, low) if "\\" in f else f in low for f in forms)
