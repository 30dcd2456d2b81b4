"""How a generated retail conversation is written (`domains.retail.dialogues` has the tasks):
the data's indexes (`RetailWorld`), and a `Script` that appends customer and agent turns in one
language, with the moves every task shares: open, authenticate, name the order, look it up,
confirm, close, transfer.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from typing import Any

from dialogue.lm.convdata import ConvTurn, TurnAction
from domains.retail.data import RetailData
from domains.retail.phrases import PRODUCTS_ZH, STATUS, STREETS, UNITS, WHEN, P

_DIGITS = {
    "en": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
    "zh": "零一二三四五六七八九",
}


def money(cents: int) -> str:
    return f"${abs(cents) / 100:,.2f}"


def values_text(options: dict) -> str:
    return ", ".join(str(v) for v in options.values())


def address_text(a: dict[str, str]) -> str:
    parts = [a["address1"], a["address2"], a["city"], f"{a['state']} {a['zip']}", a["country"]]
    return ", ".join(p for p in parts if p)


def spoken(text: str, lang: str) -> str:
    """What an ASR would write for a spoken turn: order ids read digit by digit, no punctuation."""
    sep = " " if lang == "en" else ""

    def digits(m: re.Match[str]) -> str:
        return "W" + sep + sep.join(_DIGITS[lang][int(d)] for d in m[1])

    text = re.sub(r"#W(\d+)", digits, text)
    if lang == "en":
        return re.sub(r"[,!?]|\.(?=\s|$)", "", text).lower().strip()
    return re.sub(r"[，。！？]", " ", text).strip()


class RetailWorld:
    """The retail data (`domains.retail.data.RetailData`) and the indexes the tasks draw from:
    each user's orders, whose name + zip is unique, and `pools`: task -> [(user id, argument)]."""

    def __init__(self, data: RetailData):
        self.users, self.orders, self.products = data.users, data.orders, data.products
        self.orders_of: dict[str, list[str]] = defaultdict(list)
        for oid, o in sorted(self.orders.items()):
            self.orders_of[o["user_id"]].append(oid)
        names = Counter(self._name_zip(u) for u in self.users.values())
        self.name_zip_ok = {uid for uid, u in self.users.items() if names[self._name_zip(u)] == 1}
        by: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for oid, o in sorted(self.orders.items()):
            if o["user_id"] in self.users:
                by[o["status"]].append((o["user_id"], oid))
                if o["status"] == "delivered" and self.swaps(oid):
                    by["exchangeable"].append((o["user_id"], oid))
        not_pending = by["processed"] + by["delivered"] + by["cancelled"]
        not_delivered = by["pending"] + by["processed"] + by["cancelled"]
        users = [(u, None) for u in sorted(self.users)]
        several = sum(bool(self.orders_of[u]) for u in self.users) > 1
        self.pools: dict[str, list[tuple[str, Any]]] = {
            "status": sorted(by["pending"] + not_pending),
            "cancel": by["pending"],
            "return": by["delivered"],
            "exchange": by["exchangeable"],
            "address": by["pending"],
            "default_address": users,
            "refuse_status": [(u, (k, o)) for k in ("cancel", "address") for u, o in not_pending]
            + [(u, (k, o)) for k in ("return", "exchange") for u, o in not_delivered],
            "refuse_other_user": users if several else [],
            "refuse_discount": users,
            "human": users,
        }

    @staticmethod
    def _name_zip(u: dict) -> tuple[str, str, str]:
        return u["first_name"].lower(), u["last_name"].lower(), u["zip"]

    def swaps(self, oid: str) -> list[tuple[dict, dict]]:
        """(order line, another available item of the same product) for each possible exchange."""
        out = []
        for line in self.orders[oid]["items"]:
            product = self.products.get(line["product_id"])
            for item in product["items"] if product else ():
                if item["available"] and item["id"] != line["item_id"]:
                    out.append((line, item))
        return out

    def order_result(self, oid: str) -> dict[str, Any]:
        """What get_order_details tells the agent, in short."""
        o = self.orders[oid]
        items = [
            {
                "item_id": i["item_id"],
                "name": i["name"],
                "options": i["options"],
                "price": i["price_cents"] / 100,
            }  # fmt: skip
            for i in o["items"]
        ]
        paid = [p["payment_method_id"] for p in o["payments"] if p["kind"] == "payment"]
        return {
            "order_id": oid,
            "status": o["status"],
            "items": items,
            "tracking_ids": [t for f in o["fulfillments"] for t in f["tracking_ids"]],
            "payment_method_id": paid[0] if paid else None,
        }


