"""The dialogue model behind an OpenAI-compatible server, over real sockets: a tiny http.server
written here for the failures (down, hanging, stalling, malformed, HTTP errors) and a correct
stream; llama-cpp-python's own server on the packaged Gemma GGUF for the real thing (`weights`).
And the Agent answers with the template when the server is down."""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dialogue.agent import Agent, AgentServices, CustomerTurn
from dialogue.lm.decoding import GenerationOptions
from dialogue.lm.generator import Generator
from dialogue.lm.openai_client import (
    TURN_ENDS,
    LMUnavailable,
    OpenAIGenerator,
    ServerTimeouts,
    parse_spec,
)

FAST = ServerTimeouts(connect_s=1.0, first_token_s=0.5, reply_s=1.5)
PROMPT = "<bos><start_of_turn>user\nwhere is my refund?<end_of_turn>\n<start_of_turn>model\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- a tiny server, written here


def _event(text: str) -> bytes:
    chunk = {"object": "text_completion", "choices": [{"index": 0, "text": text, "finish_reason": None}]}  # fmt: skip
    return f"data: {json.dumps(chunk)}\r\n\r\n".encode()


class _Handler(BaseHTTPRequestHandler):
    """Answers as `server.behaviour` says; keeps (headers, body) of every POST in `server.seen`."""

    def log_message(self, *args):
        pass

    def _head(self, status: int = 200, kind: str = "text/event-stream") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.end_headers()

    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": "tiny"}, {"id": "other"}]}).encode()
        self._head(200, "application/json")
        self.wfile.write(body)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append((dict(self.headers), body))
        how, w = self.server.behaviour, self.wfile
        if how == "hang":  # reads the request, never answers
            self.server.release.wait(30)
        elif how == "three":  # a keep-alive comment and a usage-only chunk too, as servers send
            self._head()
            w.write(b": ping\r\n\r\n" + _event("Your") + _event(" order") + _event(" shipped."))
            w.write(b'data: {"choices": [], "usage": {"completion_tokens": 3}}\r\n\r\ndata: [DONE]\r\n\r\n')  # fmt: skip
        elif how == "stall":  # one piece, then nothing
            self._head()
            w.write(_event("Your"))
            w.flush()
            self.server.release.wait(30)
        elif how == "truncated":  # one piece, then the connection closes
            self._head()
            w.write(_event("Your"))
        elif how == "bad-json":
            self._head()
            w.write(b'data: {"choices": [{"text": "Your"\n\n')
        elif how == "no-choices":
            self._head()
            w.write(b'data: {"id": "x"}\n\ndata: [DONE]\n\n')
        elif how == "not-sse":  # a plain JSON body, as if `stream` were ignored
            self._head(200, "application/json")
            w.write(b'{"choices": [{"text": "Your order"}]}\n')
        elif how.startswith("http"):
            self._head(int(how[4:]), "application/json")
            w.write(b'{"error": {"message": "the server says no"}}')


@pytest.fixture
def tiny_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.behaviour, server.seen, server.release = "three", [], threading.Event()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def test_a_correct_stream_gives_its_pieces_and_the_request_is_an_openai_completion(tiny_server):
    options = GenerationOptions(max_new_tokens=7, temperature=0.5, top_p=0.9, stop=("Customer:",))
    gen = OpenAIGenerator(tiny_server.url, "tiny", options, FAST, api_key="sekrit")
    assert isinstance(gen, Generator) and not gen.takes_images
    assert list(gen.stream("hello")) == ["Your", " order", " shipped."]
    assert gen.generate("hello") == "Your order shipped."
    headers, body = tiny_server.seen[0]
    assert headers["Authorization"] == "Bearer sekrit"
    assert body == {
        "model": "tiny", "prompt": "hello", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9,
        "stop": ["Customer:", *TURN_ENDS], "stream": True,
    }  # fmt: skip


def test_from_spec_asks_the_server_for_its_model_and_reads_the_key_from_the_environment(
    tiny_server, monkeypatch
):
    monkeypatch.setenv("CCA_LM_API_KEY", "from-env")
    gen = OpenAIGenerator.from_spec(f"openai:{tiny_server.url}", timeouts=FAST)
    assert gen.model == "tiny" and gen.base_url == tiny_server.url
    named = OpenAIGenerator.from_spec(f"openai:{tiny_server.url}/google/gemma-3-270m")
    assert named.model == "google/gemma-3-270m" and named.name.endswith("/v1/google/gemma-3-270m")
    gen.generate("hi")
    assert tiny_server.seen[0][0]["Authorization"] == "Bearer from-env"


@pytest.mark.parametrize(
    "spec",
    ["http://127.0.0.1:8000/v1", "openai:127.0.0.1:8000/v1", "openai:http://127.0.0.1:8000/api"],
)
def test_a_spec_that_is_not_a_server_url_fails_with_the_form_to_use(spec):
    with pytest.raises(ValueError, match="openai:http://HOST:PORT/v1"):
        parse_spec(spec)


def test_a_server_that_is_down_is_unavailable_at_once():
    url = f"http://127.0.0.1:{free_port()}/v1"
    t0 = time.monotonic()
    with pytest.raises(LMUnavailable) as e:
        OpenAIGenerator(url, "cca", timeouts=FAST).generate("hello")
    assert time.monotonic() - t0 < 1.0
    assert e.value.retryable and f"{url}/completions" in str(e.value)
    assert "start the server" in str(e.value)
    with pytest.raises(LMUnavailable, match="could not connect"):
        OpenAIGenerator.from_spec(f"openai:{url}", timeouts=FAST)  # asks for the model


