"""The retail policy's rules as checks. Each looks something up for a tool and returns it, or
raises `Refusal(code, message)` naming the rule and the way out. Used by `domains.retail.tools`.

Money is integer cents here; `usd` writes it for people.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from dialogue.policy.toolkit import Context, Refusal
from domains.retail.data import (
    ADDRESS_FIELDS,
    DELIVERED,
    EXCHANGE_REQUESTED,
    ITEMS_MODIFIED,
    PENDING,
    RETURN_REQUESTED,
)
from domains.retail.schema import Item, Order, OrderItem, Payment, PaymentMethod, User

REASONS = {"no longer needed": "不再需要", "ordered by mistake": "误下单"}  # cancel reasons
IMMEDIATELY, LATER = "immediately", "in 5 to 7 business days"  # when a refund arrives
WHEN_ZH = {IMMEDIATELY: "立即到账", LATER: "5 至 7 个工作日内到账"}


def usd(cents: int) -> str:
    return f"${abs(cents) / 100:,.2f}"


def describe_options(options: dict[str, Any]) -> str:
    return ", ".join(str(v) for v in options.values())


def refund_timing(method: PaymentMethod | None) -> str:
    """A gift card is refunded at once, anything else in 5 to 7 business days."""
    return IMMEDIATELY if method is not None and method.source == "gift_card" else LATER


def parse_address(args: dict[str, str]) -> tuple[dict[str, str], str]:
    """(the address fields, stripped; the address on one line); every field but address2 needed."""
    address = {k: args[k].strip() for k in ADDRESS_FIELDS}
    empty = [k for k in ADDRESS_FIELDS if k != "address2" and not address[k]]
    if empty:
        raise Refusal("invalid_argument", f"the address needs {', '.join(empty)}; ask the user")
    a = address
    parts = [a["address1"], a["address2"], a["city"], f"{a['state']} {a['zip']}", a["country"]]
    return address, ", ".join(p for p in parts if p)


def own_user(ctx: Context, user_id: str, *, lock: bool = False) -> User:
    """The authenticated user, if `user_id` is theirs: one user per conversation."""
    me = ctx.session.user_id
    if user_id != me:
        raise Refusal(
            "wrong_user", f"this conversation serves user {me}; it cannot act for {user_id!r}"
        )
    return ctx.db.get(User, me, with_for_update=lock)


def own_order(ctx: Context, order_id: str, *, lock: bool = False) -> Order:
    """An order of the authenticated user ('#' may be left out of the id)."""
    key = order_id.strip()
    order = ctx.db.get(Order, key, with_for_update=lock)
    if order is None and not key.startswith("#"):
        order = ctx.db.get(Order, "#" + key, with_for_update=lock)
    if order is None:
        raise Refusal(
            "not_found",
            f"no order {order_id!r}; order ids look like '#W0000000' (list_user_orders has the user's)",
        )
    if order.user_id != ctx.session.user_id:
        raise Refusal(
            "wrong_user",
            f"order {order.id} is not one of this user's; this conversation acts only for {ctx.session.user_id}",
        )
    return order


def own_method(ctx: Context, method_id: str, *, lock: bool = False) -> PaymentMethod:
    """A payment method of the authenticated user."""
    method = ctx.db.get(PaymentMethod, method_id, with_for_update=lock)
    if method is None or method.user_id != ctx.session.user_id:
        mine = [m.id for m in ctx.db.get(User, ctx.session.user_id).payment_methods]
        raise Refusal(
            "not_found", f"{method_id!r} is not one of this user's payment methods: {mine}"
        )
    return method


def require_pending(order: Order) -> None:
    """Only a pending order is cancelled or modified; after an items change, nothing is."""
    if order.status == ITEMS_MODIFIED:
        raise Refusal(
            "not_pending",
            f"the items of order {order.id} were already modified; that happens once, and then the order cannot be modified or cancelled",
        )
    if order.status != PENDING:
        raise Refusal(
            "not_pending",
            f"order {order.id} is {order.status!r}; only a pending order can be cancelled or modified",
        )


def require_delivered(order: Order, verb: str) -> None:
    """Only a delivered order is returned or exchanged, and only once."""
    if order.status in (RETURN_REQUESTED, EXCHANGE_REQUESTED):
        raise Refusal(
            "not_delivered",
            f"order {order.id} is already {order.status!r}; an order is returned or exchanged once",
        )
    if order.status != DELIVERED:
        raise Refusal(
            "not_delivered",
            f"order {order.id} is {order.status!r}; only a delivered order can be {verb}",
        )


def order_lines(order: Order, item_ids: list[str]) -> list[OrderItem]:
    """The order's lines for `item_ids`, one line per id (an id twice takes two lines)."""
    if not item_ids:
        raise Refusal("invalid_argument", "item_ids is empty; list the items of the order")
    free, picked = list(order.items), []
    for item_id in item_ids:
        line = next((line for line in free if line.item_id == item_id), None)
        if line is None:
            times = " that many times" if any(x.item_id == item_id for x in order.items) else ""
            raise Refusal(
                "not_found",
                f"item {item_id!r} is not in order {order.id}{times}; its items are {[x.item_id for x in order.items]}",
            )
        free.remove(line)
        picked.append(line)
    return picked


