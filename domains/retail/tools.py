"""The retail tools an agent calls, with the written policy (policy.md, the tau-bench retail
policy) checked in code rather than left to a model.

    session = ToolSession(BackOffice.open("retail.db"))
    call(session, "find_user_id_by_email", {"email": "noah.brown7922@example.com"})
    r = call(session, "cancel_pending_order", {"order_id": "#W7678072", "reason": "no longer needed"})
    r.code == "needs_confirmation"; r.data["confirmation"]["summary"]["zh"]  # ask the user
    session.confirm(yes=True)  # runs exactly that action, once, checking it again

`TOOLS` maps name -> (function, JSON-schema parameters, writes); `tool_specs()` gives them as
function specs for a model. The write tools are here, the read tools in `domains.retail.reads`
(importing this module registers both), their parameters in `domains.retail.params`. The
machinery (results, codes, confirmation, audit) is in `dialogue.policy.toolkit`, the checks in
`domains.retail.rules`. What the tools enforce:

- Authentication first: only the two finders and the catalogue (get_product_details,
  list_all_product_types) answer before a user is found. One user per conversation: finding a
  second user, or touching another user's profile, order or payment method, is "wrong_user".
- Only a "pending" order is cancelled (reason "no longer needed" or "ordered by mistake") or
  modified (address, payment, items); only a "delivered" one is returned or exchanged.
- Cancel -> "cancelled", refunding every payment: to a gift card at once, else in 5-7 business days.
- Payment change: one method, different from the current one; a gift card must cover the total.
- Items change -> "pending (items modified)", so once: nothing changes or cancels after it.
  Exchange -> "exchange requested", once. Each new item is an available, different option of the
  same product; a gift card paying the difference must cover it.
- Return -> "return requested"; the refund goes to the original payment method or a gift card.
- Writes need the user's yes (`ToolSession.confirm`); each executed one leaves one audit row.
"""

from __future__ import annotations

import logging

import domains.retail.reads  # noqa: F401 - the read tools register first, then the writes below
from dialogue.policy.toolkit import (
    CODES,
    OPEN_TOOLS,
    TOOLS,
    Context,
    PendingAction,
    Proposal,
    Refusal,
    ToolResult,
    ToolSession,
    call,
    tool,
    tool_specs,
)
from domains.retail import rules
from domains.retail.data import CANCELLED, EXCHANGE_REQUESTED, ITEMS_MODIFIED, RETURN_REQUESTED
from domains.retail.params import (
    ADDRESS,
    ITEM_IDS,
    NEW_ITEM_IDS,
    ORDER_ID,
    PAYMENT_ID,
    USER_ID,
    string_param,
)
from domains.retail.schema import PaymentMethod, dollars, order_dict, user_dict

__all__ = ["CODES", "OPEN_TOOLS", "TOOLS", "PendingAction", "ToolResult", "ToolSession", "call"]
__all__ += ["tool_specs"]

logger = logging.getLogger(__name__)


CONFIRM = " Needs the user's confirmation."
ONCE = " All items in one call: it works once per order."


# Writes: each checks everything, then returns a Proposal (ctx.execute False) or writes.


@tool(
    "Cancel a pending order and refund it (a gift card at once, else in 5-7 business days)."
    + CONFIRM,
    {
        "order_id": ORDER_ID,
        "reason": {**string_param("Why the user cancels."), "enum": list(rules.REASONS)},
    },
    writes=True,
)
def cancel_pending_order(ctx: Context, order_id: str, reason: str) -> ToolResult | Proposal:
    order = rules.own_order(ctx, order_id, lock=ctx.execute)
    rules.require_pending(order)
    refunds = []  # (payment method or None if gone, its id, cents, when)
    for m, cents in rules.net_paid(order):
        pm = ctx.db.get(PaymentMethod, m, with_for_update=ctx.execute)
        refunds.append((pm, m, cents, rules.refund_timing(pm)))
    details = {
        "refunds": [
            {"payment_method_id": m, "amount": dollars(c), "when": w} for _, m, c, w in refunds
        ]
    }
    if not ctx.execute:
        # the customer hears each method as they know it ("your Visa card ending 4242"), never
        # its record id; one removed since the order was paid is "the original payment method"
        names = [rules.method_name(pm) if pm else ("the original payment method", "原支付方式") for pm, *_ in refunds]  # fmt: skip
        en = "; ".join(f"{rules.usd(c)} to {n[0]} {w}" for n, (_, _, c, w) in zip(names, refunds, strict=True)) or "nothing"  # fmt: skip
        zh = "；".join(f"{rules.usd(c)} 退回{n[1]}，{rules.WHEN_ZH[w]}" for n, (_, _, c, w) in zip(names, refunds, strict=True))  # fmt: skip
        reason_zh = rules.REASONS[reason]
        return Proposal(
            {
                "en": f"Cancel order {order.id} (reason: {reason}); refund {en}.",
                "zh": f"取消订单 {order.id}（原因：{reason_zh}）；退款：{zh or '无'}。",
            },
            details,
        )
    for pm, m, cents, _ in refunds:
        rules.record_payment(order, "refund", cents, m)
        if pm is not None and pm.source == "gift_card":
            pm.balance_cents = (pm.balance_cents or 0) + cents
    order.status, order.cancel_reason = CANCELLED, reason
    return ToolResult(True, {"order": order_dict(order), **details})


