"""Guided training conversations: the Agent replays each conversation and every agent turn gets
the facts the Agent quoted to the model at that point, so that training prompts are the prompts
the model sees at inference.

At inference the dialogue model phrases the policy's decision: its system message quotes
"policy:decision" (the decision and the template's words), the tool results ("tool:NAME") and the
knowledge passages ("kb:SOURCE"). A generated conversation knows what the agent said but not
what the Agent would have decided and retrieved. `guide` replays the customer's turns through a
real Agent (templates only) on a fresh copy of the back office, records the facts at each reply
and writes them on the agent turn (`ConvTurn.facts`). The reply trained on is:

- the conversation's own words, when the Agent took the same actions (extra reads allowed) and the guard
  (`dialogue.policy.reply.phrase`) lets those words through for that decision: the model learns
  to say the decision in varied, natural words, and only what the context backs;
- else the Agent's template reply, and the conversation stops there (the Agent and the script no
  longer agree on what happened, so later turns would teach the wrong thing).

Open turns (`guide_open`) are lists of customer texts with no scripted reply: the Agent's reply,
which the open-turns suite checks, is the target.

Conversations with audio or screenshot turns are left out (the replay types text only); counts
of what happened go to `notes`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dialogue.agent import Agent, AgentServices, CustomerTurn
from dialogue.lm.convdata import Conversation, ConvTurn
from dialogue.policy.reply import phrase
from dialogue.types import evidence
from fusion.types import Fact

DECISION = "policy:decision"


@dataclass(frozen=True)
class OpenScript:
    """Customer turns with no scripted replies (an open turn and what was said before it)."""

    id: str
    language: str
    turns: tuple[str, ...]
    category: str = ""


@dataclass(frozen=True)
class _Fused:
    prompt: str = ""
    images: tuple = ()


class _Recorder:
    """Stands in for the fusion module and the generator: keeps the facts of the last turn and
    drafts nothing, so the Agent replies with its templates."""

    name = "recorder"

    def __init__(self):
        self.facts: list[Fact] | None = None

    def fuse(self, turn, history, facts: Sequence[Fact]) -> _Fused:
        self.facts = list(facts)
        return _Fused()

    def generate(self, prompt: str, options=None) -> str:
        return ""

    def prefill(self, prefix: str) -> None:
        """Nothing is generated, so nothing is read ahead."""

    def prefix(self, history, language: str) -> str:
        return ""


def _replayable(conv: Conversation) -> bool:
    return all(
        t.role == "agent" or not (t.transcript or t.screenshot_text or t.image) for t in conv.turns
    )


def _same_acts(scripted: Sequence[str], actions: Sequence) -> bool:
    """The Agent did what the script did: every scripted tool ran, and any other tool it ran only
    read (an extra lookup changes nothing the script goes on from)."""
    from dialogue.policy.toolkit import TOOLS

    ran = [a.tool for a in actions]
    extra = [t for t in ran if t not in scripted]
    return all(t in ran for t in scripted) and not any(TOOLS[t].writes for t in extra if t in TOOLS)


def _slots(record) -> dict[str, str]:
    """The decision's slot values, as the reply says them (the model writes them as {name})."""
    return {
        k: str(v)
        for k, v in record.decision.slots.items()
        if k != "opening" and v not in (None, "")
    }


def _kind(source: str) -> str:
    """A guard's reason without the values it names ("drops '1006327', which the template says"
    -> "drops '…', which the template says"), so that the build's notes count kinds of reasons."""
    reason = source.removeprefix("template ").strip("()")
    return re.sub(r"\d+%", "N%", re.sub(r"'[^']*'?", "'…'", reason))


def _fact_pairs(facts: Sequence[Fact]) -> tuple[tuple[str, str], ...]:
    return tuple((f.source, f.text) for f in facts)


def guide(conv: Conversation, services: AgentServices, notes: Counter) -> Conversation | None:
    """The conversation with facts on its agent turns (see the module); None when it cannot be
    replayed or nothing of it is left."""
    if not _replayable(conv):
        notes["left out (audio or screenshot turns)"] += 1
        return None
    rec = _Recorder()
    agent = Agent(replace(services, generator=rec, fusion=rec), session_id=conv.id)
    turns, out, customer, i = conv.turns, [], [], 0
    while i < len(turns):
        t = turns[i]
        i += 1
        out.append(t)
        if t.role == "agent":
            continue
        group = []
        while i < len(turns) and turns[i].role == "agent":
            group.append(turns[i])
            i += 1
        rec.facts = None
        record = agent.respond(CustomerTurn(text=t.text))
        customer.append(t.text)
        if not group:
            continue
        if rec.facts is None:  # a stage failed: nothing to learn from here on
            notes["stopped: the Agent did not reach the model"] += 1
            out.pop()
            break
        said = " ".join(g.text.strip() for g in group if g.text.strip())
        same = _same_acts([g.action.tool for g in group if g.action], record.actions)
        if same and said:
            known = evidence(record.actions, [f for f in rec.facts if f.source != DECISION])
            _, source = phrase(
                record.decision,
                record.language,
                record.actions,
                said,
                known,
                "\n".join(customer),
                replies=services.replies,
            )
            if source == "model":
                notes["script's words"] += 1
                out.append(
                    ConvTurn("agent", said, facts=_fact_pairs(rec.facts), slots=_slots(record))
                )
                continue
            notes[f"template: {_kind(source)}"] += 1
        else:
            notes["template: the script acted otherwise; stopped"] += 1
        out.append(ConvTurn("agent", record.reply, facts=_fact_pairs(rec.facts), slots=_slots(record)))  # fmt: skip
        if not same:
            break
    if not any(t.role == "agent" and t.facts for t in out):
        notes["left out (no agent turn left)"] += 1
        return None
    return replace(conv, turns=tuple(out), meta={**conv.meta, "guided": True})


def guide_open(script: OpenScript, services: AgentServices, notes: Counter) -> Conversation:
    """An open script as a conversation: the Agent's replies, with the facts it was given."""
    rec = _Recorder()
    agent = Agent(replace(services, generator=rec, fusion=rec), session_id=script.id)
    out = []
    for text in script.turns:
        rec.facts = None
        record = agent.respond(CustomerTurn(text=text))
        out.append(ConvTurn("customer", text))
        if rec.facts is None:
            notes["open: the Agent did not reach the model"] += 1
            break
        out.append(ConvTurn("agent", record.reply, facts=_fact_pairs(rec.facts), slots=_slots(record)))  # fmt: skip
    notes[f"open: {script.category or 'turn'}"] += 1
    meta: dict[str, Any] = {"group": f"open:{script.id}", "category": script.category, "guided": True}  # fmt: skip
    return Conversation(script.id, "open", script.language, tuple(out), meta)


def guide_all(
    convs: Sequence[Conversation],
    opens: Sequence[OpenScript],
    data: Path,
    kb: str | None = None,
    progress: bool = True,
) -> tuple[list[Conversation], Counter]:
    """Every conversation and open script replayed, each on a fresh copy of the back office."""
    from dialogue.evals.conversations import run_each

    notes: Counter = Counter()
    items = [{"id": c.id, "conv": c} for c in convs] + [{"id": o.id, "open": o} for o in opens]

    def run(item: dict, services: AgentServices) -> Conversation | None:
        if "open" in item:
            return guide_open(item["open"], services, notes)
        return guide(item["conv"], services, notes)

    done = run_each(items, data, run, progress, kb)
    return [c for c in done if c is not None], notes
