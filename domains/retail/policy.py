"""The dialogue policy: what the agent does with a turn it has understood.

`DialoguePolicy.decide(state, understood) -> (Decision, actions)` chooses one of: answer from
knowledge, ask for what is missing, run a tool (a write only after the customer's explicit yes,
which the back office's confirmation protocol enforces again), clarify, refuse, or hand over to a
person. It is deterministic; the language model only phrases the decision (dialogue.policy.reply).

Beyond the intent, the turn's cues (`dialogue.nlu.cues`) decide how it is meant:
- an explicit request for a person hands over at once, whatever is in hand;
- a question about the shop's rules is answered from knowledge, with no authentication, even in
  the middle of a task (the task and any proposal wait);
- "no, I don't want to cancel" drops the task it says no to, for the one the turn names;
- a vague opening ("I have a problem with an order") gets what the agent can do, and a write the
  words do not name starts only when the intent model is sure.
A customer who is upset hears that first ("I'm sorry ..."), whatever follows.

Hand over when: the customer asks for a person; anger or frustration is strong; the agent failed
to help twice in a row; or the request is outside what the tools and knowledge cover.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from dialogue.domain.pack import DomainPack
from dialogue.nlu.cues import Cues
from dialogue.nlu.slots import NO, YES
from dialogue.nlu.understand import detect_language
from dialogue.policy.reply import APOLOGETIC, quote_risk
from dialogue.policy.state import DialogueState, Understood
from dialogue.policy.tooltypes import action
from dialogue.types import Action, Decision
from domains.retail.choose import pick_offered, pick_reason
from domains.retail.outcomes import refusal
from domains.retail.slots import collect_slots
from domains.retail.tasks import authenticate, serve
from domains.retail.tools import ToolResult  # and the retail tools, registered on import

logger = logging.getLogger(__name__)

CUES = DomainPack.load(Path(__file__).parent).cue_book()  # the shop's words: cues.toml

ACCOUNT_TASKS = {
    "order_status", "cancel_order", "return_item", "exchange_item", "change_address",
    "change_payment", "modify_order_items", "refund_status", "account", "payment_issue",
}  # fmt: skip
HUMAN_TASKS = {
    "exchange_item",
    "change_payment",
    "modify_order_items",
    "payment_issue",
}  # v1: a colleague
WRITE_TASKS = {
    "cancel_order",
    "return_item",
    "exchange_item",
    "change_address",
    "change_payment",
    "modify_order_items",
}
KNOWLEDGE_INTENTS = {"delivery_options", "product_info", "complaint"}  # answered from knowledge
TASK_SLOTS = ("reason", "asked", "products", "all_items", "address")  # a dropped task's; ids stay


@dataclass(frozen=True)
class PolicyConfig:
    anger_handoff: float = 0.6  # hand over at this much anger
    frustration_handoff: float = 0.75
    max_failures: int = 2  # hand over after this many unhelpful turns in a row
    min_intent_confidence: float = 0.35  # below this the turn is unclear
    min_write_confidence: float = 0.6  # a cancel, return, ... with nothing else said needs this
    handoff_intent_confidence: float = 0.5  # "talk to a person" must be at least this sure
    switch_task_confidence: float = (
        0.95  # a turn that fills a slot changes the task only if this sure
    )
    unnamed_write_confidence: float = 0.9  # a write the turn's words do not name needs this
    upset: float = 0.3  # anger or frustration from which the reply acknowledges the feeling first
    answer_chars: int = 400  # the most of a knowledge passage said as an answer


class DialoguePolicy:
    def __init__(self, config: PolicyConfig = PolicyConfig()):
        self.config = config

    def decide(self, state: DialogueState, u: Understood) -> tuple[Decision, list[Action]]:
        state.language = u.language or state.language
        actions: list[Action] = []
        decision = self._decide(state, u, actions)
        helped = decision.kind != "clarify" and decision.template not in (
            "kb_none",
            "auth_failed",
            "out_of_scope",
        )
        if not helped and not decision.handoff and state.failures + 1 >= self.config.max_failures:
            # the second turn in a row the agent cannot help: a person takes over now
            decision = self._handoff(
                state,
                actions,
                f"{state.failures + 1} turns in a row without help ({decision.reason})",
            )
        state.failures = 0 if helped else state.failures + 1
        if decision.handoff:
            state.handed_off = True
        declined = any(a.result.get("code") == "declined" for a in actions)
        if declined and decision.template != "action_dropped":  # and went on to what they asked
            decision = replace(decision, slots={**decision.slots, "opening": "ack_dropped"})
        elif self._upset(u) and decision.template not in APOLOGETIC:
            # "I'm sorry ..., I understand how frustrating ...", then the help or the handover
            decision = replace(decision, slots={**decision.slots, "opening": "ack_upset"})
        return decision, actions

    def _upset(self, u: Understood) -> bool:
        strong = max(u.anger, u.frustration) >= self.config.upset
        return strong or (u.intent == "complaint" and u.sentiment == "negative")

    # ------------------------------------------------------------------ the decision
    def _decide(self, s: DialogueState, u: Understood, actions: list[Action]) -> Decision:
        c = self.config
        cues = CUES.read(u.text, u.entities)
        if cues.person:  # "转人工", "let me talk to a human": now, whatever is in hand
            s.tools.pending = None
            return self._handoff(s, actions, "the customer asked for a person")
        if cues.rule_question and not (s.task and collect_slots({}, u.text, u.entities)):
            # the shop's rules need no account; the task in hand waits (unless the turn gives
            # it what it asked for: "can you still cancel it? I ordered it by mistake")
            answer = self._from_knowledge(s, u, rule=True)
            if answer is not None:
                return answer
        if s.tools.pending is not None:
            answer = self._answer_to_pending(s, u, actions, cues)
            if answer is not None:
                return answer
        if s.task is None and cues.vague and not u.entities:  # "I've got a problem with ..."
            return _offer_help(f"ack_{cues.vague}", f"vague turn ({u.intent})")
        if cues.negated:
            u = self._drop_negated(s, u, cues)
        elif (
            len(cues.named) == 1
            and u.intent in ACCOUNT_TASKS - cues.named
            and u.confidence < c.unnamed_write_confidence
        ):  # the words name another task than the model read: "我想退掉订单…" read as a cancel
            u = replace(u, intent=next(iter(cues.named)))
        # the turn gave something a task needs (an email, an order id, a reason...), new or again
        filled = collect_slots(s.slots, u.text, u.entities)
        offered = s.slots.pop("offered", None)  # the orders the last turn asked to choose from
        if offered and not any(e["type"] == "order_number" for e in u.entities):
            picked = pick_offered(u.text, offered)  # "the one ending in 420", "the pending one"
            if picked is not None:
                s.slots["order_id"], filled = picked, True
            else:
                s.slots["offered"] = offered  # still to choose
        if s.slots.get("asked") == "reason" and "reason" not in s.slots:
            picked = pick_reason(u.text)  # "the first one", "后者": the either/or by place
            if picked is not None:
                s.slots["reason"], filled = picked, True
        sure = u.confidence >= c.handoff_intent_confidence
        if u.intent == "talk_to_human" and sure and not filled:
            return self._handoff(s, actions, "the customer asked for a person")
        if u.anger >= c.anger_handoff or u.frustration >= c.frustration_handoff:
            feeling = f"anger {u.anger:.2f}, frustration {u.frustration:.2f}"
            return self._handoff(s, actions, f"strong negative feeling ({feeling})")
        if s.failures >= c.max_failures:
            return self._handoff(s, actions, f"{s.failures} turns in a row without help")
        if cues.rule_question and not filled:  # no passage answers it: say so, no account
            return Decision("answer", "kb_none", reason="a rule question no knowledge answers")
        if s.task is None and not filled and cues.negated and u.intent == "deny":
            return _offer_help("ack_dropped", f"said no to {sorted(cues.negated)}")  # "不是要取消"
        if u.intent == "greeting" and s.task is None and not filled:
            return Decision("smalltalk", "greeting")
        if u.intent == "thanks_goodbye" and not filled:
            return Decision("smalltalk", "goodbye")
        if u.intent in ("affirm", "deny") and not filled:
            if s.task is None:
                return Decision("clarify", "clarify", reason=f"{u.intent} with nothing pending")
            filled = True  # a yes or no to the task's own question: ask it again
        task_turn = u.intent in ACCOUNT_TASKS and u.confidence >= (
            c.min_write_confidence
            if u.intent in WRITE_TASKS and not filled
            else c.min_intent_confidence
        )  # a change to an order starts only on a clear request
        unnamed = (
            u.intent in WRITE_TASKS
            and u.intent not in cues.named
            and u.confidence < c.unnamed_write_confidence
        )
        if unnamed and not filled:  # "hi, I have a problem with an order" read as a cancel
            task_turn = False
        if filled and s.task is not None and s.task != u.intent:
            # "my email is ...", "the order is #W1" while cancelling: still cancelling. Only
            # another change, or a request in so many words ("where is #W1?"), said with
            # certainty, replaces the task in hand.
            task_turn = (
                u.intent in WRITE_TASKS or u.intent in cues.named
            ) and u.confidence >= c.switch_task_confidence
        if (
            filled
            and s.task is None
            and u.intent not in cues.named
            and (u.intent in HUMAN_TASKS or u.confidence < c.switch_task_confidence)
        ):
            # "the order number is W eight three..." after a finished task: the same kind of
            # request again, not whatever the words of an id suggest ("return the lamp" says)
            s.task, task_turn = s.last_task or "order_status", False
        if task_turn:
            s.task = u.intent
        if s.task is None or not (task_turn or filled):
            if u.intent == "greeting":
                return Decision("smalltalk", "greeting")
            if s.task is None and unnamed and u.confidence >= c.min_write_confidence:
                return _offer_help("", f"{u.intent} {u.confidence:.2f}, not named")
            if u.out_of_scope or u.intent == "out_of_scope":
                return Decision("refuse", "out_of_scope", reason="out of scope")
            if cues.question or u.intent in KNOWLEDGE_INTENTS:  # not "give me a discount!"
                return self._from_knowledge(s, u) or self._no_knowledge(u)
            return self._no_knowledge(u)
        if s.task in HUMAN_TASKS:
            return self._handoff(s, actions, f"{s.task} needs a colleague for now")
        if s.tools.user_id is None:
            auth = authenticate(s, actions)
            if auth is not None:
                return auth
        return serve(s, u, actions) or self._handoff(
            s, actions, f"{s.task} is not something I can do"
        )

    def _drop_negated(self, s: DialogueState, u: Understood, cues: Cues) -> Understood:
        """ "no, I don't want to cancel, I just want to know where it is": the task said no to
        is dropped (the order and the credentials stay), and the turn means the task it names,
        or nothing but the no ("不是要取消")."""
        if s.task in cues.negated:
            s.task = None
            for key in TASK_SLOTS:
                s.slots.pop(key, None)
        if u.intent not in cues.negated and u.intent != "deny":
            return u
        others = sorted(cues.named - cues.negated)
        if len(others) == 1:
            return replace(u, intent=others[0], confidence=1.0)
        return replace(u, intent="deny", confidence=1.0)

    def _answer_to_pending(
        self, s: DialogueState, u: Understood, actions: list[Action], cues: Cues
    ) -> Decision | None:
        pending = s.tools.pending
        said_yes, said_no = bool(YES.search(u.text)), bool(NO.search(u.text))
        if (
            said_yes != said_no
        ):  # the words are plain ("是的，确认取消" says yes, whatever 取消 means)
            yes, no = said_yes, said_no
        else:
            yes, no = u.intent == "affirm", u.intent == "deny"
        summary = pending.summary.get(s.language) or pending.summary["en"]
        if yes and not no:
            result = s.tools.confirm(True)
            actions.append(action(pending.tool, pending.args, result))
            s.last_task, s.task, s.slots = s.task, None, {}
            if result.ok:
                return Decision(
                    "done",
                    "action_done",
                    {"outcome": summary},
                    reason=f"{pending.tool} confirmed and done",
                )
            return refusal(result, s.language)
        if no and not yes:
            result = s.tools.confirm(False)
            actions.append(action(pending.tool, pending.args, result))
            s.task = None
            if cues.named - cues.negated:  # "no, I just want to know where it is": that, now
                s.slots = {k: v for k, v in s.slots.items() if k not in TASK_SLOTS}
                return None
            s.slots = {}
            return Decision("done", "action_dropped", reason="the customer said no")
        if u.intent in ACCOUNT_TASKS and u.intent != s.task and u.confidence >= 0.6:
            s.tools.pending = None  # a new request: the old proposal lapses
            return None
        return Decision(
            "confirm", "ask_yes_no", {"summary": summary}, reason="waiting for yes or no"
        )

    def _handoff(self, s: DialogueState, actions: list[Action], why: str) -> Decision:
        if s.tools.user_id is not None:
            args = {"summary": f"{why}; task: {s.task or '-'}"}
            result: ToolResult = s.tools.call("transfer_to_human_agents", args)
            actions.append(action("transfer_to_human_agents", {"summary": why}, result))
        return Decision("handoff", "handoff", handoff=True, reason=why)

    def _from_knowledge(
        self, s: DialogueState, u: Understood, rule: bool = False
    ) -> Decision | None:
        """The answer of the best passage that may be quoted, one in the customer's language
        first; None when there is none. A proposal waiting for a yes is asked again after it."""
        safe = []
        for p in u.passages:
            risk = quote_risk(p.text)
            if risk:
                logger.warning("knowledge passage %s not quoted: it %s", p.source, risk)
            else:
                safe.append(p)
        if not safe:
            return None
        best = next((p for p in safe if detect_language(p.text) == u.language), safe[0])
        text = best.text.strip()
        if len(text) > self.config.answer_chars:
            text = text[: self.config.answer_chars].rsplit(" ", 1)[0] + " ..."
        slots = {"answer": text, "source": best.source}
        why = f"knowledge{' (a rule question)' if rule else ''}: {best.source}"
        pending = s.tools.pending
        if pending is not None:
            slots["summary"] = pending.summary.get(s.language) or pending.summary["en"]
            return Decision("confirm", "kb_answer_pending", slots, reason=why)
        quoted = "kb_answer" if detect_language(text) == u.language else "kb_answer_quoted"
        return Decision("answer", quoted, slots, reason=why)

    def _no_knowledge(self, u: Understood) -> Decision:
        if u.intent == "out_of_scope" or u.out_of_scope:
            return Decision("refuse", "out_of_scope", reason="out of scope")
        if u.confidence < self.config.min_intent_confidence:
            return Decision(
                "clarify", "clarify", reason=f"unclear turn ({u.intent} {u.confidence:.2f})"
            )
        return Decision("answer", "kb_none", reason="no knowledge found")


def _offer_help(opening: str, why: str) -> Decision:
    """What the agent can do, as a question: for a vague turn, or after a no to a task."""
    return Decision("ask", "offer_help", {"opening": opening} if opening else {}, reason=why)
