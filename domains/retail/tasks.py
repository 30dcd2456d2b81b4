"""The account tasks the dialogue policy serves: authenticate the customer, then read an order,
or propose a write for the customer's yes (the back office's confirmation protocol holds it until
then). Each step records the tool call it made as the turn's `Action`."""

from __future__ import annotations

from dialogue.nlu.slots import YES
from dialogue.policy.state import DialogueState, Understood
from dialogue.policy.toolkit import ToolResult
from dialogue.policy.tooltypes import action
from dialogue.types import Action, Decision
from domains.retail.choose import by_status
from domains.retail.outcomes import items_text, order_slots, refusal, status_name

STATUS_FOR = {"cancel_order": "pending", "return_item": "delivered", "change_address": "pending"}


def authenticate(s: DialogueState, actions: list[Action]) -> Decision | None:
    """Try the credentials the customer gave (then forget them): None once authenticated, else
    what to ask."""
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


def serve(s: DialogueState, u: Understood, actions: list[Action]) -> Decision | None:
    """The next step of the task in hand for the authenticated customer; None when it is no task
    this policy serves (the caller hands over)."""
    lang = s.language
    asked = s.slots.pop("asked", None)  # the either/or the last step asked, answered by now
    if s.task == "account":
        r = call(s, actions, "get_user_details", {"user_id": s.tools.user_id})
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
        return ask_order(s, actions)
    r = call(s, actions, "get_order_details", {"order_id": order_id})
    if not r.ok and r.code in ("not_found", "wrong_user"):
        # no such order on this account (another's reads the same): say which number was tried
        # and offer theirs, never guessing one
        s.slots.pop("order_id", None)
        missed = offer_orders(s, actions, tried=order_id)
        if missed is not None:
            return missed
    if not r.ok:
        s.task, s.slots = None, {}
        return refusal(r, lang)
    order = r.data
    if s.task in ("order_status", "refund_status"):
        s.last_task, s.task = s.task, None
        return Decision("answer", "order_status", order_slots(order, lang), reason="order status")
    if s.task == "cancel_order":
        if "reason" not in s.slots:
            s.slots["asked"] = "reason"  # "the first one" answers it (DialoguePolicy)
            if asked == "reason" and (u.intent in ("affirm", "deny") or YES.search(u.text)):
                # "是的" to "no longer needed, or ordered by mistake?": the two, once more
                return Decision("ask", "ask_cancel_reason_which", reason="a yes or no to an either/or")  # fmt: skip
            return Decision(
                "ask",
                "ask_cancel_reason",
                {"order_id": order["order_id"]},
                reason="cancel needs a reason",
            )
        return propose(
            s,
            actions,
            "cancel_pending_order",
            {"order_id": order["order_id"], "reason": s.slots["reason"]},
        )
    if s.task == "return_item":
        item_ids = pick_items(s, order)
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
        return propose(
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
        return propose(
            s,
            actions,
            "modify_pending_order_address",
            {"order_id": order["order_id"], **s.slots["address"]},
        )
    return None


def ask_order(s: DialogueState, actions: list[Action]) -> Decision | None:
    r = call(s, actions, "list_user_orders", {"user_id": s.tools.user_id})
    if not r.ok:
        return refusal(r, s.language)
    want = STATUS_FOR.get(s.task or "")
    orders = [o for o in r.data["orders"] if want is None or o["status"] == want]
    if len(orders) == 1:  # the only order it can be: use it
        s.slots["order_id"] = orders[0]["order_id"]
        return serve(s, Understood("", s.language, s.task or "", 1.0, False, ()), actions)
    return _offer(s, orders or r.data["orders"])


def offer_orders(s: DialogueState, actions: list[Action], tried: str) -> Decision | None:
    """After a miss: "I could not find {tried} on your account" and the account's orders to
    choose from (None when it has none: the refusal says it)."""
    r = call(s, actions, "list_user_orders", {"user_id": s.tools.user_id})
    if not r.ok or not r.data["orders"]:
        return None
    want = STATUS_FOR.get(s.task or "")
    orders = [o for o in r.data["orders"] if want is None or o["status"] == want]
    asked = _offer(s, orders or r.data["orders"])
    slots = {**asked.slots, "tried": tried}
    return Decision("ask", "order_not_on_account", slots, reason=f"no {tried} on the account")


def _offer(s: DialogueState, shown: list[dict]) -> Decision:
    listing = (
        ", ".join(f"{o['order_id']} ({status_name(o['status'], s.language)})" for o in shown) or "-"
    )
    offered = [(o["order_id"], o["status"]) for o in shown]
    s.slots["offered"] = offered  # the answer may name one by its last digits, status or place
    slots = {"orders": listing, "count": len(shown), "by_status": by_status(offered, s.language)}
    return Decision("ask", "ask_order_id", slots, reason="which order")


def pick_items(s: DialogueState, order: dict) -> list[str]:
    if s.slots.get("all_items"):
        return [i["item_id"] for i in order["items"]]
    wanted = {p.lower() for p in s.slots.get("products", [])}
    return [i["item_id"] for i in order["items"] if i["name"].lower() in wanted]


def propose(s: DialogueState, actions: list[Action], tool: str, args: dict) -> Decision:
    result = call(s, actions, tool, args)
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


def call(s: DialogueState, actions: list[Action], tool: str, args: dict) -> ToolResult:
    result = s.tools.call(tool, args)
    actions.append(action(tool, args, result))
    return result