@tool(
    "Change the shipping address of a pending order." + CONFIRM,
    {"order_id": ORDER_ID, **ADDRESS},
    writes=True,
)
def modify_pending_order_address(
    ctx: Context, order_id: str, **address: str
) -> ToolResult | Proposal:
    fields, text = rules.parse_address(address)
    order = rules.own_order(ctx, order_id, lock=ctx.execute)
    rules.require_pending(order)
    if not ctx.execute:
        en, zh = f"Ship order {order.id} to {text}.", f"将订单 {order.id} 的收货地址改为 {text}。"
        return Proposal({"en": en, "zh": zh}, {"address": fields})
    for key, value in fields.items():
        setattr(order, key, value)
    return ToolResult(True, {"order": order_dict(order)})


@tool(
    "Pay a pending order with another payment method of the user; the old one is refunded."
    + CONFIRM,
    {"order_id": ORDER_ID, "payment_method_id": PAYMENT_ID},
    writes=True,
)
def modify_pending_order_payment(
    ctx: Context, order_id: str, payment_method_id: str
) -> ToolResult | Proposal:
    order = rules.own_order(ctx, order_id, lock=ctx.execute)
    rules.require_pending(order)
    paid = rules.net_paid(order)
    if len(paid) != 1:
        raise Refusal("policy", f"order {order.id} is not paid by one method; transfer to a human")
    (old_id, amount), new = paid[0], rules.own_method(ctx, payment_method_id, lock=ctx.execute)
    if new.id == old_id:
        raise Refusal(
            "policy", f"order {order.id} is already paid with {old_id}; choose another method"
        )
    rules.require_cover(new, amount, "order total")
    old = ctx.db.get(PaymentMethod, old_id, with_for_update=ctx.execute)
    when, total = rules.refund_timing(old), rules.usd(amount)
    refund = {"payment_method_id": old_id, "amount": dollars(amount), "when": when}
    if not ctx.execute:
        (new_en, new_zh), (old_en, old_zh) = rules.method_name(new), rules.method_name(old)
        en = f"Pay order {order.id} ({total}) with {new_en} instead of {old_en}, which gets {total} back {when}."
        zh = f"订单 {order.id}（{total}）改用{new_zh}支付；{total} 退回{old_zh}，{rules.WHEN_ZH[when]}。"
        return Proposal({"en": en, "zh": zh}, {"amount": dollars(amount), "refund": refund})
    rules.record_payment(order, "payment", amount, new.id)
    rules.record_payment(order, "refund", amount, old_id)
    if new.source == "gift_card":
        new.balance_cents = (new.balance_cents or 0) - amount
    if old is not None and old.source == "gift_card":
        old.balance_cents = (old.balance_cents or 0) + amount
    return ToolResult(True, {"order": order_dict(order), "refund": refund})


@tool(
    "Change items of a pending order to other options of the same products; afterwards the order"
    " cannot be modified or cancelled. The payment method pays or gets the difference."
    + ONCE
    + CONFIRM,
    {
        "order_id": ORDER_ID,
        "item_ids": ITEM_IDS,
        "new_item_ids": NEW_ITEM_IDS,
        "payment_method_id": PAYMENT_ID,
    },
    writes=True,
)
def modify_pending_order_items(
    ctx: Context,
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
) -> ToolResult | Proposal:
    order = rules.own_order(ctx, order_id, lock=ctx.execute)
    rules.require_pending(order)
    swaps = rules.same_product_swaps(ctx, order, item_ids, new_item_ids)
    method = rules.own_method(ctx, payment_method_id, lock=ctx.execute)
    diff = sum(new.price_cents - line.price_cents for line, new in swaps)
    rules.require_cover(method, diff, "price difference")
    details = {"price_difference": dollars(diff), "payment_method_id": method.id}
    if not ctx.execute:
        (change_en, change_zh), (money_en, money_zh) = (
            rules.describe_changes(swaps),
            rules.describe_difference(diff, method),
        )
        en = (
            f"In order {order.id}, change {change_en}; {money_en}. Items change only once, then the"
            " order cannot be modified or cancelled: are these all the items to change?"
        )
        zh = f"订单 {order.id} 中：{change_zh}；{money_zh}。商品只能修改一次，之后订单不能再修改或取消：这些是全部要修改的商品吗？"
        return Proposal({"en": en, "zh": zh}, details)
    if diff:
        rules.record_payment(order, "payment" if diff > 0 else "refund", abs(diff), method.id)
    if method.source == "gift_card":
        method.balance_cents = (method.balance_cents or 0) - diff
    for line, new in swaps:
        line.item_id, line.price_cents, line.options = new.id, new.price_cents, dict(new.options)
    order.status = ITEMS_MODIFIED
    return ToolResult(True, {"order": order_dict(order), **details})


