"""Redaction with memory: a conversation, log records, and the audio of a redacted transcript.

    r = Redactor()
    r.redact("my card number is 4111 1111").text   -> "my card number is [CARD]"
    r.redact("ok", role="agent")
    r.redact("1111 1111").text                     -> "[CARD]"

A customer reads a card number, a phone number or an expiry date across turns, or ends a turn
on the cue ("my security code is", "what's the security code? it's on the back") and gives the
value in the next; or the agent asks ("And the CVV?") and the next customer turn opens with the
value ("seven three seven"). An explicit cue wins over any checksum. The `Redactor` of a
conversation keeps the end of the last final customer turn and reads each new customer turn
after it, so the second half is found too. Partial ASR hypotheses (`final=False`) are read the
same way and leave the memory alone; a card number still being read (8+ digits with an issuer
prefix at the end) is hidden in them before it is complete.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from dialogue.records.pii import (
    LANGUAGES,
    Redaction,
    Span,
    apply_spans,
    expected_value,
    find_pii,
    open_cue,
    redact,
    trailing_card_fragment,
)
from vision.fields import extract_fields

logger = logging.getLogger(__name__)

_TAIL_CHARS = 200  # how much of the last customer turn a new one is read after
_HEAD_FILLER = re.compile(
    r"[ \t,.，。]*(?:(?:and|then|the[ \t]+rest[ \t]+is|rest[ \t]+is|next|接着是?|然后是?|后面是?|还有)[ \t,.:：，]*)?",
    re.IGNORECASE,
)


def _merge(first: Iterable[Span], second: Iterable[Span]) -> tuple[Span, ...]:
    taken = list(first)
    for s in second:
        if not any(s.start < t.end and t.start < s.end for t in taken):
            taken.append(s)
    return tuple(sorted(taken, key=lambda s: s.start))


class Redactor:
    """The redaction of one conversation: call `redact` on every turn, in order."""

    def __init__(self, language: str | None = None, placeholders: Mapping[str, str] | None = None):
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; choose from {LANGUAGES}")
        self.language = language
        self.placeholders = dict(placeholders or {})
        self._tail = ""  # the end of the last final customer turn, unredacted, kept in memory only
        self._expect: str | None = None  # the value the last turn asked for and did not get

    def redact(self, text: str, role: str = "customer", final: bool = True) -> Redaction:
        """`text` redacted in the light of the turns before it.

        role: "customer" turns are read after the previous customer turn; other roles are
            redacted alone and change nothing.
        final: False for a partial hypothesis of a turn still being spoken.
        """
        if role != "customer":
            asked = open_cue(text) if final else None  # "What is the security code?"
            self._expect = asked or self._expect
            return redact(text, self.language, self.placeholders)
        spans = find_pii(text, self.language)
        if self._expect:
            asked = expected_value(text, self._expect)
            spans = _merge([asked] if asked else [], spans)
        if self._tail and text:
            spans = _merge(self._after_tail(text), spans)
        spans = _merge(spans, self._fragment(text, spans, 8 if not final else 12))
        if final:
            self._remember(text)
            self._expect = open_cue(text)
        return Redaction(apply_spans(text, spans, self.placeholders), spans)

    def to_dict(self) -> dict[str, Any]:
        """The conversation's memory as JSON-ready data, to carry it to another process (a phone
        line of many workers). It holds the end of the last customer turn unredacted: keep it
        sealed at rest, as `dialogue.records.call_state` does."""
        return {"version": 1, "language": self.language, "placeholders": self.placeholders,
                "tail": self._tail, "expect": self._expect}  # fmt: skip

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Redactor:
        """The Redactor that `to_dict` described: it reads the next turn as the original would."""
        if state.get("version") != 1:
            raise ValueError(f"redactor state version {state.get('version')!r}; this code reads version 1 (from Redactor.to_dict)")  # fmt: skip
        r = cls(state.get("language"), state.get("placeholders"))
        r._tail, r._expect = str(state.get("tail") or ""), state.get("expect") or None
        return r

    def reset(self) -> None:
        """Forget the previous turns (a new conversation)."""
        self._tail = ""
        self._expect = None

    def _after_tail(self, text: str) -> list[Span]:
        head = _HEAD_FILLER.match(text).end()
        joined = self._tail + " " + text[head:]
        shift = len(self._tail) + 1 - head  # index in `joined` minus this shift = index in text
        out = []
        for s in find_pii(joined, self.language):
            start, end = max(s.start - shift, head), s.end - shift
            if end > start and text[start:end].strip():
                out.append(Span(s.type, start, end))
        return out

    def _fragment(self, text: str, spans: Sequence[Span], min_digits: int) -> list[Span]:
        run = trailing_card_fragment(text)
        if run is None or len(run.digits) < min_digits:
            return []
        keep = [
            f.span for f in extract_fields(text) if f.kind in ("order_number", "tracking_number")
        ]
        if any(run.start < b and a < run.end for a, b in keep):
            return []
        return [Span("CARD", run.start, run.end)]

    def _remember(self, text: str) -> None:
        body = text.rstrip(" \t.,，。!?！？")
        cut = max((m.end() for m in re.finditer(r"[.。!?！？;；](?=\s|$|[^0-9])", body)), default=0)
        self._tail = body[max(cut, len(body) - _TAIL_CHARS) :].strip()


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's message (arguments included):

        logging.getLogger("dialogue").addFilter(RedactingFilter())

    Attach it to a handler to cover every logger that handler serves."""

    def __init__(self, name: str = "", language: str | None = None):
        super().__init__(name)
        self.language = language

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler to report
            return True
        record.msg, record.args = redact(message, self.language).text, None
        return True


