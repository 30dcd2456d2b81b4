"""Text for speech: what a voice should say for ids, phone numbers, amounts, dates and emails.

`normalize(text, language)` rewrites the written forms a contact centre's replies are full of into
the words a speaker says ("$12.50" -> "twelve dollars and fifty cents", "¥128.5" -> "一百二十八点五元",
"#W2378156" -> "W two three seven eight one five six"). `split_sentences` cuts a reply into
sentences for streaming without cutting "Dr." or "3.5"; `script_runs` cuts mixed Chinese-English
text into runs that each go to a voice that speaks that script.
"""

from __future__ import annotations

import re

ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"))
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
            "nine": "ninth", "twelve": "twelfth"}  # fmt: skip
ZH_DIGITS = "零一二三四五六七八九"
ZH_PHONE_DIGITS = "零幺二三四五六七八九"  # on the phone 1 is read 幺 so that it is not heard as 7

# Written abbreviations and how they are said (English); matched as whole words, case-sensitive.
ABBREVIATIONS = {
    "Dr.": "Doctor", "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "St.": "Street",
    "approx.": "approximately", "Approx.": "Approximately", "e.g.": "for example",
    "i.e.": "that is", "etc.": "et cetera", "vs.": "versus", "Inc.": "Incorporated",
    "Ltd.": "Limited", "Jr.": "Junior", "a.m.": "A M", "p.m.": "P M", "hrs": "hours",
    "mins": "minutes", "ID": "I D", "IDs": "I Ds", "FAQ": "F A Q", "ETA": "E T A", "SMS": "S M S",
    "OTP": "O T P", "PIN": "pin", "ASAP": "as soon as possible", "&": "and",
}  # fmt: skip
# Abbreviations whose final dot never ends a sentence (the splitter keeps them whole).
NO_BREAK = tuple(k for k in ABBREVIATIONS if k.endswith(".")) + ("No.", "no.", "Tel.", "Ave.")

HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RE = re.compile(f"[{HAN}]")
_CURRENCY_EN = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
                "£": ("pound", "pounds", "penny", "pence"), "¥": ("yuan", "yuan", "", ""),
                "￥": ("yuan", "yuan", "", "")}  # fmt: skip
_CURRENCY_ZH = {"$": "美元", "€": "欧元", "£": "英镑", "¥": "元", "￥": "元"}
_ID_WORDS = r"(?:order|number|no\.|account|tracking|reference|ref|ticket|case|card|ID|invoice|ending in|单号|编号|尾号)"


def guess_language(text: str) -> str:
    """ "zh" when the text has any Chinese characters, else "en"."""
    return "zh" if _HAN_RE.search(text) else "en"


def sentence_language(text: str, default: str) -> str:
    """The language to normalise one sentence in: zh if it has Chinese characters, en if it has
    Latin letters (an English sentence inside a Chinese reply), else `default`."""
    if _HAN_RE.search(text):
        return "zh"
    return "en" if re.search(r"[A-Za-z]", text) else default


# --- numbers -------------------------------------------------------------------------------


