"""`cca phone`: the phone line. A Twilio Media Streams bridge: one VoiceSession per call.

    cca phone --port 8080 --public-url https://line.example.com [--auth-token TOKEN]
              [--transfer-to sip:desk@pbx.example.com] [--sms-from +15550100] [--out calls/]

(the command line: demo/phone/serve.py; stream tokens, upload codes and each call's redaction
memory live in a `demo.phone.state.CallState`, shared when the line has many workers)

One aiohttp server on one port (the provider needs HTTP and WebSocket; `websockets` serves no
POST bodies, aiohttp does both and brings the client the simulator uses):
- POST /voice: the incoming-call webhook. Answers TwiML that connects the call's audio to
  wss://HOST/media with a one-time stream token as a <Parameter>.
- GET /media: the media stream (demo/phone/wire.py has the message format). Caller audio goes
  into the session; the agent's voice comes back in 20 ms mu-law frames, a mark after each
  reply, `clear` on a barge-in; keypad digits (ended by # or a pause) are a text turn.
- GET/POST /upload[/CODE]: a screenshot during the call (demo/phone/upload.py). A caller who
  mentions a screenshot, a picture or a photo is offered a single-use code (by SMS when
  --sms-from is set and the caller's number is known).

Security: with an auth token (--auth-token or $TWILIO_AUTH_TOKEN) every webhook must carry a
valid X-Twilio-Signature (else 403 and a log line), and a media stream is accepted only with
the one-time token its verified webhook issued, within `stream_token_ttl_s`. Without one, both
are open (a warning says so): for a local simulator only.

Records: each call's turns and its recording (caller left, agent right) go to the conversation
store when $CCA_RECORDS_DB (or --records) and $CCA_RECORDS_KEY are set; else, with --out, to
OUT/CALL_SID/recording.wav and transcript.json. A hand-over (the agent's Reply.handoff) moves the
call with the provider's REST API to --transfer-to, with a summary (intent, orders, language).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from aiohttp import WSMsgType, web

from demo.metrics import CONTENT_TYPE
from demo.phone.call import Call, CallOptions
from demo.phone.responder import CallResponder
from demo.phone.resume import FINAL, CallMemory, end_for_good, ended_for_good
from demo.phone.state import CallState, CallStateError, MemoryCallState
from demo.phone.upload import ImageRelay, UploadLinks, UploadPages
from demo.phone.wire import (
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    TwilioSerializer,
    WireError,
    aiohttp_client,
    call_key,
    signature_ok,
    twilio_sms,
    twiml_busy,
    twiml_hangup,
    twiml_stream,
)
from vision.image import ImageError, ImageLimits, load_image

logger = logging.getLogger(__name__)

ENV_TOKEN, ENV_ACCOUNT = "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID"
OFFER_WORDS = re.compile(r"screen ?shot|picture|photo|image|截图|图片|照片", re.IGNORECASE)


@dataclass(frozen=True)
class PhoneOptions:
    public_url: str = ""  # https://HOST as the provider reaches us; default: the request's host
    auth_token: str = ""  # verify webhooks and announce streams; "" leaves both open
    stream_token_ttl_s: float = 60.0  # a webhook's stream token must be used this soon
    max_bad_messages: int = 50  # malformed messages on one stream before it is closed
    sms_from: str = ""  # the number upload links are texted from ("" reads the code out)
    call: CallOptions = field(default_factory=CallOptions)
    max_calls: int = 0  # calls on the line at once; a caller beyond it hears `busy` (0: no limit)
    redaction_ttl_s: float = 4 * 3600.0  # a call's memory outlives a lost worker this long
    busy: dict[str, str] = field(default_factory=lambda: {
        "en": "Sorry, all our lines are busy right now. We are putting you through to a colleague.",
        "zh": "抱歉，目前线路繁忙，正在为您转接人工客服。",
    })  # fmt: skip


class PhoneBridge:
    """`new_session(responder) -> VoiceSession` makes each call's session (8 kHz in and out);
    `runtime` (demo.runtime.Runtime) gives each call its conversation; `reader` reads uploads."""

    def __init__(self, runtime, new_session: Callable, options: PhoneOptions = PhoneOptions(), *,
                 http: Callable | None = aiohttp_client, links: UploadLinks | None = None,
                 reader=None, state: CallState | None = None, tracing=None):  # fmt: skip
        self.runtime, self.new_session, self.options = runtime, new_session, options
        self.tracing = tracing  # demo.tracing.Tracing: a trace per voice turn (None: off)
        self.http, self.reader = http, reader
        self.state = state or (links.state if links else MemoryCallState())  # demo.phone.state
        self.links = links or UploadLinks(state=self.state)
        self.shared = not isinstance(self.state, MemoryCallState)  # other workers see it
        self.relay = ImageRelay(self.state)
        self.draining = False  # SIGTERM: no new calls; the calls on the line finish
        self.serializer = TwilioSerializer()
        self.calls: dict[str, Call] = {}
        self.finished: list[dict] = []  # results of the last calls (bounded)
        self._announced: dict[str, float] = {}  # token -> expiry: announced here, not yet streaming
        self._host = ""
        self._lock = threading.Lock()
        if not options.auth_token:
            logger.warning("no auth token: webhook signatures are not checked and any media "
                           "stream is accepted; set %s or --auth-token for a real line", ENV_TOKEN)  # fmt: skip

    def app(self) -> web.Application:
        pages = UploadPages(self.links, self._on_image)
        app = web.Application(client_max_size=pages.limits.max_bytes + 65536)
        app.on_startup.append(self._started)
        app.add_routes([web.post("/voice", self.voice), web.get("/media", self.media),
                        web.get("/health", self.health), web.get("/healthz", self.healthz),
                        web.get("/metrics", self.metrics),
                        *pages.routes()])  # fmt: skip
        return app

    # -- the webhook --------------------------------------------------------------------------

    def _base(self, request: web.Request) -> str:
        if self.options.public_url:
            return self.options.public_url.rstrip("/")
        proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
        return f"{proto}://{request.host}"

    async def voice(self, request: web.Request) -> web.Response:
        form = await request.post()
        params = [(k, v) for k, v in form.items() if isinstance(v, str)]
        base = self._base(request)
        if self.options.auth_token:
            url = base + request.path_qs
            given = request.headers.get("X-Twilio-Signature", "")
            if not signature_ok(url, params, self.options.auth_token, given):
                logger.warning("webhook from %s refused (403): %s X-Twilio-Signature for %s",
                               request.remote, "invalid" if given else "no", url)  # fmt: skip
                return web.Response(status=403, text="forbidden: bad or missing X-Twilio-Signature")  # fmt: skip
        if self.draining:  # the balancer retries another worker (nginx: proxy_next_upstream)
            return web.Response(status=503, text="draining: this worker takes no new calls", headers={"Retry-After": "1"})  # fmt: skip
        self._host = base
        call_sid, caller = str(form.get("CallSid", "")), str(form.get("From", ""))
        if await ended_for_good(self.state, call_sid):  # its stream closed: the provider came back
            return web.Response(text=twiml_hangup(), content_type="text/xml")
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        self._announced = {t: a for t, a in self._announced.items() if a > now}
        if self._full():  # a polite busy message and a transfer, never a time-out
            logger.warning("call %s from %s: the line is full (%d calls); busy message and %s",
                           call_sid, caller or "?", self.options.max_calls,
                           f"transfer to {self.options.call.transfer_to}" if self.options.call.transfer_to else "hang-up")  # fmt: skip
            if self.runtime.metrics is not None:
                self.runtime.metrics.call_refused("line full")
            twiml = twiml_busy(self.options.busy, self.options.call.transfer_to)
            return web.Response(text=twiml, content_type="text/xml")
        ttl = self.options.stream_token_ttl_s
        try:
            announced = {"call_sid": call_sid, "caller": caller, "expires_at": time.time() + ttl}
            await asyncio.to_thread(self.state.put, "stream", token, announced, ttl + 60.0)
        except CallStateError as e:
            logger.error("call %s: cannot announce its stream: %s", call_sid, e)
            return web.Response(status=503, text="the line's shared state is unreachable; see the log")  # fmt: skip
        self._announced[token] = now + ttl
        ws_url = re.sub(r"^http", "ws", base) + "/media"
        logger.info("call %s from %s: streaming to %s", call_sid, caller or "?", ws_url)
        twiml = twiml_stream(ws_url, {"token": token, "caller": caller}, then=base + "/voice")
        return web.Response(text=twiml, content_type="text/xml")

    def announced(self) -> int:
        """Calls announced by this worker's webhook whose stream has not started yet."""
        now = time.monotonic()
        return sum(1 for expiry in self._announced.values() if expiry > now)

    def _full(self) -> bool:
        """The calls on the line and those announced but not yet streaming fill it."""
        limit = self.options.max_calls
        return limit > 0 and len(self.calls) + len(self._announced) >= limit

    async def _admit(self, start: Start) -> str:
        """Why this stream may not start ("" when it may)."""
        s = self.serializer
        if self.options.max_calls and len(self.calls) >= self.options.max_calls:
            return f"the line is full ({self.options.max_calls} calls)"
        if (start.encoding, start.sample_rate, start.channels) != (s.encoding, s.sample_rate, 1):
            return (f"media format {start.encoding} {start.sample_rate} Hz x{start.channels}; "
                    f"this bridge takes {s.encoding} {s.sample_rate} Hz mono")  # fmt: skip
        if not self.options.auth_token:
            return ""
        token = start.custom.get("token", "")
        self._announced.pop(token, None)
        try:
            announced = await asyncio.to_thread(self.state.take, "stream", token) if token else None
        except CallStateError as e:
            return f"its stream token cannot be checked: {e}"
        if announced is None:
            return "no stream token from a verified webhook (an unannounced stream)"
        call_sid = announced["call_sid"]
        if time.time() > announced["expires_at"]:
            return "its stream token expired"
        if call_sid and call_sid != start.call_sid:
            return f"callSid {start.call_sid} is not the one the webhook announced"
        return ""

    # -- the media stream ---------------------------------------------------------------------

    async def media(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 20)
        await ws.prepare(request)
        call: Call | None = None
        out: asyncio.Task | None = None
        bad, reason, sid = 0, "stream closed", "?"

        async def send(text: str) -> None:
            if not ws.closed:
                with contextlib.suppress(ConnectionError):
                    await ws.send_str(text)

        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.BINARY:
                        bad += 1
                        logger.warning("call %s: a binary frame (%d bytes); the protocol is JSON "
                                       "text; ignored", sid, len(msg.data))  # fmt: skip
                    continue
                try:
                    m = self.serializer.parse(msg.data)
                except WireError as e:
                    bad += 1
                    logger.warning("call %s: bad message ignored: %s", sid, e)
                    if bad > self.options.max_bad_messages:
                        reason = f"over {self.options.max_bad_messages} bad messages"
                        logger.error("call %s: %s; closing the stream", sid, reason)
                        break
                    continue
                if isinstance(m, Start):
                    if call is not None:
                        logger.warning("call %s: a second start message ignored", sid)
                        continue
                    sid = m.stream_sid
                    refused = await self._admit(m)
                    if refused:
                        logger.warning("media stream %s (call %s) from %s refused: %s", sid,
                                       m.call_sid, request.remote, refused)  # fmt: skip
                        if self.runtime.metrics is not None:
                            self.runtime.metrics.call_refused(refused)
                        await ws.close(code=1008, message=b"stream refused")
                        return ws
                    call = await self._new_call(m, send, ws)
                    out = asyncio.create_task(call.run_output())
                    if not call.memory.resumed:  # a call carried on from another worker: no hello
                        await call.begin()
                elif isinstance(m, Connected):
                    logger.debug("stream connected: %s %s", m.protocol, m.version)
                elif call is None:
                    logger.warning("stream %s: %s before start; ignored", sid, type(m).__name__)
                elif isinstance(m, Media):
                    if m.track == "inbound":
                        await call.feed(m.payload)
                elif isinstance(m, Mark):
                    await call.on_mark(m.name)
                elif isinstance(m, Dtmf):
                    await call.on_digit(m.digit)
                elif isinstance(m, Stop):
                    reason = "hangup"
                    break
        finally:
            if call is not None:
                result = await call.close(reason)
                if out is not None:
                    out.cancel()
                await self._left(call, result["ended"])
                self.finished = [*self.finished[-99:], result]
                logger.info("call %s ended: %s", sid, result["ended"])
            if not ws.closed:
                await ws.close()
        return ws

    async def _new_call(self, start: Start, send, ws) -> Call:
        caller = start.custom.get("caller", "")
        conversation = self.runtime.start("phone")
        responder = CallResponder(conversation, offer=lambda said: self._offer(start, caller, said))
        session = self.new_session(responder)
        o = self.options
        options = replace(o.call, auth_token=o.call.auth_token or o.auth_token)
        memory = await CallMemory.open(self.state, start.call_sid, o.redaction_ttl_s, conversation)
        loop = asyncio.get_running_loop()  # a stored turn changed the records' redaction: share it
        responder.on_turn = lambda: loop.call_soon_threadsafe(memory.changed)

        async def hang_up() -> None:  # the agent ends the call
            await end_for_good(self.state, call_key(start), call.ended)
            await ws.close()

        call = Call(start, session, responder, send, options=options, serializer=self.serializer,
                    http=self.http, hang_up=hang_up, metrics=self.runtime.metrics,
                    privacy=memory.privacy, tracing=self.tracing)  # fmt: skip
        call.memory, call.ws = memory, ws
        self.calls[start.stream_sid] = call
        key = call_key(start)
        if self.shared:  # an upload for this call may reach another worker
            with contextlib.suppress(CallStateError):
                await self.relay.live(key, o.redaction_ttl_s)
            call.watch = asyncio.create_task(self.relay.watch(key, lambda data: self._relayed(key, data)))  # fmt: skip
        logger.info("call %s (stream %s) started; %d on the line", start.call_sid,
                    start.stream_sid, len(self.calls))  # fmt: skip
        return call

    async def _left(self, call: Call, ended: str) -> None:
        """The call is off this worker: its memory kept for another (or forgotten if it ended)."""
        self.calls.pop(call.sid, None)
        if getattr(call, "watch", None) is not None:
            call.watch.cancel()
        if self.shared and ended in FINAL:  # else a picture sent meanwhile waits for the next
            with contextlib.suppress(CallStateError):
                await self.relay.ended(call_key(call.start))
        await call.memory.close(ended)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"calls": len(self.calls), "finished": len(self.finished)})

    async def healthz(self, request: web.Request) -> web.Response:
        """For the load balancer: 200 while this worker takes calls; 503 while it drains or
        cannot reach the shared call state (the body says which)."""
        body = {"status": "draining" if self.draining else "ok", "calls": len(self.calls),
                "state": getattr(self.state, "url", type(self.state).__name__)}  # fmt: skip
        try:
            await asyncio.to_thread(self.state.get, "health", "ping")
        except CallStateError as e:
            body.update(status="state unreachable", error=str(e))
        return web.json_response(body, status=200 if body["status"] == "ok" else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        """Prometheus metrics (demo.metrics): counts and times only, no personal data."""
        m = self.runtime.metrics
        if m is None:
            return web.Response(status=404, text="no metrics: pip install prometheus-client")
        return web.Response(body=m.render(), headers={"Content-Type": CONTENT_TYPE})

    # -- screenshots --------------------------------------------------------------------------

    def _offer(self, start: Start, caller: str, said: str) -> str:
        """Runs in the responder's worker thread: a sentence offering an upload link, or ""."""
        if not OFFER_WORDS.search(said) or self.reader is None:
            return ""
        with self._lock:  # CallStateError (the shared state down or silent): see CallResponder
            code = self.links.issue(call_key(start))
        minutes = f"{round(self.links.ttl_s / 60)} minutes"
        o, base = self.options, self.options.public_url or self._host or "this line's web address"
        account = o.call.account_sid or start.account_sid
        if o.sms_from and caller and self.http is not None and account and o.auth_token:
            link = f"{base.rstrip('/')}/upload/{code}"
            request = twilio_sms(account, o.auth_token, caller, o.sms_from,
                                 f"Send your screenshot here (works once, for {minutes}): {link}")  # fmt: skip
            asyncio.run_coroutine_threadsafe(self.http(request), self._loop)
            return f"I've sent you a text message with a link for your screenshot. It works for {minutes}."  # fmt: skip
        spaced = " ".join(code[:3]) + ", " + " ".join(code[3:])
        return (f"You can send me a screenshot: open {base.rstrip('/')}/upload and enter the code "
                f"{spaced}. It works once, for {minutes}.")  # fmt: skip

    def _local(self, call_id: str) -> Call | None:
        """The call on this worker that `call_id` (a CallSid, or a stream sid) names."""
        return self.calls.get(call_id) or next((c for c in self.calls.values() if call_key(c.start) == call_id), None)  # fmt: skip

    async def _on_image(self, call_id: str, image, data: bytes) -> str:
        call = self._local(call_id)
        if call is None:
            if not self.shared:
                raise LookupError(call_id)
            await self.relay.send(call_id, data)  # on another worker (LookupError: on none)
            return "The agent has your picture. You can go back to the call."
        shots = await asyncio.to_thread(self.reader.read, [image])
        await call.add_screenshots(shots)
        return "The agent has your picture. You can go back to the call."

    async def _relayed(self, call_id: str, data: bytes) -> None:
        """A picture uploaded to another worker, already checked there, for a call here."""
        try:
            if self._local(call_id) is None:
                raise LookupError(f"the call {call_id} has left this worker")
            await self._on_image(call_id, load_image(data, source="upload", limits=ImageLimits()), data)  # fmt: skip
        except (ImageError, LookupError) as e:
            logger.warning("call %s: a relayed picture was dropped: %s", call_id, e)

    async def _started(self, app: web.Application) -> None:
        self._loop = asyncio.get_running_loop()

    async def serve(self, host: str, port: int) -> web.AppRunner:
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        return runner