_REDACTING_FACTORY_INSTALLED = False


def redact_all_logging(language: str | None = None) -> None:
    """Redact the message of every log record the process makes, whichever logger or handler
    writes it (a log record factory, so that handlers made later by `logging.basicConfig` are
    covered too). The apps that hear customers (`cca demo`, `cca phone`, `cca chat`) call it."""
    global _REDACTING_FACTORY_INSTALLED
    if _REDACTING_FACTORY_INSTALLED:
        return
    make = logging.getLogRecordFactory()
    redacting = RedactingFilter(language=language)

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        redacting.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    _REDACTING_FACTORY_INSTALLED = True


def words_text(words: Sequence[Any]) -> str:
    """The transcript the spans of `silence_spans` index: the words' texts joined as given."""
    return "".join(w.text for w in words)


def silence_spans(
    audio_samples: np.ndarray,
    sample_rate: int,
    words_with_timestamps: Sequence[Any],
    spans: Iterable[Span | tuple[int, int]],
    pad_s: float = 0.05,
) -> np.ndarray:
    """A copy of the audio with every word that overlaps a span set to zero.

    audio_samples: (n,) or (n, channels); sample_rate in Hz.
    words_with_timestamps: `voice.types.Word` (start_s, end_s, text), in order.
    spans: character spans of `words_text(words)` (as `redact(words_text(words)).spans` gives).
    pad_s: seconds zeroed on each side of a word too, for timestamps that are a little early
        or late.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    out = np.array(audio_samples, copy=True)
    ranges = [(s.start, s.end) if isinstance(s, Span) else tuple(s) for s in spans]
    pos = 0
    for w in words_with_timestamps:
        lead = len(w.text) - len(w.text.lstrip())
        a, b = pos + lead, pos + len(w.text.rstrip())
        pos += len(w.text)
        if b > a and any(a < e and s < b for s, e in ranges):
            lo = max(0, math.floor((w.start_s - pad_s) * sample_rate))
            hi = min(len(out), math.ceil((w.end_s + pad_s) * sample_rate))
            out[lo:hi] = 0
    return out
