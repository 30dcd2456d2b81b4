"""The dialogue-model seam: a rendered prompt in, the reply out, whole or piece by piece.

The Agent holds a `Generator`. `LMGenerator` puts a loaded `DialogueLM` behind it with fixed
generation options; `tests.fakes.FakeGenerator` is the fake. Every implementation runs through
tests/test_contracts.py. A generator that can also take pictures as soft tokens declares
`takes_images = True` and has `generate_fused(fused)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Generator(Protocol):
    """`generate(prompt) -> str` and its streaming twin; `prompt` is already rendered with the
    model's chat template (fusion.fuse.Fusion does that). A model failure raises."""

    name: str
    takes_images: bool

    def generate(self, prompt: str) -> str: ...

    def stream(self, prompt: str) -> Iterator[str]: ...

    def prefill(self, prefix: str) -> None:
        """A hint, between turns: the next prompt starts with `prefix`. An engine with a prompt
        cache may start reading it in the background; the others ignore it. Never raises."""


class LMGenerator:
    """A `DialogueLM` with its generation options, as the Agent's generator."""

    def __init__(self, model: Any, options: Any, name: str = "dialogue-lm"):
        self.model = model  # dialogue.lm.model.DialogueLM
        self.options = options  # dialogue.lm.decoding.GenerationOptions
        self.name = name
        self.takes_images = bool(model.takes_images)  # a projector came with the adapter

    def generate(self, prompt: str) -> str:
        return self.model.generate(prompt, self.options)

    def stream(self, prompt: str) -> Iterator[str]:
        return self.model.stream(prompt, self.options)

    def generate_fused(self, fused: Any) -> str:
        return self.model.generate_fused(fused, self.options)

    def prefill(self, prefix: str) -> None:
        """The transformers loop keeps no cache between calls: nothing to read ahead."""
