"""`cca phone`: the command line of the phone line (demo/phone/bridge.py), one worker of it.

    cca phone --port 8080 --public-url https://line.example.com [--auth-token TOKEN]
              [--transfer-to sip:desk@pbx.example.com] [--sms-from +15550100] [--out calls/]
              [--state memory | records | postgresql+psycopg://...] [--drain-s 300]

Many workers of one line share a call state (`--state`, demo/phone/state.py) behind a load
balancer that sends any webhook, stream or upload to any of them (deploy/phone/). Each answers
`GET /healthz` (200, or 503 while draining or when the shared state is unreachable). On SIGTERM
a worker drains: its webhook answers 503 (the balancer tries another worker), the calls on it
go on until they end or `--drain-s` passes; then each call still on it is sent back to the
line's webhook through the provider's REST API (a `<Redirect>`; it needs the account SID and
auth token), where another worker takes it on with its redaction memory (demo/phone/resume.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time

from demo.phone.bridge import ENV_ACCOUNT, ENV_TOKEN, PhoneBridge, PhoneOptions
from demo.phone.bridge import __doc__ as bridge_doc
from demo.phone.call import CallOptions
from demo.phone.shared import session_factory
from demo.phone.state import MEMORY, open_call_state
from demo.phone.wire import twilio_update_call, twiml_redirect
from demo.runtime import ENV_RECORDS_DB
from dialogue.lm.shipped import add_lm_args, choose
from voice.live.echo import DEFAULT_ECHO, available_echo_cancellers, make_echo_canceller
from voice.live.types import SessionOptions

logger = logging.getLogger(__name__)

ENV_STATE = "CCA_PHONE_STATE"  # --state's default


def _keyring(url: str):
    """The records key for a shared call state (None for memory, or when none is set: then
    `open_call_state` says how to set one)."""
    if url in ("", MEMORY):
        return None
    from dialogue.records.crypto import Keyring, MissingKeyError

    try:
        return Keyring.from_env()
    except MissingKeyError:
        return None


def bound_model_wait(generator, first_token_s: float, reply_s: float = 20.0) -> None:
    """A caller waits at most `first_token_s` for a model server's first piece (`--lm openai:...`;
    the client's own default, 30 s, suits a batch job, not a call) and `reply_s` for the whole
    reply; past either, the turn is answered with the template and counted as a fallback. An
    in-process model has no server to wait for and is left as it is."""
    from dialogue.lm.openai_client import OpenAIGenerator, ServerTimeouts

    if isinstance(generator, OpenAIGenerator):
        generator.timeouts = ServerTimeouts(min(2.0, first_token_s), first_token_s, max(reply_s, first_token_s))  # fmt: skip
        logger.info("model server %s: first piece within %g s, the reply within %g s, else the template", generator.base_url, first_token_s, generator.timeouts.reply_s)  # fmt: skip


async def drain(bridge: PhoneBridge, timeout_s: float, poll_s: float = 0.2) -> dict:
    """Stop taking calls; wait up to `timeout_s` for the calls on this worker (and those its
    webhook announced) to end; then send each call still here back to the line's webhook (another
    worker takes it on) and close its stream. Returns what happened, counted."""
    bridge.draining = True
    deadline = time.monotonic() + timeout_s
    while (bridge.calls or bridge.announced()) and time.monotonic() < deadline:
        await asyncio.sleep(poll_s)
    left, moved = list(bridge.calls.values()), 0
    for call in left:
        call.ended = call.ended or "draining"  # not a hang-up: its memory is kept for the next
        await call.memory.flush()
        moved += await _move(bridge, call)
        await call.ws.close()
    closing = time.monotonic() + 10.0
    while bridge.calls and time.monotonic() < closing:  # each call's records are kept
        await asyncio.sleep(poll_s)
    return {"calls_at_timeout": len(left), "moved": moved, "ended_here": len(left) - moved}


async def _move(bridge: PhoneBridge, call) -> int:
    """1 if the provider took the call back to the webhook, else 0 (it ends with the stream)."""
    o = bridge.options
    account, token = o.call.account_sid or call.start.account_sid, o.call.auth_token or o.auth_token
    base = (o.public_url or bridge._host).rstrip("/")
    if not (account and token and base and bridge.http is not None):
        logger.warning("call %s: cannot send it to another worker (needs the account SID, the "
                       "auth token and --public-url); it ends with this worker", call.sid)  # fmt: skip
        return 0
    request = twilio_update_call(
        account, call.start.call_sid, twiml_redirect(base + "/voice"), token
    )
    try:
        status = await bridge.http(request)
    except Exception as e:  # the provider is down: the call ends with this worker
        logger.error("call %s: redirect to another worker failed: %s", call.sid, e)
        return 0
    logger.info(
        "call %s: sent back to %s/voice for another worker: HTTP %s", call.sid, base, status
    )
    return 1 if 200 <= status < 300 else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cca phone", description=bridge_doc.split("\n\n")[0])
    p.add_argument("--host", default="0.0.0.0", help="listen address (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=8080, help="listen port (default 8080)")
    p.add_argument("--public-url", default="", help="https://HOST as the provider reaches this server (for signatures and the stream URL)")  # fmt: skip
    p.add_argument("--auth-token", default=os.environ.get(ENV_TOKEN, ""), help=f"the provider's auth token (default ${ENV_TOKEN}); verifies webhooks, announces streams")  # fmt: skip
    p.add_argument("--account-sid", default=os.environ.get(ENV_ACCOUNT, ""), help=f"for the REST API (default ${ENV_ACCOUNT}, else the stream's)")  # fmt: skip
    p.add_argument("--transfer-to", default="", help="a number or sip:URI that takes handed-over calls")  # fmt: skip
    p.add_argument("--sms-from", default="", help="text upload links from this number (default: read the code out)")  # fmt: skip
    p.add_argument("--max-calls", type=int, default=0, help="calls at once; a caller beyond it hears a busy message and is transferred (--transfer-to) (default: no limit)")  # fmt: skip
    p.add_argument("--greeting", default=CallOptions().greeting)
    p.add_argument("--out", default="", help="per-call folders (recording.wav, transcript.json) when no records store is set")  # fmt: skip
    p.add_argument("--records", default=None, help="conversation store URL (default $CCA_RECORDS_DB)")  # fmt: skip
    p.add_argument("--state", default=os.environ.get(ENV_STATE, MEMORY), help=f"where the workers of a line share stream tokens, upload codes and each call's redaction memory: memory (one process), records (the --records database), or a database URL (default ${ENV_STATE}, else memory)")  # fmt: skip
    p.add_argument("--drain-s", type=float, default=300.0, help="on SIGTERM, wait this long for the calls on the line to end before sending them to another worker (default 300)")  # fmt: skip
    p.add_argument("--db", default=None, help="back office database (default sqlite:///retail.db, or the --domain pack's)")  # fmt: skip
    p.add_argument("--domain", default=None, help="a domain pack that declares its tools (e.g. domains/bank) instead of the sample shop")  # fmt: skip
    p.add_argument("--retail", default=None, help="load this retail data folder into --db first")
    p.add_argument("--kb", default=None, help="knowledge base, if it exists (default sqlite:///knowledge.db; with --domain, the pack's knowledge/)")  # fmt: skip
    p.add_argument("--asr-model", default="base", help="Whisper model (default base)")
    p.add_argument("--asr", default="serial", help="how the calls share speech recognition: serial (one turn at a time), batched (the turns waiting decoded together), or http://HOST:PORT of a `cca asr-serve` all workers share (default serial)")  # fmt: skip
    p.add_argument("--tts", default="offline", help="voice.tts.speaker profile (default offline)")
    add_lm_args(p)
    p.add_argument("--lm-timeout-s", type=float, default=3.0, help="with --lm openai:URL, how long a caller waits for the model server's first words before the template answers (default 3)")  # fmt: skip
    p.add_argument("--otel", nargs="?", const="", default=None, metavar="ENDPOINT", help="OpenTelemetry traces, a span per voice turn and per stage: to ENDPOINT (an OTLP/HTTP collector), to $OTEL_EXPORTER_OTLP_ENDPOINT when none is given, or `console`; also on when that variable is set or CCA_OTEL=1 (default off; needs the otel extra)")  # fmt: skip
    p.add_argument("--vad", choices=("silero", "energy"), default="silero")
    p.add_argument("--echo", default=DEFAULT_ECHO, choices=(*available_echo_cancellers(), "none"), help=f"the echo canceller on each call's line, the agent's voice as its reference (voice.live.echo); none for a line that cancels echo itself (default {DEFAULT_ECHO})")  # fmt: skip
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")  # fmt: skip
    from pathlib import Path

    from demo.runtime import RuntimeOptions, build_runtime

    try:
        lm, adapter = choose(args.lm, args.adapter, args.no_lm)
        db = args.db or (None if args.domain else "sqlite:///retail.db")
        kb = args.kb or (None if args.domain else "sqlite:///knowledge.db")
        runtime = build_runtime(RuntimeOptions(db=db, kb=kb, retail=args.retail,
                                               asr_model=args.asr_model, tts=args.tts,
                                               records=args.records, lm=lm, adapter=adapter,
                                               domain=args.domain))  # fmt: skip
        bound_model_wait(runtime.services.generator, args.lm_timeout_s)
        echo = None if args.echo == "none" else args.echo
        if echo is not None:
            make_echo_canceller(echo)  # a missing extra fails here, not on the first call
        new_session = session_factory(runtime, args.vad, SessionOptions(echo=echo), asr=args.asr)
        state = open_call_state(args.state, args.records or os.environ.get(ENV_RECORDS_DB), _keyring(args.state))  # fmt: skip
        from demo.tracing import build_tracing

        tracing = build_tracing(args.otel)
    except (ImportError, FileNotFoundError, ValueError, RuntimeError, KeyError) as e:
        print(f"cca phone: {e}", file=sys.stderr)
        return 2
    call = CallOptions(greeting=args.greeting, transfer_to=args.transfer_to,
                       account_sid=args.account_sid, out_dir=Path(args.out) if args.out else None)  # fmt: skip
    options = PhoneOptions(public_url=args.public_url, auth_token=args.auth_token,
                           sms_from=args.sms_from, call=call, max_calls=max(0, args.max_calls))  # fmt: skip
    bridge = PhoneBridge(runtime, new_session, options, reader=runtime.services.reader, state=state, tracing=tracing)  # fmt: skip

    async def run() -> None:
        runner = await bridge.serve(args.host, args.port)
        print(f"cca phone: listening on {args.host}:{args.port} (POST /voice, WS /media, /upload, "
              f"GET /healthz); call state: {getattr(state, 'url', args.state)}", file=sys.stderr)  # fmt: skip
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await stop.wait()
            print(f"cca phone: SIGTERM: draining ({bridge.announced() + len(bridge.calls)} calls, "
                  f"up to {args.drain_s:g} s)", file=sys.stderr)  # fmt: skip
            done = await drain(bridge, args.drain_s)
            print(f"cca phone: drained: {json.dumps(done)}", file=sys.stderr)
        finally:
            await runner.cleanup()
            if tracing is not None:
                tracing.shutdown()  # the spans still batched go out

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except OSError as e:
        print(f"cca phone: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    return 0
