"""PII redaction for training data: `dialogue.records.pii` with the placeholders of the data set.

    redact("Mail me at ann@example.com or call (415) 555-0134")
    -> "Mail me at <EMAIL> or call <PHONE>"

The conversations the dialogue model learns from write placeholders in angle brackets
("<EMAIL>", "<CARD>", "<NAME>", ...); the records store writes them in square brackets
("[EMAIL]"). What is found, and what is kept (order numbers, tracking numbers, amounts, dates),
is the same: see `dialogue.records.pii`. `redact_with_report` also counts what it replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from dialogue.records.checksums import is_card_number, luhn_ok
from dialogue.records.pii import TYPES, apply_spans, find_pii

__all__ = [
    "PLACEHOLDERS",
    "RedactionReport",
    "is_card_number",
    "luhn_ok",
    "redact",
    "redact_value",
    "redact_with_report",
]

# report field -> placeholder, in the order of `RedactionReport`
PLACEHOLDERS = {
    "email": "<EMAIL>",
    "phone": "<PHONE>",
    "card": "<CARD>",
    "address": "<ADDRESS>",
    "zip": "<ZIP>",
    "cvv": "<CVV>",
    "expiry": "<EXPIRY>",
    "cn_id": "<CN_ID>",
    "bank_account": "<BANK_ACCOUNT>",
    "name": "<NAME>",
}
_BY_TYPE = {t: PLACEHOLDERS[t.lower()] for t in TYPES}


@dataclass(frozen=True)
class RedactionReport:
    """How many values of each kind were replaced."""

    email: int = 0
    phone: int = 0
    card: int = 0
    address: int = 0
    zip: int = 0
    cvv: int = 0
    expiry: int = 0
    cn_id: int = 0
    bank_account: int = 0
    name: int = 0

    def __add__(self, other: RedactionReport) -> RedactionReport:
        return RedactionReport(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def redact_with_report(text: str) -> tuple[str, RedactionReport]:
    """`text` with personal data replaced by placeholders, and how many of each kind."""
    if not text:
        return text, RedactionReport()
    spans = find_pii(text)
    counts: dict[str, int] = {}
    for s in spans:
        counts[s.type.lower()] = counts.get(s.type.lower(), 0) + 1
    return apply_spans(text, spans, _BY_TYPE), RedactionReport(**counts)


def redact(text: str) -> str:
    """`text` with personal data replaced by "<EMAIL>", "<PHONE>", "<CARD>", "<NAME>", ..."""
    return redact_with_report(text)[0]


# Argument names whose whole value is personal, whatever it looks like.
_ARG_KINDS = {
    "email": "email",
    "address1": "address",
    "address2": "address",
    "zip": "zip",
    "first_name": "name",
    "last_name": "name",
}


def redact_value(value: Any, key: str | None = None) -> tuple[Any, RedactionReport]:
    """Redact every string in a JSON-like value (tool arguments and results). A string under a
    key of `_ARG_KINDS` (email, address1, address2, zip, first_name, last_name) is replaced
    whole when not empty, so that it matches the redacted text the model copies it from."""
    if isinstance(value, str):
        kind = _ARG_KINDS.get(key or "")
        if kind and value.strip() and value not in PLACEHOLDERS.values():
            return PLACEHOLDERS[kind], RedactionReport(**{kind: 1})
        return redact_with_report(value)
    report = RedactionReport()
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out[k], r = redact_value(v, k)
            report += r
        return out, report
    if isinstance(value, list):
        items = []
        for v in value:
            new, r = redact_value(v, key)
            items.append(new)
            report += r
        return items, report
    return value, report
