"""The retail tools an agent calls, with the written policy (policy.md, the tau-bench retail
policy) checked in code rather than left to a model.

    session = ToolSession(BackOffice.open("retail.db"))
    call(session, "find_user_id_by_email", {"email": "noah.brown7922@example.com"})
    r = call(session, "cancel_pending_order", {"order_id": "#W7678072", "reason": "no longer needed"})
    r.code == "needs_confirmation"; r.data["confirmation"]["summary"]["zh"]  # ask the user
    session.confirm(yes=True)  # runs exactly that action, once, checking it again

`TOOLS` maps name -> (function, JSON-schema parameters, writes); `tool_specs()` gives them as
function specs for a model. The machinery (results, codes, confirmation, audit) is in
`dialogue.toolkit`, the checks in `dialogue.retail_rules`. What the tools enforce:

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
from typing import Any

from sqlalchemy import func, select

from dialogue import retail_rules as rules
from dialogue.retail_data import CANCELLED, EXCHANGE_REQUESTED, ITEMS_MODIFIED, RETURN_REQUESTED
from dialogue.retail_schema import (
    Item,
    PaymentMethod,
    Product,
    User,
    dollars,
    order_dict,
    product_dict,
    user_dict,
)
from dialogue.toolkit import (
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

__all__ = ["CODES", "OPEN_TOOLS", "TOOLS", "PendingAction", "ToolResult", "ToolSession", "call"]
__all__ += ["tool_specs"]

logger = logging.getLogger(__name__)


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _texts(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


ORDER_ID = _text("The order id, such as '#W0000000' (the '#' may be left out).")
USER_ID = _text("The user id, such as 'sara_doe_496'; must be the authenticated user's.")
ITEM_IDS = _texts("The item ids in the order, such as '1008292230'; an id twice for two of it.")
NEW_ITEM_IDS = _texts("For each item, in the same order, another option of the same product.")
PAYMENT_ID = _text("A payment method id of the user, such as 'gift_card_0000000'.")
ADDRESS = {
    "address1": _text("The first line of the address, such as '123 Main St'."),
    "address2": _text("The second line, such as 'Apt 1', or ''."),
    "city": _text("The city, such as 'San Francisco'."),
    "state": _text("The state, such as 'CA'."),
    "country": _text("The country, such as 'USA'."),
    "zip": _text("The zip code, such as '12345'."),
}
CONFIRM = " Needs the user's confirmation."
ONCE = " All items in one call: it works once per order."


def _authenticate(ctx: Context, user_id: str) -> ToolResult:
    me = ctx.session.user_id
    if me is not None and me != user_id:
        raise Refusal(
            "wrong_user",
            f"this conversation already serves user {me}; policy allows one user per conversation",
        )
    ctx.session.user_id = user_id
    return ToolResult(True, {"user_id": user_id})


# Reads: open to everyone (the finders, the catalogue) or to the authenticated user.


@tool(
    "Find the user id by email; authenticates the user.", {"email": _text("The email.")}, open_=True
)
def find_user_id_by_email(ctx: Context, email: str) -> ToolResult:
    query = select(User.id).where(func.lower(User.email) == email.strip().lower())
    user_id = ctx.db.scalars(query).first()
    if user_id is None:
        raise Refusal("not_found", f"no user with email {email!r}; check it, or try name and zip")
    return _authenticate(ctx, user_id)


@tool(
    "Find the user id by first name, last name and zip code; authenticates the user.",
    {"first_name": _text("First name."), "last_name": _text("Last name."), "zip": _text("Zip.")},
    open_=True,
)
def find_user_id_by_name_zip(ctx: Context, first_name: str, last_name: str, zip: str) -> ToolResult:
    query = select(User.id).where(
        func.lower(User.first_name) == first_name.strip().lower(),
        func.lower(User.last_name) == last_name.strip().lower(),
        User.zip == zip.strip(),
    )
    found = list(ctx.db.scalars(query.limit(2)))
    who = f"{first_name} {last_name} at zip {zip!r}"
    if not found:
        raise Refusal("not_found", f"no user {who}; check them, or find the user by email")
    if len(found) > 1:
        raise Refusal("ambiguous", f"more than one user is {who}; find the user by email")
    return _authenticate(ctx, found[0])


@tool(
    "Get the user's profile, payment methods (gift card balances) and order ids.",
    {"user_id": USER_ID},
)
def get_user_details(ctx: Context, user_id: str) -> ToolResult:
    return ToolResult(True, user_dict(rules.own_user(ctx, user_id)))


@tool("List the user's orders: status, number of items, total.", {"user_id": USER_ID})
def list_user_orders(ctx: Context, user_id: str) -> ToolResult:
    orders = [
        {
            "order_id": o.id,
            "status": o.status,
            "items": len(o.items),
            "total": dollars(sum(i.price_cents for i in o.items)),
        }
        for o in rules.own_user(ctx, user_id).orders
    ]
    return ToolResult(True, {"user_id": user_id, "orders": orders})


@tool("Get an order: status, address, items, tracking, payment history.", {"order_id": ORDER_ID})
def get_order_details(ctx: Context, order_id: str) -> ToolResult:
    return ToolResult(True, order_dict(rules.own_order(ctx, order_id)))


@tool(
    "Get a product and its items (options, price, availability). Takes a product id, not an item id.",
    {"product_id": _text("The product id, such as '6086499569'.")},
    open_=True,
)
def get_product_details(ctx: Context, product_id: str) -> ToolResult:
    product = ctx.db.get(Product, product_id.strip())
    if product is not None:
        return ToolResult(True, product_dict(product))
    item = ctx.db.get(Item, product_id.strip())
    if item is not None:
        raise Refusal(
            "not_found",
            f"{product_id!r} is an item id, of product {item.product_id} ({item.product.name}); pass that",
        )
    raise Refusal("not_found", f"no product {product_id!r}; list_all_product_types has the ids")


@tool("List the store's product types: name -> product id.", {}, open_=True)
def list_all_product_types(ctx: Context) -> ToolResult:
    rows = ctx.db.execute(select(Product.name, Product.id).order_by(Product.name)).all()
    return ToolResult(True, {"products": dict(rows)})


@tool(
    "Hand the user to a human agent, only for a request these tools cannot handle.",
    {"summary": _text("The user's issue and what was done so far.")},
)
def transfer_to_human_agents(ctx: Context, summary: str) -> ToolResult:
    session = ctx.session
    logger.info(
        "session %s: to a human agent (%s): %s", session.session_id, session.user_id, summary
    )
    return ToolResult(True, {"transferred": True, "user_id": session.user_id, "summary": summary})


# Writes: each checks everything, then returns a Proposal (ctx.execute False) or writes.


@tool(
    "Cancel a pending order and refund it (a gift card at once, else in 5-7 business days)."
    + CONFIRM,
    {
        "order_id": ORDER_ID,
        "reason": {**_text("Why the user cancels."), "enum": list(rules.REASONS)},
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
        en = "; ".join(f"{rules.usd(c)} to {m} {w}" for _, m, c, w in refunds) or "nothing"
        zh = "；".join(f"{rules.usd(c)} 退回 {m}，{rules.WHEN_ZH[w]}" for _, m, c, w in refunds)
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
        en = f"Pay order {order.id} ({total}) with {new.id} instead of {old_id}, which gets {total} back {when}."
        zh = f"订单 {order.id}（{total}）改用 {new.id} 支付；{total} 退回 {old_id}，{rules.WHEN_ZH[when]}。"
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
            rules.describe_difference(diff, method.id),
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
        refund = f"{rules.usd(total)} 至 {method.id}"
        en = (
            f"Return from order {order.id}: {names}; refund {rules.usd(total)} to {method.id}."
            " The user will get an email on how to return the items."
        )
        zh = f"退回订单 {order.id} 中的：{names}；退款 {refund}。用户将收到说明如何退货的邮件。"
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
            rules.describe_difference(diff, method.id),
        )
        en = (
            f"Exchange in order {order.id}: {change_en}; {money_en}. The user will get an email on"
            " how to return the items, with no new order. It works once: are these all the items?"
        )
        zh = f"订单 {order.id} 换货：{change_zh}；{money_zh}。用户将收到说明如何寄回商品的邮件，无需重新下单。每个订单只能换货一次：这些是全部要换的商品吗？"
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


__all__ += list(TOOLS)  # the tools themselves, each a function of (session, **args)
