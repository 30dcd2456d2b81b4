"""A domain pack's declared tools, run: `PackTools(declarations, office)` holds one `Tool` per
declaration (`fn(session, **args) -> ToolResult`, the same seam as the registered tools of dialogue.policy.toolkit) and makes a
conversation's `PackSession` (`tools.session(office, session_id)`).

`PackSession.call(name, args)` checks the arguments against the tool's JSON Schema and the
authentication; runs a read; for a write, checks the declared state rule with the declared read
(a frozen card may be unfrozen, a lost one not), and keeps the write as the one action waiting
for a yes, with its summary in each language, answering "needs_confirmation".
`session.confirm(yes)` then runs exactly that write once, the state checked again, or drops it.

An implementation is Python (`fn(call: ToolCall, **args) -> dict`, raising `Refusal` to say no;
a write writes and audits in one transaction of its own) or HTTP: POSTed its arguments as JSON
(headers X-Customer-Id and X-Session-Id) and answering a JSON object, or
{"ok": false, "code": ..., "error": ...} to refuse. Nothing here raises to the caller.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dialogue.domain.pack import DomainError
from dialogue.policy.argcheck import check_args, with_defaults
from dialogue.policy.declare import Declarations, ToolDecl, Words
from dialogue.policy.tooltypes import CODES, PendingAction, Refusal, Tool, ToolCall, ToolResult

logger = logging.getLogger(__name__)

HTTP_TIMEOUT_S = 10.0  # an HTTP tool that answers later than this failed


class _Slots(dict):
    def __missing__(self, key: str) -> str:
        return ""


def say(words: Words, language: str, slots: dict[str, Any], values: dict[str, Words]) -> str:
    """`words` in `language` (English when it has none) with `slots` filled; a value with words
    of its own in that language ("frozen" -> "已冻结") is said with them."""
    text = words.get(language) or words.get("en", "")
    shown = {k: values.get(str(v), {}).get(language, v) if isinstance(v, str) else v
             for k, v in slots.items()}  # fmt: skip
    return text.format_map(_Slots(shown)).strip()


def implementation(decl: ToolDecl, root: Path) -> Callable[[ToolCall, dict[str, Any]], Any]:
    """The callable behind a declaration: (call, args) -> data; DomainError when it is missing."""
    if decl.http:
        return lambda call, args: _post(decl.http, call, args)
    module_name, _, function = decl.python.partition(":")
    try:
        if module_name.endswith(".py"):  # a file of the pack, loaded by path
            path = root / module_name
            spec = importlib.util.spec_from_file_location(f"cca_pack_{root.name}_{path.stem}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        fn = getattr(module, function)
    except (ImportError, AttributeError, OSError, SyntaxError) as e:
        raise DomainError(f"{root / 'tools.json'}:{decl.line}: {decl.name}: cannot load {decl.python!r} ({e}); "
                          "give an importable module:function or a file.py:function of the pack") from None  # fmt: skip
    return lambda call, args: fn(call, **args)


def _post(url: str, call: ToolCall, args: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(args).encode(), method="POST",
        headers={"Content-Type": "application/json", "X-Customer-Id": call.customer_id or "",
                 "X-Session-Id": call.session_id},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            data = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        try:
            data = json.loads(e.read().decode("utf-8"))
        except ValueError:
            raise Refusal("remote_error", f"{url} answered HTTP {e.code}") from None
    except (urllib.error.URLError, TimeoutError, ValueError, OSError) as e:
        raise Refusal("remote_error", f"{url} failed: {e}") from None
    if not isinstance(data, dict):
        raise Refusal("remote_error", f"{url} answered {type(data).__name__}, not a JSON object")
    if data.get("ok") is False:
        code = data.get("code") if data.get("code") in CODES else "remote_error"
        raise Refusal(code, str(data.get("error", "refused")))
    return data


class PackTools:
    """A pack's tools over its back office: one set per agent, no registry filled by imports."""

    def __init__(self, declarations: Declarations, office: Any = None):
        self.declarations = declarations
        self.office = office
        self.decls = declarations.tools
        root = declarations.pack.root
        self._impls = {name: implementation(d, root) for name, d in self.decls.items()}
        self.tools: dict[str, Tool] = {name: self._tool(d) for name, d in self.decls.items()}

    def _tool(self, decl: ToolDecl) -> Tool:
        def fn(session: PackSession, **args: Any) -> ToolResult:
            return session.call(decl.name, args)

        fn.__name__ = fn.__qualname__ = decl.name
        fn.__doc__ = decl.description
        params = {"type": "object", "description": decl.description, "properties": {},
                  "required": [], **decl.parameters}  # fmt: skip
        return Tool(fn, params, decl.writes)

    def session(self, office: Any = None, session_id: str | None = None) -> PackSession:
        return PackSession(self, self.office if office is None else office, session_id)

    def specs(self) -> list[dict[str, Any]]:
        """The tools as OpenAI-style function specs, for a model's prompt."""
        return [{"type": "function", "function": {"name": n, "description": d.description,
                 "parameters": d.parameters}} for n, d in self.decls.items()]  # fmt: skip


