"""The types every tool shares, the registered ones (`dialogue.policy.toolkit`) and a pack's declared
ones (`dialogue.policy.pack_tools`) alike: a result, a refusal, a write's proposal, the action
waiting for a yes, and the `Tool` seam, `fn(session, **args) -> ToolResult` with a JSON schema."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from dialogue.types import Action

# code -> what it means; `ToolResult.code` is one of these whenever ok is False.
CODES = {
    "invalid_argument": "unknown tool, or an argument missing, unknown or of the wrong kind",
    "not_authenticated": "find the user by email or by name and zip first",
    "wrong_user": "it belongs to another user than the one this conversation serves",
    "not_found": "no such user, order, product, item or payment method",
    "ambiguous": "more than one user matches; ask for the email instead",
    "not_pending": "only a pending order can be cancelled or modified",
    "not_delivered": "only a delivered order can be returned or exchanged",
    "unavailable": "the new item cannot be ordered now",
    "insufficient_balance": "the balance does not cover the amount",
    "policy": "another rule of the written policy forbids it",
    "needs_confirmation": "not done yet: ask the user, then call confirm(yes) with the answer",
    "nothing_pending": "confirm() was called with no action waiting",
    "declined": "the user said no; nothing was changed",
    "backend_error": "the database failed; nothing was changed, it may be retried",
    "wrong_state": "the record's state does not allow this write (a tool's declared state rule)",
    "remote_error": "a tool served over HTTP failed or answered badly; nothing is known to have changed",
}


@dataclass(frozen=True)
class ToolResult:
    """What a tool returns: `data` when ok, else an `error` for people and a `code` from CODES."""

    ok: bool
    data: dict[str, Any]
    error: str = ""
    code: str = ""

    def to_dict(self) -> dict[str, Any]:
        if self.ok:
            return {"ok": True, **self.data}
        return {"ok": False, "error": self.error, "code": self.code, **self.data}


class Refusal(Exception):
    """Raised inside a tool when a rule refuses the call; becomes a ToolResult, nothing kept."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Proposal:
    """What a write tool would do, for the user to confirm: a summary per language, and numbers."""

    summary: dict[str, str]  # language ("en", "zh") -> one paragraph
    details: dict[str, Any]


@dataclass(frozen=True)
class PendingAction:
    """The one write waiting for the user's yes: exactly this tool with exactly these arguments."""

    tool: str
    args: dict[str, Any]
    summary: dict[str, str]
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "args": self.args, "summary": self.summary, **self.details}


class Tool(NamedTuple):
    fn: Callable[..., ToolResult]  # fn(session, **args)
    # JSON schema of the arguments; its "description" says what the tool does
    params: dict[str, Any]
    writes: bool  # changes the back office: needs the user's confirmation, and is audited


@dataclass(frozen=True)
class ToolCall:
    """What a pack's Python tool is given besides its arguments: `fn(call, **args) -> dict`. It
    returns its data, or raises `Refusal(code, message)` when a rule says no; a write writes and
    audits in one transaction of its own."""

    office: Any  # the pack's back office (declared in domain.toml [tools] backoffice)
    customer_id: str | None  # the authenticated customer, None before authentication
    session_id: str  # the conversation, for the audit row


def action(tool: str, args: dict, result: ToolResult) -> Action:
    """The turn's record of a tool call: its arguments and its data, or its error and code."""
    data = result.data if result.ok else {"error": result.error, "code": result.code, **result.data}
    return Action(tool, dict(args), result.ok, data)