def _under_1000(n: int) -> str:
    words = []
    if n >= 100:
        words += [ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(TENS[n // 10] + (f"-{ONES[n % 10]}" if n % 10 else ""))
    elif n or not words:
        words.append(ONES[n])
    return " ".join(words)


def say_number_en(n: int) -> str:
    """Cardinal in English words: 1234 -> "one thousand two hundred thirty-four"."""
    if n < 0:
        return "minus " + say_number_en(-n)
    words = []
    for value, name in SCALES:
        if n >= value:
            words += [say_number_en(n // value), name]
            n %= value
    if n or not words:
        words.append(_under_1000(n))
    return " ".join(words)


def say_ordinal_en(n: int) -> str:
    """1 -> "first", 21 -> "twenty-first", 12 -> "twelfth"."""
    head, last = re.fullmatch(r"(.*?)([a-z]+)", say_number_en(n)).groups()  # type: ignore[union-attr]
    last = ORDINALS.get(last) or (last[:-1] + "ieth" if last.endswith("y") else last + "th")
    return head + last


def say_number_zh(n: int) -> str:
    """Cardinal in Chinese: 128 -> "一百二十八", 10 -> "十", 10005 -> "一万零五"."""
    if n == 0:
        return "零"
    if n < 0:
        return "负" + say_number_zh(-n)
    out = ""
    for value, name in ((10**8, "亿"), (10**4, "万")):
        if n >= value:
            out += say_number_zh(n // value) + name
            n %= value
            if 0 < n < value // 10:
                out += "零"
    digits, zero = "", False
    for value, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = n // value % 10
        if d:
            digits += ("零" if zero else "") + ZH_DIGITS[d] + name
            zero = False
        elif digits:
            zero = True
    if not out and digits.startswith("一十"):
        digits = digits[1:]  # 十五, not 一十五
    return out + digits


def say_digits(digits: str, language: str, phone: bool = False) -> str:
    """Digit by digit: "2378" -> "two three seven eight" / "二三七八" (phone: "幺" for 1)."""
    if language == "zh":
        table = ZH_PHONE_DIGITS if phone else ZH_DIGITS
        return "".join(table[int(d)] for d in digits if d.isdigit())
    return " ".join(ONES[int(d)] for d in digits if d.isdigit())


def say_decimal(text: str, language: str) -> str:
    """ "3.5" -> "three point five" / "三点五"; commas in the whole part are ignored."""
    whole, _, frac = text.replace(",", "").partition(".")
    if language == "zh":
        return say_number_zh(int(whole or 0)) + ("点" + say_digits(frac, "zh") if frac else "")
    return say_number_en(int(whole or 0)) + (" point " + say_digits(frac, "en") if frac else "")


# --- the rewrites, in order ----------------------------------------------------------------


def _email(m: re.Match, language: str) -> str:
    at, dot = (" 艾特 ", " 点 ") if language == "zh" else (" at ", " dot ")
    symbols = {"_": " underscore ", "-": " dash ", "+": " plus "}

    def part(s: str) -> str:
        s = s.replace(".", dot)
        for k, v in symbols.items():
            s = s.replace(k, v)
        return re.sub(r"\d+", lambda d: " " + say_digits(d.group(), language) + " ", s)

    return _squash(part(m["user"]) + at + part(m["domain"]))


def _amount(symbol: str, number: str, language: str) -> str:
    number = number.replace(",", "")
    whole, _, frac = number.partition(".")
    if language == "zh":
        frac = frac.rstrip("0")
        return say_decimal(f"{whole}.{frac}" if frac else whole, "zh") + _CURRENCY_ZH[symbol]
    one, many, cent, cents = _CURRENCY_EN[symbol]
    units, hundredths = int(whole or 0), int((frac + "00")[:2]) if frac else 0
    if not cent:  # yuan: say the decimal as it is written, less trailing zeros
        number = f"{whole}.{frac.rstrip('0')}".rstrip(".")
        return f"{say_decimal(number, 'en')} {many if number != '1' else one}"
    if len(frac) > 2:  # $0.125: not money in cents any more
        return f"{say_decimal(number, 'en')} {many}"
    parts = []
    if units or not hundredths:
        parts.append(f"{say_number_en(units)} {one if units == 1 else many}")
    if hundredths:
        parts.append(f"{say_number_en(hundredths)} {cent if hundredths == 1 else cents}")
    return " and ".join(parts)


def _date(year: str, month: str, day: str, language: str) -> str:
    y, m, d = int(year) if year else 0, int(month), int(day)
    if not (1 <= m <= 12 and 1 <= d <= 31):
        return f"{year}-{month}-{day}" if year else f"{month}-{day}"
    if language == "zh":
        return (
            say_digits(year, "zh") + "年" if year else ""
        ) + f"{say_number_zh(m)}月{say_number_zh(d)}日"
    text = f"{MONTHS[m - 1]} {say_ordinal_en(d)}"
    if not year:
        return text
    if 2000 <= y < 2010 or y % 100 == 0:
        return f"{text}, {say_number_en(y)}"
    tail = say_number_en(y % 100) if y % 100 >= 10 else f"oh {ONES[y % 100]}"
    return f"{text}, {say_number_en(y // 100)} {tail}"


def _spell_id(token: str, language: str) -> str:
    """ "W2378156" -> "W two three seven eight one five six"; letters stay as capitals."""
    out = []
    for run in re.findall(r"\d+|[A-Za-z]+", token):
        if run.isdigit():
            out.append(say_digits(run, language))
        else:
            out.append(" ".join(run.upper()) if len(run) <= 3 or run.isupper() else run)
    return (" " if language == "en" else " ").join(out)


def _phone(m: re.Match, language: str) -> str:
    text = m.group()
    groups = re.findall(r"\d+", text)
    plus = ("加" if language == "zh" else "plus ") if text.lstrip().startswith("+") else ""
    sep = "，" if language == "zh" else ", "
    if len(groups) == 1 and len(groups[0]) == 11 and groups[0].startswith("1"):
        g = groups[0]
        groups = [g[:3], g[3:7], g[7:]]  # Chinese mobiles are read 3-4-4
    return plus + sep.join(say_digits(g, language, phone=True) for g in groups)


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


_EMAIL = re.compile(r"(?P<user>[A-Za-z0-9._%+-]+)@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
# Ids and numbers look around for ASCII word characters: to `\w` Chinese ones are word characters.
_PHONE = re.compile(
    r"(?<![A-Za-z0-9_.])(?:\+\d{1,3}[ -]?)?(?:\(\d{2,4}\)[ -]?)?\d{2,4}(?:[ -]\d{2,4}){1,4}"
    r"(?![A-Za-z0-9_]|\.\d)|(?<![A-Za-z0-9_.])\+\d{7,15}(?![A-Za-z0-9_]|\.\d)"
    r"|(?<!\d)1[3-9]\d{9}(?!\d)"
)
_CARD = re.compile(r"(?<!\d)\d{4}(?:[ -]\d{4}){2,3}(?!\d)")
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_ZH_DATE = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})[日号]")
_MONEY = re.compile(r"([$€£¥￥])\s?(\d[\d,]*(?:\.\d+)?)|(\d[\d,]*(?:\.\d+)?)\s?(元|块钱|块)")
_ID_AFTER_WORD = re.compile(
    rf"((?i:(?<![A-Za-z0-9_]){_ID_WORDS}))(\s*(?:number|no\.|#|:)?\s*)#?([A-Z0-9-]*\d[A-Z0-9-]*)"
)
_HASH_ID = re.compile(r"#([A-Za-z0-9-]*\d[A-Za-z0-9-]*)")
_ALNUM_ID = re.compile(
    r"(?<![A-Za-z0-9_.])(?=[A-Za-z0-9-]*\d)(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
    r"(?![A-Za-z0-9_]|\.\w)"
)
_LONG_DIGITS = re.compile(r"(?<![\d.,])\d{5,}(?![\d.,])")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?%")
_TIME = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])")
_ORDINAL = re.compile(r"(?<!\w)(\d+)(st|nd|rd|th)(?!\w)")
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.])\d[\d,]*(?:\.\d+)?(?![A-Za-z0-9_])|(?<=[^\W\d_])\d+(?:\.\d+)?"
)


