"""Structured values in plain text: order numbers, error codes, amounts, dates, emails, phones
and tracking numbers (UPS 1Z, USPS, SF Express, UPU/China Post, Amazon TBA, DHL JJD, or any id
after a tracking cue), in English and Chinese.

The OCR text of screenshots comes through here, and the NLU of spoken and typed turns shares this
module, so every pattern also holds on ASR-style text: no layout, loose spacing, and Chinese
numerals ("单号一二三四五", "一百二十八元", "十一月二十九日").

It is a table: for each kind a few compiled patterns, each with a priority and a small normaliser
that turns a match into the canonical `value`, or None to reject it (February 30, too few digits).
Where matches overlap, the higher priority wins, then the longer match: an email beats anything
inside it, a cue ("order number", "运单号") beats a bare shape, and a tracking number beats a
phone number, which beats an amount. A field's span is its value without the cue: in "order 12345"
the field is "12345". Matches never run across a line break. The cue words are the core's,
plus a business's own (`FieldCues`, a pack's [fields] table), which stay in its pack.

Choices:
- "¥" alone means CNY: this product serves mainland China. Write "JPY 500" or "500円" for yen.
- "11/29/2026" is read month first (US); when the first part is over 12 it is read day first.
- A date without a year ("11月29日") gets the value "--11-29" (ISO 8601's form for an unknown
  year), and February 29 is allowed there.
- An amount is "<number with two decimals> <ISO 4217 code>" for every currency ("500.00 JPY"),
  so values compare as text. "块" counts only where no Chinese character follows it, since
  "一块手表" is one watch, not one yuan ("128块钱" is fine).
- A 400 number ("400-820-8820") is a Chinese service line, "+864008208820", not a US number.
- Full-width ASCII ("１２３", "：") is read as ASCII; spans still index the text as given.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from vision.numerals import CN_DIGITS, CN_NUMERALS, digit_string, parse_chinese_number
from vision.types import Field

FIELD_KINDS = ("order_number", "error_code", "amount", "date", "email", "phone", "tracking_number")

# ---------------------------------------------------------------- patterns and normalisers

Normaliser = Callable[[re.Match[str]], "str | None"]
_L, _R = r"(?<![0-9A-Za-z_])", r"(?![0-9A-Za-z_])"  # \b would see CJK characters as letters
_SEP = r"[ \t]*(?:is|是|为)?[ \t]*[:#]?[ \t]*"  # between a cue and its value: "is", ":", "#"
_ID = r"(?=[A-Za-z0-9-]*[0-9])[A-Za-z0-9][A-Za-z0-9-]{3,}"  # >= 4 characters, one a digit
_CN_ID = f"[{''.join(CN_DIGITS)}]{{4,}}"
_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def _digits(s: str) -> str:
    return re.sub(r"[^0-9]", "", s)


def _order(m: re.Match[str]) -> str | None:
    v = m["v"]
    return digit_string(v) if v[0] in CN_DIGITS else v.upper()


def _error(m: re.Match[str]) -> str | None:
    v = m["v"]
    return "0x" + v[2:].upper() if v[:2].lower() == "0x" else v.upper()


_ISO = ("USD", "EUR", "GBP", "CNY", "JPY", "HKD", "AUD", "CAD")
_CURRENCIES = {code: code for code in _ISO} | {
    "$": "USD", "US$": "USD", "DOLLAR": "USD", "DOLLARS": "USD", "BUCKS": "USD", "美元": "USD",
    "€": "EUR", "EURO": "EUR", "EUROS": "EUR", "欧元": "EUR", "£": "GBP", "英镑": "GBP",
    "¥": "CNY", "￥": "CNY", "RMB": "CNY", "人民币": "CNY", "YUAN": "CNY", "元": "CNY",
    "块": "CNY", "块钱": "CNY", "円": "JPY", "YEN": "JPY", "日元": "JPY",
    "HK$": "HKD", "港元": "HKD", "港币": "HKD", "A$": "AUD", "C$": "CAD",
}  # fmt: skip
_NUM = r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?"
_PREFIX = r"HK\$|US\$|A\$|C\$|\$|€|£|¥|￥|人民币|RMB|" + "|".join(_ISO)
_SUFFIX = (
    r"美元|欧元|英镑|日元|港元|港币|人民币|元|块钱|块(?![\u4e00-\u9fff])|円|dollars?|bucks|euros?|yuan|yen|rmb|"
    + "|".join(_ISO)
)


def _amount(m: re.Match[str]) -> str | None:
    n = m["n"]
    if re.fullmatch(_NUM, n):
        number = Decimal(n.replace(",", ""))
    else:
        try:
            number = Decimal(str(parse_chinese_number(n)))
        except ValueError:
            return None
    return f"{number.quantize(Decimal('0.01'), ROUND_HALF_UP)} {_CURRENCIES[m['c'].upper()]}"


def _cn_money(m: re.Match[str]) -> str | None:
    """ "一共三百五" -> 350.00 CNY: a numeral with units after a word about money."""
    try:
        return f"{Decimal(str(parse_chinese_number(m['v']))).quantize(Decimal('0.01'))} CNY"
    except ValueError:
        return None


def _yuan_jiao(m: re.Match[str]) -> str | None:
    """ "二十九块九" -> 29.90 CNY: the digit after 块 is jiao (tenths)."""
    try:
        yuan = Decimal(m["n"]) if m["n"].isdigit() else Decimal(str(parse_chinese_number(m["n"])))
    except ValueError:
        return None
    jiao = Decimal(CN_DIGITS.get(m["j"], m["j"])) / 10
    return f"{(yuan + jiao).quantize(Decimal('0.01'))} CNY"


_MON = r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {name: i for i, name in enumerate(_MONTH_NAMES, 1)}
_YEAR = r"(?P<y>(?:19|20)[0-9]{2})(?![0-9])"
_DAY = r"(?P<d>[0-9]{1,2})(?:st|nd|rd|th)?"


def _ymd(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _date_iso(m: re.Match[str]) -> str | None:
    return _ymd(int(m["y"]), int(m["m"]), int(m["d"]))


def _date_us(m: re.Match[str]) -> str | None:
    a, b = int(m["a"]), int(m["b"])
    month, day = (b, a) if a > 12 else (a, b)
    return _ymd(int(m["y"]), month, day)


def _date_named(m: re.Match[str]) -> str | None:
    return _ymd(int(m["y"]), _MONTHS[m["mon"][:3].lower()], int(m["d"]))


def _month_day(m: re.Match[str]) -> str | None:
    """ "March 3rd" (no year said) -> "--03-03", ISO 8601's month and day."""
    month, day = _MONTHS[m["mon"][:3].lower()], int(m["d"])
    return f"--{month:02d}-{day:02d}" if _ymd(2000, month, day) else None


