"""A turn answered ahead of time, on a copy of the conversation, then kept or thrown away.

On a voice line the caller's turn ends only after a stretch of silence (voice.live.endpoint), and
a quick transcript of what they said is usually known before that silence is over. A
`Rehearsal` answers that transcript at once, in a worker thread, on a copy of the Agent's
conversation (`rehearse(agent, cancelled)`), so that the reply, the dialogue model's first clause
included, is ready or under way when the turn ends. The turn is then `adopt`ed (the copy's state
becomes the Agent's, its clauses are said) if the caller's final words are the rehearsed ones and
the conversation has not moved on meanwhile; otherwise it is thrown away and the turn is answered
as usual. Voice assistants call this preemptive generation.

What a rehearsal may do, and what not:
- it reads: the NLU, the knowledge, the back office's read tools (reads by contract have no
  effect), and it may propose a write (a proposal is the copy's pending action, nothing is
  written);
- it never writes: a confirmed write (`confirm(True)` on a pending action) abandons the
  rehearsal (`Abandoned`), and the real turn does it, once;
- it stops between two of the model's tokens when it is `cancelled` (the caller spoke again).

Nothing it did is visible until it is adopted: the Agent's state, history and turns, and the
conversation's tool session, are untouched until then.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from dataclasses import fields, replace
from typing import Any


class Abandoned(BaseException):
    """A rehearsal stopped: it was cancelled, or its turn would write to the back office. A
    BaseException, so the stages' own `except Exception` (a failed stage becomes part of the
    turn) do not take it for a failure of theirs."""


class RehearsalTools:
    """A conversation's tool session during a rehearsal: reads and write proposals go to a copy
    of the session (its authenticated user and pending action are the copy's); confirming a
    write abandons the rehearsal."""

    def __init__(self, session: Any):
        object.__setattr__(self, "session", copy.copy(session))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)

    def __setattr__(self, name: str, value: Any) -> None:  # the policy sets user_id, pending
        setattr(self.session, name, value)

    def call(self, name: str, args: dict[str, Any] | None = None) -> Any:
        return self.session.call(name, args)

    def confirm(self, yes: bool) -> Any:
        if yes and self.session.pending is not None:
            raise Abandoned(f"the turn confirms {self.session.pending.tool}: written in the real turn only")  # fmt: skip
        return self.session.confirm(yes)


class CancellableGenerator:
    """A `Generator` (dialogue.lm.generator) that stops between two tokens once `cancelled` is
    set, raising `Abandoned`; everything else is the wrapped generator's."""

    def __init__(self, generator: Any, cancelled: threading.Event):
        self.generator, self.cancelled = generator, cancelled

    def __getattr__(self, name: str) -> Any:
        return getattr(self.generator, name)

    def _check(self) -> None:
        if self.cancelled.is_set():
            raise Abandoned("cancelled: the caller went on")

    def stream(self, prompt: str) -> Iterator[str]:
        pieces = self.generator.stream(prompt)
        try:
            for piece in pieces:
                self._check()
                yield piece
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # an engine's lock and state are released now, not when collected

    def generate(self, prompt: str) -> str:
        self._check()
        out = self.generator.generate(prompt)
        self._check()
        return out

    def generate_fused(self, fused: Any) -> str:
        self._check()
        out = self.generator.generate_fused(fused)
        self._check()
        return out


class Rehearsal:
    """One rehearsed turn of `agent`: `twin` is the Agent that answers it (a copy of `agent`'s
    conversation over the same services); `fresh()` says whether `agent` is still where the copy
    was taken."""

    def __init__(self, agent: Any, cancelled: threading.Event):
        self.agent, self.cancelled = agent, cancelled
        self.history = list(agent.history)
        self.turns = len(agent.turns)
        twin = copy.copy(agent)
        services = agent.services
        if services.generator is not None:
            services = replace(services, generator=CancellableGenerator(services.generator, cancelled))  # fmt: skip
        twin.services = services
        twin.state = replace(
            agent.state,
            tools=RehearsalTools(agent.state.tools),
            slots=copy.deepcopy(agent.state.slots),
        )
        twin.history, twin.turns = list(self.history), list(agent.turns)
        self.twin = twin

    def fresh(self) -> bool:
        """Nothing has changed the conversation since the copy: no turn answered, no reply
        marked as interrupted."""
        return len(self.agent.turns) == self.turns and self.agent.history == self.history

    def adopt(self) -> None:
        """Make the rehearsed turn the Agent's: its state (the tool session's user and pending
        action copied into the real session, whose identity others may hold), history and turns."""
        agent, twin = self.agent, self.twin
        real_tools = agent.state.tools
        vars(real_tools).update(vars(twin.state.tools.session))
        for f in fields(agent.state):
            if f.name != "tools":
                setattr(agent.state, f.name, getattr(twin.state, f.name))
        agent.history, agent.turns = twin.history, twin.turns
