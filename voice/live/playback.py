"""The agent's speech on its way out: sentence audio in, fixed-size frames out, and what was heard.

`Player` queues (sentence text, audio) pieces as the TTS makes them and hands out frames of
`frame_samples` at the output rate; `duck(gain)` lowers the voice at once (a caller may be
talking), `pause()` silences it where it is and `resume(rewind)` goes on from a little before
that point (the caller only said "mm-hm"), `stop()` drops the rest and returns what the caller
heard.

What counts as heard (`Player.heard()`): every sentence whose audio was played to the end, then
the interrupted sentence trimmed in proportion to the share of its audio that was played: its
first round(share x words) words (characters for Chinese), ending with "…". A sentence played
to `whole_after` (90 %) or more counts whole; one under `nothing_before` (15 %) counts as not
heard.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

import numpy as np

_HAN = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")  # with CJK punctuation


@dataclass
class _Piece:
    text: str
    samples: np.ndarray
    sentence: int  # index of its sentence; a sentence's audio may come in several pieces


class Player:
    def __init__(self, frame_samples: int, whole_after: float = 0.9, nothing_before: float = 0.15):
        self.frame_samples = frame_samples
        self.whole_after = whole_after
        self.nothing_before = nothing_before
        self.gain = 1.0
        self.reset()

    def reset(self) -> None:
        self._queue: deque[_Piece] = deque()
        self._offset = 0  # samples of the queue's first piece already played
        self._texts: list[str] = []  # sentence texts in order
        self._total: list[int] = []  # samples queued per sentence
        self._played: list[int] = []  # samples played per sentence
        self.finished_adding = False
        self.gain = 1.0
        self.paused = False

    # -- filling ------------------------------------------------------------------------------

    def add_sentence(self, text: str) -> int:
        self._texts.append(text)
        self._total.append(0)
        self._played.append(0)
        return len(self._texts) - 1

    def add_audio(self, sentence: int, samples: np.ndarray) -> None:
        if len(samples):
            self._queue.append(_Piece(self._texts[sentence], samples, sentence))
            self._total[sentence] += len(samples)

    def done_adding(self) -> None:
        self.finished_adding = True

    # -- playing ------------------------------------------------------------------------------

    @property
    def has_audio(self) -> bool:
        return bool(self._queue)

    @property
    def finished(self) -> bool:
        """All audio of a finished reply was played."""
        return self.finished_adding and not self._queue and bool(self._texts)

    def duck(self, gain: float) -> None:
        self.gain = gain

    def pause(self) -> None:
        """Silence from the next frame on, keeping the place (frames stay silent until resume)."""
        self.paused = True

    def resume(self, rewind_samples: int = 0) -> None:
        """Play on from `rewind_samples` before where the voice paused (within the current
        piece: a pause never replays a sentence already finished)."""
        back = min(max(0, rewind_samples), self._offset)
        if back and self._queue:
            self._offset -= back
            self._played[self._queue[0].sentence] -= back
        self.paused = False

    def next_frame(self) -> np.ndarray | None:
        """The next frame (zero-padded at the reply's end; silent while paused), or None when
        nothing is queued."""
        if not self._queue:
            return None
        out = np.zeros(self.frame_samples, dtype=np.float32)
        if self.paused:
            return out
        filled = 0
        while filled < self.frame_samples and self._queue:
            piece = self._queue[0]
            take = min(self.frame_samples - filled, len(piece.samples) - self._offset)
            out[filled : filled + take] = piece.samples[self._offset : self._offset + take]
            self._played[piece.sentence] += take
            filled += take
            self._offset += take
            if self._offset >= len(piece.samples):
                self._queue.popleft()
                self._offset = 0
            if not self.finished_adding and not self._queue:
                break  # the next sentence is still being synthesised: pad, don't wait
        return out * self.gain if self.gain != 1.0 else out

    def on_last_sentence(self) -> bool:
        """Whether the sentence playing now (or paused in) is the reply's last: all of it has
        been handed over and no later sentence is queued."""
        if not self.finished_adding or not self._texts:
            return False
        playing = self._queue[0].sentence if self._queue else len(self._texts) - 1
        return playing == len(self._texts) - 1

    def stop(self) -> str:
        """Drop what is left; return what the caller heard."""
        heard = self.heard()
        self._queue.clear()
        self._offset = 0
        self.finished_adding = True
        return heard

    def heard(self) -> str:
        parts = []
        for text, total, played in zip(self._texts, self._total, self._played, strict=True):
            if total == 0 or played == 0:
                break
            share = played / total
            if played >= total or share >= self.whole_after:
                parts.append(text)
                continue
            if share >= self.nothing_before:
                parts.append(_trim(text, share))
            break
        return _join(parts)


def _trim(text: str, share: float) -> str:
    if _HAN.search(text):
        chars = list(text)
        return "".join(chars[: max(1, round(share * len(chars)))]).rstrip("，。！？,.!? ") + "…"
    words = text.split()
    return " ".join(words[: max(1, round(share * len(words)))]).rstrip(",.!?;:") + "…"


def _join(parts: list[str]) -> str:
    out = ""
    for p in parts:
        cjk_end = bool(_HAN.search(out[-1:] or "x")) or out[-1:] in (
            "，",
            "。",
            "！",
            "？",
            "；",
            "：",
            "、",
        )
        if out and not (cjk_end and _HAN.search(p[:1] or "x")):
            out += " "
        out += p
    return out
