"""Spoken forms of numbers and ids, written as digits, with a map back to the words as said.

ASR text says "my order is W two six one one three four zero" or "手机号幺三八一二三四五六七八";
the field patterns of `vision.fields` want "W2611340" and "13812345678". `normalise_spoken(text)`
rewrites only what is clearly a digit-by-digit reading and keeps, for every rewritten piece, the
span of the original words, so an entity found in the normalised text is reported at the
characters the customer actually said.

Digits are read by `dialogue.nlu.digits` (the reader the redaction uses too): English readings
("one two three four" -> 1234, "double five" -> 55, "oh" and "zero" -> 0) and Chinese ones
(一二三四 -> 1234, 幺三八 -> 138, 两件 -> 2件); numerals with units (一百二十八元, 三百五) are left to
`vision.fields.parse_chinese_number`. A single capital letter right before a run of four digits
or more joins it ("W two six one one" -> W2611), and so does a spelled letter ("W as in whiskey,
two six one one", "W for whiskey 2611340"); "plus" before a run becomes "+". Digits said in
groups the way a North American number is ("double five five, one two three, four five six
seven") are written that way ("555 123 4567"), so the phone pattern knows them with no cue.

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

from dialogue.nlu.digits import chinese_readings, english_readings


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


_SPELLED = re.compile(
    r"(?<![A-Za-z0-9'])(?P<letter>[A-Za-z])[ \t]*,?[ \t]+(?:as[ \t]+in|is[ \t]+in|for|like)[ \t]+(?P<word>[A-Za-z]+)(?![A-Za-z'])",
    re.IGNORECASE,
)
_PHONE_SHAPES = {(3, 3, 4), (1, 3, 3, 4)}  # said in groups like a North American number


def _spelled_letters(text: str) -> list[tuple[int, int, str]]:
    """ "W as in whiskey", "b for bravo" -> the capital letter (the word must start with it)."""
    return [
        (m.start(), m.end(), m["letter"].upper())
        for m in _SPELLED.finditer(text)
        if m["word"][0].lower() == m["letter"].lower()
    ]


def _with_prefix(
    text: str, start: int, digits: str, letters: list[tuple[int, int, str]]
) -> tuple[int, str, tuple[int, int, str] | None]:
    """Grow a run to the left over a letter for an id ("W two six", "W as in whiskey, two
    six") or "plus " (a phone's +); the spelled letter it took, if any."""
    head = text[:start]
    for letter in letters:
        if len(digits) >= 4 and re.fullmatch(r"[ \t,.:-]*", text[letter[1] : start]):
            return letter[0], letter[2] + digits, letter
    m = re.search(r"(?<![A-Za-z0-9'])([A-HJ-Z])[ \t-]*$", head)  # not "I"
    if m and len(digits) >= 4:
        return m.start(1), m[1] + digits, None
    m = re.search(r"(?<![A-Za-z0-9])plus[ \t]*$", head, re.IGNORECASE)
    if m:
        return m.start(), "+" + digits, None
    return start, digits, None


def _digit_edits(text: str) -> list[tuple[int, int, str]]:
    """Spelled letters, English and Chinese digit readings, as (start, end, written) edits."""
    letters = _spelled_letters(text)
    edits = []
    for run in english_readings(text, spoken_only=False):
        start, written, letter = _with_prefix(text, run.start, run.digits, letters)
        if letter is None and not run.spoken:
            continue  # written digits stay as they are unless a spelled letter leads them
        if letter is not None:
            letters.remove(letter)
        elif tuple(len(p) for p in run.phrases()) in _PHONE_SHAPES and not written.startswith("+"):
            written = " ".join(run.phrases())  # "555 123 4567", as a phone is written
        edits.append((start, run.end, written))
    edits += letters
    edits += [(run.start, run.end, run.digits) for run in chinese_readings(text)]
    return edits


_TLD = r"(?:com|net|org|edu|gov|info|biz|io|co|cn|uk|de|fr|jp|hk|tw|sg|au|ca|us)"
_SPOKEN_EMAIL = re.compile(
    r"(?<![\w@.])(?P<local>[A-Za-z0-9][\w+-]*(?:\s+(?:dot|underscore|dash)\s+[A-Za-z0-9][\w+-]*)*)"
    r"\s+(?:at|艾特)\s+"
    rf"(?P<domain>[A-Za-z0-9][\w-]*(?:(?:\s+dot\s+|\s*[.。]\s*)[A-Za-z0-9][\w-]*)*(?:\s+dot\s+|\s*[.。]\s*){_TLD})\b",
    re.IGNORECASE,
)
_EMAIL_WORDS = {"dot": ".", "underscore": "_", "dash": "-"}
# ASR writes a dictated "ivan dot santos at example dot com" as "Ivan.Santosatexample.com": after
# an email cue, a token with no "@" whose last "at" leaves a domain is read as the address
_MERGED_AT = re.compile(
    r"(?:e-?mail(?:[ \t]+address)?|邮箱(?:地址)?)[ \t]*(?:is|was|是|:|：)?[ \t]*"
    rf"(?P<v>[A-Za-z0-9._%+-]+?at[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.{_TLD})(?![A-Za-z0-9@-])",
    re.IGNORECASE,
)


def merged_at_emails(text: str) -> list[tuple[int, int, str]]:
    """(start, end, address) of each address ASR wrote with its "at" run into the words
    ("my email is Ivan.Santosatexample.com" -> ivan.santos@example.com)."""
    out = []
    for m in _MERGED_AT.finditer(text):
        v = m["v"]
        at = v.lower().rfind("at", 0, v.index(".", v.lower().rfind("at")) if "." in v else len(v))
        local, domain = v[:at], v[at + 2 :]
        if local and domain.split(".")[0]:
            out.append((m.start("v"), m.end("v"), f"{local}@{domain}".lower()))
    return out


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
    edits = _spoken_emails(text) + merged_at_emails(text) + _english_amounts(text)
    taken = [(a, b) for a, b, _ in edits]
    edits += _digit_edits(text)
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
