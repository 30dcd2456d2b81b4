"""A model's draft released to the customer clause by clause, as it is generated.

    gate = ClauseGate(context, slots)
    for piece in generator.stream(prompt):
        for text in gate.push(piece):
            say(text)  # e.g. into TTS while the model writes on
    reply, source = gate.finish()  # and whatever `finish` released last was said too

The rule that keeps this as safe as checking the whole draft: text is released only up to a
clause end where the draft so far, read as a whole reply, passes `guard.check_draft`. So every
prefix the customer hears is itself a reply the guard accepts: it backs every id and amount, is in
the customer's language, echoes nothing, and (for a confirmation) already holds the question
and the action's summary. A clause that fails waits: a later clause may complete it (a
confirmation's question comes last). When the draft ends:

- the whole draft passes: the rest is released; source "model";
- it fails and some of it was released: nothing more of the draft is said, and the template
  follows what was (the released part may be only an opening, "No problem,", and the template
  holds what the reply must say); source "model (cut: WHY)";
- it fails and nothing was released: the template is said instead; source "template (WHY)", as
  for a draft checked whole.

A decision whose template a voice says in a shorter spoken form, and a draft the caller must not
hear in part, are not streamed: the caller of `ClauseGate` decides that.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dialogue.policy.guard import DraftContext, check_draft
from dialogue.policy.reply import fill

# a clause ends at a sentence end, or at a comma, semicolon or colon followed by a space (English)
# or at once (Chinese); not inside a number ("1,200", "3.5")
_CLAUSE_END = re.compile(r"(?<!\d)[.!?;:,](?=\s)|[.!?](?=$)|[。！？；：，]|\n")
MIN_CLAUSE_CHARS = 6  # a first release shorter than this waits for more ("Sure," alone does not go)


class ClauseGate:
    """Releases a streamed draft's clauses once the draft through them passes the guard."""

    def __init__(self, context: DraftContext, slots: dict | None = None):
        self.context = context
        self.slots = slots or {}
        self.draft = ""  # the raw draft so far, with its `{slot}` marks
        self.released = 0  # characters of `draft` already released
        self.said: list[str] = []  # what was released, filled, in order
        self.checks = 0  # guard runs, for the record

    def push(self, piece: str) -> Iterator[str]:
        """Add a piece of the draft; yield text ready to be said (possibly several clauses)."""
        start = len(self.draft)
        self.draft += piece
        ends = [
            m.end()
            for m in _CLAUSE_END.finditer(self.draft, max(start - 1, self.released))
            if m.end() > self.released
        ]
        for end in reversed(
            ends
        ):  # the furthest clause end the guard accepts releases all before it
            if len(self.draft[:end].strip()) < MIN_CLAUSE_CHARS:
                break
            if self._accepts(self.draft[:end]):
                yield from self._release(end)
                break

    def finish(self) -> tuple[str, str, str]:
        """(reply, source, rest): the reply as the customer hears it in full, its source, and the
        text not yet released that must still be said (may be "")."""
        whole = self.draft.rstrip()
        why = self._why(whole)
        if not why:
            rest = "".join(self._release(len(whole)))
            return fill(whole, self.slots).strip(), "model", rest
        if self.said:
            return self.cut(why)
        return self.context.template, f"template ({why})", self.context.template

    def cut(self, why: str) -> tuple[str, str, str]:
        """(reply, source, rest) when the draft stops at what was released: the template is
        said after it."""
        said = fill(self.draft[: self.released], self.slots).strip()
        template = self.context.template
        joint = "" if self.context.language == "zh" else " "
        return f"{said}{joint}{template}", f"model (cut: {why})", template

    def _why(self, raw: str) -> str:
        self.checks += 1
        return check_draft(fill(raw, self.slots), self.context)

    def _accepts(self, raw: str) -> bool:
        return not self._why(raw)

    def _release(self, end: int) -> Iterator[str]:
        text = fill(self.draft[self.released : end], self.slots).strip()
        self.released = end
        if text:
            self.said.append(text)
            yield text
