"""The dialogue model behind any OpenAI-compatible server (vLLM on GPUs, llama.cpp's server on
CPUs), as a `Generator`, with the standard library only.

    gen = OpenAIGenerator.from_spec("openai:http://127.0.0.1:8000/v1/cca", GenerationOptions())
    for piece in gen.stream(prompt):  # prompt rendered with the model's chat template
        ...

The prompt is already rendered with the model's chat template (fusion.fuse.Fusion does that), so
this uses the text-completions endpoint, POST {base}/completions with `stream: true`, and reads
its server-sent events (`data: {...}` lines, ending with `data: [DONE]`). Each reply has its own
connection: one generator serves many conversations at once, and the server batches them.

Stop strings: the options' `stop` and the chat turn ends (Gemma's `<end_of_turn>`, ChatML's
`<|im_end|>`, Llama 3's `<|eot_id|>`); the server ends the reply there and leaves them out.

Every failure (refused, a timeout, an HTTP error, a malformed stream) raises `LMUnavailable`,
whose message names the URL and what to do; the Agent records it on the turn and answers with
the template.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from dialogue.lm.decoding import GenerationOptions

logger = logging.getLogger(__name__)

TURN_ENDS = ("<end_of_turn>", "<|im_end|>", "<|eot_id|>")
API_KEY_ENV = "CCA_LM_API_KEY"
SPEC_EXAMPLE = "openai:http://127.0.0.1:8000/v1/cca"
_MAX_LINE = 1 << 20  # one server-sent event line; a longer one is not a completions stream
_SSE_FIELDS = ("data", "event", "id", "retry")


class LMUnavailable(RuntimeError):
    """The model server gave no reply; `retryable` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class ServerTimeouts:
    connect_s: float = 5.0  # to open the connection: a server that is down fails within this
    first_token_s: float = 30.0  # from the request to the reply's first piece (queue and prompt)
    reply_s: float = 120.0  # from the request to the end of the whole reply

    def __post_init__(self):
        for name in ("connect_s", "first_token_s", "reply_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ServerTimeouts.{name} must be above 0 seconds, got {getattr(self, name)}")  # fmt: skip
        if self.first_token_s > self.reply_s:
            raise ValueError(f"ServerTimeouts.first_token_s ({self.first_token_s}) must not exceed reply_s ({self.reply_s})")  # fmt: skip


def parse_spec(spec: str) -> tuple[str, str | None]:
    """`openai:http://HOST:PORT/v1[/MODEL]` -> (the base URL ending at /v1, MODEL or None).
    MODEL may hold slashes (`google/gemma-3-270m`)."""
    url = spec.removeprefix("openai:")
    parts = urlsplit(url)
    segments = parts.path.split("/")
    if not spec.startswith("openai:") or parts.scheme not in ("http", "https") or not parts.hostname or "v1" not in segments:  # fmt: skip
        raise ValueError(
            f"{spec!r} is not an OpenAI-compatible server: write openai:http://HOST:PORT/v1 "
            f"(the server's first model) or openai:http://HOST:PORT/v1/MODEL, e.g. {SPEC_EXAMPLE}"
        )
    i = segments.index("v1")
    base = urlunsplit((parts.scheme, parts.netloc, "/".join(segments[: i + 1]), "", ""))
    return base, "/".join(segments[i + 1 :]).strip("/") or None


