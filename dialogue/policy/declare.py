"""A domain pack's tools, policy, slots and reply templates, read from what the pack declares:

    domain.toml  [tools] file (tools.json), backoffice ("module:Class", opened with .open(url)),
                 db (its default URL); [policy] (authentication, tasks, handoff, knowledge);
                 [slots] (what a turn can give a task); [templates] file (templates.toml)
    tools.json   [{name, description, parameters (JSON Schema), kind: read|write, python:
                 "module:function" or "file.py:function" | http: URL, summary {en, zh} (writes),
                 done {en, zh} (writes), reply {en, zh} and item {en, zh} (reads),
                 state {read, field, allowed, refuse {en, zh}} (writes), open (before auth)}]

`load_declarations(pack) -> Declarations` reads them all, or raises DomainError naming the file,
the line and the fix. `dialogue.policy.pack_tools` runs the tools and
`dialogue.policy.declared` decides each turn from them.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialogue.domain.pack import PACK_FILE, DomainError, DomainPack
from dialogue.policy.argcheck import check_schema

KINDS = ("read", "write")
# the policy's own replies; a pack's templates.toml gives each in its languages
REPLIES = ("greeting", "goodbye", "offer_help", "out_of_scope", "ask_auth", "auth_failed",
           "confirm", "ask_yes_no", "dropped", "refused", "handoff", "kb_none", "clarify")  # fmt: skip
Words = dict[str, str]  # language -> text with {slot} marks


@dataclass(frozen=True)
class StateRule:
    read: str  # the read tool that gives the record (called with the write's arguments)
    field: str  # the field of its result that holds the state
    allowed: tuple[str, ...]  # the states in which the write may run
    refuse: Words  # what the customer hears otherwise, with the record's fields as slots


@dataclass(frozen=True)
class ToolDecl:
    name: str  # the tool's name, as the policy and the records call it
    description: str  # what it does, for people and for a model's tool list
    parameters: dict[str, Any]  # JSON Schema of its arguments (type object)
    kind: str  # "read" or "write"; a write needs the customer's yes and is audited
    python: str = ""  # "module:function" or "file.py:function" (relative to the pack)
    http: str = ""  # or a URL that is POSTed the arguments as JSON and answers JSON
    open: bool = False  # callable before the customer is authenticated (the check itself)
    summary: Words = field(default_factory=dict)  # a write's confirmation question's first part
    done: Words = field(default_factory=dict)  # said after a write ran
    reply: Words = field(default_factory=dict)  # said with a read's result
    item: Words = field(default_factory=dict)  # one element of a list in a read's result
    state: StateRule | None = None  # a write runs only in these states of its record
    line: int = 0  # where it is declared in tools.json

    @property
    def writes(self) -> bool:
        return self.kind == "write"


@dataclass(frozen=True)
class SlotDecl:
    name: str  # the argument it fills (a tool parameter of the same name)
    entity: str = ""  # an NLU entity type that gives it ("email", "date")
    pattern: str = ""  # or a regex over the turn; its first group (or the match) is the value
    values: dict[str, dict[str, tuple[str, ...]]] = field(
        default_factory=dict
    )  # value -> lang -> regexes
    prompt: Words = field(default_factory=dict)  # the question that asks for it
    choose: dict[str, Any] = field(
        default_factory=dict
    )  # {tool, list, key, match, item}: pick from a read


@dataclass(frozen=True)
class TaskDecl:
    name: str  # the task, as its cues and the records name it
    tool: str  # the tool it ends with
    slots: tuple[str, ...]  # what to collect first, in order
    cues: dict[str, tuple[str, ...]]  # language -> regexes that name the task
    intents: tuple[str, ...] = ()  # intents that start it when no cue names another task


@dataclass(frozen=True)
class AuthDecl:
    tool: str  # the open read tool that checks the factors
    factors: tuple[tuple[str, ...], ...]  # any one of these sets of slots authenticates
    keep: tuple[str, ...] = ()  # factors kept as slots afterwards (a card's last digits)
    id_field: str = "customer_id"  # the field of the tool's result naming the customer
    name_field: str = "name"  # and the one naming them in the reply


@dataclass(frozen=True)
class PolicyDecl:
    auth: AuthDecl | None  # None: no tool needs authentication
    tasks: tuple[TaskDecl, ...]  # in the order their cues are tried
    knowledge_intents: tuple[str, ...] = ()  # answered from the knowledge base, no account
    rule_cues: dict[str, tuple[str, ...]] = field(default_factory=dict)  # a question about rules
    handoff_intents: tuple[str, ...] = ()  # hand over when the intent model is sure of one
    handoff_cues: dict[str, tuple[str, ...]] = field(default_factory=dict)  # hand over on these
    smalltalk: dict[str, dict[str, tuple[str, ...]]] = field(
        default_factory=dict
    )  # greeting, goodbye
    anger_handoff: float = 0.6  # hand over at this much anger
    frustration_handoff: float = 0.75  # or this much frustration
    max_failures: int = 2  # hand over after this many unhelpful turns in a row
    task_confidence: float = 0.6  # an intent starts a task from this confidence
    handoff_confidence: float = 0.7  # a handoff intent counts from this confidence
    upset: float = 0.3  # from this anger or frustration the reply says sorry first


@dataclass(frozen=True)
class Declarations:
    pack: DomainPack
    tools: dict[str, ToolDecl]
    policy: PolicyDecl
    slots: dict[str, SlotDecl]
    templates: dict[str, Words]  # REPLIES and any other key -> language -> text
    values: dict[str, Words]  # a value's words per language ("frozen" -> {"zh": "已冻结"})
    backoffice: str  # "module:Class" of the back office
    db: str  # its default URL


def line_of(path: Path, needle: str) -> int:
    """The first line of `path` that holds `needle` (1-based), 0 when none does."""
    try:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if needle in line:
                return n
    except OSError:
        pass
    return 0


def _fail(path: Path, needle: str, message: str) -> DomainError:
    line = line_of(path, needle) if needle else 0
    return DomainError(f"{path}{f':{line}' if line else ''}: {message}")


def _words(value: Any, path: Path, needle: str, what: str) -> Words:
    if value in (None, {}):
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _fail(path, needle, f'{what} must be a table of language -> text, e.g. {{en = "...", zh = "..."}}')  # fmt: skip
    return dict(value)


def _patterns(value: Any, path: Path, needle: str, what: str) -> dict[str, tuple[str, ...]]:
    if not value:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
        raise _fail(path, needle, f"{what} must be a table of language -> list of regexes")
    for patterns in value.values():
        for p in patterns:
            try:
                re.compile(p)
            except re.error as e:
                raise _fail(path, p[:30], f"{what}: bad regex {p!r} ({e})") from None
    return {k: tuple(v) for k, v in value.items()}


def load_tools(path: Path) -> dict[str, ToolDecl]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise DomainError(f"{path}: cannot read it ({e}); [tools] file names it") from None
    except json.JSONDecodeError as e:
        raise DomainError(f"{path}:{e.lineno}: {e.msg}; fix the JSON") from None
    if not isinstance(data, list):
        raise DomainError(f"{path}:1: a list of tools [{{...}}, ...] is expected")
    tools: dict[str, ToolDecl] = {}
    for spec in data:
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise _fail(path, json.dumps(name) if name else "{", f"each tool needs a name like freeze_card, got {name!r}")  # fmt: skip
        where = f'"{name}"'
        if name in tools:
            raise _fail(path, where, f"tool {name!r} is declared twice")
        params = spec.get("parameters", {"type": "object", "properties": {}})
        problem = check_schema(params)
        if problem:
            raise _fail(path, where, f"{name}: parameters: {problem}")
        kind = spec.get("kind")
        if kind not in KINDS:
            raise _fail(path, where, f'{name}: kind must be "read" or "write", got {kind!r}')
        python, http = spec.get("python", ""), spec.get("http", "")
        if bool(python) == bool(http):
            raise _fail(path, where, f'{name}: give one implementation: "python": "module:function" or "http": "https://..."')  # fmt: skip
        if python and ":" not in python:
            raise _fail(path, where, f'{name}: python = {python!r}; write "module:function"')
        state = spec.get("state")
        rule = None
        if state is not None:
            if not isinstance(state, dict) or not {"read", "field", "allowed"} <= set(state):
                raise _fail(path, where, f"{name}: state needs read, field and allowed")
            rule = StateRule(state["read"], state["field"], tuple(state["allowed"]),
                             _words(state.get("refuse"), path, where, f"{name}: state.refuse"))  # fmt: skip
        tool = ToolDecl(
            name=name, description=str(spec.get("description", "")), parameters=params,
            kind=kind, python=python, http=http, open=bool(spec.get("open", False)),
            summary=_words(spec.get("summary"), path, where, f"{name}: summary"),
            done=_words(spec.get("done"), path, where, f"{name}: done"),
            reply=_words(spec.get("reply"), path, where, f"{name}: reply"),
            item=_words(spec.get("item"), path, where, f"{name}: item"),
            state=rule, line=line_of(path, where),
        )  # fmt: skip
        if tool.writes and not tool.summary.get("en"):
            raise _fail(path, where, f"{name}: a write needs a summary {{en, zh}} for the confirmation question")  # fmt: skip
        if not tool.description:
            raise _fail(path, where, f"{name}: give a description of what the tool does")
        tools[name] = tool
    for tool in tools.values():
        if tool.state and tool.state.read not in tools:
            raise _fail(path, f'"{tool.name}"', f"{tool.name}: state.read names no tool ({tool.state.read!r}); tools: {sorted(tools)}")  # fmt: skip
    return tools


def load_declarations(pack: DomainPack) -> Declarations:
    """Everything the pack declares for its tools, policy, slots and templates."""
    toml = pack.root / PACK_FILE
    tables = pack.tables
    tools_table = tables.get("tools", {})
    if not tools_table.get("file"):
        raise _fail(toml, "[tools]", '[tools] needs file = "tools.json" (the tools, with JSON Schema)')  # fmt: skip
    tools = load_tools(pack.root / tools_table["file"])
    backoffice = str(tools_table.get("backoffice", ""))
    if backoffice and ":" not in backoffice:
        raise _fail(
            toml, "backoffice", f'[tools] backoffice = {backoffice!r}; write "module:Class"'
        )
    slots = {}
    for name, spec in tables.get("slots", {}).items():
        where = f"[slots.{name}]"
        if not isinstance(spec, dict):
            raise _fail(toml, name, f"{where} must be a table")
        if spec.get("pattern"):
            try:
                re.compile(spec["pattern"])
            except re.error as e:
                raise _fail(toml, where, f"{where} pattern: bad regex ({e})") from None
        values = {v: _patterns(p, toml, where, f"{where} values.{v}") for v, p in spec.get("values", {}).items()}  # fmt: skip
        slots[name] = SlotDecl(name, str(spec.get("entity", "")), str(spec.get("pattern", "")),
                               values, _words(spec.get("prompt"), toml, where, f"{where} prompt"),
                               dict(spec.get("choose", {})))  # fmt: skip
        if slots[name].choose and slots[name].choose.get("tool") not in tools:
            raise _fail(toml, where, f"{where} choose.tool names no tool; tools: {sorted(tools)}")
    policy = _policy(tables.get("policy", {}), tools, slots, toml)
    templates: dict[str, Words] = {}
    values: dict[str, Words] = {}
    file = tables.get("templates", {}).get("file")
    if file:
        path = pack.root / file
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise DomainError(f"{path}: {e}; [templates] file names it; fix the TOML") from None
        values = {k: _words(v, path, f"{k} ", f"[values] {k}") for k, v in data.pop("values", {}).items()}  # fmt: skip
        templates = {k: _words(v, path, f"[{k}]", f"[{k}]") for k, v in data.items()}
    missing = [k for k in REPLIES if not templates.get(k, {}).get("en")]
    if missing:
        where = pack.root / file if file else toml
        raise _fail(where, "", f"no reply template for {missing}; give each as [name] en = \"...\" zh = \"...\"")  # fmt: skip
    return Declarations(pack, tools, policy, slots, templates, values, backoffice,
                        str(tools_table.get("db", f"sqlite:///{pack.name}.db")))  # fmt: skip


def _policy(table: dict, tools: dict[str, ToolDecl], slots: dict[str, SlotDecl], toml: Path) -> PolicyDecl:  # fmt: skip
    auth = None
    if "auth" in table:
        a = table["auth"]
        if a.get("tool") not in tools:
            raise _fail(toml, "auth", f"[policy] auth.tool names no tool ({a.get('tool')!r}); tools: {sorted(tools)}")  # fmt: skip
        factors = tuple(tuple(f) for f in a.get("factors", []))
        if not factors:
            raise _fail(toml, "auth", '[policy] auth needs factors = [["email", "last4"], ...]')
        auth = AuthDecl(a["tool"], factors, tuple(a.get("keep", ())),
                        a.get("id", "customer_id"), a.get("name", "name"))  # fmt: skip
    tasks = []
    for name, t in table.get("tasks", {}).items():
        where = f"[policy.tasks.{name}]"
        tool = tools.get(t.get("tool", name))
        if tool is None:
            raise _fail(toml, where, f"{where} tool names no tool ({t.get('tool', name)!r}); tools: {sorted(tools)}")  # fmt: skip
        wanted = tuple(t.get("slots", tool.parameters.get("required", [])))
        unknown = [s for s in wanted if s not in slots]
        if unknown:
            raise _fail(toml, where, f"{where} needs slots {unknown}; declare each as [slots.NAME]")
        tasks.append(TaskDecl(name, tool.name, wanted, _patterns(t.get("cues"), toml, where, f"{where} cues"),
                              tuple(t.get("intents", ()))))  # fmt: skip
    numbers = {k: table[k] for k in ("anger_handoff", "frustration_handoff", "max_failures",
               "task_confidence", "handoff_confidence", "upset") if k in table}  # fmt: skip
    smalltalk = {k: _patterns(v, toml, "smalltalk", f"[policy] smalltalk.{k}")
                 for k, v in table.get("smalltalk", {}).items()}  # fmt: skip
    return PolicyDecl(
        auth, tuple(tasks), tuple(table.get("knowledge_intents", ())),
        _patterns(table.get("rule_cues"), toml, "rule_cues", "[policy] rule_cues"),
        tuple(table.get("handoff_intents", ())),
        _patterns(table.get("handoff_cues"), toml, "handoff_cues", "[policy] handoff_cues"),
        smalltalk, **numbers,
    )  # fmt: skip


def declares_tools(pack: DomainPack) -> bool:
    """Whether the pack declares its own tools (and so its own policy)."""
    return bool(pack.tables.get("tools", {}).get("file"))
