"""Retail conversations generated from the back office data (tau-bench retail, MIT): English and
Chinese, for fine-tuning the dialogue model.

    data = parse_retail(Path("../shared/data/retail"))
    conversations = generate_retail(data, n=1500, seed=0)

Each conversation is one task of one customer: order status with tracking, cancel (reason,
confirmation, done), return (items, refund method), exchange (item, new option, payment method
for the difference), shipping or default address change, and refusals where the policy says no
(an order in the wrong status, another customer's order, a discount), plus hand-offs to a person.
Customer turns carry `dialogue.nlu.intents` labels; agent turns carry the tool calls (`action`) that
`domains.retail.tools` would make, with a short result, so that a replay on the real tools agrees.

What always holds (tests/dialogue/lm/test_convdata.py checks it): the customer is authenticated before any
tool touches an order; every write is preceded by an agent question that states it and a
customer yes; refusals write nothing; every order id in an action is the customer's own.

Conversation i depends only on (seed, i): asking for more conversations keeps the first ones.
The words are in `domains.retail.phrases`.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable

from dialogue.lm.convdata import Conversation
from domains.retail.data import ADDRESS_FIELDS, RetailData
from domains.retail.phrases import STATUS, VERBS
from domains.retail.script import RetailWorld, Script, address_text, money, values_text

SOURCE = "retail"
WRITE_TOOLS = frozenset({
    "cancel_pending_order", "modify_pending_order_address", "modify_pending_order_payment",
    "modify_pending_order_items", "return_delivered_order_items", "exchange_delivered_order_items",
    "modify_user_address",
})  # fmt: skip
AUTH_TOOLS = ("find_user_id_by_email", "find_user_id_by_name_zip")
TASKS = {  # task -> weight
    "status": 16, "cancel": 15, "return": 13, "exchange": 11, "address": 9, "default_address": 4,
    "refuse_status": 14, "refuse_other_user": 7, "refuse_discount": 7, "human": 4,
}  # fmt: skip
OUTCOMES = ("answered", "done", "declined", "refused", "transferred")
INTENTS = {"status": "order_status", "cancel": "cancel_order", "return": "return_item",
           "exchange": "exchange_item", "address": "change_address"}  # fmt: skip


def _status(c: Script, oid: str) -> str:
    c.open("open_status", "order_status")
    c.authenticate("order_status", c.say("ask_order"))
    c.which_order(oid, "order_status")
    o, res = c.world.orders[oid], c.world.order_result(oid)
    slots = {"order_id": oid, "items": c.items(o["items"]), "status": STATUS[c.lang][o["status"]]}
    key = f"status_{o['status']}"
    if o["status"] in ("processed", "delivered"):
        key = key if res["tracking_ids"] else "status_no_tracking"
        slots["tracking"] = ", ".join(res["tracking_ids"])
    c.close(c.say(key, **slots), "get_order_details", {"order_id": oid}, res)
    return "answered"


def _cancel(c: Script, oid: str) -> str:
    c.open("open_cancel", "cancel_order")
    c.authenticate("cancel_order", c.say("ask_order"))
    c.which_order(oid, "cancel_order")
    o = c.world.orders[oid]
    items = c.items(o["items"])
    c.look_up(oid, c.say("ask_reason", order_id=oid, items=items))
    reason = c.rng.choice(("no longer needed", "ordered by mistake"))
    c.customer(c.say(f"reason_{reason}"), "cancel_order")
    net: dict[str, int] = defaultdict(int)
    for p in o["payments"]:
        net[p["payment_method_id"]] += p["amount_cents"] * (1 if p["kind"] == "payment" else -1)
    refunds = {m: v for m, v in net.items() if v > 0}
    if c.lang == "zh":
        parts = [f"{money(v)} 将退回{c.method(m)}，{c.when(m)}" for m, v in refunds.items()]
        refund = "；".join(parts) + "。" if parts else ""
        why = {"no longer needed": "不再需要", "ordered by mistake": "误下单"}[reason]
    else:
        parts = [f"{money(v)} will be refunded to {c.method(m)} {c.when(m)}" for m, v in refunds.items()]  # fmt: skip
        refund, why = ("The " + "; ".join(parts) + "." if parts else ""), reason
    if not c.confirm(c.say("confirm_cancel", order_id=oid, items=items, reason=why, refund=refund)):
        c.close(c.say("declined", order_id=oid))
        return "declined"
    back = [{"payment_method_id": m, "amount": v / 100} for m, v in refunds.items()]
    result = {"order_id": oid, "status": "cancelled", "refunds": back}
    args = {"order_id": oid, "reason": reason}
    c.close(c.say("done_cancel", order_id=oid, refund_done=refund), "cancel_pending_order", args, result)  # fmt: skip
    return "done"


def _return(c: Script, oid: str) -> str:
    c.open("open_return", "return_item")
    c.authenticate("return_item", c.say("ask_order"))
    c.which_order(oid, "return_item")
    o = c.world.orders[oid]
    c.look_up(oid, c.say("ask_return_items", order_id=oid, items=c.items(o["items"])))
    names = Counter(i["name"] for i in o["items"])
    single = [i for i in o["items"] if names[i["name"]] == 1]
    if len(o["items"]) > 1 and single and c.rng.random() < 0.5:
        lines = c.rng.sample(single, c.rng.randint(1, min(2, len(single))))
        said = c.pick(" and ", "和").join(c.product(x["name"]) for x in lines)
        c.customer(c.say("return_some", items=said), "return_item")
    else:
        lines = list(o["items"])
        c.customer(c.say("return_all"), "return_item")
    method = original = c.world.order_result(oid)["payment_method_id"]
    methods = c.user["payment_methods"]
    gift = [m["id"] for m in methods if m["source"] == "gift_card" and m["id"] != original]
    if gift and c.rng.random() < 0.6:
        c.agent("", "get_user_details", {"user_id": c.uid}, {"payment_methods": methods})
        c.agent(c.say("ask_refund_method", original=c.method(original)))
        method = gift[0] if c.rng.random() < 0.5 else original
        c.customer(c.say("refund_gift" if method != original else "refund_original"), "return_item")
    cents = sum(x["price_cents"] for x in lines)
    slots = {"order_id": oid, "items": c.items(lines), "amount": money(cents), "method": c.method(method)}  # fmt: skip
    if not c.confirm(c.say("confirm_return", **slots)):
        c.close(c.say("declined", order_id=oid))
        return "declined"
    args = {"order_id": oid, "item_ids": [x["item_id"] for x in lines], "payment_method_id": method}
    result = {"order_id": oid, "status": "return requested", "refund_amount": cents / 100}
    c.close(c.say("done_return", **slots), "return_delivered_order_items", args, result)
    return "done"


def _difference(c: Script, cents: int, method: str | None) -> str:
    """The price difference of an exchange, before (method None) or after a method is chosen."""
    amount = money(cents)
    if cents == 0:
        return c.pick("There's no price difference.", "没有差价。")
    if method is None:
        more = cents > 0
        return c.pick(f"That's {amount} {'more' if more else 'less'} than your current one.",
                      f"比原商品{'贵' if more else '便宜'} {amount}。")  # fmt: skip
    m = c.method(method)
    if cents > 0:
        return c.pick(f"The price difference of {amount} will be charged to {m}.", f"差价 {amount} 将从{m}扣除。")  # fmt: skip
    return c.pick(f"The price difference of {amount} will be refunded to {m}.", f"差价 {amount} 将退到{m}。")  # fmt: skip


def _exchange(c: Script, oid: str) -> str:
    c.open("open_exchange", "exchange_item")
    c.authenticate("exchange_item", c.say("ask_order"))
    c.which_order(oid, "exchange_item")
    o = c.world.orders[oid]
    c.look_up(oid, c.say("ask_exchange_items", order_id=oid, items=c.items(o["items"])))
    line, new = c.rng.choice(c.world.swaps(oid))
    diff = new["price_cents"] - line["price_cents"]
    methods = [
        m["id"]
        for m in c.user["payment_methods"]
        if m["source"] != "gift_card" or (m["balance_cents"] or 0) >= diff
    ]
    if not methods:
        return ""  # nothing can pay the difference: the caller draws another task
    changed = {k: v for k, v in new["options"].items() if line["options"].get(k) != v}
    old = values_text({k: line["options"].get(k) for k in changed})
    product = c.product(line["name"])
    c.customer(c.say("exchange_item", product=product, old=old, new=values_text(changed)), "exchange_item")  # fmt: skip
    pid = line["product_id"]
    others = [i for i in c.world.products[pid]["items"] if i["available"] and i["id"] != new["id"]]
    variants = [
        {"item_id": i["id"], "options": i["options"], "price": i["price_cents"] / 100}
        for i in [new, *others[:5]]
    ]
    c.agent("", "get_user_details", {"user_id": c.uid}, {"payment_methods": c.user["payment_methods"]})  # fmt: skip
    slots = {"order_id": oid, "product": product, "old": values_text(line["options"]), "new": values_text(new["options"])}  # fmt: skip
    found = ("get_product_details", {"product_id": pid}, {"product_id": pid, "name": line["name"], "available": variants})  # fmt: skip
    price = money(new["price_cents"])
    if len(methods) > 1:  # which method pays or gets the difference
        listing = c.pick(", ", "、").join(c.method(m) for m in methods)
        c.agent(c.say("ask_method", **slots, price=price, difference=_difference(c, diff, None), methods=listing), *found)  # fmt: skip
        method = c.rng.choice(methods)
        c.customer(c.say("pick_method", method=c.method(method, mine=True)), "exchange_item")
        question, found = "", ()
    else:  # the only one: say so in the question
        method = methods[0]
        question = c.say("available", product=product, new=slots["new"], price=price)
    difference = _difference(c, diff, method)
    question = c.join(question, c.say("confirm_exchange", **slots, difference=difference))
    if not c.confirm(question, "yes_all", *found):
        c.close(c.say("declined", order_id=oid))
        return "declined"
    args = {"order_id": oid, "item_ids": [line["item_id"]], "new_item_ids": [new["id"]], "payment_method_id": method}  # fmt: skip
    result = {"order_id": oid, "status": "exchange requested", "price_difference": diff / 100}
    c.close(c.say("done_exchange", **slots, difference=difference), "exchange_delivered_order_items", args, result)  # fmt: skip
    return "done"


def _address(c: Script, oid: str) -> str:
    c.open("open_address", "change_address")
    c.authenticate("change_address", c.say("ask_order"))
    c.which_order(oid, "change_address")
    c.look_up(oid, c.say("ask_new_address", order_id=oid))
    new = c.new_address()
    c.customer(c.say("give_address", address=address_text(new)), "change_address")
    if not c.confirm(c.say("confirm_address", order_id=oid, address=address_text(new))):
        c.close(c.say("declined", order_id=oid))
        return "declined"
    args, result = {"order_id": oid, **new}, {"order_id": oid, "status": "pending"}
    c.close(c.say("done_address", order_id=oid), "modify_pending_order_address", args, result)
    return "done"


def _default_address(c: Script, _: None) -> str:
    c.open("open_default_address", "change_address")
    c.authenticate("change_address", c.say("ask_default_address"))
    new = c.new_address()
    c.customer(c.say("give_address", address=address_text(new)), "change_address")
    if not c.confirm(c.say("confirm_default_address", address=address_text(new))):
        c.close(c.pick("All right, I haven't changed your address.", "好的，地址保持不变。"))
        return "declined"
    args = {"user_id": c.uid, **{k: new[k] for k in ADDRESS_FIELDS}}
    c.close(c.say("done_default_address"), "modify_user_address", args, {"user_id": c.uid})
    return "done"


def _refuse_status(c: Script, kind_oid: tuple[str, str]) -> str:
    kind, oid = kind_oid
    intent = INTENTS[kind]
    c.open(f"open_{kind}", intent)
    c.authenticate(intent, c.say("ask_order"))
    c.which_order(oid, intent)
    status = c.world.orders[oid]["status"]
    slots = {"order_id": oid, "status": STATUS[c.lang][status], "verb": VERBS[c.lang][kind]}
    key = "refuse_not_pending" if kind in ("cancel", "address") else "refuse_not_delivered"
    if kind == "cancel" and status == "cancelled":
        key = "already_cancelled"
    text = c.say(key, **slots)
    if kind == "cancel" and status == "processed":
        text = c.join(text, c.say("offer_return"))
    elif kind in ("return", "exchange") and status == "pending":
        text = c.join(text, c.say("offer_cancel"))
    c.close(text, "get_order_details", {"order_id": oid}, c.world.order_result(oid))
    return "refused"


def _refuse_other_user(c: Script, _: None) -> str:
    theirs = sorted(o for o, x in c.world.orders.items() if x["user_id"] != c.uid)
    oid, kind = c.rng.choice(theirs), c.rng.choice(("cancel", "return", "status"))
    intent = INTENTS[kind]
    c.open(f"open_{kind}", intent)
    c.authenticate(intent, c.say("ask_order"))
    c.customer(c.say("give_order", order_id=oid), intent)
    text, mine = c.order_list()
    refusal = c.say("not_your_order", order_id=oid, orders=text)
    c.agent(refusal, "list_user_orders", {"user_id": c.uid}, {"orders": mine})
    c.customer(c.say("friend_insists"), intent)
    c.close(c.say("refuse_friend"))
    return "refused"


def _refuse_discount(c: Script, _: None) -> str:
    c.customer(c.say("open_discount"), "complaint")
    c.agent(c.say("refuse_discount"))
    if c.rng.random() < 0.5:
        c.customer(c.say("discount_insist"), "talk_to_human")
        c.authenticate("talk_to_human", "", ask="ask_auth_transfer")
        c.transfer(
            "The customer wants a discount for a slow delivery; policy allows none. They asked for a person.",  # fmt: skip
            "客户因发货慢要求折扣，政策不允许；客户要求转人工。",
        )
    else:
        c.customer(c.say("discount_accept"), "thanks_goodbye")
        c.agent(c.say("goodbye"))
    return "refused"


def _human(c: Script, _: None) -> str:
    c.customer(c.say("open_human"), "talk_to_human")
    c.agent(c.say("offer_help_first"))
    c.customer(c.say("still_human"), "talk_to_human")
    c.authenticate("talk_to_human", "", ask="ask_auth_transfer")
    c.transfer(
        "The customer asked for a person without saying what it is about.",
        "客户要求人工服务，未说明问题。",
    )
    return "transferred"


_TASK_FNS: dict[str, Callable[[Script, object], str]] = {
    "status": _status, "cancel": _cancel, "return": _return, "exchange": _exchange,
    "address": _address, "default_address": _default_address, "refuse_status": _refuse_status,
    "refuse_other_user": _refuse_other_user, "refuse_discount": _refuse_discount, "human": _human,
}  # fmt: skip


def generate_one(world: RetailWorld, index: int, seed: int = 0) -> Conversation:
    """Conversation `index`: a function of (data, seed, index) only."""
    rng = random.Random(f"retail:{seed}:{index}")
    tasks = [t for t in TASKS if world.pools[t]]
    if not tasks:
        raise ValueError("the retail data has no users; conversations need at least one")
    for _ in range(50):
        task = rng.choices(tasks, weights=[TASKS[t] for t in tasks])[0]
        uid, arg = rng.choice(world.pools[task])
        lang = "zh" if rng.random() < 0.5 else "en"
        c = Script(world, rng, lang, uid, voice=rng.random() < 0.1)
        outcome = _TASK_FNS[task](c, arg)
        if outcome:
            break
    else:
        raise ValueError(f"conversation {index}: no task fits the retail data in 50 draws")
    meta = {
        "group": f"retail:user:{uid}",  # one customer's conversations stay in one split
        "task": task,
        "outcome": outcome,
        "user_id": uid,
        "channel": "voice" if c.voice else "chat",
        "auth": c.auth,
        "toolset": "domains.retail.tools",  # the tools (and arguments) of the actions
        "generator": "domains.retail.dialogues",
        "seed": seed,
    }
    return Conversation(f"retail-{seed}-{index:05d}-{lang}", SOURCE, lang, tuple(c.turns), meta)


def generate_retail(data: RetailData, n: int = 1500, seed: int = 0) -> list[Conversation]:
    """`n` conversations from the retail data (see the module docstring)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    world = RetailWorld(data)
    return [generate_one(world, i, seed) for i in range(n)]