class Script:
    """One conversation being written: the turns so far, in one language, for one customer."""

    def __init__(self, world: RetailWorld, rng: random.Random, lang: str, uid: str, voice: bool):
        self.world, self.rng, self.lang, self.uid, self.voice = world, rng, lang, uid, voice
        self.user = world.users[uid]
        self.turns: list[ConvTurn] = []
        self.auth: str | None = None  # how the customer was found: "email" or "name_zip"

    # ---- turns and words

    def say(self, key: str, **slots: Any) -> str:
        return self.rng.choice(P[key][self.lang]).format(**slots)

    def customer(self, text: str, intent: str, screenshot: str | None = None) -> None:
        transcript = spoken(text, self.lang) if self.voice else None
        self.turns.append(ConvTurn("customer", text, transcript, screenshot, intent=intent))

    def agent(self, text: str, tool: str | None = None, args: dict | None = None, result: dict | None = None) -> None:  # fmt: skip
        action = TurnAction(tool, args or {}, result) if tool else None
        self.turns.append(ConvTurn("agent", text, action=action))

    def join(self, *parts: str) -> str:
        return ("" if self.lang == "zh" else " ").join(p for p in parts if p)

    def pick(self, en: str, zh: str) -> str:
        return zh if self.lang == "zh" else en

    def item(self, line: dict) -> str:
        name, values = self.product(line["name"]), values_text(line["options"])
        return self.pick(f"{name} ({values})", f"{name}（{values}）")

    def items(self, lines: list[dict]) -> str:
        return self.pick(", ", "、").join(self.item(x) for x in lines)

    def product(self, name: str) -> str:
        return self.pick(name, PRODUCTS_ZH.get(name, name))

    def method(self, mid: str, mine: bool = False) -> str:
        """A payment method as the agent says it ("your Visa card ending in 1234"), or as the
        customer does (`mine`: "my Visa card ending in 1234")."""
        m = next((m for m in self.user["payment_methods"] if m["id"] == mid), {})
        tail, brand = m.get("last_four") or mid[-4:], (m.get("brand") or "credit").title()
        en, zh = ("my", "我的") if mine else ("your", "您的")
        words = {
            "credit_card": (f"{en} {brand} card ending in {tail}", f"尾号 {tail} 的 {brand} 卡"),
            "paypal": (f"{en} PayPal account", f"{zh} PayPal 账户"),
            "gift_card": (f"{en} gift card ending in {tail}", f"尾号 {tail} 的礼品卡"),
        }
        return self.pick(*words.get(m.get("source"), (f"payment method {mid}", f"支付方式 {mid}")))

    def when(self, mid: str) -> str:
        return WHEN[self.lang]["now" if mid.startswith("gift_card") else "later"]

    def order_list(self) -> tuple[str, list[dict]]:
        """(the customer's orders as the agent lists them, list_user_orders' short result)"""
        orders = self.world.orders
        mine = [{"order_id": o, "status": orders[o]["status"]} for o in self.world.orders_of[self.uid]]  # fmt: skip
        said = [(x["order_id"], STATUS[self.lang][x["status"]]) for x in mine]
        text = self.pick(", ", "、").join(self.pick(f"{o} ({s})", f"{o}（{s}）") for o, s in said)
        return text or self.pick("none", "无"), mine

    def new_address(self) -> dict[str, str]:
        other = self.world.users[self.rng.choice(sorted(self.world.users))]
        unit = f"{self.rng.choice(UNITS)} {self.rng.randint(1, 999)}" if self.rng.random() < 0.6 else ""  # fmt: skip
        return {
            "address1": f"{self.rng.randint(1, 9999)} {self.rng.choice(STREETS)}",
            "address2": unit,
            "city": other["city"],
            "state": other["state"],
            "country": "USA",
            "zip": f"{self.rng.randint(10000, 99999)}",
        }

    # ---- moves shared by the tasks

    def open(self, key: str, intent: str) -> None:
        if self.rng.random() < 0.2:
            self.customer(self.say("greet"), "greeting")
            self.agent(self.say("greet_back"))
        self.customer(self.say(key), intent)

    def authenticate(self, intent: str, then: str, ask: str = "ask_auth") -> None:
        """Ask who the customer is (sometimes a mistyped email fails first), find them, and say
        `then` in the turn that carries the finder."""
        u, ok = self.user, self.uid in self.world.name_zip_ok
        self.agent(self.say(ask))
        r = self.rng.random()
        by_name = ok and r < 0.3
        if r > 0.9:
            local, _, domain = u["email"].partition("@")
            wrong = f"{local}{self.rng.randint(1, 9)}@{domain}"
            if wrong.lower() not in {x["email"].lower() for x in self.world.users.values()}:
                self.customer(self.say("give_email", email=wrong), intent)
                failed = {"error": "not_found"}
                self.agent(self.say("auth_failed"), "find_user_id_by_email", {"email": wrong}, failed)  # fmt: skip
                by_name = ok
        if by_name:
            self.auth, tool = "name_zip", "find_user_id_by_name_zip"
            args = {"first_name": u["first_name"], "last_name": u["last_name"], "zip": u["zip"]}
            self.customer(self.say("give_name_zip", first=args["first_name"], last=args["last_name"], zip=args["zip"]), intent)  # fmt: skip
        else:
            self.auth, tool, args = "email", "find_user_id_by_email", {"email": u["email"]}
            self.customer(self.say("give_email", email=u["email"]), intent)
        text = self.join(self.say("authed", first=u["first_name"]), then)
        self.agent(text, tool, args, {"user_id": self.uid})

    def which_order(self, oid: str, intent: str) -> None:
        """The customer names the order: typed, in a screenshot, or picked from their list."""
        r, o = self.rng.random(), self.world.orders[oid]
        if r < 0.12 and len(self.world.orders_of[self.uid]) > 1:
            self.customer(self.say("no_order_id"), intent)
            text, mine = self.order_list()
            self.agent(self.say("list_orders", orders=text), "list_user_orders", {"user_id": self.uid}, {"orders": mine})  # fmt: skip
            self.customer(self.say("give_order", order_id=oid), intent)
        elif r < 0.22 and not self.voice:
            status = STATUS[self.lang][o["status"]]
            lines = ["Order details", f"Order number: {oid}", f"Status: {status}"]
            if self.lang == "zh":
                lines = ["订单详情", f"订单编号：{oid}", f"状态：{status}"]
            shot = "\n".join([*lines, *(self.item(i) for i in o["items"][:3])])
            self.customer(self.say("screenshot"), intent, screenshot=shot)
        else:
            self.customer(self.say("give_order", order_id=oid), intent)

    def look_up(self, oid: str, text: str) -> None:
        self.agent(text, "get_order_details", {"order_id": oid}, self.world.order_result(oid))

    def confirm(self, question: str, yes_key: str = "yes", *action: Any) -> bool:
        """Ask (in a turn that may carry a read `action`: tool, args, result); True when the
        customer says yes (usually), False when they decline."""
        self.agent(question, *action)
        if self.rng.random() < 0.1:
            self.customer(self.say("no"), "deny")
            return False
        self.customer(self.say(yes_key), "affirm")
        return True

    def close(self, text: str, tool: str | None = None, args: dict | None = None, result: dict | None = None) -> None:  # fmt: skip
        """The agent's last words on the task (with the action that did it), "anything else?",
        then usually thanks and goodbye."""
        self.agent(self.join(text, self.say("anything_else")), tool, args, result)
        if self.rng.random() < 0.85:
            self.customer(self.say("thanks_bye"), "thanks_goodbye")
            self.agent(self.say("goodbye"))

    def transfer(self, en: str, zh: str) -> None:
        summary = {"summary": self.pick(en, zh)}
        self.agent(self.say("transfer"), "transfer_to_human_agents", summary, {"transferred": True})
