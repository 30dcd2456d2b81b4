"""Text out of a token stream: incremental decoding that never splits a character, and stop strings.

`IncrementalDecoder` turns token ids into text pieces one token at a time; `StopMatcher` cuts the
text before the first stop string and holds back a tail that could be the start of one.
Together: `"".join(pieces)` is the decoded reply up to (not including) the first stop string.
"""

from __future__ import annotations

from collections.abc import Sequence


class IncrementalDecoder:
    """Token ids in, text out: each step decodes a window of recent tokens and returns only what
    it added, and only when the text does not end in a partial character (vLLM's method)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.start = 0  # the window: ids[start:] now, ids[start:read] at the last release
        self.read = 0

    def _text(self, end: int | None = None) -> str:
        return self.tokenizer.decode(
            self.ids[self.start : end], skip_special_tokens=True, clean_up_tokenization_spaces=False
        )

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        return self._release(final=False)

    def flush(self) -> str:
        """What is left at the end, a partial character included."""
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        before, now = self._text(self.read), self._text()
        if len(now) <= len(before) or (now.endswith("\ufffd") and not final):
            return ""
        self.start, self.read = self.read, len(self.ids)
        return now[len(before) :]


class StopMatcher:
    """Text in, text out, cut before the first stop string; a tail that could begin one is held."""

    def __init__(self, stops: Sequence[str]):
        self.stops = tuple(s for s in stops if s)
        self.longest = max((len(s) for s in self.stops), default=0)
        self.held = ""

    def push(self, text: str) -> tuple[str, bool]:
        """(text to release, whether a stop string was found)."""
        buf = self.held + text
        hits = [i for i in (buf.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.held = ""
            return buf[: min(hits)], True
        keep = next(
            (k for k in range(min(len(buf), self.longest - 1), 0, -1)
             if any(s.startswith(buf[-k:]) for s in self.stops)),
            0,
        )  # fmt: skip
        self.held = buf[len(buf) - keep :]
        return buf[: len(buf) - keep], False

    def flush(self, text: str = "") -> str:
        out, hit = self.push(text)
        rest, self.held = ("" if hit else self.held), ""
        return out + rest