@tool(
    "Return items of a delivered order; the refund goes to the original payment method or a gift"
    " card of the user." + CONFIRM,
    {"order_id": ORDER_ID, "item_ids": ITEM_IDS, "payment_method_id": PAYMENT_ID},
    writes=True,
)
def return_delivered_order_items(
    ctx: Context, order_id: str, item_ids: list[str], payment_method_id: str
) -> ToolResult | Proposal:
    order = rules.own_order(ctx, order_id, lock=ctx.execute)
    rules.require_delivered(order, "returned")
    lines = rules.order_lines(order, item_ids)
    method = rules.own_method(ctx, payment_method_id)
    original = order.payments[0].payment_method_id if order.payments else None
    if method.source != "gift_card" and method.id != original:
        raise Refusal(
            "policy",
            f"a refund goes to the original payment method ({original}) or a gift card, not {method.id}",
        )
    total = sum(line.price_cents for line in lines)
    details = {"refund_amount": dollars(total), "payment_method_id": method.id}
    if not ctx.execute:
        names = ", ".join(f"{x.name} ({rules.describe_options(x.options)})" for x in lines)
        to_en, to_zh = rules.method_name(method)
        en = (
            f"Return from order {order.id}: {names}; refund {rules.usd(total)} to {to_en}."
            " You will get an email explaining how to send the items back."
        )
        zh = f"退回订单 {order.id} 中的：{names}；退款 {rules.usd(total)} 至{to_zh}。您将收到一封说明如何寄回商品的邮件。"
        return Proposal({"en": en, "zh": zh}, details)
    for line in lines:
        line.request = "return"
    order.status, order.return_payment_method_id = RETURN_REQUESTED, method.id
    return ToolResult(True, {"order": order_dict(order), **details})


@tool(
    "Exchange items of a delivered order for other options of the same products. The payment"
    " method pays or gets the difference." + ONCE + CONFIRM,
    {
        "order_id": ORDER_ID,
        "item_ids": ITEM_IDS,
        "new_item_ids": NEW_ITEM_IDS,
        "payment_method_id": PAYMENT_ID,
    },
    writes=True,
)
def exchange_delivered_order_items(
    ctx: Context,
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
) -> ToolResult | Proposal:
    order = rules.own_order(ctx, order_id, lock=ctx.execute)
    rules.require_delivered(order, "exchanged")
    swaps = rules.same_product_swaps(ctx, order, item_ids, new_item_ids)
    method = rules.own_method(ctx, payment_method_id)
    diff = sum(new.price_cents - line.price_cents for line, new in swaps)
    rules.require_cover(method, diff, "price difference")
    details = {"price_difference": dollars(diff), "payment_method_id": method.id}
    if not ctx.execute:
        (change_en, change_zh), (money_en, money_zh) = (
            rules.describe_changes(swaps),
            rules.describe_difference(diff, method),
        )
        en = (
            f"Exchange in order {order.id}: {change_en}; {money_en}. You will get an email explaining"
            " how to send the items back, with no new order. It works once: are these all the items?"
        )
        zh = f"订单 {order.id} 换货：{change_zh}；{money_zh}。您将收到一封说明如何寄回商品的邮件，无需重新下单。每个订单只能换货一次：这些是全部要换的商品吗？"
        return Proposal({"en": en, "zh": zh}, details)
    for line, new in swaps:
        line.request, line.new_item_id = "exchange", new.id
    order.status = EXCHANGE_REQUESTED
    order.exchange_payment_method_id, order.exchange_difference_cents = method.id, diff
    return ToolResult(True, {"order": order_dict(order), **details})


@tool("Change the user's default address." + CONFIRM, {"user_id": USER_ID, **ADDRESS}, writes=True)
def modify_user_address(ctx: Context, user_id: str, **address: str) -> ToolResult | Proposal:
    user = rules.own_user(ctx, user_id, lock=ctx.execute)
    fields, text = rules.parse_address(address)
    if not ctx.execute:
        en, zh = (
            f"Make {text} the default address of {user.id}.",
            f"将 {user.id} 的默认地址改为 {text}。",
        )
        return Proposal({"en": en, "zh": zh}, {"address": fields})
    for key, value in fields.items():
        setattr(user, key, value)
    return ToolResult(True, {"user": user_dict(user)})


__all__ += [
    n for n, t in TOOLS.items() if t.writes
]  # the writes, each a function of (session, **args)