def _date_zh(m: re.Match[str]) -> str | None:
    try:
        month, day = int(parse_chinese_number(m["m"])), int(parse_chinese_number(m["d"]))
    except ValueError:
        return None  # "十十月"
    if m["y"] is None:
        return f"--{month:02d}-{day:02d}" if _ymd(2000, month, day) else None
    return _ymd(int(digit_string(m["y"]) or 0), month, day)


def _phone_guess(digits: str, plus: bool) -> str | None:
    """E.164 where the digits say which country, else the digits as written."""
    if plus:
        return "+" + digits if 8 <= len(digits) <= 15 else None
    if digits.startswith("400") and len(digits) == 10:
        return "+86" + digits  # a Chinese service line
    if re.fullmatch(r"1[3-9][0-9]{9}", digits):
        return "+86" + digits
    if digits.startswith("0") and 10 <= len(digits) <= 12:
        return "+86" + digits[1:]  # a Chinese landline with its trunk 0
    if re.fullmatch(r"1?[2-9][0-9]{9}", digits):
        return "+1" + digits[-10:]
    return digits if 7 <= len(digits) <= 15 else None


def _phone(m: re.Match[str]) -> str | None:
    v = m.groupdict().get("v") or m[0]
    if v.startswith("W"):  # after a phone cue, Whisper writing "double" ("double-u"):
        v = v[1] + v[1:]  # "my number is double five five..." -> "W551234567", 555...
    return _phone_guess(_digits(v), v.startswith("+"))


def _phone_us(m: re.Match[str]) -> str | None:
    d = _digits(m[0])[-10:]
    return "+86" + d if d.startswith("400") else "+1" + d


def _tracking(m: re.Match[str]) -> str | None:
    v = re.sub(r"\s", "", m["v"]).upper()
    return v if len(v) >= 6 else None


