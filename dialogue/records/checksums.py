"""Checksums that tell a card number or a Chinese resident ID from any other digits.

The digits themselves, however a customer gives them, are read by `dialogue.nlu.digits`.
"""

from __future__ import annotations

import re

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
