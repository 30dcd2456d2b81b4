"""Conversations to training examples: token ids and labels, loss on the agent's turns only.

The prompt is what the Agent gives the model at inference: fusion's system message and user
messages (a transcript or screenshot text quoted as data), rendered through the model's chat
template. Each message is rendered and tokenized as its own piece, so the boundary between the
turn header ("<start_of_turn>model\\n") and the reply is exact: labels cover the reply and the
token that ends the turn, and everything else is -100.

`per_turn=True` gives one example per agent turn instead, shaped as the Agent's prompt for that
turn: the history before it is plain messages, the customer's last message is followed by the
facts the Agent was given (the policy's decision, knowledge passages, the turn's tool result as
`tool:NAME`), as fusion lays them out, and only that reply is trained on.

A customer turn whose screenshot has encoder features (`features`, keyed by the turn's `image`
path) gets the image placeholder tokens in its message, as the Agent's prompt has them, and the
example carries those features in prompt order: the trainer projects them into the placeholders
(fusion.projector), so the projector learns with the language model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dialogue.policy.reply import delexicalize
from dialogue.types import tool_fact
from fusion.fuse import Fusion
from fusion.types import Fact, Message, TurnInput
from vision.types import ImageFeatures, Kind, OCRLine, PageText, Screenshot
from voice.types import Transcript

IGNORE = -100


@dataclass(frozen=True)
class Example:
    conversation_id: str
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]  # IGNORE where the model is not trained (system, customer, headers)
    language: str = ""
    images: tuple[ImageFeatures, ...] = ()  # one per run of image placeholders, in prompt order

    @property
    def n_target(self) -> int:
        return sum(label != IGNORE for label in self.labels)


def customer_message(
    turn, language: str, fusion: Fusion, features: ImageFeatures | None = None
) -> str:
    """A customer turn as the Agent would put it: typed text, quoted transcript and screenshot
    (with its image placeholders when `features` are given)."""
    transcript = None
    if getattr(turn, "transcript", None):
        transcript = Transcript(text=turn.transcript, language=language, duration_s=0.0)
    shots = ()
    if getattr(turn, "screenshot_text", None) or features is not None:
        lines = tuple(
            OCRLine(t, (0, 0, 1, 1), 1.0)
            for t in (turn.screenshot_text or "").splitlines()
            if t.strip()
        )
        page = PageText(lines, language)
        shot = Screenshot("screenshot.png", 0, 0, page, (), Kind("other", 1.0), features)
        shots = (shot,)
    return fusion.user_content(
        TurnInput(text=turn.text or "", transcript=transcript, screenshots=shots),
        with_images=features is not None,
    )


def turn_features(turn, features: dict[str, ImageFeatures] | None) -> ImageFeatures | None:
    image = getattr(turn, "image", None)
    return features.get(image) if features and image else None


def messages_of(
    conv, fusion: Fusion, features: dict[str, ImageFeatures] | None = None
) -> list[Message]:
    """The conversation as the Agent's messages; `features` maps a turn's image path to what
    the encoder saw in it (turns whose image is not in it stay text only)."""
    out = [Message("system", fusion.system_content(conv.language))]
    for turn in conv.turns:
        if turn.role == "agent":
            out.append(Message("assistant", turn.text))
        else:
            f = turn_features(turn, features)
            out.append(Message("user", customer_message(turn, conv.language, fusion, f)))
    return out


def _render(tokenizer, messages: Sequence[Message], generation: bool = False) -> str:
    if not messages:
        return ""
    return tokenizer.apply_chat_template(
        [m.to_dict() for m in messages], tokenize=False, add_generation_prompt=generation
    )


def turn_facts(turn) -> list[Fact]:
    """What the Agent quotes after the customer's message for an agent turn: the facts it was given
    when the turn records them (a guided conversation), else its tool's result."""
    given = getattr(turn, "facts", None)
    if given:
        return [Fact(source, text) for source, text in given]
    action = getattr(turn, "action", None)  # a convdata.TurnAction, or its dict form
    if isinstance(action, dict):
        tool, result = action.get("tool"), action.get("result")
    else:
        tool, result = getattr(action, "tool", None), getattr(action, "result", None)
    return [tool_fact(tool, result)] if tool and result is not None else []


def turn_messages(conv, fusion: Fusion) -> list[list[Message]]:
    """One message list per agent turn with text: the system message, the conversation before it
    (as said) with that turn's facts after the customer's last message, and the reply last (its slot values as `{name}`, as the
    model writes them, when the turn records the slots)."""
    out, history = [], []
    for turn in conv.turns:
        if turn.role == "agent":
            if turn.text.strip():
                system = Message("system", fusion.system_content(conv.language))
                slots = getattr(turn, "slots", None)
                target = delexicalize(turn.text, slots) if slots else turn.text
                facts = turn_facts(turn)
                shown = list(history)
                if facts and shown and shown[-1].role == "user":  # facts after the turn, as fuse()
                    shown[-1] = Message("user", fusion.with_facts(shown[-1].content, facts))
                elif facts:  # the agent speaks first: the facts are the whole user message
                    shown.append(Message("user", fusion.with_facts("", facts).lstrip()))
                out.append([system, *shown, Message("assistant", target)])
            history.append(Message("assistant", turn.text))
        else:
            history.append(Message("user", customer_message(turn, conv.language, fusion)))
    return out


