"""The machinery under the agent's tools: results, the conversation's session, the registry, the
confirmation protocol and the audit row. A pack registers its tools by importing this (the sample
pack: `domains.retail.tools`).

A tool body is `body(ctx, **args)`, registered with `@tool(description, properties, writes=...)`.
It raises `Refusal(code, message)` when a rule says no, and a write body returns a `Proposal`
when `ctx.execute` is False (checked, described, nothing written) and its `ToolResult` when it is
True (written). `call(session, name, args)` checks the arguments against the schema and the
authentication, then either runs a read, or for a write stores the proposal as the session's one
pending action and answers code "needs_confirmation"; `session.confirm(yes)` then runs exactly that
action once, checking everything again, or drops it. Any later write call replaces the pending
action. An executed write and its audit row commit together or not at all; a refusal, a failure
or a proposal commits nothing. Nothing here raises to the caller.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dialogue.policy.tooltypes import (  # noqa: F401 (the types every tool shares, named here too)
    CODES,
    PendingAction,
    Proposal,
    Refusal,
    Tool,
    ToolResult,
)

logger = logging.getLogger(__name__)


class ToolSession:
    """One conversation: the back office, the authenticated user and the pending confirmation."""

    def __init__(self, office: Any, session_id: str | None = None):
        # office: the back office (the sample pack's domains.retail.backoffice): reading() gives a
        # database session, audit_entry(**fields) the audit row of a write
        self.office = office
        self.session_id = session_id or uuid.uuid4().hex
        self.user_id: str | None = None
        self.pending: PendingAction | None = None

    def call(self, name: str, args: dict[str, Any] | None = None) -> ToolResult:
        return call(self, name, args)

    def confirm(self, yes: bool) -> ToolResult:
        """The user's answer to the pending action: run it once (checked again) or drop it."""
        action, self.pending = self.pending, None
        if action is None:
            return _refused(
                self,
                "confirm",
                {},
                "nothing_pending",
                "nothing waits for a yes: call the write tool first",
            )
        if not yes:
            logger.info(
                "session %s: the user declined %s %s", self.session_id, action.tool, action.args
            )
            return ToolResult(
                False,
                {"declined": action.to_dict()},
                "the user said no; nothing was changed",
                "declined",
            )
        return _run(self, action.tool, dict(action.args), execute=True)


@dataclass(frozen=True)
class Context:
    """What a tool's body sees: the conversation, a database session, and whether to write."""

    session: ToolSession
    db: Session
    execute: bool  # False: check and describe the write only (a Proposal); True: do it


TOOLS: dict[str, Tool] = {}
OPEN_TOOLS: set[str] = set()  # callable before authentication
_BODIES: dict[str, Callable[..., ToolResult | Proposal]] = {}


def tool(
    description: str,
    properties: dict[str, dict[str, Any]],
    *,
    writes: bool = False,
    open_: bool = False,
):
    """Register `body(ctx, **args)` as a tool; the name bound in the module is its public form."""

    def register(body: Callable[..., ToolResult | Proposal]) -> Callable[..., ToolResult]:
        name = body.__name__
        names = list(properties)

        def public(session: ToolSession, *args: Any, **kwargs: Any) -> ToolResult:
            if len(args) > len(names):
                return _refused(
                    session,
                    name,
                    kwargs,
                    "invalid_argument",
                    f"{name} takes {len(names)} arguments: {names}",
                )
            return call(session, name, {**dict(zip(names, args, strict=False)), **kwargs})

        public.__name__ = public.__qualname__ = name
        public.__doc__ = description
        params = {
            "type": "object",
            "description": description,
            "properties": properties,
            "required": names,
        }
        TOOLS[name] = Tool(public, params, writes)
        _BODIES[name] = body
        if open_:
            OPEN_TOOLS.add(name)
        return public

    return register