def _tracking_digits(m: re.Match[str]) -> str | None:
    """A tracking number read out in groups: "357-962-501027" -> "357962501027"."""
    v = _digits(m["v"])
    return v if 10 <= len(v) <= 22 else None


def _usps(m: re.Match[str]) -> str | None:
    v = _digits(m["v"])
    return v if 20 <= len(v) <= 22 else None


_I = re.IGNORECASE
# kind -> ((priority, pattern, normaliser), ...). Spans are the group "v" where a pattern has one.
_RULES: dict[str, tuple[tuple[int, re.Pattern[str], Normaliser], ...]] = {
    "email": (
        (100, _rx(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])"), lambda m: m[0].lower()),
    ),
    "tracking_number": (
        (80, _rx(_L + r"(?P<v>1Z[0-9A-Z]{16}|SF[0-9]{12,13}|[A-Z]{2}[0-9]{9}[A-Z]{2}|TBA[0-9]{12}|JJD[0-9]{18})" + _R), _tracking),
        (91, _rx(r"tracking(?:[ \t]*(?:number|num|no\.?|id|code))?(?:[ \t]+(?:on|in|of)[ \t]+(?:the|my|your)[ \t]+[a-z]+)?[ \t]+(?:says|reads|shows|is)[ \t]*:?[ \t]*(?P<v>[0-9](?:[ -]?[0-9]){9,21})" + _R, _I), _tracking_digits),
        (75, _rx(_L + r"(?P<v>9[2-5][0-9]{2}(?: ?[0-9]{4}){4}(?: ?[0-9]{1,2})?)" + _R), _usps),
    ),
    "order_number": (
        (90, _rx(r"(?<![A-Za-z])order(?![a-z])(?:[ \t]*(?:number|num|no\.?|id|#))?" + _SEP + f"(?P<v>{_ID})" + _R, _I), _order),
        (70, _rx(_L + r"(?P<v>ORD(?:ER)?[-_]?(?=[A-Z0-9-]*[0-9])[A-Z0-9][A-Z0-9-]{3,})" + _R, _I), _order),
        # 单号 alone may name an order or a waybill: below a tracking number's shape
        (79, _rx(r"单号" + _SEP + f"(?P<v>{_ID}{_R}|{_CN_ID})"), _order),
        (70, _rx(r"(?<![0-9A-Za-z&#])#(?P<v>" + _ID + ")" + _R), _order),
    ),
    "error_code": (
        (90, _rx(r"(?:(?<![A-Za-z])(?:error|err)(?:[ \t]*code)?(?:[ \t]*(?:no\.?|number|#))?|错误代码|错误码|错误编号|故障代码|故障码|错误|报错)" + _SEP + r"(?P<v>0x[0-9a-f]{4,16}|[a-z]{1,4}[-_]?[0-9]{2,}[a-z0-9-]*|[a-z]+(?:_[a-z0-9]+)+|[0-9]{3,6})" + _R, _I), _error),
        (70, _rx(_L + r"(?P<v>0x[0-9A-Fa-f]{4,16}|ERR_[A-Z0-9_]+|E-?[0-9]{3,6})" + _R), _error),
        (65, _rx(_L + r"(?P<v>[45][0-9]{2})[ \t]+(?:not found|forbidden|unauthori[sz]ed|bad request|internal server error|bad gateway|service unavailable|gateway time-?out|too many requests|method not allowed|request time-?out|conflict|gone)(?![a-z])", _I), _error),
        (65, _rx(r"(?<![A-Za-z])HTTP(?:[ \t]*(?:error|status))?[ \t]*[:#]?[ \t]*(?P<v>[45][0-9]{2})" + _R, _I), _error),
    ),
    "date": (
        (60, _rx(_L + r"(?P<y>(?:19|20)[0-9]{2})(?P<s>[-/.])(?P<m>[0-9]{1,2})(?P=s)(?P<d>[0-9]{1,2})(?![0-9])"), _date_iso),
        (60, _rx(_L + r"(?P<a>[0-9]{1,2})(?P<s>[-/.])(?P<b>[0-9]{1,2})(?P=s)" + _YEAR), _date_us),
        (60, _rx(_L + _DAY + r"[ \t]+(?:of[ \t]+)?(?P<mon>" + _MON + r")(?![a-z])\.?,?[ \t]+" + _YEAR, _I), _date_named),
        (60, _rx(r"(?<![A-Za-z])(?P<mon>" + _MON + r")(?![a-z])\.?[ \t]+" + _DAY + r",?[ \t]+" + _YEAR, _I), _date_named),
        (59, _rx(r"(?<![A-Za-z])(?P<mon>" + _MON + r")(?![a-z])\.?[ \t]+" + _DAY + r"(?![0-9A-Za-z]|,?[ \t]+[0-9])", _I), _month_day),
        (60, _rx(r"(?<![0-9])(?:(?P<y>[0-9]{4}|[〇零一二三四五六七八九]{4})[ \t]*年[ \t]*)?(?P<m>[0-9]{1,2}|[一二三四五六七八九十]{1,3})[ \t]*月[ \t]*(?P<d>[0-9]{1,2}|[一二三四五六七八九十]{1,3})[ \t]*[日号]"), _date_zh),
    ),
    "phone": (
        (40, _rx(r"(?<![0-9A-Za-z+])\+[1-9][0-9 .()-]{6,20}[0-9](?![0-9])"), _phone),
        (40, _rx(r"(?<![0-9A-Za-z+])(?:\+?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}" + _R), _phone),
        (40, _rx(r"(?<![0-9A-Za-z+])(?:1[ .-]?)?(?:\([2-9][0-9]{2}\)[ ]?|[2-9][0-9]{2}[ .-])[0-9]{3}[ .-][0-9]{4}" + _R), _phone_us),
        (40, _rx(_L + r"(?:0[1-9][0-9]{1,2}-[0-9]{7,8}|400[0-9]{7})" + _R), _phone),
        (39, _rx(r"(?:(?<![A-Za-z])(?:phone|tel|mobile|call)(?:[ \t]*(?:number|no\.?))?|(?<![A-Za-z])(?:my|your)[ \t]+number(?=[ \t]+is)|联系电话|电话号码|电话|手机号码|手机号|手机)" + _SEP + r"(?P<v>(?-i:W)?\+?[0-9][0-9 ()-]{5,18}[0-9])(?![0-9])", _I), _phone),
    ),
    "amount": (
        (31, _rx(r"(?<![" + CN_NUMERALS + r"0-9])(?P<n>[0-9" + CN_NUMERALS + r"]+)[ \t]*块(?P<j>[一二三四五六七八九1-9])(?:毛)?(?![0-9" + CN_NUMERALS + r"])"), _yuan_jiao),
        (30, _rx(r"(?<![A-Za-z])(?P<c>" + _PREFIX + r")[ \t]*(?P<n>" + _NUM + r")(?:[ \t]*(?:元|块钱))?(?![0-9])", _I), _amount),
        (30, _rx(r"(?<![0-9A-Za-z.," + CN_NUMERALS + r"])(?P<n>[0-9" + CN_NUMERALS + r"][0-9.," + CN_NUMERALS + r"]*)[ \t]*(?P<c>" + _SUFFIX + r")(?![A-Za-z])", _I), _amount),
    ),
}  # fmt: skip
# The rules that also read a business's own cue words (FieldCues): kind -> (priority, pattern
# with {cue} where the words go, the core's words, flags, normaliser).
_CUED: dict[str, tuple[int, str, str, int, Normaliser]] = {
    "tracking_number": (92, r"(?:tracking(?:[ \t]*(?:number|num|no\.?|id|code|#))?|waybill(?:[ \t]*(?:number|no\.?))?|{cue})" + _SEP + r"(?P<v>(?=[A-Za-z0-9-]*[0-9])[A-Za-z0-9][A-Za-z0-9-]*(?: [0-9]{3,})*)" + _R, "运单号码|运单编号|运单号", _I, _tracking),
    "order_number": (90, r"(?:{cue})" + _SEP + f"(?P<v>{_ID}{_R}|{_CN_ID})", "", 0, _order),
    # said with no currency after a money word: "付了三百五", "一共花了一千二"
    "amount": (29, r"(?:{cue})[ \t]*(?P<v>[" + CN_NUMERALS + r"]*[十百千万拾佰仟][" + CN_NUMERALS + r"]*)(?![" + CN_NUMERALS + r"块元毛角0-9个件次天])", "花了|付了|退了|退我|退回|收了|扣了|多扣了?|少退了?|一共|总共|价格是?|价钱是?", 0, _cn_money),
}  # fmt: skip