def encode(
    tokenizer, messages: Sequence[Message], last_only: bool = False
) -> tuple[list[int], list[int]]:
    """Token ids and labels for a conversation; labels only on assistant replies (the last one
    alone with `last_only`)."""
    ids: list[int] = []
    labels: list[int] = []
    done = ""
    for i, m in enumerate(messages):
        upto = _render(tokenizer, messages[: i + 1])
        if not upto.startswith(done):
            raise ValueError(
                "the chat template does not render conversations by appending turns; it cannot be trained on turn by turn"
            )
        if m.role == "assistant":
            head = _render(tokenizer, messages[:i], generation=True)[len(done) :]
            body = upto[len(done) + len(head) :]
            head_ids = tokenizer.encode(head, add_special_tokens=False)
            body_ids = tokenizer.encode(body, add_special_tokens=False)
            ids += head_ids + body_ids
            trained = not last_only or i == len(messages) - 1
            labels += [IGNORE] * len(head_ids) + (body_ids if trained else [IGNORE] * len(body_ids))
        else:
            piece = tokenizer.encode(upto[len(done) :], add_special_tokens=False)
            ids += piece
            labels += [IGNORE] * len(piece)
        done = upto
    return ids, labels


def build_example(
    conv, tokenizer, fusion: Fusion, max_len: int, features: dict[str, ImageFeatures] | None = None
) -> Example | None:
    """The conversation as one example; the oldest exchanges go first if it is over `max_len`.
    None when no agent turn is left to learn from."""
    messages = messages_of(conv, fusion, features)
    while True:
        ids, labels = encode(tokenizer, messages)
        if len(ids) <= max_len or len(messages) <= 3:
            break
        messages = [messages[0], *messages[3:]]  # drop the oldest exchange, keep the system message
        while len(messages) > 1 and messages[1].role != "user":
            messages.pop(1)
    if len(ids) > max_len:  # one exchange still too long: keep its end
        ids, labels = ids[-max_len:], labels[-max_len:]
    images: tuple[ImageFeatures, ...] = ()
    if features:
        ids, labels, images = _keep_whole_images(conv, ids, labels, tokenizer, fusion, features)
    example = Example(conv.id, tuple(ids), tuple(labels), conv.language, images)
    return example if example.n_target else None


def _keep_whole_images(conv, ids, labels, tokenizer, fusion: Fusion, features):
    """The features of the images whose placeholders survived the cuts (the latest ones: cuts
    take the oldest text first), and the ids without the placeholders of an image cut in half."""
    o = fusion.options
    token = tokenizer.convert_tokens_to_ids(o.image_token)
    given = [f for t in conv.turns if t.role != "agent" if (f := turn_features(t, features))]
    slots = sum(i == token for i in ids)
    whole, partial = divmod(slots, o.tokens_per_image)
    if partial:  # the first run was cut: drop its remains (they are never trained on)
        drop = set([k for k, i in enumerate(ids) if i == token][:partial])
        ids = [i for k, i in enumerate(ids) if k not in drop]
        labels = [x for k, x in enumerate(labels) if k not in drop]
    if whole > len(given):
        raise ValueError(
            f"{conv.id}: the prompt has {slots} image placeholder tokens but the conversation has "
            f"{len(given)} image(s); does its text contain {o.image_token!r}?"
        )
    return ids, labels, tuple(given[len(given) - whole :])


def build_turn_examples(conv, tokenizer, fusion: Fusion, max_len: int) -> list[Example]:
    """One example per agent turn (see the module); the oldest exchanges go first to fit."""
    out = []
    for k, messages in enumerate(turn_messages(conv, fusion)):
        while True:
            ids, labels = encode(tokenizer, messages, last_only=True)
            if len(ids) <= max_len or len(messages) <= 2:
                break
            messages = [messages[0], *messages[2:]]  # drop the oldest message of the history
        if len(ids) > max_len:
            ids, labels = ids[-max_len:], labels[-max_len:]
        example = Example(f"{conv.id}#{k}", tuple(ids), tuple(labels), conv.language)
        if example.n_target:
            out.append(example)
    return out


def build_examples(
    conversations: Iterable,
    tokenizer,
    fusion: Fusion,
    max_len: int,
    features: dict[str, ImageFeatures] | None = None,
    per_turn: bool = False,
) -> list[Example]:
    if per_turn:
        if features:
            raise ValueError("per_turn examples are text only: leave [images] out of the recipe")
        return [
            e for c in conversations for e in build_turn_examples(c, tokenizer, fusion, max_len)
        ]
    return [
        e
        for e in (build_example(c, tokenizer, fusion, max_len, features) for c in conversations)
        if e is not None
    ]


def data_hash(paths: Sequence) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]
