"""Spoken forms of numbers and ids, written as digits, with a map back to the words as said.

ASR text says "my order is W two six one one three four zero" or "手机号幺三八一二三四五六七八";
the field patterns of `vision.fields` want "W2611340" and "13812345678". `normalise_spoken(text)`
rewrites only what is clearly a digit-by-digit reading and keeps, for every rewritten piece, the
span of the original words, so an entity found in the normalised text is reported at the
characters the customer actually said.

English: a run of digit words ("one two three four" -> 1234; "oh" and "zero" -> 0; "double five"
-> 55; "triple seven" -> 777; single digits "2 6" may join a run that has a word in it) of two
digits or more. A lone "one" stays a word ("return one item"), "oh" at either end of a run stays
an interjection ("oh, one two three" keeps its "oh"), and a run across commas needs three digits
("two, three weeks" stays). A single capital letter right before a run of four digits or more
joins it ("W two six one one" -> W2611), and "plus" before a run becomes "+".

Chinese: a run of digit characters read one by one (一二三四 -> 1234, 幺三八 -> 138; 幺 and 〇
are always digits) of three or more, or two with 幺/〇 in them, and 两 alone -> 2 ("两件" -> "2件").
A run touching a unit (十百千万亿) or 点 is a numeral with units and is left to
`vision.fields.parse_chinese_number` ("一百二十八元", "两百块").

Amounts said in number words before a currency word: "one hundred and twenty dollars" ->
"120 dollars", "a hundred bucks" -> "100 bucks" (a lone digit word, "one dollar", stays).

Email addresses said aloud: "alice dot smith at example dot com", and ASR's "Alice at
example.com", become "alice.smith@example.com" (the domain must end in a known top-level domain,
and "look at", "me at" are not addresses).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

_EN_DIGITS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_REPEAT = {"double": 2, "triple": 3}
_EN_TOKEN = re.compile(
    r"(?P<rep>double|triple)[ \t-]+(?P<rd>zero|oh|one|two|three|four|five|six|seven|eight|nine|[0-9])(?![A-Za-z0-9])"
    r"|(?P<word>zero|oh|o|one|two|three|four|five|six|seven|eight|nine)(?![A-Za-z0-9']|-[A-Za-z])"
    r"|(?P<num>[0-9])(?![0-9A-Za-z.,])",
    re.IGNORECASE,
)
_EN_GAP = re.compile(r"[ \t]*(?:[,-][ \t]*)?")  # what may stand between two tokens of a run
_CN_DIGITS = dict(zip("零〇一二三四五六七八九幺两", "0012345678912", strict=True))
_CN_UNITS = set("十百千万亿拾佰仟萬億点")
_CN_RUN = re.compile(r"[零〇一二三四五六七八九幺两](?:[ \t]?[零〇一二三四五六七八九幺两])*")


@dataclass(frozen=True)
class Normalised:
    """Text with spoken numbers written as digits, and the way back to the original.

    pieces: (norm_start, norm_end, orig_start, orig_end) for every rewritten piece, sorted
    """

    text: str
    original: str
    pieces: tuple[tuple[int, int, int, int], ...] = ()

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that normalised characters [start, end) came from; a
        span that touches a rewritten piece grows to cover all of its original words."""
        if not 0 <= start <= end <= len(self.text):
            raise ValueError(f"span ({start}, {end}) is outside the text of {len(self.text)}")
        return self._map(start, is_end=False), self._map(end, is_end=True)

    def _map(self, pos: int, is_end: bool) -> int:
        i = bisect.bisect_right([p[0] for p in self.pieces], pos) - 1
        if i < 0:
            return pos  # before every rewritten piece: copied through
        norm_start, norm_end, orig_start, orig_end = self.pieces[i]
        if pos == norm_start:
            return orig_start
        if pos < norm_end:  # inside a rewritten piece: grow to all of its words
            return orig_end if is_end else orig_start
        return pos + (orig_end - norm_end)


def _english_runs(text: str) -> list[tuple[int, int, str]]:
    """(start, end, digits) of each English digit-by-digit reading in `text`."""
    out: list[tuple[int, int, str]] = []
    tokens = [m for m in _EN_TOKEN.finditer(text) if _word_boundary_before(text, m.start())]
    i = 0
    while i < len(tokens):
        run = [tokens[i]]
        while i + len(run) < len(tokens):
            gap = text[run[-1].end() : tokens[i + len(run)].start()]
            if not _EN_GAP.fullmatch(gap):
                break
            run.append(tokens[i + len(run)])
        i += len(run)
        while run and (run[0]["word"] or "").lower() in ("oh", "o"):
            run = run[1:]  # "oh, one two three": the "oh" is an interjection
        while run and (run[-1]["word"] or "").lower() in ("oh", "o"):
            run = run[:-1]
        digits = "".join(_token_digits(m) for m in run)
        has_word = any(m["word"] or m["rep"] for m in run)
        has_comma = "," in text[run[0].start() : run[-1].end()] if run else False
        if not has_word or len(digits) < (3 if has_comma else 2):
            continue
        out.append((run[0].start(), run[-1].end(), digits))
    return out


def _word_boundary_before(text: str, pos: int) -> bool:
    return pos == 0 or not (text[pos - 1].isalnum() or text[pos - 1] in "'_")


def _token_digits(m: re.Match[str]) -> str:
    if m["rep"]:
        d = m["rd"].lower()
        return _EN_DIGITS.get(d, d) * _REPEAT[m["rep"].lower()]
    if m["word"]:
        return _EN_DIGITS[m["word"].lower()]
    return m["num"]


