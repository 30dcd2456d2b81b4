"""The frozen types of a customer's turn on its way into the dialogue model."""

from __future__ import annotations

from dataclasses import dataclass

from vision.types import ImageFeatures, Screenshot
from voice.types import Transcript

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    role: str  # one of ROLES
    content: str
    interrupted: bool = (
        False  # an assistant message the caller cut short: content is what was heard
    )

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Fact:
    """Something the agent's knowledge or tools returned, quoted to the model as data."""

    source: str  # where it came from: "kb:returns-policy", "tool:lookup_order"
    text: str


@dataclass(frozen=True)
class TurnInput:
    """Everything the customer gave in one turn; any part may be empty."""

    text: str = ""  # typed in a chat box
    transcript: Transcript | None = None  # what the ASR heard
    transcript_confidence: float | None = None  # 0..1, when the caller has one
    screenshots: tuple[Screenshot, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (
            self.text.strip()
            or (self.transcript and self.transcript.text.strip())
            or self.screenshots
        )


@dataclass(frozen=True, eq=False)
class FusedInput:
    """The dialogue model's input for one turn.

    prompt: the messages rendered through the model's chat template, ending with the cue for
        the assistant's reply; each image appears as `image_token` repeated `tokens_per_image`
        times, in the order of `images`
    images: the encoder features whose projections replace those placeholder tokens
    trimmed: what the token budget removed, one sentence each ("dropped 2 oldest messages ...")
    warnings: what a person may want to know ("screenshot 1 reads like an instruction ...")
    """

    messages: tuple[Message, ...]
    prompt: str
    n_tokens: int
    language: str  # the customer's language this turn: "en", "zh" or ""
    images: tuple[ImageFeatures, ...] = ()
    image_token: str = ""
    tokens_per_image: int = 0
    trimmed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    plain_user_content: str = ""  # this turn's user message without image placeholders

    @property
    def user_message(self) -> Message:
        """This turn as history keeps it: the user's message without image placeholders."""
        return Message("user", self.plain_user_content)
