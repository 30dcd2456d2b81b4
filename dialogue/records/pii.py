"""Personal data in English and Chinese text, found and replaced by typed placeholders.

    redact("card 4111 1111 1111 1111, cvv 123, call 13812345678").text
    -> "card [CARD], cvv [CVV], call [PHONE]"

Types: CARD (13-19 digits with an issuer prefix and the Luhn check, written "4111 1111 ...",
"4111-1111-...", "four one one one ..." or "四一一一..."; after a card cue any run of 4+ digits),
CVV and EXPIRY (after their cue: "CVV", "security code", "安全码"; "expires", "valid thru",
"有效期"), PHONE (US and international formats, +86 mobiles 1[3-9]xxxxxxxxx, Chinese landlines,
spoken or Chinese digits after a phone cue), EMAIL (also "ann dot lee at gmail dot com"), CN_ID
(an 18-character resident ID with a good ISO 7064 MOD 11-2 check character and birth date),
BANK_ACCOUNT (digits after "account number", "账号"; an IBAN with a good mod-97 check), ADDRESS
(en: house number, street name, suffix, and optionally unit, city, state, zip; zh: ...省/市/区,
a road and a house number), NAME (after "my name is", "this is X speaking", "Mr.", "我叫",
"我是" + a surname, "我的名字是"), ZIP (a zip or postal code after its cue).

Kept: order numbers, tracking numbers and error codes as `vision.fields.extract_fields` reads
them (a number they claim is no card or phone unless a cue says so), amounts, and dates without
an expiry cue. Placeholders are typed, never numbered, so nothing can be mapped back.

`redact` sees one text; `dialogue.records.redactor.Redactor` keeps the state of a conversation
(a card number given in two turns, a cue at the end of one turn and its value in the next). The
name, address and zip rules are in `dialogue.records.people`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dialogue.nlu.digits import Run, digit_runs
from dialogue.nlu.spoken import merged_at_emails
from dialogue.records.checksums import card_prefix, is_card_number, is_cn_id
from dialogue.records.people import find_addresses, find_names
from vision.fields import extract_fields

TYPES = (
    "EMAIL",
    "CN_ID",
    "CARD",
    "BANK_ACCOUNT",
    "CVV",
    "EXPIRY",
    "PHONE",
    "ADDRESS",
    "NAME",
    "ZIP",
)
PRIORITY = {t: i for i, t in enumerate(TYPES)}  # where two candidates overlap, the earlier wins
LANGUAGES = (None, "en", "zh")
_KEEP = ("order_number", "tracking_number", "error_code")  # numbers that are not personal
_I = re.IGNORECASE


def placeholder(kind: str) -> str:
    """The text that replaces a value of `kind`: "[CARD]"."""
    return f"[{kind}]"


@dataclass(frozen=True)
class Span:
    """One value found: its type and where it is in the original text."""

    type: str
    start: int
    end: int


@dataclass(frozen=True)
class Redaction:
    """The redacted text and what was replaced (spans index the original text)."""

    text: str
    spans: tuple[Span, ...]

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(s.type for s in self.spans))


# ---------------------------------------------------------------- cues

_STOP = r"[.。!?！？;；\n]"
CUES = {
    "CARD": r"(?:(?:credit|debit|bank|payment|visa|master ?card|amex)[ \t]+)?card(?:[ \t]*(?:number|no\.?|num|#)|[ \t]+is)|(?<![A-Za-z])(?:long[ \t]+)?number[ \t]+(?:on|across)[ \t]+the[ \t]+(?:front[ \t]+of[ \t]+(?:the|my|your)[ \t]+)?card|(?<![A-Za-z])the[ \t]+long[ \t]+number|信用卡号?|借记卡号?|银行卡号|卡号",
    "CVV": r"(?<![A-Za-z])(?:cvv2?|cvc2?|cvn|cid|security[ \t]+code|card[ \t]+verification[ \t]+(?:code|value|number))(?![A-Za-z])|(?:three|3|four|4)[ -]digits?(?:[ \t]+code)?[ \t]+on[ \t]+the[ \t]+back|安全码|校验码|背面的?(?:三|3)位(?:数字|数|码)?",
    "EXPIRY": r"(?<![A-Za-z])(?:expir(?:y|es|ation)(?:[ \t]+date)?|exp\.?(?:[ \t]+date)?|valid[ \t]+(?:thru|through|until|till)|good[ \t]+(?:thru|through))(?![A-Za-z])|有效期(?:至|到)?|到期(?:日|时间)?|过期时间",
    "BANK_ACCOUNT": r"(?<![A-Za-z])(?:(?:bank|checking|savings)[ \t]+)?(?:account|acct\.?)[ \t]*(?:number|no\.?|num|#)|routing[ \t]+number|sort[ \t]+code|银行账号|银行账户|收款账户|账户号码?|账号",
    "PHONE": r"(?<![A-Za-z])(?:(?:tele)?phone(?:[ \t]+number)?|mobile(?:[ \t]+number)?|cell(?:[ \t]+number)?|call[ \t]+me(?:[ \t]+(?:at|on))?|(?:reach|ring|contact)[ \t]+me[ \t]+(?:at|on)|text[ \t]+me[ \t]+at|my[ \t]+number)(?![A-Za-z])|联系电话|电话号码?|手机号码?|手机|联系方式|打我电话",
    "CN_ID": r"身份证(?:号码?)?|证件号码?|(?<![A-Za-z])(?:national|resident|citizen)?[ \t]*id(?:entity)?[ \t]+(?:card[ \t]+)?(?:number|no\.?)(?![A-Za-z])",
}
# a card read in parts: the value follows ("the first half is 4929 1234") or comes before ("5678
# 9015 is the rest"), with nothing but "is" between
_CARD_PART = re.compile(
    r"(?<![A-Za-z])(?:(?:the|my)[ \t]+)?(?:(?:first|second|last|other|next)[ \t]+(?:half|part|bit|group|(?:four|eight|4|8)(?:[ \t]+digits)?)|the[ \t]+rest(?:[ \t]+of[ \t]+it)?)(?![A-Za-z])"
    r"|前半部分|后半部分|前面?[四八48]位|后面?[四八48]位|剩下的(?:是|几位)?",
    re.IGNORECASE,
)
_PART_JOIN = re.compile(r"[ \t:：,，]*(?:(?:is|are|was|it's|是|为)[ \t:：,，]*)?", re.IGNORECASE)
# how many digits a value of each cued kind has (the cue wins over any checksum)
VALUE_DIGITS = {"CARD": (4, 19), "CVV": (3, 4), "EXPIRY": (4, 6), "BANK_ACCOUNT": (6, 34), "PHONE": (7, 15), "CN_ID": (15, 18)}  # fmt: skip
_CUE_RX = {k: re.compile(v, _I) for k, v in CUES.items()}
# what may stand between a cue and its value
_FILLER = re.compile(
    r"[ \t:：#,，]*(?:(?:is|are|was|it's|its|are|on|of|at|number|是|为|到|至|的)[ \t:：#,，]*){0,3}",
    _I,
)


def _run_after(runs: list[Run], text: str, pos: int, max_gap: int = 24) -> Run | None:
    """The digit run that follows a cue ending at `pos`, unless a sentence ends first."""
    for run in runs:
        if run.start < pos:
            continue
        gap = text[pos : run.start]
        if len(gap) <= max_gap and not re.search(_STOP, gap):
            return run
        return None
    return None


# ---------------------------------------------------------------- one rule per type


def _cards(text: str, runs: list[Run]) -> list[tuple[str, int, int, bool]]:
    out = []
    preferred = {16: 0, 15: 1, 19: 2}  # the usual lengths first, so a run does not eat a neighbour
    for run in runs:
        windows = [w for w in run.windows(13, 19) if is_card_number(w[2])]
        windows.sort(key=lambda w: (preferred.get(len(w[2]), 3), -len(w[2]), w[0]))
        for start, end, _ in windows:
            out.append(("CARD", start, end, False))
    for m in _CUE_RX["CARD"].finditer(text):
        run = _run_after(runs, text, m.end())
        if run and 4 <= len(run.digits) <= 19:
            out.append(("CARD", run.start, run.end, True))
    for m in _CARD_PART.finditer(text):
        after = m.end() + len(_PART_JOIN.match(text, m.end())[0])
        for run in runs:
            before = _PART_JOIN.fullmatch(text, run.end, m.start())
            if (run.start == after or before) and 4 <= len(run.digits) <= 19:
                out.append(("CARD", run.start, run.end, True))
    return out


def _cued(
    kind: str, text: str, runs: list[Run], lo: int, hi: int
) -> list[tuple[str, int, int, bool]]:
    out = []
    for m in _CUE_RX[kind].finditer(text):
        run = _run_after(runs, text, m.end())
        if run and lo <= len(run.digits) <= hi:
            out.append((kind, run.start, run.end, True))
    return out


_MONTHS = r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
_EXPIRY_VALUE = re.compile(
    r"(?:0?[1-9]|1[0-2])[ \t]*[/\-.][ \t]*(?:20)?[0-9]{2}(?![0-9])"
    r"|(?:" + _MONTHS + r")\.?,?[ \t]+(?:20)?[0-9]{2}(?![0-9])"
    r"|(?:20)?[0-9]{2}[ \t]*年[ \t]*(?:0?[1-9]|1[0-2])[ \t]*月份?"
    r"|(?:0?[1-9]|1[0-2])[ \t]*月[ \t/]*(?:20)?[0-9]{2}[ \t]*年?"
    # said: "oh nine twenty seven", "twelve, twenty twenty eight", "nine of thirty"
    r"|(?:(?:oh|zero)[ \t-]*(?:one|two|three|four|five|six|seven|eight|nine)|ten|eleven|twelve"
    r"|one|two|three|four|five|six|seven|eight|nine)[ \t,/]+(?:of[ \t]+)?"
    r"(?:twenty[ \t-]+)?(?:twenty|thirty)(?:[ \t-]+(?:one|two|three|four|five|six|seven|eight|nine))?(?![A-Za-z])",
    _I,
)


def _expiry(text: str, runs: list[Run]) -> list[tuple[str, int, int, bool]]:
    out = []
    for m in _CUE_RX["EXPIRY"].finditer(text):
        pos = m.end() + len(_FILLER.match(text, m.end())[0])
        v = _EXPIRY_VALUE.match(text, pos)
        if v:
            out.append(("EXPIRY", v.start(), v.end(), True))
            continue
        run = _run_after(runs, text, m.end())  # spoken: "oh three two seven", "零三二七"
        if run and len(run.digits) in (4, 6) and 1 <= int(run.digits[:2]) <= 12:
            out.append(("EXPIRY", run.start, run.end, True))
    return out


_CN_ID_ASCII = re.compile(
    r"(?<![0-9A-Za-z])[1-9][0-9]{5}[ \t-]?[0-9]{8}[ \t-]?[0-9]{3}[0-9Xx](?![0-9A-Za-z])"
)


def _cn_ids(text: str, runs: list[Run]) -> list[tuple[str, int, int, bool]]:
    out = [
        ("CN_ID", m.start(), m.end(), False)
        for m in _CN_ID_ASCII.finditer(text)
        if is_cn_id(re.sub(r"[ \t-]", "", m[0]))
    ]
    for m in _CUE_RX["CN_ID"].finditer(text):  # after its cue, an ID with a misheard digit too
        run = _run_after(runs, text, m.end())
        if run and len(run.digits) in (15, 17, 18):
            x = (
                re.match(r"[ \t]*(?:[Xx叉]|艾克斯)", text[run.end :])
                if len(run.digits) == 17
                else None
            )
            out.append(("CN_ID", run.start, run.end + (x.end() if x else 0), True))
    for run in runs:
        for start, end, digits in run.windows(17, 18):
            if len(digits) == 18 and is_cn_id(digits):
                out.append(("CN_ID", start, end, False))
            elif len(digits) == 17:
                x = re.match(r"[ \t]*(?:[Xx叉]|艾克斯)", text[end:])
                if x and is_cn_id(digits + "X"):
                    out.append(("CN_ID", start, end + x.end(), False))
    return out


_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?(?![A-Za-z0-9])"
)


def _iban_ok(value: str) -> bool:
    v = value.replace(" ", "")
    n = "".join(str(int(c, 36)) for c in v[4:] + v[:4])
    return 15 <= len(v) <= 34 and int(n) % 97 == 1


def _accounts(text: str, runs: list[Run]) -> list[tuple[str, int, int, bool]]:
    out = []
    for m in _CUE_RX["BANK_ACCOUNT"].finditer(text):
        run = _run_after(runs, text, m.end())
        if run and 6 <= len(run.digits) <= 34:
            kind = "CARD" if is_card_number(run.digits) else "BANK_ACCOUNT"
            out.append((kind, run.start, run.end, True))
    out += [("BANK_ACCOUNT", *m.span(), False) for m in _IBAN.finditer(text) if _iban_ok(m[0])]
    return out


_LANDLINE = re.compile(
    r"(?<![0-9])(?:\(0[1-9][0-9]{1,2}\)[ -]?|0[1-9][0-9]{1,2}[ -])[0-9]{3,4}[ -]?[0-9]{4}(?![0-9])"
)
_PLUS = re.compile(r"(?:(?<![A-Za-z])plus|\+)[ \t]*$", _I)  # "plus one six five zero ..."
_NANP = re.compile(r"1?[2-9][0-9]{2}[2-9][0-9]{6}")


def _phones(text: str, runs: list[Run], fields) -> list[tuple[str, int, int, bool]]:
    out = [("PHONE", *f.span, False) for f in fields if f.kind == "phone"]
    out += [("PHONE", *m.span(), False) for m in _LANDLINE.finditer(text)]
    for run in runs:
        if not run.spoken:
            continue  # written digits are read by vision.fields, which knows order numbers
        for start, end, digits in run.windows(10, 11):
            if re.fullmatch(r"1[3-9][0-9]{9}", digits) or _NANP.fullmatch(digits):
                out.append(("PHONE", start, end, False))
    out += _cued("PHONE", text, runs, 7, 15)
    return [(k, _with_plus(text, a), b, c) for k, a, b, c in out]


def _with_plus(text: str, start: int) -> int:
    """A phone span grown left over a "plus" or "+" said before its digits."""
    m = _PLUS.search(text, 0, start)
    return m.start() if m else start


_SPOKEN_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._-])(?-i:[A-Z][a-z]+[ \t]+(?=[A-Z]))?[A-Za-z0-9._-]+(?:[ \t]+(?:dot|underscore|dash)[ \t]+[A-Za-z0-9-]+)*"
    r"[ \t]+(?:at|@)[ \t]+[A-Za-z0-9-]+(?:[ \t]*(?:\.|(?<![A-Za-z])dot(?![A-Za-z]))[ \t]*[A-Za-z0-9-]+)*?"
    r"[ \t]*(?:\.|(?<![A-Za-z])dot(?![A-Za-z]))[ \t]*(?:com|net|org|edu|gov|io|cn|co|uk|de|info|me)(?![A-Za-z])",
    _I,
)


def _emails(text: str, fields) -> list[tuple[str, int, int, bool]]:
    out = [("EMAIL", *f.span, False) for f in fields if f.kind == "email"]
    out += [("EMAIL", *m.span(), False) for m in _SPOKEN_EMAIL.finditer(text)]
    return out + [("EMAIL", a, b, False) for a, b, _ in merged_at_emails(text)]


# ---------------------------------------------------------------- putting it together


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def find_pii(text: str, language: str | None = None) -> tuple[Span, ...]:
    """Every personal value in `text`, sorted by start, no two overlapping.

    language: "en", "zh" or None (both); it picks the name and address rules. Numbers, emails
        and the other structured types are looked for in every language.
    """
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose from {LANGUAGES}")
    if not text:
        return ()
    fields = extract_fields(text)
    keep = [f.span for f in fields if f.kind in _KEEP]
    runs = digit_runs(text)
    found = (
        _emails(text, fields)
        + _cn_ids(text, runs)
        + _cards(text, runs)
        + _accounts(text, runs)
        + _cued("CVV", text, runs, 3, 4)
        + _expiry(text, runs)
        + _phones(text, runs, fields)
        + find_addresses(text, language)
        + find_names(text, language)
    )
    found = [c for c in found if c[3] or not any(_overlaps(c[1:3], k) for k in keep)]
    found.sort(key=lambda c: (PRIORITY[c[0]], not c[3], c[1] - c[2], c[1]))
    taken: list[Span] = []
    for kind, start, end, _ in found:
        if start < end and not any(_overlaps((start, end), (s.start, s.end)) for s in taken):
            taken.append(Span(kind, start, end))
    return tuple(sorted(taken, key=lambda s: s.start))


def apply_spans(
    text: str, spans: Iterable[Span], placeholders: Mapping[str, str] | None = None
) -> str:
    """`text` with every span replaced by its type's placeholder (`placeholders` overrides)."""
    out = text
    for s in sorted(spans, key=lambda s: s.start, reverse=True):
        mark = (placeholders or {}).get(s.type) or placeholder(s.type)
        out = out[: s.start] + mark + out[s.end :]
    return out


