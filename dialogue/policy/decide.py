"""The dialogue policy: what the agent does with a turn it has understood.

`DialoguePolicy.decide(state, understood) -> (Decision, actions)` chooses one of: answer from
knowledge, ask for what is missing, run a tool (a write only after the customer's explicit yes,
which the back office's confirmation protocol enforces again), clarify, refuse, or hand over to a
person. It is deterministic; the language model only phrases the decision (dialogue.policy.reply).

Hand over when: the customer asks for a person; anger or frustration is strong; the agent failed
to help twice in a row; or the request is outside what the tools and knowledge cover.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dialogue.nlu.slots import NO, YES, collect_slots
from dialogue.policy.outcomes import action, items_text, order_slots, refusal, status_name
from dialogue.policy.reply import quote_risk
from dialogue.policy.state import DialogueState, Understood
from dialogue.types import Action, Decision
from domains.retail.tools import ToolResult

logger = logging.getLogger(__name__)

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
KNOWLEDGE_INTENTS = {"delivery_options", "product_info", "complaint"}

STATUS_FOR = {"cancel_order": "pending", "return_item": "delivered", "change_address": "pending"}


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
        return decision, actions

    # ------------------------------------------------------------------ the decision
    def _decide(self, s: DialogueState, u: Understood, actions: list[Action]) -> Decision:
        c = self.config
        if s.tools.pending is not None:
            answer = self._answer_to_pending(s, u, actions)
            if answer is not None:
                return answer
        # the turn gave something a task needs (an email, an order id, a reason...), new or again
        filled = collect_slots(s.slots, u.text, u.entities)
        sure = u.confidence >= c.handoff_intent_confidence
        if u.intent == "talk_to_human" and sure and not filled:
            return self._handoff(s, actions, "the customer asked for a person")
        if u.anger >= c.anger_handoff or u.frustration >= c.frustration_handoff:
            feeling = f"anger {u.anger:.2f}, frustration {u.frustration:.2f}"
            return self._handoff(s, actions, f"strong negative feeling ({feeling})")
        if s.failures >= c.max_failures:
            return self._handoff(s, actions, f"{s.failures} turns in a row without help")
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
        if filled and s.task is not None and s.task != u.intent:
            # "my email is ...", "the order is #W1" while cancelling: still cancelling. Only
            # another change, said with certainty, replaces the task in hand.
            task_turn = u.intent in WRITE_TASKS and u.confidence >= c.switch_task_confidence
        if (
            filled
            and s.task is None
            and (u.intent in HUMAN_TASKS or u.confidence < c.switch_task_confidence)
        ):
            # "the order number is W eight three..." after a finished task: the same kind of
            # request again, not whatever the words of an id suggest
            s.task, task_turn = s.last_task or "order_status", False
        if task_turn:
            s.task = u.intent
        if s.task is None or not (task_turn or filled):
            if u.intent == "greeting":
                return Decision("smalltalk", "greeting")
            if u.out_of_scope or u.intent == "out_of_scope":
                return Decision("refuse", "out_of_scope", reason="out of scope")
            return self._from_knowledge(u)
        if s.task in HUMAN_TASKS:
            return self._handoff(s, actions, f"{s.task} needs a colleague for now")
        if s.tools.user_id is None:
            auth = self._authenticate(s, u, actions)
            if auth is not None:
                return auth
        return self._serve(s, u, actions)

    def _answer_to_pending(
        self, s: DialogueState, u: Understood, actions: list[Action]
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
            s.task, s.slots = None, {}
            return Decision("done", "action_dropped", reason="the customer said no")
        if u.intent in ACCOUNT_TASKS and u.intent != s.task and u.confidence >= 0.6:
            s.tools.pending = None  # a new request: the old proposal lapses
            return None
        return Decision(
            "confirm", "ask_yes_no", {"summary": summary}, reason="waiting for yes or no"
        )

    def _handoff(self, s: DialogueState, actions: list[Action], why: str) -> Decision:
        if s.tools.user_id is not None:
            result = s.tools.call(
                "transfer_to_human_agents", {"summary": f"{why}; task: {s.task or '-'}"}
            )
            actions.append(action("transfer_to_human_agents", {"summary": why}, result))
        return Decision("handoff", "handoff", handoff=True, reason=why)

    def _from_knowledge(self, u: Understood) -> Decision:
        safe = []
        for p in u.passages:
            risk = quote_risk(p.text)
            if risk:
                logger.warning("knowledge passage %s not quoted: it %s", p.source, risk)
            else:
                safe.append(p)
        if safe:
            best = safe[0]
            text = best.text.strip()
            if len(text) > self.config.answer_chars:
                text = text[: self.config.answer_chars].rsplit(" ", 1)[0] + " ..."
            return Decision(
                "answer",
                "kb_answer",
                {"answer": text, "source": best.source},
                reason=f"knowledge: {best.source}",
            )
        if u.intent == "out_of_scope" or u.out_of_scope:
            return Decision("refuse", "out_of_scope", reason="out of scope")
        if u.confidence < self.config.min_intent_confidence:
            return Decision(
                "clarify", "clarify", reason=f"unclear turn ({u.intent} {u.confidence:.2f})"
            )
        return Decision("answer", "kb_none", reason="no knowledge found")

    # ------------------------------------------------------------------ slots and auth
    def _authenticate(
        self, s: DialogueState, u: Understood, actions: list[Action]
    ) -> Decision | None:
        tried = None
        if "email" in s.slots:
            tried, args = "find_user_id_by_email", {"email": s.slots.pop("email")}
        elif {"first_name", "last_name", "zip_code"} <= set(s.slots):
            tried = "find_user_id_by_name_zip"
            args = {
                "first_name": s.slots.pop("first_name"),
                "last_name": s.slots.pop("last_name"),
                "zip": s.slots.pop("zip_code"),
            }
        if tried is None:
            return Decision("ask", "ask_auth", reason="not authenticated")
        result = s.tools.call(tried, args)
        actions.append(action(tried, args, result))
        if not result.ok:
            what = (
                args.get("email")
                or f"{args.get('first_name')} {args.get('last_name')} {args.get('zip')}"
            )
            return Decision(
                "ask", "auth_failed", {"what": what}, reason=f"authentication failed: {result.code}"
            )
        return None  # authenticated: serve the task in the same turn

    # ------------------------------------------------------------------ tasks
    def _serve(self, s: DialogueState, u: Understood, actions: list[Action]) -> Decision:
        lang = s.language
        if s.task == "account":
            r = self._call(s, actions, "get_user_details", {"user_id": s.tools.user_id})
            s.last_task, s.task = s.task, None  # answered: the next request starts afresh
            if not r.ok:
                return refusal(r, lang)
            name = r.data.get("name", {})
            return Decision(
                "answer",
                "authenticated",
                {
                    "name": f"{name.get('first_name', '')} {name.get('last_name', '')}".strip(),
                    "next": "",
                },
                reason="account details",
            )
        order_id = s.slots.get("order_id")
        if order_id is None:
            return self._ask_order(s, actions)
        r = self._call(s, actions, "get_order_details", {"order_id": order_id})
        if not r.ok:  # not theirs, or no such order: drop the task rather than guess another order
            s.task, s.slots = None, {}
            return refusal(r, lang)
        order = r.data
        if s.task in ("order_status", "refund_status"):
            s.last_task, s.task = s.task, None
            return Decision(
                "answer", "order_status", order_slots(order, lang), reason="order status"
            )
        if s.task == "cancel_order":
            if "reason" not in s.slots:
                return Decision(
                    "ask",
                    "ask_cancel_reason",
                    {"order_id": order["order_id"]},
                    reason="cancel needs a reason",
                )
            return self._propose(
                s,
                actions,
                "cancel_pending_order",
                {"order_id": order["order_id"], "reason": s.slots["reason"]},
            )
        if s.task == "return_item":
            item_ids = self._pick_items(s, order)
            if not item_ids:
                verb = "退货" if lang == "zh" else "return"
                return Decision(
                    "ask",
                    "ask_return_items",
                    {"order_id": order["order_id"], "items": items_text(order), "verb": verb},
                    reason="return needs items",
                )
            payment = next(
                (
                    p["payment_method_id"]
                    for p in order["payment_history"]
                    if p["transaction_type"] == "payment"
                ),
                "",
            )
            return self._propose(
                s,
                actions,
                "return_delivered_order_items",
                {"order_id": order["order_id"], "item_ids": item_ids, "payment_method_id": payment},
            )
        if s.task == "change_address":
            if "address" not in s.slots:
                return Decision(
                    "ask",
                    "ask_address",
                    {"order_id": order["order_id"]},
                    reason="address change needs the new address",
                )
            return self._propose(
                s,
                actions,
                "modify_pending_order_address",
                {"order_id": order["order_id"], **s.slots["address"]},
            )
        return self._handoff(s, actions, f"{s.task} is not something I can do")

    def _ask_order(self, s: DialogueState, actions: list[Action]) -> Decision:
        r = self._call(s, actions, "list_user_orders", {"user_id": s.tools.user_id})
        if not r.ok:
            return refusal(r, s.language)
        want = STATUS_FOR.get(s.task or "")
        orders = [o for o in r.data["orders"] if want is None or o["status"] == want]
        if len(orders) == 1:  # the only order it can be: use it
            s.slots["order_id"] = orders[0]["order_id"]
            return self._serve(s, Understood("", s.language, s.task or "", 1.0, False, ()), actions)
        shown = orders or r.data["orders"]
        listing = (
            ", ".join(f"{o['order_id']} ({status_name(o['status'], s.language)})" for o in shown)
            or "-"
        )
        return Decision("ask", "ask_order_id", {"orders": listing}, reason="which order")

    def _pick_items(self, s: DialogueState, order: dict) -> list[str]:
        if s.slots.get("all_items"):
            return [i["item_id"] for i in order["items"]]
        wanted = {p.lower() for p in s.slots.get("products", [])}
        return [i["item_id"] for i in order["items"] if i["name"].lower() in wanted]

    def _propose(self, s: DialogueState, actions: list[Action], tool: str, args: dict) -> Decision:
        result = self._call(s, actions, tool, args)
        if result.code == "needs_confirmation":
            summary = result.data["confirmation"]["summary"]
            return Decision(
                "confirm",
                "confirm_action",
                {"summary": summary.get(s.language) or summary["en"]},
                reason=f"{tool} proposed",
            )
        s.task = None
        return refusal(result, s.language)

    def _call(self, s: DialogueState, actions: list[Action], tool: str, args: dict) -> ToolResult:
        result = s.tools.call(tool, args)
        actions.append(action(tool, args, result))
        return result