class OpenAIGenerator:
    """A model on an OpenAI-compatible server: its base URL (ending at /v1), the model's name
    there, the generation options and the timeouts."""

    takes_images = False  # the prompt is text; screenshots reach the model as their text

    def __init__(
        self, base_url: str, model: str, options: GenerationOptions = GenerationOptions(),
        timeouts: ServerTimeouts = ServerTimeouts(), api_key: str | None = None, name: str | None = None,
    ):  # fmt: skip
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be http(s)://HOST:PORT/v1, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.options = options
        self.timeouts = timeouts
        self.name = name or f"openai:{self.base_url}/{model}"
        self._api_key = api_key
        self._https = parts.scheme == "https"
        self._host, self._port, self._path = parts.hostname, parts.port, parts.path.rstrip("/")

    @classmethod
    def from_spec(
        cls, spec: str, options: GenerationOptions = GenerationOptions(),
        timeouts: ServerTimeouts = ServerTimeouts(),
    ) -> OpenAIGenerator:  # fmt: skip
        """From `openai:http://HOST:PORT/v1[/MODEL]`; without MODEL, the first model the server
        lists at GET /v1/models (which also checks that the server is up)."""
        base, model = parse_spec(spec)
        # CCA_LM_API_KEY: the server's API key (vLLM's --api-key, llama.cpp's --api_key), sent as
        # `Authorization: Bearer ...`; unset or empty: no Authorization header.
        api_key = os.environ.get(API_KEY_ENV) or None
        if model is None:
            served = cls(base, "", options, timeouts, api_key).models()
            if not served:
                raise LMUnavailable(f"{base}/models lists no model: load one into the server, or name it in --lm, e.g. {SPEC_EXAMPLE}")  # fmt: skip
            model = served[0]
            logger.info("dialogue model %s at %s: the first of %s", model, base, served)
        return cls(base, model, options, timeouts, api_key)

    def models(self) -> list[str]:
        """The names of the models the server serves (GET /v1/models)."""
        url = f"{self.base_url}/models"
        conn, sock, resp, start = self._send("GET", "/models", None)
        try:
            sock.settimeout(max(start + self.timeouts.reply_s - time.monotonic(), 0.001))
            data = json.loads(resp.read(_MAX_LINE))
            return [str(m["id"]) for m in data["data"]]
        except TimeoutError as e:
            raise LMUnavailable(f"{url}: no complete answer within {self.timeouts.reply_s:g} s; is the server overloaded?", retryable=True) from e  # fmt: skip
        except (ValueError, KeyError, TypeError) as e:
            raise LMUnavailable(f"{url}: not an OpenAI model list ({e}); is --lm pointing at an OpenAI-compatible server's /v1?") from e  # fmt: skip
        except (OSError, http.client.HTTPException) as e:
            raise LMUnavailable(f"{url}: the connection broke ({e}); try again", retryable=True) from e  # fmt: skip
        finally:
            conn.close()

    def generate(self, prompt: str) -> str:
        return "".join(self.stream(prompt))

    def prefill(self, prefix: str) -> None:
        """Nothing to do: a server keeps its own prefix cache (vLLM's automatic prefix caching,
        llama.cpp's server's cache_prompt), which the next request reuses."""

    def stream(self, prompt: str) -> Iterator[str]:
        """Send the request now (a server that is down or refuses raises here), then yield the
        reply in pieces as the server sends them."""
        o = self.options
        stop = list(dict.fromkeys(o.stop + TURN_ENDS))
        body = {
            "model": self.model, "prompt": prompt, "max_tokens": o.max_new_tokens,
            "temperature": o.temperature, "top_p": o.top_p, "stop": stop, "stream": True,
        }  # fmt: skip
        if o.seed is not None:
            body["seed"] = o.seed
        conn, sock, resp, start = self._send("POST", "/completions", body)
        return self._pieces(conn, sock, resp, start)

    # ------------------------------------------------------------------ the wire
    def _send(self, method: str, path: str, body: dict | None):
        """Connect, send, and read the status and headers within the first-token timeout.
        Returns (connection, socket, response, start time); raises LMUnavailable."""
        t, url = self.timeouts, self.base_url + path
        start = time.monotonic()
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = kind(self._host, self._port, timeout=t.connect_s)
        try:
            conn.connect()
        except TimeoutError as e:
            conn.close()
            raise LMUnavailable(f"{url}: no connection within {t.connect_s:g} s; check that the server is up and the address in --lm is reachable", retryable=True) from e  # fmt: skip
        except OSError as e:
            conn.close()
            raise LMUnavailable(
                f"{url}: could not connect ({e}); start the server (python -m dialogue.lm.llama_buffers "
                "--model FILE.gguf, llama-cpp-python's server; or vllm serve MODEL) or fix the address in --lm",
                retryable=True,
            ) from e
        sock = conn.sock  # the response reads from it; `conn` lets go of it when the reply ends
        headers = {"Accept": "text/event-stream" if body else "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        try:
            sock.settimeout(max(start + t.first_token_s - time.monotonic(), 0.001))
            conn.request(method, self._path + path, json.dumps(body) if body else None, headers)
            resp = conn.getresponse()
        except TimeoutError as e:
            conn.close()
            raise self._timed_out(url, first=True) from e
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise LMUnavailable(f"{url}: the server closed the connection ({e}); try again", retryable=True) from e  # fmt: skip
        if resp.status != 200:
            try:
                detail = resp.read(2000).decode("utf-8", "replace").strip()
            except (OSError, http.client.HTTPException):
                detail = ""
            conn.close()
            raise LMUnavailable(
                f"{url}: HTTP {resp.status} {resp.reason}: {detail[:500]}; {_hint(resp.status, self.base_url)}",
                retryable=resp.status in (408, 429) or resp.status >= 500,
            )  # fmt: skip
        return conn, sock, resp, start

    def _pieces(self, conn, sock, resp, start: float) -> Iterator[str]:
        t, url = self.timeouts, f"{self.base_url}/completions"
        first, end = start + t.first_token_s, start + t.reply_s
        begun = False  # a first event came
        data: list[str] = []  # the data lines of the event being read
        try:
            while True:
                left = (end if begun else min(first, end)) - time.monotonic()
                if left <= 0:
                    raise self._timed_out(url, first=not begun)
                sock.settimeout(left)
                try:
                    raw = resp.readline(_MAX_LINE + 1)
                except TimeoutError as e:
                    raise self._timed_out(url, first=not begun) from e
                except (OSError, http.client.HTTPException) as e:
                    raise LMUnavailable(f"{url}: the connection broke mid-reply ({e}); try again", retryable=True) from e  # fmt: skip
                if not raw:
                    raise LMUnavailable(f"{url}: the stream ended before `data: [DONE]`; the server may have crashed or dropped the connection: try again", retryable=True)  # fmt: skip
                if len(raw) > _MAX_LINE:
                    raise _malformed(url, "a line over 1 MiB", raw[:80])
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    raise _malformed(url, "not UTF-8", raw[:80]) from None
                if line:  # a field of the event; a blank line ends the event
                    field, _, value = line.partition(":")
                    if field and field not in _SSE_FIELDS:
                        raise _malformed(url, "not a server-sent event line", line)
                    if field == "data":
                        data.append(value.removeprefix(" "))
                    continue  # comments (": ping") and other fields carry no text
                if not data:
                    continue
                event, data = "\n".join(data), []
                if event == "[DONE]":
                    return
                begun = True
                piece = _piece(event, url)
                if piece:
                    yield piece
        finally:
            resp.close()
            conn.close()

    def _timed_out(self, url: str, first: bool) -> LMUnavailable:
        t = self.timeouts
        if first:
            return LMUnavailable(f"{url}: no reply began within {t.first_token_s:g} s; the server may be overloaded or still loading: try again, or raise ServerTimeouts.first_token_s", retryable=True)  # fmt: skip
        return LMUnavailable(f"{url}: the reply did not end within {t.reply_s:g} s; lower max_new_tokens or raise ServerTimeouts.reply_s", retryable=True)  # fmt: skip


def _piece(event: str, url: str) -> str:
    """The text of one completions chunk (`{"choices": [{"text": ...}]}`)."""
    try:
        chunk = json.loads(event)
    except ValueError:
        raise _malformed(url, "data that is not JSON", event) from None
    if not isinstance(chunk, dict):
        raise _malformed(url, "data that is not a JSON object", event)
    if "error" in chunk:  # vLLM reports a failure during the reply this way
        err = chunk["error"]
        message = err.get("message", err) if isinstance(err, dict) else err
        raise LMUnavailable(f"{url}: the server failed mid-reply: {message}; try again", retryable=True)  # fmt: skip
    choices = chunk.get("choices")
    if not isinstance(choices, list) or (choices and not isinstance(choices[0], dict)):
        raise _malformed(url, "a chunk without choices", event)
    text = choices[0].get("text") if choices else None  # a usage-only chunk has no choices
    if not isinstance(text, str | None):
        raise _malformed(url, "a choice whose text is not a string", event)
    return text or ""


def _malformed(url: str, what: str, sample) -> LMUnavailable:
    return LMUnavailable(
        f"{url}: the reply is not an OpenAI completions stream ({what}: {str(sample)[:80]!r}); "
        "check that --lm points at an OpenAI-compatible server's /v1"
    )


def _hint(status: int, base: str) -> str:
    if status in (401, 403):
        return f"set {API_KEY_ENV} to the server's API key"
    if status == 404:
        return f"check the model name in --lm (GET {base}/models lists them) and that the URL ends at /v1"
    if status in (400, 422):
        return "the server refused the request: is the prompt over its context window?"
    return "the server is overloaded or failing: try again"
