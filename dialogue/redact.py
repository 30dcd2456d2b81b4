"""Basic PII redaction, run on every text before it is written to training data.

    redact("Mail me at ann@example.com or call (415) 555-0134")
    -> "Mail me at <EMAIL> or call <PHONE>"

What is replaced, by a typed placeholder (the same for every value, so nothing can be undone):

- emails and phone numbers (US formats, +86 mobiles, Chinese landlines, anything with a phone
  cue) as `vision.fields.extract_fields` finds them: one set of patterns for the whole project.
  A number it reads as an order number or a tracking number is kept: those are not personal.
- payment card numbers: 13 to 19 digits, in one run or in groups of four split by spaces or
  dashes, with a card issuer's prefix and length (so an order number starting with 1 is not one)
  and a good Luhn check digit.
- street addresses: "986 Sunset Drive, Suite 259, Denver, CO 80279, USA" and Chinese
  "北京市朝阳区建国路88号3号楼" (a street name with a house number); a zip code after a cue
  ("zip code 80279", "邮编 100020") becomes <ZIP>.

Names are not redacted (a later privacy module will deepen this; keep `redact(text) -> str` and
`RedactionReport`). `redact_with_report` also counts what it replaced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from vision.fields import extract_fields

PLACEHOLDERS = {
    "email": "<EMAIL>",
    "phone": "<PHONE>",
    "card": "<CARD>",
    "address": "<ADDRESS>",
    "zip": "<ZIP>",
}
_KEEP = ("order_number", "tracking_number")  # numbers that are not personal

_CARD = re.compile(  # 13-19 digits in one run, or in groups of four (Amex: 4-6-5)
    r"(?<![0-9+])(?:[0-9]{13,19}|[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}(?:\1[0-9]{1,3})?"
    r"|[0-9]{4}([ -])[0-9]{6}\2[0-9]{5})(?![0-9])"
)
# Issuer prefixes and lengths (Visa, Amex, Diners, JCB, Mastercard, Discover/UnionPay/Maestro):
# a Luhn-valid order number or Chinese mobile-like run that starts with 1 is not a card.
_CARD_IIN = (
    (("4",), (13, 16, 19)),
    (("34", "37"), (15,)),
    (("30", "36", "38", "39"), tuple(range(14, 20))),
    (("35",), tuple(range(16, 20))),
    (("51", "52", "53", "54", "55", "22", "23", "24", "25", "26", "27"), (16,)),
    (("6", "50", "56", "57", "58"), tuple(range(13, 20))),
)
_STREET_SUFFIX = (
    r"street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|way|court|ct|place|pl|"
    r"terrace|ter|circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl"
)
_NAME_WORD = r"(?:[A-Z][A-Za-z'-]*|[0-9]+(?:st|nd|rd|th))"  # "Sunset", "1st"; not "shirts"
_UNIT = r"(?:,?[ \t]*(?i:suite|ste\.?|apt\.?|apartment|unit|floor|fl\.?|#)[ \t]*[A-Za-z0-9-]+)"
_CITY_STATE_ZIP = (
    r"(?:(?:,[ \t]*|[ \t]{2,})[A-Za-z][A-Za-z .'-]{1,30}?,[ \t]*[A-Za-z]{2}[ \t]*,?[ \t]*[0-9]{5}(?:-[0-9]{4})?"
    r"(?:,[ \t]*(?:USA|US|United States))?)"
)
_ADDRESS_EN = re.compile(
    r"(?<![0-9A-Za-z])[0-9]{1,6}[ \t]+(?:" + _NAME_WORD + r"[ \t]+){1,3}"
    r"(?i:"
    + _STREET_SUFFIX
    + r")\b(?:\.(?=[ \t]*,|[ \t]+[A-Za-z0-9]))?"
    + _UNIT
    + r"?"
    + _CITY_STATE_ZIP
    + r"?"
)
_HAN = r"(?:(?![我你您他她们在住是的了到寄送址为和从往去至于来请把]|地址)[\u4e00-\u9fff])"
_ADDRESS_ZH = re.compile(
    r"(?:"
    + _HAN
    + r"{1,5}(?:省|自治区))?(?:"
    + _HAN
    + r"{1,5}市)?(?:"
    + _HAN
    + r"{1,5}(?:区|县))?"
    + _HAN
    + r"{1,8}(?:路|街|大街|大道|巷|弄|胡同)[ \t]*[0-9一二三四五六七八九十]+[ \t]*号"
    r"(?:[ \t]*[0-9A-Za-z一二三四五六七八九十]+[ \t]*(?:号楼|栋|幢|楼|单元|室|层))*"
)
_ZIP = re.compile(
    r"(?:(?<![A-Za-z])(?:zip(?:[ \t]*code)?|post(?:al)?[ \t]*code)|邮编|邮政编码)"
    r"[ \t]*(?:is|:|：|是|为)?[ \t]*(?P<v>[0-9]{5,6}(?:-[0-9]{4})?)(?![0-9])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RedactionReport:
    """How many values of each kind were replaced."""

    email: int = 0
    phone: int = 0
    card: int = 0
    address: int = 0
    zip: int = 0

    def __add__(self, other: RedactionReport) -> RedactionReport:
        return RedactionReport(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a card number (digits only)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """A payment card number: a known issuer prefix and length, and the Luhn check."""
    fits = any(digits.startswith(p) and len(digits) in n for ps, n in _CARD_IIN for p in ps)
    return fits and luhn_ok(digits)


def _card_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _CARD.finditer(text) if is_card_number(re.sub(r"[ -]", "", m[0]))]


def _overlaps(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    return any(span[0] < b and a < span[1] for a, b in others)


def redact_with_report(text: str) -> tuple[str, RedactionReport]:
    """`text` with personal data replaced by placeholders, and how many of each kind."""
    if not text:
        return text, RedactionReport()
    found = extract_fields(text)
    keep = [f.span for f in found if f.kind in _KEEP]
    candidates: list[tuple[int, int, str]] = []  # start, end, kind; earlier kinds win overlaps
    candidates += [(*s, "card") for s in _card_spans(text) if not _overlaps(s, keep)]
    candidates += [(*f.span, f.kind) for f in found if f.kind in ("email", "phone")]
    candidates += [(*m.span(), "address") for m in _ADDRESS_EN.finditer(text)]
    candidates += [(*m.span(), "address") for m in _ADDRESS_ZH.finditer(text)]
    candidates += [(*m.span("v"), "zip") for m in _ZIP.finditer(text)]
    taken: list[tuple[int, int, str]] = []
    for start, end, kind in candidates:
        if not _overlaps((start, end), [(a, b) for a, b, _ in taken]):
            taken.append((start, end, kind))
    counts = {name: 0 for name in PLACEHOLDERS}
    out = text
    for start, end, kind in sorted(taken, reverse=True):
        out = out[:start] + PLACEHOLDERS[kind] + out[end:]
        counts[kind] += 1
    return out, RedactionReport(**counts)


def redact(text: str) -> str:
    """`text` with emails, phones, card numbers, street addresses and cued zip codes replaced
    by "<EMAIL>", "<PHONE>", "<CARD>", "<ADDRESS>" and "<ZIP>"."""
    return redact_with_report(text)[0]


# Argument names whose whole value is personal, whatever it looks like.
_ARG_KINDS = {"email": "email", "address1": "address", "address2": "address", "zip": "zip"}


def redact_value(value: Any, key: str | None = None) -> tuple[Any, RedactionReport]:
    """Redact every string in a JSON-like value (tool arguments and results). A string under a
    key of `_ARG_KINDS` (email, address1, address2, zip) is replaced whole when not empty."""
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