def redact(
    text: str, language: str | None = None, placeholders: Mapping[str, str] | None = None
) -> Redaction:
    """`text` with personal data replaced by "[CARD]", "[PHONE]", ... (see the module doc)."""
    spans = find_pii(text, language)
    return Redaction(apply_spans(text, spans, placeholders), spans)


def open_cue(text: str) -> str | None:
    """The kind of value `text` asks for or announces without giving it ("what's the security
    code?", "my card number is"): the last cue in the text with no digits after it."""
    runs = digit_runs(text)
    last: tuple[int, str] | None = None
    for kind in VALUE_DIGITS:
        for m in _CUE_RX[kind].finditer(text):
            if last is None or m.end() > last[0]:
                last = (m.end(), kind)
    if last is None or _run_after(runs, text, last[0]) is not None:
        return None
    return last[1]


def expected_value(text: str, kind: str) -> Span | None:
    """The value of `kind` that opens `text`, when the turn before asked for it: "seven three
    seven" after "what's the security code?" (within the first words, before a sentence ends)."""
    run = _run_after(digit_runs(text), text, 0)
    lo, hi = VALUE_DIGITS[kind]
    if run is None or not lo <= len(run.digits) <= hi:
        return None
    if kind == "EXPIRY" and not (len(run.digits) in (4, 6) and 1 <= int(run.digits[:2]) <= 12):
        return None
    return Span(kind, run.start, run.end)


def trailing_card_fragment(text: str) -> Run | None:
    """The digit run at the very end of `text` when it could begin a card number (a customer
    reading a card in two turns): an issuer prefix and fewer than 19 digits."""
    runs = digit_runs(text)
    if not runs or text[runs[-1].end :].strip(" \t.,，。-") != "":
        return None
    run = runs[-1]
    return run if card_prefix(run.digits) and len(run.digits) < 19 else None