def _with_prefix(text: str, start: int, digits: str) -> tuple[int, str]:
    """Grow a run to the left over "W " (a capital letter, for ids) or "plus " (a phone's +)."""
    head = text[:start]
    m = re.search(r"(?<![A-Za-z0-9'])([A-HJ-Z])[ \t-]*$", head)  # not "I"
    if m and len(digits) >= 4:
        return m.start(1), m[1] + digits
    m = re.search(r"(?<![A-Za-z0-9])plus[ \t]*$", head, re.IGNORECASE)
    if m:
        return m.start(), "+" + digits
    return start, digits


def _chinese_runs(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _CN_RUN.finditer(text):
        start, end = m.span()
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        if before in _CN_UNITS or after in _CN_UNITS:
            continue  # 一百二十八, 两百, 三点五: a numeral with units
        chars = m[0].replace(" ", "").replace("\t", "")
        if chars == "两":
            out.append((start, end, "2"))
        elif len(chars) >= 3 or (len(chars) == 2 and set(chars) & set("幺〇")):
            out.append((start, end, "".join(_CN_DIGITS[c] for c in chars)))
    return out


_TLD = r"(?:com|net|org|edu|gov|info|biz|io|co|cn|uk|de|fr|jp|hk|tw|sg|au|ca|us)"
_SPOKEN_EMAIL = re.compile(
    r"(?<![\w@.])(?P<local>[A-Za-z0-9][\w+-]*(?:\s+(?:dot|underscore|dash)\s+[A-Za-z0-9][\w+-]*)*)"
    r"\s+(?:at|艾特)\s+"
    rf"(?P<domain>[A-Za-z0-9][\w-]*(?:(?:\s+dot\s+|\s*[.。]\s*)[A-Za-z0-9][\w-]*)*(?:\s+dot\s+|\s*[.。]\s*){_TLD})\b",
    re.IGNORECASE,
)
_EMAIL_WORDS = {"dot": ".", "underscore": "_", "dash": "-"}
_NOT_A_NAME = {"me", "us", "you", "him", "her", "them", "it", "look", "looking", "is", "am", "be", "was"}  # fmt: skip


def _spoken_emails(text: str) -> list[tuple[int, int, str]]:
    """ "alice dot smith at example dot com" and ASR's "Alice at example.com" -> the address."""
    out = []
    for m in _SPOKEN_EMAIL.finditer(text):
        local = m.group("local")
        if local.lower() in _NOT_A_NAME:
            continue
        words = re.split(r"\s+", f"{local} @ {m.group('domain')}".replace("。", " dot "))
        address = "".join(_EMAIL_WORDS.get(w.lower(), w) for w in words).lower()
        out.append((m.start(), m.end(), address))
    return out


_SMALL = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
)} | {w: 10 * i for i, w in enumerate(["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], 2)}  # fmt: skip
_SCALE = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_WORD = "|".join([*_SMALL, *_SCALE, "and", "a"])
_SAID_AMOUNT = re.compile(
    rf"(?<![A-Za-z])(?P<n>(?:(?:{_WORD})(?:[ -]+|$))+?)(?=(?:us )?(?:dollars?|bucks|euros?|pounds?|yuan|rmb)\b)",
    re.IGNORECASE,
)


def _said_number(words: list[str]) -> int | None:
    """ "one hundred and twenty" -> 120; None unless the words make one number."""
    total = current = 0
    seen = False
    for w in words:
        if w in _SMALL:
            current, seen = current + _SMALL[w], True
        elif w == "hundred":
            current, seen = max(current, 1) * 100, True
        elif w in ("thousand", "million"):
            total, current, seen = total + max(current, 1) * _SCALE[w], 0, True
        elif w not in ("and", "a"):
            return None
    return total + current if seen else None


def _english_amounts(text: str) -> list[tuple[int, int, str]]:
    """Amounts said in number words before a currency: "one hundred and twenty dollars" ->
    "120 dollars"; a lone digit word ("one dollar") stays as it is."""
    out = []
    for m in _SAID_AMOUNT.finditer(text):
        spans = [w for w in re.finditer(r"[A-Za-z]+", m["n"])]
        while len(spans) > 1 and spans[0][0].lower() in ("and", "a") and spans[1][0].lower() not in _SCALE:  # fmt: skip
            spans.pop(0)  # "... and twenty dollars": the number starts at "twenty"
        words = [w[0].lower() for w in spans]
        one_digit = len(words) == 1 and _SMALL.get(words[0], 10) < 10  # "one dollar" stays
        value = _said_number(words) if words and not one_digit else None
        if value is not None:
            out.append(
                (m.start("n") + spans[0].start(), m.start("n") + spans[-1].end(), str(value))
            )
    return out


def normalise_spoken(text: str) -> Normalised:
    """`text` with spoken digit readings written as digits and spoken email addresses written
    as addresses (see the module docstring)."""
    edits = _spoken_emails(text) + _english_amounts(text)
    taken = [(a, b) for a, b, _ in edits]
    for start, end, digits in _english_runs(text):
        start, digits = _with_prefix(text, start, digits)
        edits.append((start, end, digits))
    edits += _chinese_runs(text)
    edits = [e for e in edits if (e[0], e[1]) in taken or not any(a < e[1] and e[0] < b for a, b in taken)]  # fmt: skip
    edits.sort()
    parts: list[str] = []
    pieces = []
    pos = out_len = 0
    for start, end, new in edits:
        if start < pos:
            continue  # overlaps an earlier edit (cannot happen with these patterns; be safe)
        parts.append(text[pos:start])
        out_len += start - pos
        pieces.append((out_len, out_len + len(new), start, end))
        parts.append(new)
        out_len += len(new)
        pos = end
    parts.append(text[pos:])
    return Normalised("".join(parts), text, tuple(pieces))
