"""How the shop's policy reports a tool call: the refusal said to the customer, and an order's
status, items and tracking as reply slots (English or Chinese)."""

from __future__ import annotations

from typing import Any

from dialogue.policy.tooltypes import ToolResult
from dialogue.types import Decision

STATUS_ZH = {
    "pending": "待处理", "processed": "已处理", "delivered": "已送达", "cancelled": "已取消",
    "return requested": "已申请退货", "exchange requested": "已申请换货",
    "pending (items modified)": "待处理（商品已修改）",
}  # fmt: skip
WHY = {  # a refusal's code, said to the customer
    "not_pending": ("that order is no longer pending, so it cannot be changed or cancelled.", "该订单已不是待处理状态，无法修改或取消。"),
    "not_delivered": ("only delivered orders can be returned or exchanged.", "只有已送达的订单才能退货或换货。"),
    "wrong_user": ("I can only help with the account we verified in this conversation.", "我只能处理本次对话中已验证的账户。"),
    "not_found": ("I could not find that.", "没有找到相关信息。"),
    "policy": ("our policy does not allow it.", "公司政策不允许这样操作。"),
    "insufficient_balance": ("the gift card balance is not enough.", "礼品卡余额不足。"),
}  # fmt: skip


def refusal(result: ToolResult, language: str) -> Decision:
    en, zh = WHY.get(result.code, (result.error, result.error))
    return Decision(
        "refuse",
        "action_refused",
        {"why": zh if language == "zh" else en},
        reason=f"{result.code}: {result.error}",
    )


def status_name(status: str, language: str) -> str:
    return STATUS_ZH.get(status, status) if language == "zh" else status


def items_text(order: dict) -> str:
    return ", ".join(
        f"{i['name']} ({', '.join(str(v) for v in i['options'].values())})" for i in order["items"]
    )


def order_slots(order: dict, language: str) -> dict[str, Any]:
    ids = [t for f in order.get("fulfillments", []) for t in f["tracking_id"]]
    if ids:
        tracking = (
            f" 物流单号：{', '.join(ids)}。"
            if language == "zh"
            else f" Tracking number: {', '.join(ids)}."
        )
    else:
        tracking = ""
    return {
        "order_id": order["order_id"],
        "status": status_name(order["status"], language),
        "tracking": tracking,
        "items": items_text(order),
    }
