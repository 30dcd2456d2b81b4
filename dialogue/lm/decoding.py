"""DialogueLM's options, stats and error, a conversation's KV cache, and the next-token choice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GenerationOptions:
    max_new_tokens: int = 200  # the reply is at most this many tokens
    temperature: float = 0.0  # 0: greedy; above 0: sampling at this temperature
    top_p: float = 1.0  # sampling keeps the most likely tokens whose probabilities add up to this
    stop: tuple[str, ...] = ()  # more strings that end the reply (the template's always do)
    seed: int | None = None  # makes sampling repeatable

    def __post_init__(self):
        if isinstance(self.stop, str) or not all(isinstance(s, str) and s for s in self.stop):
            raise ValueError(f"stop must be a tuple of non-empty strings, e.g. ('Customer:',), got {self.stop!r}")  # fmt: skip
        object.__setattr__(self, "stop", tuple(self.stop))
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be 0 (greedy) or above, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}; 1 turns it off")


@dataclass(frozen=True)
class GenerationStats:
    prompt_tokens: int  # tokens in the prompt
    reused_tokens: int  # of those, taken from the conversation's KV cache
    new_tokens: int  # tokens generated (a final stop token included)
    first_token_s: float  # from the call to the first token
    total_s: float
    stopped_by: str  # "stop" (a stop string or EOS), "length" (max_new_tokens) or "closed"


class LMError(RuntimeError):
    """The model failed at run time; `retryable` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class Conversation:
    """The KV cache of one conversation, for `stream(..., conversation=c)`.

    ids: the tokens whose keys and values are in `cache`; `prefill_tokens` and `reused_tokens`
    add up over all turns, `last` holds the GenerationStats of the latest turn."""

    def __init__(self):
        self.ids: list[int] = []
        self.cache = None
        self.prefill_tokens = 0
        self.reused_tokens = 0
        self.last: GenerationStats | None = None
        self.busy = False

    def reset(self) -> None:
        self.ids, self.cache = [], None


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens `a` and `b` share."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def pick_token(logits: torch.Tensor, options: GenerationOptions, gen) -> int:
    """The next token from `logits` (vocab,): the most likely one at temperature 0, else sampled
    at the temperature from the top-p nucleus with `gen` (a torch.Generator or None)."""
    if options.temperature == 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / options.temperature, dim=-1)
    if options.top_p < 1:
        sorted_p, order = probs.sort(descending=True)
        sorted_p[(sorted_p.cumsum(0) - sorted_p) >= options.top_p] = 0  # the top one always stays
        probs = torch.zeros_like(probs).scatter(0, order, sorted_p)
    return int(torch.multinomial(probs, 1, generator=gen))
