"""One fake per seam, for tests of what sits around a model. Real models are tested beside them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from voice.asr.text import join_texts
from voice.asr.types import ASROptions, WindowResult
from voice.asr.vad import SpeechRegion
from voice.types import SAMPLE_RATE, Segment, Transcript


@dataclass
class FakeASR:
    """Says `text` for every window, in `language`; counts the windows and batches it saw."""

    text: str = "hello world"
    language: str = "en"
    name: str = "fake-asr"
    fail_on_batch: int | None = None  # raise on this batch number (0-based), like a model crash
    options: ASROptions = ASROptions()
    max_window_s: float = 30.0

    def __post_init__(self):
        self.batches: list[int] = []
        self.prompts: list[str] = []  # the context each window was given, in decoding order

    def decode_windows(
        self, windows: Sequence[np.ndarray], offsets_s: Sequence[float], prompts=None
    ) -> list[WindowResult]:
        if self.fail_on_batch is not None and len(self.batches) == self.fail_on_batch:
            self.batches.append(len(windows))
            raise RuntimeError("fake model failure")
        self.batches.append(len(windows))
        self.prompts += list(prompts or [""] * len(windows))
        out = []
        for w, off in zip(windows, offsets_s, strict=True):
            d = len(w) / SAMPLE_RATE
            seg = Segment(off, off + d, self.text, self.language)
            out.append(WindowResult((seg,), self.language, {self.language: 1.0}, d))
        return out

    def transcribe(self, audio) -> Transcript:
        if audio.duration_s <= 0:
            return self.assemble([], 0.0)
        return self.assemble(self.decode_windows([audio.samples], [0.0]), audio.duration_s)

    def assemble(self, results, duration_s: float, speaker: str = "") -> Transcript:
        segs = tuple(sorted((s for r in results for s in r.segments), key=lambda s: s.start_s))
        return Transcript(
            join_texts(segs), self.language if segs else "", duration_s, segs, {}, self.name
        )


class FakeVAD:
    """All of the audio is speech."""

    name = "fake-vad"

    def speech(self, audio) -> list[SpeechRegion]:
        return [SpeechRegion(0.0, audio.duration_s)] if audio.duration_s > 0 else []


@dataclass
class FakeOCR:
    """Reads `lines` (text, box) off every image; counts the images it saw."""

    lines: tuple = (("Payment failed", (10, 10, 200, 30)), ("Error 0x80070005", (10, 40, 220, 60)))
    name: str = "fake-ocr"
    languages: tuple = ("en", "zh")

    def __post_init__(self):
        self.seen: list[str] = []

    def read(self, image):
        from vision.ocr import make_page
        from vision.types import OCRLine

        self.seen.append(image.source)
        return make_page([OCRLine(text, box, 0.99) for text, box in self.lines])


@dataclass
class FakeNLU:
    """Understands the turns it was given: text -> (intent, confidence, [(type, value)]); any other
    turn is out of scope. Sentiment is the real lexicon's, so anger and frustration are real."""

    script: dict
    language: str = "en"

    def analyse(self, text: str, language: str | None = None):
        from dialogue.nlu.entities import Entity
        from dialogue.nlu.sentiment import sentiment
        from dialogue.nlu.understand import NLUResult

        intent, confidence, found = self.script.get(text, ("out_of_scope", 0.9, ()))
        entities = []
        for kind, value in found:
            start = max(text.find(value), 0)
            entities.append(Entity(kind, value, start, start + len(value)))
        lang = language or ("zh" if any("\u4e00" <= c <= "\u9fff" for c in text) else self.language)
        return NLUResult(
            text,
            lang,
            intent,
            confidence,
            intent == "out_of_scope",
            tuple(entities),
            sentiment(text),
        )


@dataclass
class FakeGenerator:
    """A dialogue model that says `reply` to every prompt, and keeps the prompts."""

    reply: str = "Sure."
    name: str = "fake-generator"
    takes_images: bool = False

    def __post_init__(self):
        self.prompts: list[str] = []
        self.prefixes: list[str] = []  # what prefill was told the next prompt starts with

    def generate(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.reply

    def stream(self, prompt: str):
        self.prompts.append(prompt)
        yield from (w + " " for w in self.reply.split(" ")[:-1])
        yield self.reply.split(" ")[-1]

    def prefill(self, prefix: str) -> None:
        self.prefixes.append(prefix)


@dataclass
class FakeRetriever:
    """Finds the `passages` (source, text) that share a word with the query, most shared first."""

    passages: tuple = (
        ("faq.md#refunds", "Refunds reach the card within 5 to 7 business days."),
        ("faq.md#returns", "Items can be returned within 30 days of delivery."),
    )

    def search(self, query: str, k: int = 5):
        from dialogue.knowledge.base import Passage

        words = set(query.lower().split())
        scored = [(len(words & set(t.lower().split())), s, t) for s, t in self.passages]
        hits = sorted((x for x in scored if x[0]), key=lambda x: -x[0])[:k]
        return [Passage(s, s, t, float(n), i + 1, None) for i, (n, s, t) in enumerate(hits)]


@dataclass
class FakeTTS:
    """Says every text as a tone (`freq` Hz, 0.05 s per character) at `sample_rate`; declares
    `languages`; records (text, language) per call; raises on every call when `fail` is set."""

    name: str = "fake-tts"
    languages: frozenset = frozenset({"en", "zh"})
    sample_rate: int = 24_000
    freq: float = 220.0
    fail: bool = False

    def __post_init__(self):
        self.calls: list[tuple[str, str]] = []

    def synthesize(self, text: str, language: str):
        from voice.types import Audio

        self.calls.append((text, language))
        if self.fail:
            raise RuntimeError(f"{self.name} is broken")
        t = np.arange(int(0.05 * len(text) * self.sample_rate)) / self.sample_rate
        return Audio(
            (0.3 * np.sin(2 * np.pi * self.freq * t)).astype(np.float32),
            self.sample_rate,
            self.name,
        )