def _number(m: re.Match, language: str) -> str:
    text = m.group()
    if "," in text and not re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", text):
        return " ".join(say_decimal(t, language) for t in text.split(",") if t)  # "1,2" is a list
    return say_decimal(text, language) if language == "zh" else f" {say_decimal(text, 'en')} "


def _time(m: re.Match, language: str) -> str:
    h, mm = int(m[1]), int(m[2])
    if language == "zh":
        return f"{say_number_zh(h)}点" + (f"{say_number_zh(mm)}分" if mm else "")
    if mm == 0:
        return f"{say_number_en(h)} o'clock"
    return f"{say_number_en(h)} {'oh ' if mm < 10 else ''}{say_number_en(mm)}"


def normalize(text: str, language: str) -> str:
    """The words a speaker says for `text` in `language` ("en" or "zh")."""
    lang = "zh" if language.startswith("zh") else "en"
    s = text.replace("\u3000", " ")
    s = _EMAIL.sub(lambda m: f" {_email(m, lang)} ", s)
    s = _ISO_DATE.sub(lambda m: f" {_date(m[1], m[2], m[3], lang)} ", s)
    s = _ZH_DATE.sub(lambda m: _date(m[1] or "", m[2], m[3], lang), s)
    s = _MONEY.sub(lambda m: f" {_amount(m[1] or ('¥' if m[4] else '$'), m[2] or m[3], lang)} ", s)
    if lang == "en":
        s = _ORDINAL.sub(lambda m: f" {say_ordinal_en(int(m[1]))} ", s)
    s = _CARD.sub(lambda m: f" {_phone(m, lang)} ", s)
    s = _ID_AFTER_WORD.sub(lambda m: f"{m[1]}{m[2].replace('#', '')} {_spell_id(m[3], lang)} ", s)
    s = _HASH_ID.sub(lambda m: f" {_spell_id(m[1], lang)} ", s)
    s = _PHONE.sub(lambda m: f" {_phone(m, lang)} ", s)
    s = _ALNUM_ID.sub(lambda m: f" {_spell_id(m.group(), lang)} ", s)
    s = _LONG_DIGITS.sub(lambda m: f" {say_digits(m.group(), lang)} ", s)
    s = re.sub(r"(\d{4})年", lambda m: say_digits(m[1], lang) + "年", s) if lang == "zh" else s
    s = _TIME.sub(lambda m: f" {_time(m, lang)} ", s)
    pct = (
        (lambda m: "百分之" + say_decimal(m[1], "zh"))
        if lang == "zh"
        else (lambda m: f" {say_decimal(m[1], 'en')} percent ")
    )
    s = _PERCENT.sub(pct, s)
    if lang == "en":
        for short, said in ABBREVIATIONS.items():
            s = re.sub(rf"(?<![\w.]){re.escape(short)}(?![\w])", said, s)
        s = re.sub(r"(?<![\w.])No\.\s*(?=\w)", "number ", s)
    s = _NUMBER.sub(lambda m: _number(m, lang), s)
    s = re.sub(r"\s+([,.!?;:，。！？；：])", r"\1", s)
    s = re.sub(rf"(?<=[{HAN}])\s+|\s+(?=[{HAN}])", "", s) if lang == "zh" else s
    return _squash(s)