# behaviour, retryable, words in the message, at most this many seconds
FAILURES = [
    ("hang", True, "no reply began within 0.5 s", FAST.first_token_s + 1.0),
    ("stall", True, "did not end within 1.5 s", FAST.reply_s + 1.0),
    ("truncated", True, "ended before `data: [DONE]`", 1.0),
    ("bad-json", False, "not JSON", 1.0),
    ("no-choices", False, "without choices", 1.0),
    ("not-sse", False, "not a server-sent event line", 1.0),
    ("http503", True, "HTTP 503", 1.0),
    ("http404", False, "check the model name", 1.0),
    ("http401", False, "CCA_LM_API_KEY", 1.0),
]


@pytest.mark.parametrize(("behaviour", "retryable", "words", "within_s"), FAILURES, ids=[f[0] for f in FAILURES])  # fmt: skip
def test_a_failing_server_raises_lm_unavailable_in_time(tiny_server, behaviour, retryable, words, within_s):  # fmt: skip
    tiny_server.behaviour = behaviour
    gen = OpenAIGenerator(tiny_server.url, "tiny", timeouts=FAST)
    t0 = time.monotonic()
    with pytest.raises(LMUnavailable) as e:
        gen.generate("hello")
    assert time.monotonic() - t0 < within_s
    assert e.value.retryable is retryable
    assert words in str(e.value) and f"{tiny_server.url}/completions" in str(e.value)


def test_the_agent_answers_with_the_template_when_the_server_is_down(office):
    from fusion.fuse import Fusion
    from tests.conftest import tiny_tokenizer
    from tests.fakes import FakeNLU

    url = f"http://127.0.0.1:{free_port()}/v1"
    services = AgentServices(
        nlu=FakeNLU({"hello": ("greeting", 0.99, ())}), office=office,
        generator=OpenAIGenerator(url, "cca", timeouts=FAST), fusion=Fusion(tiny_tokenizer()),
    )  # fmt: skip
    turn = Agent(services, session_id="t").respond(CustomerTurn(text="hello"))
    assert turn.reply_source.startswith("template") and turn.reply
    assert turn.decision.template == "greeting"
    assert len(turn.errors) == 1 and turn.errors[0].startswith(f"generate: {url}/completions")
    assert "generate" in turn.timings_ms


# ---------------------------------------------------------------- llama-cpp-python's server


class LlamaServer:
    """llama-cpp-python's OpenAI-compatible server on the packaged Gemma-3-270m GGUF, as a
    subprocess on a free port, under the model name `cca`; one per test process."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log: Path | None = None  # the server's output, removed when it stops

    def start(self) -> str:
        if self.proc is not None and self.proc.poll() is None:
            return self.url
        pytest.importorskip("llama_cpp.server.app", reason="needs the llama-server extra")
        from dialogue.lm.load import packaged_gguf

        model, port = packaged_gguf("gemma-3-270m"), free_port()
        log = self.log = Path(tempfile.gettempdir()) / f"llama-server-{port}.log"
        # --n_batch 1: the server keeps the previous request's tokens and evaluates only the rest
        # of a prompt; evaluated one token at a time, a greedy reply does not depend on how much
        # was kept (in batches of other sizes the logits differ in their last bits, and this
        # small quantized model then picks another token at a near-tie)
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dialogue.lm.llama_buffers", "--model", str(model), "--port", str(port),
                 "--host", "127.0.0.1", "--n_ctx", "1024", "--model_alias", "cca", "--n_batch", "1",
                 "--n_threads", str(len(os.sched_getaffinity(0)))],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}:\n{log.read_text()[-3000:]}")  # fmt: skip
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=1) as r:
                    if r.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer {self.url}/models within 120 s (log {log})")  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.log is not None:
            self.log.unlink(missing_ok=True)


_SERVER = LlamaServer()
atexit.register(_SERVER.stop)


def llama_server_url() -> str:
    """The shared server's base URL, started on first use (tests/test_contracts.py uses it too);
    stopped at the end of the session, or at exit when only the contract test started it."""
    return _SERVER.start()


@pytest.fixture(scope="session")
def llama_server():
    yield llama_server_url()
    _SERVER.stop()


@pytest.mark.weights
def test_the_model_name_is_the_one_the_server_lists(llama_server):
    with urllib.request.urlopen(f"{llama_server}/models", timeout=5) as r:
        listed = [m["id"] for m in json.load(r)["data"]]
    gen = OpenAIGenerator.from_spec(f"openai:{llama_server}")
    assert gen.model == listed[0] == "cca"


@pytest.mark.weights
def test_the_stream_adds_up_to_the_whole_reply_at_temperature_0(llama_server):
    gen = OpenAIGenerator.from_spec(f"openai:{llama_server}/cca", GenerationOptions(max_new_tokens=16))  # fmt: skip
    pieces = list(gen.stream(PROMPT))
    whole = gen.generate(PROMPT)
    assert len(pieces) > 1 and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == whole and whole.strip()
    assert not any(end in whole for end in TURN_ENDS)


@pytest.mark.weights
def test_max_tokens_is_respected(llama_server):
    short = OpenAIGenerator.from_spec(f"openai:{llama_server}/cca", GenerationOptions(max_new_tokens=3))  # fmt: skip
    long = OpenAIGenerator.from_spec(f"openai:{llama_server}/cca", GenerationOptions(max_new_tokens=16))  # fmt: skip
    pieces = list(short.stream(PROMPT))
    reply = long.generate(PROMPT)
    assert 1 <= len(pieces) <= 3  # one event per token at most
    assert reply.startswith("".join(pieces)) and len(reply) > len("".join(pieces))
