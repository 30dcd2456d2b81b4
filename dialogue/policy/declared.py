"""The dialogue policy of a domain pack, run from what the pack declares (`dialogue.policy.declare`):
`DeclaredPolicy(declarations).decide(state, understood) -> (Decision, actions)`, the same verb
and the same `Decision` as the sample shop's policy, so the Agent, the guard and the records work
unchanged. Deterministic; each turn, in this order:

1. a request for a person (the core's cues, English and Chinese) hands over, whatever waits;
2. the declared handoff triggers: cues and intents of suspected fraud, strong anger or
   frustration, too many unhelpful turns in a row;
3. a write waiting for a yes: a plain yes runs it (the confirmation protocol checks it again), a
   no drops it, a rule question is answered and the confirmation asked again;
4. a question about the rules (a declared rule cue) is answered from the knowledge base with no
   account, the task in hand waiting;
5. the task the turn names (declared cues, then declared intents), or the one in hand: first the
   authentication it needs (a declared factor set, checked by the declared read tool), then its
   slots (asked for with their prompts, or picked from a declared list), then its tool: a read is
   answered with its template, a write proposed with its summary for a yes, or refused with its
   state rule's words;
6. else knowledge, out of scope, small talk or a question of what is wanted.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from dialogue.nlu.cues import said
from dialogue.nlu.slots import NO, YES
from dialogue.nlu.understand import detect_language
from dialogue.policy.declare import Declarations, TaskDecl, ToolDecl
from dialogue.policy.pack_slots import described, read_slots
from dialogue.policy.pack_tools import say
from dialogue.policy.reply import quote_risk
from dialogue.policy.state import DialogueState, Understood
from dialogue.policy.tooltypes import ToolResult, action
from dialogue.types import Action, Decision

logger = logging.getLogger(__name__)

UNHELPFUL = ("kb_none", "auth_failed", "out_of_scope", "clarify")  # count towards a handover
APOLOGETIC = ("refused", "out_of_scope", "clarify", "auth_failed", "handoff", "handoff_fraud")
ANSWER_CHARS = 400  # the most of a knowledge passage said as an answer
SAID = "_said"  # the slot holding the words of the task in hand, to pick items from


def _compile(table: dict[str, tuple[str, ...]]) -> re.Pattern | None:
    patterns = [p for lang in sorted(table) for p in table[lang]]
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.I) if patterns else None


class DeclaredPolicy:
    def __init__(self, declarations: Declarations):
        self.d = declarations
        self.p = declarations.policy
        self.tasks: dict[str, TaskDecl] = {t.name: t for t in self.p.tasks}
        self._task_cues = [(t.name, _compile(t.cues)) for t in self.p.tasks]
        self.cues = declarations.pack.cue_book()  # the core's, with the pack's [cues] file
        self._fraud = _compile(self.p.handoff_cues)
        self._rule = _compile(self.p.rule_cues)
        self._small = {k: _compile(v) for k, v in self.p.smalltalk.items()}

    # ------------------------------------------------------------------ words
    def _say(self, key: str, s: DialogueState, kind: str, reason: str, handoff: bool = False,
             **slots: Any) -> Decision:  # fmt: skip
        """A decision whose reply is the pack's template `key`, filled and in the turn's language."""
        text = say(self.d.templates.get(key, {}), s.language, slots, self.d.values)
        return Decision(kind, "pack", {"answer": text, "key": key}, handoff=handoff, reason=reason)

    def _words(self, words: dict[str, str], s: DialogueState, slots: dict[str, Any]) -> str:
        return say(words, s.language, slots, self.d.values)

    # ------------------------------------------------------------------ the turn
    def decide(self, state: DialogueState, u: Understood) -> tuple[Decision, list[Action]]:
        state.language = u.language or state.language
        actions: list[Action] = []
        decision = self._decide(state, u, actions)
        key = decision.slots.get("key", "")
        helped = key not in UNHELPFUL
        if not helped and not decision.handoff and state.failures + 1 >= self.p.max_failures:
            decision = self._handoff(state, f"{state.failures + 1} turns in a row without help ({decision.reason})")  # fmt: skip
        state.failures = 0 if helped else state.failures + 1
        state.handed_off = state.handed_off or decision.handoff
        upset = max(u.anger, u.frustration) >= self.p.upset
        if upset and decision.slots.get("key") not in APOLOGETIC:
            decision = replace(decision, slots={**decision.slots, "opening": "ack_upset"})
        return decision, actions

    def _decide(self, s: DialogueState, u: Understood, actions: list[Action]) -> Decision:
        p, text = self.p, u.text
        cues = self.cues.read(text, u.entities)
        named, negated = self._named(text)
        if s.task in negated and s.tools.pending is None:  # "no, I don't want to freeze it"
            s.last_task, s.task = s.task, None
            s.slots.pop(SAID, None)
        if cues.person:
            return self._handoff(s, "the customer asked for a person")
        sure_fraud = u.intent in p.handoff_intents and u.confidence >= p.handoff_confidence
        if (self._fraud and self._fraud.search(text)) or (sure_fraud and named is None):
            return self._handoff(s, f"suspected fraud ({u.intent} {u.confidence:.2f})", "handoff_fraud")  # fmt: skip
        if u.anger >= p.anger_handoff or u.frustration >= p.frustration_handoff:
            return self._handoff(s, f"strong feeling (anger {u.anger:.2f}, frustration {u.frustration:.2f})")  # fmt: skip
        if s.failures >= p.max_failures:
            return self._handoff(s, f"{s.failures} turns in a row without help")
        if s.tools.pending is not None:
            answer = self._answer_to_pending(s, u, actions, named)
            if answer is not None:
                return answer
        filled = read_slots(self.d.slots, s.slots, text, u.entities)
        if cues.question and self._rule and self._rule.search(text) and not (s.task and filled):
            answer = self._from_knowledge(s, u, "a rule question")
            if answer is not None:
                return answer
        if named is None and not filled:
            for kind, pattern in self._small.items():
                if pattern is not None and pattern.search(text) and s.task is None:
                    return self._say(kind, s, "smalltalk", kind)
        if named is not None and named != s.task:
            self._start(s, named)
        elif named is None and s.task is None:
            by_intent = [t.name for t in self.p.tasks if u.intent in t.intents and t.name not in negated]  # fmt: skip
            if by_intent and u.confidence >= p.task_confidence:
                self._start(s, by_intent[0])
        if s.task is None:
            return self._no_task(s, u, cues.question, bool(filled))
        s.slots.setdefault(SAID, []).append(text)
        return self._serve(s, u, actions)

    def _named(self, text: str) -> tuple[str | None, set[str]]:
        """(the first declared task whose cues the turn says plainly, the tasks it says only under
        a negation: "I don't want to freeze my card", "我不想冻结" start no freeze)."""
        named, negated = None, set()
        for name, cue in self._task_cues:
            plain, no = said(cue, text) if cue else (False, False)
            if plain and named is None:
                named = name
            elif no and not plain:
                negated.add(name)
        return named, negated

    def _start(self, s: DialogueState, task: str) -> None:
        s.task = task
        s.slots.pop(SAID, None)

    def _finish(self, s: DialogueState) -> None:
        """The task is over: keep what the authentication keeps (a card's digits), drop the rest."""
        s.last_task, s.task = s.task, None
        keep = set(self.p.auth.keep if self.p.auth else ())
        s.slots = {k: v for k, v in s.slots.items() if k in keep}

    def _no_task(self, s: DialogueState, u: Understood, question: bool, filled: bool) -> Decision:
        knowledge = u.intent in self.p.knowledge_intents and u.confidence >= self.p.task_confidence
        if knowledge or (question and not u.out_of_scope):
            return self._from_knowledge(s, u, "knowledge") or self._say("kb_none", s, "answer", "no knowledge found")  # fmt: skip
        if u.out_of_scope or u.intent == "out_of_scope":
            return self._say("out_of_scope", s, "refuse", "out of scope")
        if filled:  # an email or a card, and no request yet
            return self._say("offer_help", s, "ask", "details with no request")
        return self._say("clarify", s, "clarify", f"unclear turn ({u.intent} {u.confidence:.2f})")

    # ------------------------------------------------------------------ a task
    def _serve(self, s: DialogueState, u: Understood, actions: list[Action]) -> Decision:
        task = self.tasks[s.task]
        tool = self.d.tools[task.tool]
        if not tool.open and s.tools.user_id is None:
            asked = self._authenticate(s, actions)
            if asked is not None:
                return asked
        for name in task.slots:
            if name not in s.slots:
                asked = self._collect(s, name, actions)
                if asked is not None:
                    return asked
        props = tool.parameters.get("properties", {})
        args = {k: s.slots[k] for k in props if k in s.slots}
        result = s.tools.call(tool.name, args)
        actions.append(action(tool.name, args, result))
        if tool.writes and result.code == "needs_confirmation":
            summary = s.tools.pending.summary
            said = summary.get(s.language) or summary.get("en", "")
            return self._say("confirm", s, "confirm", f"{tool.name} waits for a yes", summary=said)
        self._finish(s)
        if not result.ok:
            return self._refusal(s, result, tool)
        return self._answer(s, tool, {**args, **result.data})

    def _authenticate(self, s: DialogueState, actions: list[Action]) -> Decision | None:
        auth = self.p.auth
        if auth is None:
            return None
        factors = next((f for f in auth.factors if all(x in s.slots for x in f)), None)
        if factors is None:
            return self._say("ask_auth", s, "ask", "not authenticated")
        args = {x: s.slots[x] for x in factors}
        result = s.tools.call(auth.tool, args)
        actions.append(action(auth.tool, args, result))
        every = {x for f in auth.factors for x in f}
        for x in every - (set(auth.keep) if result.ok else set()):
            s.slots.pop(x, None)  # credentials are forgotten once tried
        if not result.ok:
            return self._say("auth_failed", s, "ask", f"authentication failed: {result.code}")
        s.tools.user_id = str(result.data.get(auth.id_field))
        return None

    def _collect(self, s: DialogueState, name: str, actions: list[Action]) -> Decision | None:
        """Fill slot `name` from a declared list the customer's words pick from, or ask for it."""
        slot = self.d.slots[name]
        choices = ""
        if slot.choose:
            c = slot.choose
            tool = self.d.tools[c["tool"]]
            args = {k: s.slots[k] for k in tool.parameters.get("properties", {}) if k in s.slots}
            result = s.tools.call(tool.name, args)
            actions.append(action(tool.name, args, result))
            items = result.data.get(c["list"], []) if result.ok else []
            said = s.slots.get(SAID, [])
            for text in [*said[-1:], " ".join(said)]:  # this turn's words first, then the task's
                item = described(items, c.get("match", [c["key"]]), text, self.d.values)
                if item is not None:
                    s.slots[name] = item[c["key"]]
                    return None
            if len(items) == 1 and c.get("single"):  # the only card: no need to ask
                s.slots[name] = items[0][c["key"]]
                return None
            gap = "；" if s.language == "zh" else "; "
            choices = gap.join(self._words(c.get("item", {}), s, i) for i in items)
        reply = self._words(slot.prompt, s, {"choices": choices})
        return Decision(
            "ask", "pack", {"answer": reply, "key": f"ask_{name}"}, reason=f"needs {name}"
        )

    def _answer(self, s: DialogueState, tool: ToolDecl, data: dict[str, Any]) -> Decision:
        shown = dict(data)
        gap = "；" if s.language == "zh" else "; "
        for k, v in data.items():
            if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                shown[k] = gap.join(self._words(tool.item, s, x) for x in v)
            elif isinstance(v, list) and not v and "no_transactions" in self.d.templates:
                return self._say("no_transactions", s, "answer", f"{tool.name}: nothing to show")
        text = self._words(tool.reply or tool.done, s, shown)
        if tool.writes:
            return self._say("done", s, "done", f"{tool.name} confirmed and done", outcome=text)
        return Decision("answer", "pack", {"answer": text, "key": tool.name}, reason=tool.name)

    def _refusal(self, s: DialogueState, result: ToolResult, tool: ToolDecl) -> Decision:
        why = result.data.get("why", {})
        said = why.get(s.language) or why.get("en")
        if not said:
            known = self.d.templates.get(result.code)
            said = self._words(known, s, {}) if known else result.error
        return self._say("refused", s, "refuse", f"{tool.name}: {result.code}: {result.error}", why=said)  # fmt: skip

    def _answer_to_pending(self, s: DialogueState, u: Understood, actions: list[Action],
                           named: str | None) -> Decision | None:  # fmt: skip
        pending = s.tools.pending
        yes, no = bool(YES.search(u.text)), bool(NO.search(u.text))
        summary = pending.summary.get(s.language) or pending.summary.get("en", "")
        if yes and not no:
            result = s.tools.confirm(True)
            actions.append(action(pending.tool, pending.args, result))
            tool = self.d.tools[pending.tool]
            self._finish(s)
            if not result.ok:
                return self._refusal(s, result, tool)
            return self._answer(s, tool, {**pending.args, **result.data})
        if no and not yes:
            result = s.tools.confirm(False)
            actions.append(action(pending.tool, pending.args, result))
            self._finish(s)
            if named is not None and named != pending.tool:  # "no, just show my transactions"
                return None
            return self._say("dropped", s, "done", "the customer said no")
        if self._rule and self._rule.search(u.text):
            answer = self._from_knowledge(s, u, "a rule question while a write waits")
            if answer is not None:
                again = self._say("confirm", s, "confirm", "", summary=summary).slots["answer"]
                return replace(answer, kind="confirm", slots={**answer.slots, "answer": f"{answer.slots['answer']}\n\n{again}"})  # fmt: skip
        if named is not None and named != s.task:  # another request: the proposal lapses
            s.tools.pending = None
            return None
        return self._say("ask_yes_no", s, "confirm", "waiting for yes or no", summary=summary)

    def _handoff(self, s: DialogueState, why: str, key: str = "handoff") -> Decision:
        s.tools.pending = None  # a write waiting for a yes is dropped with the handover
        return self._say(key, s, "handoff", why, handoff=True)

    def _from_knowledge(self, s: DialogueState, u: Understood, why: str) -> Decision | None:
        """The best passage that may be read out, one in the customer's language first."""
        safe = [p for p in u.passages if not quote_risk(p.text)]
        if not safe:
            return None
        best = next((p for p in safe if detect_language(p.text) == u.language), safe[0])
        text = " ".join(best.text.split())  # a passage's line breaks are not the reply's
        if len(text) > ANSWER_CHARS:
            text = text[:ANSWER_CHARS].rsplit(" ", 1)[0] + " ..."
        if detect_language(text) != u.language and "kb_quoted" in self.d.templates:
            text = self._words(self.d.templates["kb_quoted"], s, {"answer": text})
        return Decision("answer", "pack", {"answer": text, "key": "kb_answer", "source": best.source}, reason=f"{why}: {best.source}")  # fmt: skip