# --- sentences and script runs -------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?]+[\"')\]”’]*(?=\s|$)|[。！？；…]+[”’」』）]*|\n+")


def split_sentences(text: str) -> list[str]:
    """Sentences of en/zh text, each with its closing punctuation; "Dr.", "e.g." and "3.5" stay
    whole. Empty pieces are dropped."""
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        piece = text[start : m.end()]
        words = piece.split()
        if m.group().startswith(".") and words and words[-1].endswith(NO_BREAK):
            continue
        if m.group().startswith(".") and re.search(r"(?<![A-Za-z])[A-Za-z]\.$", piece.rstrip()):
            continue  # an initial ("J. Smith") or a spelled letter
        out.append(piece.strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s and re.search(r"\w", s)]


_CLAUSE_END = re.compile(r"[，,；;：:](?=\s*\S)")


def speech_pieces(text: str, first_max_chars: int | None = None) -> list[str]:
    """`split_sentences`, with a long first sentence cut at its first clause break (，,；;：:)
    after a few characters: the first audio of a reply waits for the first piece alone, and a
    Chinese template is often one long sentence. Long: over `first_max_chars` (default 14
    characters of Chinese, 48 of other text). A break inside a number ("1,200") is not cut."""
    pieces = split_sentences(text)
    if not pieces:
        return pieces
    limit = first_max_chars or (14 if _HAN_RE.search(pieces[0]) else 48)
    if len(pieces[0]) <= limit:
        return pieces
    first = pieces[0]
    for m in _CLAUSE_END.finditer(first):
        if m.end() < 6 or (m.group() == "," and first[m.end() : m.end() + 1].isdigit()):
            continue
        if len(first) - m.end() < 4:
            break
        return [first[: m.end()].strip(), first[m.end() :].strip(), *pieces[1:]]
    return pieces


def script_runs(text: str, language: str = "en") -> list[tuple[str, str]]:
    """Split mixed text into (language, run) by script: Chinese characters are "zh", Latin letters
    "en"; digits, spaces and punctuation join the run they sit in (or the first run after them)."""
    runs: list[tuple[str, str]] = []
    pending = ""
    for piece in re.findall(rf"[{HAN}]+|[A-Za-z][A-Za-z'’\-]*|[^A-Za-z{HAN}]+", text):
        if _HAN_RE.match(piece):
            lang = "zh"
        elif piece[0].isascii() and piece[0].isalpha():
            lang = "en"
        else:
            pending += piece
            continue
        if runs and runs[-1][0] == lang:
            runs[-1] = (lang, runs[-1][1] + pending + piece)
        elif runs:
            punct = re.match(r"^[\s,.!?;:，。！？；：、]*", pending).group()  # type: ignore[union-attr]
            runs[-1] = (runs[-1][0], runs[-1][1] + punct)
            runs.append((lang, pending[len(punct) :] + piece))
        else:
            runs.append((lang, pending + piece))
        pending = ""
    if pending:
        if runs:
            runs[-1] = (runs[-1][0], runs[-1][1] + pending)
        else:
            runs.append((language, pending))
    return [(lang, run.strip()) for lang, run in runs if run.strip()]
