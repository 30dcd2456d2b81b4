"""When has the caller finished their turn, and is what they said during our reply only "uh-huh"?

The endpointing rule (`Endpointer.silence_needed`):

- The turn ends after `base_silence_s` (0.65 s) of silence following speech.
- It ends only after `long_silence_s` (1.5 s) when the caller is in the middle of an identifier:
  a quick partial transcript of the turn so far (run after `partial_after_s` of silence) ends in
  a digit, a number word ("seven", "七"), a spelled single letter, or an email connector ("at",
  "dot", "underscore", "@", "."), or holds an "@" with no complete "name@host.tld" yet;
- or when the agent's last reply asked for an identifier (`expect`: "digits", "order_number",
  "phone", "email", "address"), the partial transcript has none yet and the caller is on their
  way to it: a word or two so far, or a phrase for looking it up ("let me check", "稍等"). A
  partial that holds a complete identifier (said in full: "...94105.", "...W8632149。") or is
  another whole sentence ends the turn at the base silence.
- Until a partial transcript is known, the agent's question alone decides.
- A turn is cut at `max_turn_s` of speech whatever the pauses.

`is_backchannel(text)`: only listener words ("ok", "yeah", "uh-huh", "right", "嗯", "对", "好的",
"是"...), which do not take the turn from the agent. `is_blip(text)`: a word or two (at most
`BLIP_UNITS` words or Chinese characters), what a backchannel misheard in the wrong language
comes out as.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EXPECTS = ("digits", "order_number", "phone", "email", "address")
# a reply that asks a yes-or-no question (a write's confirmation): no identifier to wait for, but
# a "yes" said over the question's end answers it (`is_yes_no`), though it sounds like "uh-huh"
YES_NO = "yes_no"

BACKCHANNELS_EN = {
    "ok", "okay", "k", "yeah", "yea", "yep", "yes", "yup", "uh-huh", "uh huh", "uhhuh", "mhm",
    "mm", "mmm", "hmm", "mm-hmm", "mmhmm", "um", "uh", "ah", "oh", "right", "alright",
    "all right", "sure", "got it", "i see", "cool", "fine", "great", "oh okay", "ok ok",
}  # fmt: skip
BACKCHANNELS_ZH = {
    "嗯", "嗯嗯", "对", "对对", "对对对", "好", "好的", "是", "是的", "行", "哦", "噢", "啊",
    "明白", "知道了", "好好", "嗯好", "嗯对", "对的",
}  # fmt: skip
# listener words that also answer a yes-or-no question: said over such a question they are the
# caller's answer, not a backchannel. Fillers answer nothing; a plain no is no backchannel at all
ANSWERS_EN = BACKCHANNELS_EN - {
    "uh-huh", "uh huh", "uhhuh", "mhm", "mm", "mmm", "hmm", "mm-hmm", "mmhmm", "um", "uh", "ah",
    "oh", "got it", "i see", "cool", "great",
} | {"no", "nope", "nah"}  # fmt: skip
ANSWERS_ZH = BACKCHANNELS_ZH - {"嗯", "嗯嗯", "哦", "噢", "啊", "明白", "知道了"} | {"可以", "不", "不用", "不要", "不是"}  # fmt: skip

NUMBER_WORDS = {
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "double", "triple", "hundred", "thousand",
}  # fmt: skip
ZH_NUMBER_CHARS = set("零〇一二三四五六七八九十幺两百千")
EMAIL_CONNECTORS = {"at", "dot", "underscore", "dash", "hyphen", "@", ".", "_", "-", "点", "艾特"}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
_SPOKEN_EMAIL = re.compile(
    r"\b\w+ at [\w-]+(?: dot |\.)(com|net|org|edu|cn|co|io)\b", re.IGNORECASE
)  # "alice at example dot com", and Whisper's "Alice at example.com"
# a whole identifier as Whisper writes it: an order number, a zip code, a phone, a CN ID
_COMPLETE_ID = re.compile(r"(?:w\d{7}|\d{5}|\d{10,11}|\d{17}[\dx])", re.IGNORECASE)
_NOT_A_NUMBER_BEFORE_ONE = {"the", "that", "this", "which", "another", "other", "last", "first", "new", "old", "pending", "delivered", "blue", "red", "big", "small", "same", "right", "wrong"}  # fmt: skip
_WORD = re.compile(r"[A-Za-z0-9@.#_+'-]+|[\u4e00-\u9fff]|\w+")


@dataclass(frozen=True)
class EndpointOptions:
    base_silence_s: float = 0.65  # silence that ends an ordinary turn
    long_silence_s: float = 1.5  # silence that ends a turn in the middle of digits or an email
    partial_after_s: float = 0.25  # silence before the quick partial transcript is taken
    max_turn_s: float = 30.0  # a turn is cut after this much time from its first speech

    def __post_init__(self):
        if not 0 < self.partial_after_s < self.base_silence_s <= self.long_silence_s:
            raise ValueError(
                "need 0 < partial_after_s < base_silence_s <= long_silence_s; got "
                f"{self.partial_after_s}, {self.base_silence_s}, {self.long_silence_s}"
            )


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _normal(text: str) -> str:
    t = re.sub(r"[^\w\s\u4e00-\u9fff'-]", " ", text.lower())
    return re.sub(r"\s+", " ", t).strip()


def is_backchannel(text: str) -> bool:
    """Whether `text` is nothing but listener words (an empty text is not a backchannel)."""
    t = _normal(text)
    if not t:
        return False
    if t in BACKCHANNELS_EN or t.replace(" ", "") in BACKCHANNELS_ZH:
        return True
    parts = re.split(r"[\s,，。、]+", t)
    return all(p in BACKCHANNELS_EN or p in BACKCHANNELS_ZH for p in parts if p) or (
        bool(re.fullmatch(r"[\u4e00-\u9fff]+", t.replace(" ", "")))
        and _zh_backchannel(t.replace(" ", ""))
    )


BLIP_UNITS = 3  # "Hello" (a Mandarin "好" heard as English), "我认为" (an English "okay")


def is_blip(text: str) -> bool:
    """Whether `text` is at most BLIP_UNITS words and Chinese characters (and not empty)."""
    units = len(re.findall(r"[A-Za-z0-9']+", text)) + len(re.findall(r"[\u4e00-\u9fff]", text))
    return 0 < units <= BLIP_UNITS


def is_yes_no(text: str) -> bool:
    """Whether `text` is only a yes or a no ("yeah", "okay", "no", "好的", "是的", "不用"): listener
    words that answer a yes-or-no question the agent has just asked."""
    t = _normal(text)
    if not t:
        return False
    parts = [p for p in re.split(r"[\s,，。、]+", t) if p]
    return all(p in ANSWERS_EN or p in ANSWERS_ZH for p in parts)


def _zh_backchannel(t: str) -> bool:
    """ "嗯嗯好的", "对对是的": a run of Chinese listener words."""
    words = sorted(BACKCHANNELS_ZH, key=len, reverse=True)
    i = 0
    while i < len(t):
        w = next((w for w in words if t.startswith(w, i)), None)
        if w is None:
            return False
        i += len(w)
    return True


def _is_number_token(tok: str) -> bool:
    return (
        any(c.isdigit() for c in tok)
        or tok in NUMBER_WORDS
        or (len(tok) == 1 and tok in ZH_NUMBER_CHARS)
    )


def mid_identifier(text: str) -> str:
    """ "digits" or "email" when `text` stops in the middle of one, else ""."""
    toks = _tokens(text)
    if not toks:
        return ""
    last = toks[-1].rstrip(".")
    if "@" in text and not _EMAIL.search(text):
        return "email"
    if toks[-1] in EMAIL_CONNECTORS or last in EMAIL_CONNECTORS:
        return "email"
    finished = text.rstrip().endswith((".", "。", "!", "?", "！", "？"))
    if finished and _COMPLETE_ID.fullmatch(last.lstrip("#")):
        return ""  # "the zip code is 94105." or "单号是W8632149。": said in full
    if last == "one" and len(toks) > 1 and toks[-2] in _NOT_A_NUMBER_BEFORE_ONE:
        return ""  # "the pending one."
    if _is_number_token(last) or last.startswith("#"):
        return "digits"
    if len(last) == 1 and last.isalpha() and last.isascii() and last not in ("a", "i"):
        return "digits"  # a spelled letter of "W 1 2 3" or an email name
    return ""


def has_identifier(text: str, expect: str) -> bool:
    """Whether `text` already holds what the agent asked for."""
    if expect == "email":
        return bool(_EMAIL.search(text) or _SPOKEN_EMAIL.search(text))
    digits = sum(_is_number_token(t) for t in _tokens(text))
    if expect == "address":
        return digits >= 2 and len(_tokens(text)) >= 4
    return digits >= 3 or any(sum(c.isdigit() for c in t) >= 3 for t in _tokens(text))


_LOOKING = re.compile(
    r"\b(?:let me (?:check|see|find|look|get)|hold on|one (?:moment|sec(?:ond)?)|just a (?:moment|sec(?:ond)?)|"
    r"wait|give me a (?:moment|sec(?:ond)?)|it'?s|is|um+|uh+|er+|so)\W*$|(?:等一下|稍等|我看看|我找一下|我查一下|是|呃|嗯|那个)\W*$",
    re.IGNORECASE,
)


def looking_it_up(partial: str) -> bool:
    """Whether a caller asked for an identifier is still on their way to it: a word or two so
    far ("um", "it's"), or a phrase for looking it up ("let me check", "稍等")."""
    return len(_tokens(partial)) <= 2 or bool(_LOOKING.search(partial.strip()))


class Endpointer:
    """How much silence ends the current turn, and whether the turn has run too long."""

    def __init__(self, options: EndpointOptions = EndpointOptions()):
        self.options = options

    def silence_needed(self, partial: str | None, expect: str = "") -> tuple[float, str]:
        """(seconds, reason). `partial`: the quick transcript of the turn so far, None when not
        known yet; `expect`: what the agent's last reply asked for (one of EXPECTS; YES_NO or ""
        wait for nothing more)."""
        o = self.options
        if partial is not None:
            kind = mid_identifier(partial)
            if kind:
                return o.long_silence_s, f"partial transcript ends mid-{kind}"
            if expect in EXPECTS and not has_identifier(partial, expect) and looking_it_up(partial):
                return o.long_silence_s, f"asked for {expect}, caller looking it up"
            return o.base_silence_s, "complete"
        if expect in EXPECTS:
            return o.long_silence_s, f"asked for {expect}"
        return o.base_silence_s, "base"

    def too_long(self, turn_s: float) -> bool:
        return turn_s >= self.options.max_turn_s