def tool_specs() -> list[dict[str, Any]]:
    """The tools as OpenAI-style function specs, for a model's prompt or chat template."""
    specs = []
    for name, t in TOOLS.items():
        params = {k: v for k, v in t.params.items() if k != "description"}
        specs.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": t.params["description"],
                    "parameters": params,
                },
            }
        )
    return specs


def check_args(name: str, params: dict[str, Any], args: Any) -> str:
    """What is wrong with `args` for the tool's schema, or "" when nothing is."""
    if not isinstance(args, dict):
        return f"{name}: arguments must be an object of {list(params['properties'])}, got {type(args).__name__}"
    props = params["properties"]
    unknown = sorted(set(args) - set(props))
    if unknown:
        return f"{name}: unknown argument {unknown[0]!r}; it takes {list(props)}"
    for key in params["required"]:
        if key not in args:
            return f"{name}: missing argument {key!r} ({props[key]['description']})"
    for key, value in args.items():
        spec = props[key]
        if spec["type"] == "string" and not isinstance(value, str):
            return f"{name}: {key} must be a string, got {value!r:.60}"
        if spec["type"] == "array" and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            return f"{name}: {key} must be a list of strings, got {value!r:.60}"
        if "enum" in spec and value not in spec["enum"]:
            return f"{name}: {key} must be one of {spec['enum']}, got {value!r:.60}"
    return ""


def call(session: ToolSession, name: str, args: dict[str, Any] | None = None) -> ToolResult:
    """Call tool `name` with `args` for the conversation `session`; never raises."""
    args = {} if args is None else args
    entry = TOOLS.get(name)
    if entry is None:
        return _refused(
            session,
            str(name),
            args,
            "invalid_argument",
            f"unknown tool {name!r}; available tools = {sorted(TOOLS)}",
        )
    if entry.writes:
        session.pending = None  # any write call replaces the action waiting for a yes
    problem = check_args(name, entry.params, args)
    if problem:
        return _refused(session, name, args, "invalid_argument", problem)
    if session.user_id is None and name not in OPEN_TOOLS:
        how = "find_user_id_by_email or find_user_id_by_name_zip"
        return _refused(
            session,
            name,
            args,
            "not_authenticated",
            f"authenticate the user first ({how}); policy requires it even when they give a user id",
        )
    return _run(session, name, dict(args), execute=not entry.writes)


def _refused(session: ToolSession, name: str, args: Any, code: str, message: str) -> ToolResult:
    logger.info("session %s: refused %s %s: %s (%s)", session.session_id, name, args, message, code)
    return ToolResult(False, {}, message, code)


def _run(session: ToolSession, name: str, args: dict[str, Any], *, execute: bool) -> ToolResult:
    """Run a tool's body in one database session; commit a write and its audit row together."""
    writes = TOOLS[name].writes
    try:
        with session.office.reading() as db:
            out = _BODIES[name](Context(session, db, execute), **args)
            if isinstance(out, Proposal):
                session.pending = PendingAction(name, args, out.summary, out.details)
                logger.info(
                    "session %s: %s waits for confirmation: %s",
                    session.session_id,
                    name,
                    out.summary["en"],
                )
                return ToolResult(
                    False,
                    {"confirmation": session.pending.to_dict()},
                    f"not done yet: ask the user to confirm ({out.summary['en']}) and pass their answer to confirm(yes)",
                    "needs_confirmation",
                )
            if writes and execute and out.ok:
                db.add(
                    session.office.audit_entry(
                        at=datetime.now(UTC),
                        session_id=session.session_id,
                        user_id=session.user_id,
                        tool=name,
                        args=args,
                        result=out.data,
                    )
                )
                db.commit()
                logger.info("session %s: %s done %s", session.session_id, name, args)
            return out  # a read, or a write that did not go through: never committed
    except Refusal as r:
        return _refused(session, name, args, r.code, str(r))
    except SQLAlchemyError as e:
        logger.exception("session %s: %s failed in the database", session.session_id, name)
        return ToolResult(
            False,
            {},
            f"the back office failed ({type(e).__name__}); nothing was changed, try again",
            "backend_error",
        )