def same_product_swaps(
    ctx: Context, order: Order, item_ids: list[str], new_item_ids: list[str]
) -> list[tuple[OrderItem, Item]]:
    """(line, new item) pairs: each new item an available, different option of the same product."""
    if len(item_ids) != len(new_item_ids):
        raise Refusal(
            "invalid_argument",
            f"{len(item_ids)} item_ids but {len(new_item_ids)} new_item_ids; give one new item per item, in the same order",
        )
    swaps = []
    for line, new_id in zip(order_lines(order, item_ids), new_item_ids, strict=True):
        new = ctx.db.get(Item, new_id)
        look = f"get_product_details({line.product_id!r}) lists the options of {line.name}"
        if new is None:
            raise Refusal("not_found", f"no item {new_id!r}; {look}")
        if new.product_id != line.product_id:
            raise Refusal(
                "policy",
                f"item {new_id} is a {new.product.name}, not a {line.name}: an item changes only to another option of the same product",
            )
        if new.id == line.item_id:
            raise Refusal(
                "policy",
                f"item {new_id} is the option already in the order; choose another ({look})",
            )
        if not new.available:
            raise Refusal(
                "unavailable",
                f"item {new_id} ({describe_options(new.options)}) is not available now; {look}",
            )
        swaps.append((line, new))
    return swaps


def require_cover(method: PaymentMethod, cents: int, what: str) -> None:
    """A gift card that pays must hold at least the amount."""
    balance = method.balance_cents or 0
    if method.source == "gift_card" and cents > 0 and balance < cents:
        raise Refusal(
            "insufficient_balance",
            f"gift card {method.id} has {usd(balance)}, less than the {what} of {usd(cents)}; choose another payment method",
        )


def net_paid(order: Order) -> list[tuple[str, int]]:
    """(payment method id, cents) for each method that still holds money of the order."""
    net: dict[str, int] = defaultdict(int)
    for p in order.payments:
        net[p.payment_method_id] += p.amount_cents if p.kind == "payment" else -p.amount_cents
    return [(m, cents) for m, cents in net.items() if cents > 0]


def record_payment(order: Order, kind: str, cents: int, method_id: str) -> None:
    """Append a "payment" or "refund" to the order's payment history."""
    position = len(order.payments)
    order.payments.append(
        Payment(position=position, kind=kind, amount_cents=cents, payment_method_id=method_id)
    )


def method_name(method: PaymentMethod) -> tuple[str, str]:
    """A payment method as the customer knows it, in English and Chinese (never its record id)."""
    if method.source == "credit_card":
        brand = (method.brand or "credit").title() if method.brand else "credit"
        last = f" ending {method.last_four}" if method.last_four else ""
        return (
            f"your {brand} card{last}",
            f"您{f'尾号 {method.last_four} 的' if method.last_four else '的'} {brand} 卡",
        )
    if method.source == "gift_card":
        return "your gift card", "您的礼品卡"
    if method.source == "paypal":
        return "your PayPal account", "您的 PayPal 账户"
    return "your payment method on file", "您登记的支付方式"


def describe_difference(cents: int, method: PaymentMethod) -> tuple[str, str]:
    """Who pays a price difference, in English and Chinese, said to the customer."""
    en, zh = method_name(method)
    if cents > 0:
        return f"you pay {usd(cents)} more with {en}", f"需补差价 {usd(cents)}，由{zh}支付"
    if cents < 0:
        return f"you get {usd(cents)} back to {en}", f"退还差价 {usd(cents)} 至{zh}"
    return "the price is the same", "价格不变"


def describe_changes(swaps: list[tuple[OrderItem, Item]]) -> tuple[str, str]:
    """The item changes on one line, in English and Chinese."""
    en = "; ".join(
        f"{line.name} ({describe_options(line.options)}) to ({describe_options(new.options)})"
        for line, new in swaps
    )
    zh = "；".join(
        f"{line.name}（{describe_options(line.options)}）换成（{describe_options(new.options)}）"
        for line, new in swaps
    )
    return en, zh
