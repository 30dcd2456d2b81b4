"""What the agent did, as the side panel says it to the person trying the demo: each tool action
and each handoff reason in the page's language, with the values a customer knows (an order
number, an email) and none of the back office's own ids (account and payment method ids, item
ids) or JSON. The records and the History tab keep the tool calls as they were made.

    action_line(action, "zh")    # "✓ 查询订单 #W5918442"
    reason_words("the customer asked for a person", "handoff", "zh")   # "客户要求人工服务"
"""

from __future__ import annotations

import re
from typing import Any

# the sample shop's tools (domains/retail): (English, Chinese), {order_id} filled in when given
TOOL_WORDS = {
    "find_user_id_by_email": ("Found the account by its email {email}", "按邮箱 {email} 找到账户"),
    "find_user_id_by_name_zip": ("Found the account by name and zip code", "按姓名和邮编找到账户"),
    "list_user_orders": ("Listed the account's orders", "列出账户的订单"),
    "get_user_details": ("Looked up the account", "查询账户"),
    "get_order_details": ("Looked up order {order_id}", "查询订单 {order_id}"),
    "get_product_details": ("Looked up a product", "查询商品"),
    "cancel_pending_order": ("Cancel order {order_id}", "取消订单 {order_id}"),
    "return_delivered_order_items": ("Return items of order {order_id}", "退货：订单 {order_id}"),
    "exchange_delivered_order_items": ("Exchange items of order {order_id}", "换货：订单 {order_id}"),
    "modify_pending_order_address": ("Change the address of order {order_id}", "修改订单 {order_id} 的地址"),
    "modify_pending_order_items": ("Change the items of order {order_id}", "修改订单 {order_id} 的商品"),
    "modify_pending_order_payment": ("Change how order {order_id} is paid", "修改订单 {order_id} 的支付方式"),
    "modify_user_address": ("Change the account's address", "修改账户地址"),
    "transfer_to_human_agents": ("Handed over to a colleague", "转交人工客服"),
}  # fmt: skip
SHOWN_ARGS = ("order_id", "email")  # what a customer knows; other arguments are the back office's
STATUS = {
    "en": {"waits": "waits for a yes", "refused": "refused"},
    "zh": {"waits": "等待确认", "refused": "被拒绝"},
}
_TOOL_NAME = re.compile(r"\b[a-z]+(?:_[a-z]+){2,}\b")  # find_user_id_by_email, not "ask"
# handoff reasons of the policies (domains/retail/policy.py, dialogue/policy/declared.py) in Chinese
REASONS_ZH = (
    (re.compile(r"the customer asked for a person"), "客户要求人工服务"),
    (re.compile(r"strong (?:negative )?feeling \((.*)\)"), r"客户情绪强烈（\1）"),
    (re.compile(r"(\d+) turns in a row without help.*"), r"连续 \1 轮未能解决"),
    (re.compile(r"(\S+) needs a colleague for now"), r"\1 目前需要人工办理"),
    (re.compile(r"suspected fraud.*"), "疑似欺诈"),
)


def action_words(tool: str, args: dict[str, Any], ui: str = "en") -> str:
    """One tool action in words: the sample shop's tools as a sentence, any other tool by its
    name as words ("verify customer"), with only the order number and email of its arguments."""
    shown = {k: str(args[k]) for k in SHOWN_ARGS if isinstance(args.get(k), str | int)}
    if tool in TOOL_WORDS:
        text = TOOL_WORDS[tool][1 if ui == "zh" else 0]
        for key in SHOWN_ARGS:  # an argument the call did not have leaves no gap
            text = text.replace(f"{{{key}}}", shown.get(key, "")).replace("  ", " ")
        return text.strip()
    said = tool.replace("_", " ").strip().capitalize()
    return f"{said} ({', '.join(shown.values())})" if shown else said


def action_line(action, ui: str = "en") -> str:
    """The panel's line for one `dialogue.types.Action`: ✓ done, ✗ waiting for a yes or refused."""
    words = STATUS.get(ui, STATUS["en"])
    if action.ok:
        return f"✓ {action_words(action.tool, action.args, ui)}"
    why = words["waits"] if (action.result or {}).get("code") == "needs_confirmation" else words["refused"]  # fmt: skip
    return f"✗ {action_words(action.tool, action.args, ui)} ({why})"


def _tool_said(m: re.Match) -> str:
    if m[0] in TOOL_WORDS:
        return TOOL_WORDS[m[0]][0].replace(" {order_id}", "").replace(" {email}", "").lower()
    return m[0].replace("_", " ")


def reason_words(reason: str, kind: str, ui: str = "en", fallback: str = "") -> str:
    """A decision's reason in the page's language, a tool it names in words ("confirm return
    items of order proposed"); a reason with no Chinese wording shows `fallback` (the decision
    kind in Chinese) rather than English."""
    if ui != "zh":
        return _TOOL_NAME.sub(_tool_said, reason or kind)
    for pattern, zh in REASONS_ZH:
        if pattern.fullmatch(reason or ""):
            return pattern.sub(zh, reason)
    return fallback or kind
