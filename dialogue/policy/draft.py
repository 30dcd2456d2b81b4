"""The dialogue model's draft of a turn's reply, checked before the customer sees or hears it.

`draft_reply(...) -> (reply, source)` fuses the turn (its words, the history and the facts: the
policy's decision, tool results, passages), asks the `Generator` for a draft and lets
`dialogue.policy.guard` judge it; the template stands in for a draft the guard rejects or a
model that fails. With `say`, the draft streams: each clause goes to `say` as soon as the draft
through it passes the guard (`dialogue.policy.stream.ClauseGate`), so a voice starts speaking
while the model writes on, and the template goes to `say` when nothing of the draft could be.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from dialogue.policy.guard import DraftContext
from dialogue.policy.reply import judge
from dialogue.policy.stream import ClauseGate
from fusion.types import Fact, Message, TurnInput

logger = logging.getLogger(__name__)


def draft_reply(
    generator: Any,  # dialogue.lm.generator.Generator
    fusion: Any,  # fusion.fuse.Fusion
    turn: TurnInput,
    history: Sequence[Message],
    facts: Sequence[Fact],
    context: DraftContext,
    errors: list[str],
    timings: dict[str, float],
    say: Callable[[str], None] | None = None,
) -> tuple[str, str]:
    """(reply, source): "model", "model (cut: WHY)" when a streamed draft went wrong after some
    of it was said (the template follows it), or "template (WHY)" / "template" (see `ClauseGate`
    and `reply.judge`): the context's template and promises are the serving pack's."""
    draft, gate, failed = None, None, False
    try:
        fused = fusion.fuse(turn, history, facts)
        context = replace(context, prompt=fused.prompt)
        if fused.images and getattr(generator, "takes_images", False):
            draft = generator.generate_fused(fused)  # pictures as soft tokens
        elif say is None:
            draft = generator.generate(fused.prompt)
        else:
            gate = ClauseGate(context, context.decision.slots)
            for piece in generator.stream(fused.prompt):
                for text in gate.push(piece):
                    say(text)
    except Exception as e:
        logger.warning("the dialogue model failed: %s", e)
        errors.append(f"generate: {e}")
        draft, failed = None, True
    first = getattr(getattr(generator, "last", None), "first_token_s", None)
    if isinstance(first, float):
        timings["first_token"] = first * 1000
    if gate is not None and (not failed or gate.said):
        # a model that failed after part of its draft was said: the template follows that part
        reply, source, rest = gate.cut("the model failed") if failed else gate.finish()
        if rest and say is not None:
            say(rest)
        return reply, source
    reply, source = judge(draft, context)
    if say is not None:
        say(reply)
    return reply, source