@dataclass(frozen=True)
class FieldCues:
    """A business's own words that name a field before its value, beside the core's ("order
    number", "tracking", 单号, 运单号, 花了...): a pack's [fields] table (`DomainPack.reading_words`).
    Plain words, not patterns; any language: a bank might give 卡号 and 转账 (the sample shop's
    are in its pack)."""

    order_number: tuple[str, ...] = ()
    tracking_number: tuple[str, ...] = ()
    # money words before a Chinese amount said with no unit: 转账三百五
    amount: tuple[str, ...] = ()

    def __post_init__(self):
        for kind in _CUED:
            words = getattr(self, kind)
            if not isinstance(words, tuple) or not all(isinstance(w, str) and w.strip() for w in words):  # fmt: skip
                raise ValueError(f"FieldCues.{kind} = {words!r}; give a tuple of words, e.g. ('卡号',)")  # fmt: skip

    @classmethod
    def from_table(cls, table: dict, where: str = "domain.toml") -> FieldCues:
        """A pack's [fields] table: kind = ["word", ...] for the kinds above; ValueError naming
        `where` (the file) and the fix."""
        unknown = sorted(set(table) - set(_CUED))
        if unknown:
            raise ValueError(f"{where}: [fields] no field kind {unknown}; cue words go to {sorted(_CUED)}")  # fmt: skip
        bad = [kind for kind, words in table.items() if not isinstance(words, list | tuple)]
        if bad:
            raise ValueError(f'{where}: [fields] {bad[0]} = {table[bad[0]]!r}; give a list of words, e.g. ["卡号"]')  # fmt: skip
        try:
            return cls(**{kind: tuple(words) for kind, words in table.items()})
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: [fields] {e}") from None


