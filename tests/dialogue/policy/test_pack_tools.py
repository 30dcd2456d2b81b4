"""A pack's declared tools, run: arguments checked against the JSON Schema before any call, the
authentication, the state rule and the confirmation; a Python tool in a file of the pack, and
tools served over HTTP by a real local server that the test starts."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dialogue.domain.pack import DomainPack
from dialogue.policy.declare import load_declarations
from dialogue.policy.pack_tools import PackTools

CARD = {"type": "object", "properties": {"card": {"type": "string", "pattern": "^[0-9]{4}$"}},
        "required": ["card"], "additionalProperties": False}  # fmt: skip
TEMPLATES = "\n".join(f'[{k}]\nen = "{k}"\nzh = "{k}"' for k in (
    "greeting", "goodbye", "offer_help", "out_of_scope", "ask_auth", "auth_failed", "confirm",
    "ask_yes_no", "dropped", "refused", "handoff", "kb_none", "clarify"))  # fmt: skip
TOOLS_PY = """
def login(call, name):
    if name != "ada":
        from dialogue.policy.tooltypes import Refusal
        raise Refusal("not_found", "no such customer")
    return {"customer_id": "c1"}
"""


class Server(BaseHTTPRequestHandler):
    """A card service: /status reads a card, /block blocks an open one; it keeps what it got."""

    cards = {"1111": "open", "2222": "blocked"}
    seen: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        args = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Server.seen.append((self.path, args, self.headers["X-Customer-Id"]))
        if self.path == "/status":
            body = {"ok": False, "code": "not_found", "error": "no card"}
            if args["card"] in self.cards:
                body = {"card": args["card"], "state": self.cards[args["card"]]}
        elif self.path == "/block":
            self.cards[args["card"]] = "blocked"
            body = {"card": args["card"], "state": "blocked"}
        else:
            self.send_response(500)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def make_pack(tmp_path, url: str):
    tools = [
        {"name": "login", "description": "find the customer", "kind": "read", "open": True,
         "python": "tools.py:login", "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
        {"name": "status", "description": "a card's state", "kind": "read", "http": f"{url}/status", "parameters": CARD},
        {"name": "block", "description": "block a card", "kind": "write", "http": f"{url}/block", "parameters": CARD,
         "state": {"read": "status", "field": "state", "allowed": ["open"], "refuse": {"en": "card {card} is {state}"}},
         "summary": {"en": "Block card {card}?", "zh": "冻结卡 {card}？"}},
        {"name": "broken", "description": "a service that fails", "kind": "read", "http": f"{url}/nothing", "parameters": CARD},
    ]  # fmt: skip
    (tmp_path / "tools.json").write_text(json.dumps(tools, indent=1), encoding="utf-8")
    (tmp_path / "tools.py").write_text(TOOLS_PY, encoding="utf-8")
    (tmp_path / "templates.toml").write_text(TEMPLATES, encoding="utf-8")
    (tmp_path / "domain.toml").write_text(
        '[domain]\nname = "cards"\n[tools]\nfile = "tools.json"\n[templates]\nfile = "templates.toml"\n'
        '[policy]\nauth = { tool = "login", factors = [["name"]] }\n[slots.name]\npattern = "I am (\\\\w+)"\n'
        '[policy.tasks.block]\ncues = { en = ["\\\\bblock"] }\n'
        '[slots.card]\npattern = "(\\\\d{4})"\nprompt = { en = "Which card?" }\n',
        encoding="utf-8",
    )  # fmt: skip
    return load_declarations(DomainPack.load(tmp_path))


@pytest.fixture
def session(tmp_path, server):
    Server.cards.update({"1111": "open", "2222": "blocked"})
    Server.seen.clear()
    tools = PackTools(make_pack(tmp_path, server))
    s = tools.session(session_id="s1")
    assert s.call("login", {"name": "ada"}).data == {"customer_id": "c1"}
    s.user_id = "c1"
    return s


def test_a_python_tool_in_a_file_of_the_pack_refuses_with_a_code(tmp_path, server):
    s = PackTools(make_pack(tmp_path, server)).session()
    r = s.call("login", {"name": "bob"})
    assert not r.ok and r.code == "not_found"
    assert s.call("status", {"card": "1111"}).code == "not_authenticated" and Server.seen == []


@pytest.mark.parametrize(
    ("args", "problem"),
    [({}, "missing argument 'card'"), ({"card": "11a1"}, "must match"), ({"card": 1111}, "must be a string"),
     ({"card": "1111", "pin": "0000"}, "unknown argument 'pin'")],
)  # fmt: skip
def test_arguments_are_checked_before_any_call(session, args, problem):
    r = session.call("block", args)
    assert r.code == "invalid_argument" and problem in r.error
    assert Server.seen == [] and session.pending is None


def test_an_http_write_waits_for_a_yes_and_its_state_is_checked(session):
    r = session.call("block", {"card": "1111"})
    assert r.code == "needs_confirmation" and session.pending.summary == {"en": "Block card 1111?", "zh": "冻结卡 1111？"}  # fmt: skip
    assert [p for p, _, _ in Server.seen] == ["/status"]  # read, not written
    done = session.confirm(True)
    assert done.ok and done.data == {"card": "1111", "state": "blocked"}
    assert [p for p, _, _ in Server.seen] == ["/status", "/status", "/block"]  # checked again
    assert Server.seen[-1][1:] == ({"card": "1111"}, "c1")  # the arguments, as JSON; the customer


def test_a_write_its_state_rule_forbids_is_refused_with_the_declared_words(session):
    r = session.call("block", {"card": "2222"})
    assert r.code == "wrong_state" and r.error == "card 2222 is blocked" and session.pending is None
    assert session.call("block", {"card": "9999"}).code == "not_found"  # the service's refusal


def test_a_no_drops_the_write(session):
    session.call("block", {"card": "1111"})
    assert session.confirm(False).code == "declined" and session.confirm(True).code == "nothing_pending"  # fmt: skip
    assert "/block" not in [p for p, _, _ in Server.seen]


def test_a_failing_service_is_a_refusal_not_an_exception(session, tmp_path):
    assert session.call("broken", {"card": "1111"}).code == "remote_error"
    tools = PackTools(make_pack(tmp_path, "http://127.0.0.1:9"))  # nothing listens there
    s = tools.session()
    s.user_id = "c1"
    assert s.call("status", {"card": "1111"}).code == "remote_error"


def test_the_tools_follow_the_tool_seam(session):
    from dialogue.policy.tooltypes import Tool, ToolResult

    tool = session.pack_tools.tools["status"]
    assert isinstance(tool, Tool) and not tool.writes and session.pack_tools.tools["block"].writes
    result = tool.fn(session, card="1111")
    assert isinstance(result, ToolResult) and result.data["state"] == "open"
    assert [s["function"]["name"] for s in session.pack_tools.specs()] == ["login", "status", "block", "broken"]  # fmt: skip


def test_a_pack_written_outside_the_project_talks_through_the_agent(tmp_path, server):
    """No code of the project's packs: a folder with domain.toml, tools.json, templates.toml and
    tools.py, its writes served over HTTP, and the core's Agent and declared policy."""
    from dialogue.agent import Agent, AgentServices
    from dialogue.policy.declared import DeclaredPolicy
    from tests.fakes import FakeNLU

    Server.cards.update({"1111": "open"})
    Server.seen.clear()
    d = make_pack(tmp_path, server)
    tools = PackTools(d)
    services = AgentServices(nlu=FakeNLU({}), office=None, policy=DeclaredPolicy(d), sessions=tools.session)  # fmt: skip
    a = Agent(services, session_id="outside")
    asked = a.respond("please block my card")
    assert asked.reply == "ask_auth" and Server.seen == []
    which = a.respond("I am ada")
    assert [x.tool for x in which.actions] == ["login"] and which.reply == "Which card?"
    confirm = a.respond("it is 1111")
    assert confirm.decision.kind == "confirm" and "/block" not in [p for p, _, _ in Server.seen]
    done = a.respond("yes")
    assert done.decision.kind == "done" and Server.cards["1111"] == "blocked"
