"""A fast runtime for the web demo's tests: the real Agent and policy on the small SQLite back
office (retail_fixture), with fakes where a model would take seconds: the NLU of a script, an ASR
that hears one sentence, an OCR that reads an order page, a knowledge base of two passages and a
speaker that says every reply as a short tone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from demo.runtime import Runtime, pack_labels
from dialogue.agent import AgentServices
from dialogue.knowledge.base import Passage
from domains.retail.backoffice import BackOffice
from tests.fakes import FakeNLU, FakeOCR
from tests.retail_fixture import write_dataset
from vision.see import ScreenshotReader
from voice.types import Audio, Transcript

HEARD = "where is my order"
SCRIPT = {
    HEARD: ("order_status", 0.95, ()),
    "Where is my order?": ("order_status", 0.95, ()),
    "Hello, where is my order?": ("order_status", 0.95, ()),  # demo.web.app.CHECK_TEXT
    "my email is alice@example.com": ("order_status", 0.6, (("email", "alice@example.com"),)),
    "hello": ("greeting", 0.99, ()),
    "I want to talk to a person": ("talk_to_human", 0.97, ()),
}
ORDER_PAGE = (("Order details", (0, 0, 200, 20)), ("Order number: #W1", (0, 30, 300, 50)))


@dataclass
class HeardASR:
    """Hears `text` in any audio."""

    text: str = HEARD
    language: str = "en"

    def transcribe(self, audio: Audio) -> Transcript:
        return Transcript(self.text, self.language, audio.duration_s, model="heard-asr")


class TwoPassages:
    """A knowledge base that always finds the same two passages."""

    def search(self, query: str, k: int = 5) -> list[Passage]:
        return [
            Passage("kb/shipping.md#delivery-times", "Shipping > Delivery times",
                    "Orders ship within 2 business days.", 0.03, 1, 1),
            Passage("kb/returns.md#window", "Returns > Window",
                    "Items can be returned within 30 days.", 0.02, 2, 3),
        ][:k]  # fmt: skip


class ToneSpeaker:
    """Says every reply as a 0.4 s tone at 16 kHz."""

    languages = frozenset({"en", "zh"})

    def synthesize(self, text: str, language: str, sample_rate: int | None = None) -> Audio:
        rate = sample_rate or 16_000
        t = np.arange(int(0.4 * rate)) / rate
        return Audio((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, "tone")

    def stream(self, text: str, language: str, sample_rate: int | None = None):
        yield self.synthesize(text, language, sample_rate)

    def describe(self) -> dict[str, list[str]]:
        return {"tone": ["en", "zh"]}


def fast_runtime(folder: Path, store=None, knowledge=True) -> Runtime:
    office = BackOffice.open(f"sqlite:///{folder / 'retail.db'}")
    office.load_retail(write_dataset(folder / "retail"), progress=False)
    services = AgentServices(
        nlu=FakeNLU(SCRIPT), office=office, asr=HeardASR(),
        reader=ScreenshotReader(FakeOCR(lines=ORDER_PAGE)),
        knowledge=TwoPassages() if knowledge else None,
    )  # fmt: skip
    # the sample shop's intents in words, as `cca demo` shows them
    return Runtime(services, ToneSpeaker(), store, intent_labels=pack_labels(None))