CORE_CUES = FieldCues()


@functools.lru_cache(maxsize=32)
def _rules(cues: FieldCues) -> dict[str, tuple[tuple[int, re.Pattern[str], Normaliser], ...]]:
    """The table with the cued rules compiled for `cues`: its words first, longest first."""
    rules = dict(_RULES)
    for kind, (priority, pattern, core, flags, normalise) in _CUED.items():
        words = sorted({re.escape(w.strip()) for w in getattr(cues, kind)}, key=len, reverse=True)
        if words or core:
            cued = _rx(pattern.replace("{cue}", "|".join(filter(None, [*words, core]))), flags)
            rules[kind] = (*rules.get(kind, ()), (priority, cued, normalise))
    return rules


def _wanted(kinds: Iterable[str] | None) -> set[str]:
    if kinds is None:
        return set(FIELD_KINDS)
    wanted = {kinds} if isinstance(kinds, str) else set(kinds)
    unknown = sorted(wanted - set(FIELD_KINDS))
    if unknown:
        raise ValueError(f"unknown field kind(s) {unknown}; choose from {FIELD_KINDS}")
    return wanted


def extract_fields(
    text: str, kinds: Iterable[str] | None = None, cues: FieldCues = CORE_CUES
) -> tuple[Field, ...]:
    """Every field in `text`, sorted by where it starts, no two overlapping.

    kinds: the kinds to return (all of FIELD_KINDS when None; one name may be given as a str).
        Overlaps are settled among all kinds first, so filtering never turns an order number
        into a phone: the answer is the full answer with the other kinds left out.
    cues: a business's own cue words beside the core's (a pack's, `DomainPack.reading_words`).
    """
    wanted = _wanted(kinds)
    search = text.translate(_FULLWIDTH)  # same length, so spans index `text`
    found: list[tuple[int, int, int, str, str]] = []  # priority, start, end, kind, value
    for kind, rules in _rules(cues).items():
        for priority, pattern, normalise in rules:
            for m in pattern.finditer(search):
                value = normalise(m)
                if value:
                    start, end = m.span("v") if m.groupdict().get("v") else m.span()
                    found.append((priority, start, end, kind, value))
    found.sort(key=lambda c: (-c[0], c[1] - c[2], c[1]))  # best first: priority, then length
    starts: list[int] = []  # of the fields taken, which never overlap, kept sorted
    taken: list[Field] = []
    for _, start, end, kind, value in found:
        i = bisect.bisect(starts, start)
        if (i and taken[i - 1].span[1] > start) or (i < len(starts) and starts[i] < end):
            continue  # overlaps a better field
        starts.insert(i, start)
        taken.insert(i, Field(kind, text[start:end], value, (start, end)))
    return tuple(f for f in taken if f.kind in wanted)
