"""Chinese numerals, as written and as said: "一百二十八" -> 128, "3万5千" -> 35000, "三点五" -> 3.5,
"壹佰贰拾捌" -> 128, digit by digit "一二三四五" -> 12345, and the spoken short forms "三百五" (350)
and "一万五" (15000). `vision.fields` reads amounts, dates and ids with them.
"""

from __future__ import annotations

import re
from decimal import Decimal

CN_DIGITS = {
    ch: i
    for i, chars in enumerate(
        ("零〇", "一壹幺", "二两兩贰貳", "三叁參", "四肆", "五伍", "六陆陸", "七柒", "八捌", "九玖")
    )
    for ch in chars
}
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG = {"万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8}
CN_NUMERALS = "".join(CN_DIGITS) + "".join(_CN_UNITS) + "".join(_CN_BIG) + "点"
_HOW = "write digits (一二三 or 123), units (十百千万亿, 拾佰仟), 两, 〇 and 点, e.g. 一百二十八 or 3万5千"


def _junk(text: str, why: str) -> ValueError:
    return ValueError(f"cannot read {text!r} as a number: {why}; {_HOW}")


def digit_string(s: str) -> str | None:
    """Read "一二三四五" or "2026" digit by digit; None when something else is in it."""
    out = []
    for ch in s:
        if ch in CN_DIGITS:
            out.append(str(CN_DIGITS[ch]))
        elif "0" <= ch <= "9":
            out.append(ch)
        else:
            return None
    return "".join(out)


def _read_units(s: str, text: str) -> Decimal:
    """Read a numeral with units: "一亿二千万", "三百零五", "3万5千", "一万五" (15000)."""
    total = section = chunk = Decimal(0)  # above 亿, between 万 and 亿, below 万
    num: Decimal | None = None  # the digit waiting for its unit
    last_unit = 0  # the unit just before `num`: in "一万五" the 五 means 5000
    smallest = 10**4  # small units must fall inside a chunk: 千 then 百 then 十
    for tok in re.findall(r"[0-9]+(?:\.[0-9]+)?|\S", s):
        if tok[0] in "0123456789" or tok in CN_DIGITS:
            if num is not None:
                raise _junk(text, f"two digits in a row before {tok!r}")
            if tok in CN_DIGITS and CN_DIGITS[tok] == 0:
                last_unit = 0  # 零 only holds a place: 一百零五
                continue
            num = Decimal(tok) if tok[0] in "0123456789" else Decimal(CN_DIGITS[tok])
        elif tok in _CN_UNITS:
            unit = _CN_UNITS[tok]
            if unit >= smallest:
                raise _junk(
                    text, f"{tok!r} cannot follow a smaller unit (千 comes before 百 before 十)"
                )
            chunk += (1 if num is None else num) * unit
            smallest, last_unit, num = unit, unit, None
        elif tok in _CN_BIG:
            big, n = _CN_BIG[tok], chunk + (num or 0)
            if big == 10**8:
                total, section = total + (section + n) * big, Decimal(0)
            elif n == 0:
                raise _junk(text, f"{tok!r} needs a number before it")
            else:
                section += n * big
            chunk, num, smallest, last_unit = Decimal(0), None, 10**4, big
        else:
            raise _junk(text, f"{tok!r} is not a numeral")
    if total == section == chunk == 0 and num is None:
        raise _junk(text, "there is no digit in it")
    if num is not None and last_unit >= 100:
        num *= last_unit // 10  # spoken short forms: 三百五 = 350, 一万五 = 15000
    return total + section + chunk + (num or 0)


def parse_chinese_number(text: str) -> int | float:
    """The value of a Chinese numeral: "一百二十八" -> 128, "3万5千" -> 35000, "三点五" -> 3.5,
    "壹佰贰拾捌" -> 128, and digit by digit "一二三四五" -> 12345. A float only when the value
    has a fractional part or is written with 点. Raises ValueError on anything else."""
    s = text.strip()
    if not s:
        raise _junk(text, "it is empty")
    whole, point, frac = s.partition("点")
    if point and (not whole or not frac or "点" in frac):
        raise _junk(text, "点 needs digits on both sides, once")
    frac_digits = digit_string(frac) if point else ""
    if frac_digits is None:
        raise _junk(text, "only digits may follow 点")
    digits = digit_string(whole)
    value = Decimal(digits) if digits else _read_units(whole, text)
    if point:
        return float(value + Decimal(f"0.{frac_digits}"))
    return int(value) if value == value.to_integral_value() else float(value)
