"""Digits however a customer gives them, the one reader for the whole agent.

"4111 1111", "4111-1111", "four one one one", "double one", "triple seven", "oh three",
"四一一一", "幺三八", "洞拐" and full-width "４１１１" are all digits here. The NLU
(`dialogue.nlu.spoken`, which rewrites readings as digits for the entity patterns) and the
redaction (`dialogue.records.pii`, which hides card, phone and ID numbers) read the same tokens
with the same tables; they differ only in how freely tokens join into a run:

- `digit_runs(text)` joins tokens across spaces, commas, dashes, dots and slashes: the redaction
  would rather hide too much than too little.
- `english_readings(text)` and `chinese_readings(text)` keep only what is clearly a digit-by-digit
  reading ("return one item" keeps its "one", "5.99" is a price), for the NLU.

A *run* is a list of groups that follow each other; a group is one token: "4111", "four",
"double five" or "四一一一". A run's groups keep their spans in the text, so a window of groups (a
card number inside a longer run) maps back to a span, and `Run.phrases` gives the digits as the
customer grouped them with pauses ("five five five, one two three, four five six seven" ->
("555", "123", "4567")). Numerals with units ("一百二十八", "三百五") are values, not digit
strings: `vision.fields.parse_chinese_number` reads those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EN_DIGITS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
REPEAT = {"double": 2, "triple": 3}
HAN_DIGITS = {
    ch: str(i)
    for i, chars in enumerate(("零〇洞", "一幺", "二两", "三", "四", "五", "六", "七", "八", "九"))
    for ch in chars
}
_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_WORD = "zero|oh|o|one|two|three|four|five|six|seven|eight|nine"
_TOKEN = re.compile(
    r"(?P<num>(?<![A-Za-z0-9])[0-9]+(?![A-Za-z0-9]))"
    r"|(?P<han>[零〇洞一幺二两三四五六七八九]+)"
    rf"|(?<![A-Za-z0-9'_])(?P<rep>double|triple)[ \t-]+(?P<rd>{_WORD}|[0-9]+)(?![A-Za-z0-9'])"
    rf"|(?<![A-Za-z0-9'_])(?P<word>{_WORD})(?![A-Za-z0-9']|-[A-Za-z])",
    re.IGNORECASE,
)
# what may stand between two groups of one run: for redaction, and for a clear spoken reading
LOOSE_GAP = re.compile(r"[ \t,.\-、，/]{0,3}")
_READING_GAP = re.compile(r"[ \t]*(?:[,-][ \t]*)?")
_PAUSE = re.compile(r"[,.、，/]|[ \t]-|-[ \t]|[ \t]{2,}")  # a gap the customer paused in
_CN_UNITS = set("十百千万亿拾佰仟萬億点")


@dataclass(frozen=True)
class Group:
    """One token of a run: its span in the text and the digits it stands for."""

    start: int
    end: int
    digits: str
    kind: str  # "num" (ASCII digits), "word" (English words), "han" (Chinese digits)

    @property
    def spoken(self) -> bool:
        return self.kind != "num"


@dataclass(frozen=True)
class Run:
    groups: tuple[Group, ...]
    pauses: tuple[bool, ...] = ()  # for each gap between two groups: did the customer pause?

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

    def phrases(self) -> tuple[str, ...]:
        """The digits as the customer grouped them: split where they paused (a comma, a dash,
        a dot), and between written groups ("555 123 4567")."""
        out = [self.groups[0].digits]
        for g, paused, prev in zip(self.groups[1:], self.pauses, self.groups[:-1], strict=True):
            if paused or (g.kind == "num" and prev.kind == "num"):
                out.append(g.digits)
            else:
                out[-1] += g.digits
        return tuple(out)

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


def groups(text: str) -> list[Group]:
    """Every digit token of `text`, in order."""
    out = []
    for m in _TOKEN.finditer(ascii_text(text)):
        if m["num"]:
            out.append(Group(m.start(), m.end(), m["num"], "num"))
        elif m["han"]:
            out.append(Group(m.start(), m.end(), "".join(HAN_DIGITS[c] for c in m["han"]), "han"))
        elif m["rep"]:
            d = EN_DIGITS.get(m["rd"].lower(), m["rd"])  # "double 551234567": ASR ran them on
            out.append(Group(m.start(), m.end(), d[0] * REPEAT[m["rep"].lower()] + d[1:], "word"))
        else:
            out.append(Group(m.start(), m.end(), EN_DIGITS[m["word"].lower()], "word"))
    return out


def _join(text: str, tokens: list[Group], gap: re.Pattern[str]) -> list[Run]:
    runs: list[tuple[list[Group], list[bool]]] = []
    for g in tokens:
        between = text[runs[-1][0][-1].end : g.start] if runs else None
        if between is not None and gap.fullmatch(between):
            runs[-1][0].append(g)
            runs[-1][1].append(bool(_PAUSE.search(between)))
        else:
            runs.append(([g], []))
    return [Run(tuple(gs), tuple(ps)) for gs, ps in runs]


def digit_runs(text: str) -> list[Run]:
    """Every run of digits in `text`, in order, joined freely (for redaction). A lone English
    "one" or "oh" is a run too: the rules that read runs decide what is enough."""
    return _join(ascii_text(text), groups(text), LOOSE_GAP)


def digits_of(text: str) -> str:
    """All the digits of `text` in order, read the way `digit_runs` reads them."""
    return "".join(r.digits for r in digit_runs(text))


def english_readings(text: str, spoken_only: bool = True) -> list[Run]:
    """The English digit-by-digit readings of `text` ("one two three four" -> 1234; "double
    five" -> 55; single digits "2 6" may join a run that has a word in it) of two digits or
    more. A lone "one" stays a word ("return one item"), "oh" at either end of a run stays an
    interjection ("oh, one two three"), and a run across commas needs three digits ("two,
    three weeks" stays). spoken_only=False keeps runs of written digits alone too."""
    search = ascii_text(text)
    tokens = [
        g
        for g in groups(text)
        if g.kind == "word"
        or (
            g.kind == "num"  # not a price or a count: "5.99", "3,000"
            and not re.match(r"[.,][0-9]", search[g.end :])
            and not re.search(r"[0-9][.,]$", search[: g.start])
        )
    ]
    out = []
    for run in _join(search, tokens, _READING_GAP):
        gs, ps = list(run.groups), list(run.pauses)
        while gs and search[gs[0].start : gs[0].end].lower() in ("oh", "o"):
            gs, ps = gs[1:], ps[1:]  # "oh, one two three": the "oh" is an interjection
        while gs and search[gs[-1].start : gs[-1].end].lower() in ("oh", "o"):
            gs, ps = gs[:-1], ps[:-1]
        if not gs:
            continue
        run = Run(tuple(gs), tuple(ps))
        paused = any(run.pauses)
        written_kept = not run.spoken and not spoken_only
        if written_kept or (run.spoken and len(run.digits) >= (3 if paused else 2)):
            out.append(run)
    return out


def chinese_readings(text: str) -> list[Run]:
    """Chinese digits read one by one (一二三四 -> 1234, 幺三八 -> 138; 幺 and 〇 are always
    digits) of three or more, or two with 幺/〇 in them, and 两 alone -> 2 ("两件" -> "2件").
    A run touching a unit (十百千万亿) or 点 is a numeral with units, and left alone."""
    out = []
    for run in _join(text, [g for g in groups(text) if g.kind == "han"], re.compile(r"[ \t]?")):
        before = text[run.start - 1] if run.start else ""
        after = text[run.end] if run.end < len(text) else ""
        if before in _CN_UNITS or after in _CN_UNITS:
            continue  # 一百二十八, 两百, 三点五: a numeral with units
        chars = "".join(text[g.start : g.end] for g in run.groups)
        if chars == "两" or len(chars) >= 3 or (len(chars) == 2 and set(chars) & set("幺〇洞")):
            out.append(run)
    return out
