"""Digits however a customer gives them: "4111 1111", "4111-1111", "four one one one",
"double one", "四一一一", "幺三八" and full-width "４１１１". The PII rules find numbers here.

A *run* is a list of groups that follow each other with only spaces, commas, dashes or dots
between them; a group is one token: "4111", "four", or "四一一一". A run's groups keep their
spans in the text, so a window of groups (a card number inside a longer run) maps back to a span.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORDS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_HAN = {
    ch: str(i)
    for i, chars in enumerate(("零〇洞", "一幺", "二两", "三", "四", "五", "六", "七", "八", "九"))
    for ch in chars
}
_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])[0-9]+(?![A-Za-z0-9])"
    r"|[零〇洞一幺二两三四五六七八九]+"
    r"|(?<![A-Za-z])(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|double|triple)(?![A-Za-z])",
    re.IGNORECASE,
)
_GAP = re.compile(r"[ \t,.\-、，/]{0,3}")  # what may stand between two groups of one run


@dataclass(frozen=True)
class Group:
    """One token of a run: its span in the text and the digits it stands for."""

    start: int
    end: int
    digits: str
    spoken: bool  # written as words or Chinese digits, not ASCII digits


@dataclass(frozen=True)
class Run:
    groups: tuple[Group, ...]

    @property
    def start(self) -> int:
        return self.groups[0].start

    @property
    def end(self) -> int:
        return self.groups[-1].end

    @property
    def digits(self) -> str:
        return "".join(g.digits for g in self.groups)

    @property
    def spoken(self) -> bool:
        return any(g.spoken for g in self.groups)

    def windows(self, min_len: int, max_len: int):
        """Every (start, end, digits) of consecutive groups with min_len..max_len digits,
        longest first."""
        found = []
        n = len(self.groups)
        for i in range(n):
            digits = ""
            for j in range(i, n):
                digits += self.groups[j].digits
                if len(digits) > max_len:
                    break
                if len(digits) >= min_len:
                    found.append((self.groups[i].start, self.groups[j].end, digits))
        return sorted(found, key=lambda w: (-len(w[2]), w[0]))


def ascii_text(text: str) -> str:
    """Full-width ASCII read as ASCII; the same length, so spans still index `text`."""
    return text.translate(_FULLWIDTH)


def digit_runs(text: str) -> list[Run]:
    """Every run of digits in `text`, in order. "double one" gives the group "11"."""
    search = ascii_text(text)
    runs: list[list[Group]] = []
    pending: tuple[int, int, bool] | None = None  # "double"/"triple": start, times, joins
    last_end = -1
    for m in _TOKEN.finditer(search):
        tok = m[0].lower()
        joins = last_end >= 0 and _GAP.fullmatch(search[last_end : m.start()]) is not None
        if tok in ("double", "triple"):
            pending = (m.start(), 2 if tok == "double" else 3, joins)
            last_end = m.end()
            continue
        if tok[0].isdigit():
            digits, spoken = tok, False
        elif tok in _WORDS:
            digits, spoken = _WORDS[tok], True
        else:
            digits, spoken = "".join(_HAN[c] for c in tok), True
        start = m.start()
        if pending is not None and joins and len(digits) == 1:
            start, digits, joins = pending[0], digits * pending[1], pending[2]
        pending = None
        group = Group(start, m.end(), digits, spoken)
        if joins and runs:
            runs[-1].append(group)
        else:
            runs.append([group])
        last_end = m.end()
    return [Run(tuple(r)) for r in runs]


def digits_of(text: str) -> str:
    """All the digits of `text` in order, read the way `digit_runs` reads them."""
    return "".join(r.digits for r in digit_runs(text))


# ---------------------------------------------------------------- checksums

# Issuer prefixes and lengths (Visa, Amex, Diners, JCB, Mastercard, Discover/UnionPay/Maestro):
# a Luhn-valid order number or a run that starts with 1 is not a card.
_CARD_IIN = (
    (("4",), (13, 16, 19)),
    (("34", "37"), (15,)),
    (("30", "36", "38", "39"), tuple(range(14, 20))),
    (("35",), tuple(range(16, 20))),
    (("51", "52", "53", "54", "55", "22", "23", "24", "25", "26", "27"), (16,)),
    (("6", "50", "56", "57", "58"), tuple(range(13, 20))),
)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a card number (digits only)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_prefix(digits: str) -> bool:
    """`digits` start like a card of some issuer (any length up to 19)."""
    return any(digits.startswith(p) for ps, _ in _CARD_IIN for p in ps) and len(digits) <= 19


def is_card_number(digits: str) -> bool:
    """A payment card number: a known issuer prefix and length, and the Luhn check."""
    fits = any(digits.startswith(p) and len(digits) in n for ps, n in _CARD_IIN for p in ps)
    return fits and luhn_ok(digits)


_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"


def cn_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits of a resident ID."""
    return _CN_ID_CHECK[sum(int(d) * w for d, w in zip(first17, _CN_ID_WEIGHTS, strict=True)) % 11]


def is_cn_id(value: str) -> bool:
    """An 18-character Chinese resident ID: a region, a birth date in 1900-2099, the checksum."""
    v = value.upper()
    if not re.fullmatch(r"[1-9][0-9]{16}[0-9X]", v):
        return False
    year, month, day = int(v[6:10]), int(v[10:12]), int(v[12:14])
    if not (1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    return cn_id_check_char(v[:17]) == v[17]
