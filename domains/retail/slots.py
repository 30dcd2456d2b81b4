"""What a customer's words give the shop's tasks: order ids, a name, a cancel reason, items, an
address. Pattern tables in English and Chinese, and `collect_slots`; plain yes and no are the
core's (dialogue.nlu.slots)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_REASON_MISTAKE = re.compile(
    r"mistake|wrong(?:ly)?|accident|by error|didn'?t mean to|did not mean to|ordered (?:it )?twice"
    r"|误|买错|下错|拍错|点错|选错|手滑|不小心|重复下单",
    re.I,
)
_REASON_UNNEEDED = re.compile(  # "I don't want it anymore", not "I don't want to cancel"
    r"no longer|(?:don'?t|do not) need|not needed|no need (?:for (?:it|them) )?any ?more"
    r"|changed my mind|(?:don'?t|do not) want (?:it|them)\b"
    r"|不再需要|不需要|不要了|用不上|用不着|用不到|不想要",
    re.I,
)
_ALL_ITEMS = re.compile(  # not "that's all", "all good", "at all"
    r"(?<!that's )(?<!that’s )(?<!that is )(?<!\bat )\ball\b(?! (?:good|set|right|fine|done|for now)\b)"
    r"|\b(?:everything|whole order|entire order)\b|全部|所有|整个订单|都退",
    re.I,
)
_NAME = re.compile(  # the cue in any case, the name capitalised: "i am very angry" is no name
    r"(?i:my name is|name's|name is|name:|i am|i'm|this is|我叫|我的名字是|我是|姓名(?:是)?[:：]?)\s*(?P<first>[A-Z][a-z]+)\s+(?P<last>[A-Z][a-z]+)"
    # or no cue, when a zip code follows: "Omar Kim, zip code 32214", "Omar Kim，邮编 32214"
    r"|\b(?P<first2>[A-Z][a-z]+)\s+(?P<last2>[A-Z][a-z]+)\s*[,，]?\s*(?i:zip(?: code)?|post(?:al)? ?code|邮编)(?=\s*(?:is|是)?\s*[:：]?\s*\d)"
)
_ADDRESS = re.compile(
    r"(?P<address1>\d+\s+[A-Za-z0-9 .'-]+?),\s*(?:(?P<address2>(?:suite|apt|apartment|unit|#)\s*[\w-]+),\s*)?"
    r"(?P<city>[A-Za-z .'-]+?),\s*(?P<state>[A-Z]{2})\s*,?\s*(?P<zip>\d{5})",
    re.I,
)


def collect_slots(slots: dict[str, Any], text: str, entities: Sequence[dict[str, Any]]) -> bool:
    """Keep what the turn says that a task needs; True when it said anything of that kind."""
    found = False
    for e in entities:
        kind, value = e["type"], str(e["value"])
        found = found or kind in ("order_number", "email", "zip_code", "product")
        if kind == "order_number":
            slots["order_id"] = (
                "#" + value.lstrip("#").upper() if re.fullmatch(r"#?W\d{7}", value, re.I) else value
            )
        elif kind in ("email", "zip_code"):
            slots[kind] = value
        elif kind == "product":
            slots.setdefault("products", []).append(value)
    m = _NAME.search(text)
    if m:
        first, last = (m["first"], m["last"]) if m["first"] else (m["first2"], m["last2"])
        slots["first_name"], slots["last_name"] = first.title(), last.title()
    if _REASON_MISTAKE.search(text):
        slots["reason"] = "ordered by mistake"
    elif _REASON_UNNEEDED.search(text):
        slots["reason"] = "no longer needed"
    if _ALL_ITEMS.search(text):
        slots["all_items"] = True
    a = _ADDRESS.search(text)
    if a:
        slots["address"] = {
            k: (a[k] or "").strip() for k in ("address1", "address2", "city", "state", "zip")
        } | {"country": "USA"}
    said = (
        m,
        _REASON_MISTAKE.search(text),
        _REASON_UNNEEDED.search(text),
        _ALL_ITEMS.search(text),
        a,
    )
    return found or any(x is not None for x in said)
