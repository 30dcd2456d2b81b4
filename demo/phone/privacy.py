"""What a phone call keeps must not hold what the caller should not have to trust us with.

`CallPrivacy` follows one call: every caller text (a voice turn's transcript, keypad digits) goes
through the call's own `dialogue.records.redactor.Redactor` (so a card number read out over two
turns is caught), the call's transcript keeps only the redacted text, and the caller's side of
the recording is silenced where a turn held personal data (the whole utterance: the streaming
ASR gives no word timestamps) and for the whole of every keypad entry (a card typed on the keypad
is a pause in the recording as well as in the transcript).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dialogue.records.pii import redact
from dialogue.records.redactor import Redactor


class CallPrivacy:
    """`redactor`: one carried over from another worker (`Redactor.from_dict`); `on_change` is
    called after every turn the redactor reads, so its state can be kept where another worker
    finds it (demo/phone/resume.py)."""

    def __init__(self, rate: int = 8000, language: str | None = None, redactor: Redactor | None = None):  # fmt: skip
        self.rate = rate
        self.redactor = redactor or Redactor(language)
        self.on_change: Callable[[], None] | None = None
        self.read: dict[str, str] = {}  # each caller text -> its redaction in the call's light
        self.silenced: list[tuple[int, int]] = []  # caller sample ranges to zero in the recording
        self._speech: tuple[float, float] | None = None  # the latest caller utterance, seconds
        self._keypad_from: int | None = None

    def speech_ended(self, start_s: float, end_s: float) -> None:
        self._speech = (start_s, end_s)

    def caller_said(self, text: str) -> str:
        """The redacted text of a voice turn; its audio is marked for silencing when it held any."""
        r = self._read(text, "customer")
        if r.spans and self._speech is not None:
            a, b = self._speech
            self.silenced.append((int(a * self.rate), int(b * self.rate) + 1))
        return r.text

    def keypad_started(self, at_sample: int) -> None:
        if self._keypad_from is None:
            self._keypad_from = at_sample

    def keypad_ended(self, at_sample: int, digits: str) -> str:
        """The redacted keypad text; the recording is silenced from the first key to now."""
        if self._keypad_from is not None:
            self.silenced.append((self._keypad_from, at_sample))
            self._keypad_from = None
        return self._read(digits, "customer").text

    def typed(self, text: str) -> str:
        """The redacted text of a caller turn that is neither speech nor keys (an upload's note)."""
        return self._read(text, "customer").text

    def agent_said(self, text: str) -> str:
        return self._read(text, "agent").text

    def _read(self, text: str, role: str):
        r = self.redactor.redact(text, role=role)
        if role == "customer":
            self.read[text] = r.text
        if self.on_change is not None:
            self.on_change()
        return r

    def silence(self, caller: np.ndarray, end_sample: int | None = None) -> np.ndarray:
        """`caller` samples with the marked ranges zeroed (and a keypad entry still open at the
        end, up to `end_sample`)."""
        out = caller.copy()
        ranges = list(self.silenced)
        if self._keypad_from is not None:
            ranges.append((self._keypad_from, end_sample or len(out)))
        for a, b in ranges:
            out[max(0, a) : max(0, b)] = 0.0
        return out


def redact_tree(value: Any, known: dict[str, str] | None = None) -> Any:
    """Every string inside `value` (dicts, lists) redacted: for records written outside the store.
    `known`: texts already redacted in the light of the turns before them (`CallPrivacy.read`),
    which a string alone would not show (the second half of a card number)."""
    if isinstance(value, str):
        return known[value] if known and value in known else redact(value).text
    if isinstance(value, dict):
        return {k: redact_tree(v, known) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v, known) for v in value]
    return value