class PackSession:
    """One conversation with a pack's tools: the authenticated customer and the pending write."""

    def __init__(self, tools: PackTools, office: Any, session_id: str | None = None):
        self.pack_tools = tools
        self.office = office
        self.session_id = session_id or uuid.uuid4().hex
        self.user_id: str | None = None  # the authenticated customer
        self.pending: PendingAction | None = None

    def call(self, name: str, args: dict[str, Any] | None = None) -> ToolResult:
        args = {} if args is None else args
        decl = self.pack_tools.decls.get(name)
        if decl is None:
            return self._refused(name, args, "invalid_argument", f"unknown tool {name!r}; available tools = {sorted(self.pack_tools.decls)}")  # fmt: skip
        if decl.writes:
            self.pending = None  # any write call replaces the action waiting for a yes
        problem = check_args({"type": "object", **decl.parameters}, args)
        if problem:
            return self._refused(name, args, "invalid_argument", f"{name}: {problem}")
        if self.user_id is None and not decl.open:
            return self._refused(name, args, "not_authenticated", "authenticate the customer first")
        args = with_defaults(decl.parameters, args)
        if not decl.writes:
            return self._run(decl, args)
        record = self._state(decl, args)
        if not isinstance(record, dict):
            return record
        values = self.pack_tools.declarations.values
        summary = {
            lang: say(decl.summary, lang, {**record, **args}, values) for lang in decl.summary
        }
        self.pending = PendingAction(name, args, summary, {"record": record})
        logger.info(
            "session %s: %s waits for confirmation: %s", self.session_id, name, summary.get("en")
        )
        return ToolResult(False, {"confirmation": self.pending.to_dict()},
                          f"not done yet: ask the customer to confirm ({summary.get('en')})", "needs_confirmation")  # fmt: skip

    def confirm(self, yes: bool) -> ToolResult:
        """The customer's answer to the pending write: run it once (checked again) or drop it."""
        action, self.pending = self.pending, None
        if action is None:
            return self._refused("confirm", {}, "nothing_pending", "nothing waits for a yes")
        if not yes:
            logger.info(
                "session %s: the customer declined %s %s", self.session_id, action.tool, action.args
            )
            return ToolResult(False, {"declined": action.to_dict()}, "the customer said no; nothing was changed", "declined")  # fmt: skip
        decl = self.pack_tools.decls[action.tool]
        record = self._state(decl, action.args)
        if not isinstance(record, dict):
            return record
        result = self._run(decl, dict(action.args))
        if result.ok:
            logger.info("session %s: %s done %s", self.session_id, action.tool, action.args)
        return result

    def _state(self, decl: ToolDecl, args: dict[str, Any]) -> dict[str, Any] | ToolResult:
        """The write's record read by its state rule's tool (its data), or the refusal."""
        rule = decl.state
        if rule is None:
            return {}
        read = self.pack_tools.decls[rule.read]
        wanted = {k: v for k, v in args.items() if k in read.parameters.get("properties", {})}
        result = self._run(read, wanted)
        if not result.ok:
            return result
        state = result.data.get(rule.field)
        if state not in rule.allowed:
            values = self.pack_tools.declarations.values
            why = {
                lang: say(rule.refuse, lang, {**result.data, **args}, values)
                for lang in rule.refuse
            }
            message = (
                why.get("en")
                or f"{decl.name} needs {rule.field} in {list(rule.allowed)}, not {state!r}"
            )
            return self._refused(decl.name, args, "wrong_state", message, {"state": state, "why": why, "record": result.data})  # fmt: skip
        return result.data

    def _run(self, decl: ToolDecl, args: dict[str, Any]) -> ToolResult:
        call = ToolCall(self.office, self.user_id, self.session_id)
        try:
            data = self.pack_tools._impls[decl.name](call, args)
        except Refusal as r:
            return self._refused(decl.name, args, r.code if r.code in CODES else "policy", str(r))
        except Exception as e:  # a database or a bug: the conversation goes on
            logger.exception("session %s: %s failed", self.session_id, decl.name)
            return ToolResult(False, {}, f"the back office failed ({type(e).__name__}); nothing was changed, try again", "backend_error")  # fmt: skip
        if not isinstance(data, dict):
            return ToolResult(False, {}, f"{decl.name} returned {type(data).__name__}, not a dict", "backend_error")  # fmt: skip
        return ToolResult(True, data)

    def _refused(self, name: str, args: Any, code: str, message: str, data: dict | None = None) -> ToolResult:  # fmt: skip
        logger.info(
            "session %s: refused %s %s: %s (%s)", self.session_id, name, args, message, code
        )
        return ToolResult(False, data or {}, message, code)


def open_office(declarations: Declarations, url: str | None = None) -> Any:
    """The pack's back office (domain.toml [tools] backoffice = "module:Class"), opened with
    `Class.open(url)` (default: [tools] db); None when the pack declares none."""
    if not declarations.backoffice:
        return None
    module_name, _, name = declarations.backoffice.partition(":")
    where = declarations.pack.root / "domain.toml"
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as e:
        raise DomainError(f"{where}: [tools] backoffice = {declarations.backoffice!r} cannot be loaded ({e}); give an importable module:Class") from None  # fmt: skip
    return cls.open(url or declarations.db)
