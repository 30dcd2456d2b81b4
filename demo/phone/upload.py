"""A screenshot during a phone call: a short-lived, single-use upload link.

The agent offers a link (`UploadLinks.issue(call_id)` -> a 6-digit code); the caller gets it by
SMS (https://HOST/upload/CODE) or hears the code and types it at https://HOST/upload. The page is
a minimal HTML form; the POST is checked (size before reading, type by its first bytes, pixel
count before decoding: vision.image), read by the ScreenshotReader and handed to the live call,
whose next turn it joins. A code works once and for `ttl_s` (10 minutes); too many wrong codes
from one address are refused for a while, so six digits cannot be guessed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html import escape

from aiohttp import web

from demo.phone.state import CallState, CallStateError, MemoryCallState
from vision.image import ImageError, ImageLimits, load_image

logger = logging.getLogger(__name__)


class UploadError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class UploadLinks:
    ttl_s: float = 600.0  # a code works this long after it is issued
    max_failures: int = 10  # wrong codes from one address before it is refused ...
    lockout_s: float = 600.0  # ... for this long
    clock: Callable[[], float] = time.time  # wall time: the codes may be shared by workers
    state: CallState = field(default_factory=MemoryCallState)  # where codes live (demo.phone.state)

    def issue(self, call_id: str) -> str:
        link = {"call_id": call_id, "expires_at": self.clock() + self.ttl_s, "used": False}
        while True:  # kept past its expiry for the lockout, to say "expired" or "used"
            code = f"{secrets.randbelow(10**6):06d}"
            if self.state.put("upload", code, link, self.ttl_s + self.lockout_s, new=True):
                return code

    def check(self, code: str, peer: str = "") -> str:
        """The call a code belongs to; UploadError if it is unknown, used, expired or the
        address has guessed too often."""
        now = self.clock()
        failed = self.state.get("upload_fail", peer) or {"times": []}
        recent = [t for t in failed["times"] if now - t < self.lockout_s]
        if len(recent) >= self.max_failures:
            raise UploadError(429, "too many wrong codes from this address; try again later")
        link = self.state.get("upload", code) if code.isdigit() else None
        problem = _problem(link, now)
        if problem:
            self.state.put("upload_fail", peer, {"times": [*recent, now]}, self.lockout_s)
            raise UploadError(404 if link is None else 410, problem)
        return link["call_id"]

    def redeem(self, code: str, peer: str = "") -> str:
        """As `check`, and the code is spent (by one worker only, if two race for it)."""
        self.check(code, peer)
        link = self.state.take("upload", code)
        if link is None or link["used"]:
            raise UploadError(410, "this code was already used; ask the agent for a new one")
        left = link["expires_at"] - self.clock() + self.lockout_s
        self.state.put("upload", code, {**link, "used": True}, max(left, 1.0), new=True)
        return link["call_id"]


def _problem(link: dict | None, now: float) -> str:
    if link is None:
        return "this code is not valid"
    if link["used"]:
        return "this code was already used; ask the agent for a new one"
    if now >= link["expires_at"]:
        return "this code has expired; ask the agent for a new one"
    return ""


OnImage = Callable[
    [str, object, bytes], Awaitable[str]
]  # (call id, vision Image, its bytes) -> what to show


def _page(title: str, body: str, status: int = 200) -> web.Response:
    html = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title></head><body style='font-family:sans-serif;"
        f"max-width:32em;margin:2em auto'><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=html, status=status, content_type="text/html")


def _unavailable(e: Exception) -> web.Response:
    """The shared call state is down: the caller may try again; the log says what to check."""
    logger.error("upload: %s", e)
    return _page("Try again in a minute", "<p>The line cannot take pictures just now. Your code "
                 "still works: try again in a minute.</p>", 503)  # fmt: skip


_FORM = (
    "<form method='post' enctype='multipart/form-data' action='{action}'>{code}"
    "<p><input type='file' name='image' accept='image/png,image/jpeg,image/webp' required></p>"
    "<p><button type='submit'>Send to the agent</button></p></form>"
    "<p>PNG, JPEG or WebP, up to {mb} MB.</p>"
)


class UploadPages:
    """GET /upload (type the code), GET /upload/{code} (the form), POST /upload[/{code}]."""

    def __init__(self, links: UploadLinks, on_image: OnImage, limits: ImageLimits | None = None):
        self.links, self.on_image, self.limits = links, on_image, limits or ImageLimits()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/upload", self.ask_code),
            web.post("/upload", self.post),
            web.get("/upload/{code}", self.form),
            web.post("/upload/{code}", self.post),
        ]

    def _form(self, action: str, ask_code: bool) -> str:
        code = "<p>Code: <input name='code' inputmode='numeric' maxlength='6' required></p>"
        mb = f"{self.limits.max_bytes / 1024**2:g}"
        return _FORM.format(action=action, code=code if ask_code else "", mb=mb)

    async def ask_code(self, request: web.Request) -> web.Response:
        return _page("Send a screenshot", self._form("/upload", ask_code=True))

    async def form(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        try:
            self.links.check(code, request.remote or "")
        except UploadError as e:
            logger.warning("upload page %s from %s: %s", code, request.remote, e.message)
            return _page("Link not valid", f"<p>{escape(e.message)}</p>", e.status)
        except CallStateError as e:
            return _unavailable(e)
        return _page("Send a screenshot", self._form(f"/upload/{escape(code)}", ask_code=False))

    async def post(self, request: web.Request) -> web.Response:
        peer = request.remote or ""
        try:
            code, data, name = await self._read(request)
            call_id = self.links.redeem(code, peer)
        except UploadError as e:
            logger.warning("upload from %s refused: %s", peer, e.message)
            return _page("Not sent", f"<p>{escape(e.message)}</p>", e.status)
        except CallStateError as e:
            return _unavailable(e)
        try:
            image = load_image(data, source=name or "upload", limits=self.limits)
        except ImageError as e:  # the code is spent: a bad file must not be retried forever
            logger.warning("upload for call %s refused: %s", call_id, e)
            return _page("Not sent", f"<p>{escape(str(e))}. Ask the agent for a new link.</p>", 415)
        try:
            said = await self.on_image(call_id, image, data)
        except LookupError:
            return _page("Call ended", "<p>That call has ended.</p>", 410)
        except UploadError as e:
            return _page("Not sent", f"<p>{escape(e.message)}</p>", e.status)
        except CallStateError as e:
            return _unavailable(e)
        return _page("Thank you", f"<p>{escape(said)}</p>")

    async def _read(self, request: web.Request) -> tuple[str, bytes, str]:
        code, data, name = request.match_info.get("code", ""), None, ""
        if request.content_length and request.content_length > self.limits.max_bytes + 65536:
            raise UploadError(413, f"the upload is over the {self.limits.max_bytes // 1024**2} MB limit")  # fmt: skip
        try:
            reader = await request.multipart()
        except (ValueError, AssertionError, KeyError):
            raise UploadError(400, "send the picture from the upload form") from None
        while (part := await reader.next()) is not None:
            if part.name == "code" and not code:
                code = (await part.text()).strip()[:6]
            elif part.name == "image":
                name = part.filename or "upload"
                buf = bytearray()
                while chunk := await part.read_chunk(65536):
                    buf += chunk
                    if len(buf) > self.limits.max_bytes:
                        raise UploadError(413, f"{name}: over the {self.limits.max_bytes // 1024**2} MB limit; send a smaller screenshot")  # fmt: skip
                data = bytes(buf)
        if data is None:
            raise UploadError(400, "no picture in the form (field 'image')")
        return code, data, name


class ImageRelay:
    """A picture uploaded to one worker for a call on another: the code's worker checks it and
    leaves it in the shared `CallState` ("image", stream sid); the call's worker looks every
    `every_s` and takes it. `live` marks the calls on this worker ("call", stream sid)."""

    def __init__(self, state: CallState, every_s: float = 0.5, ttl_s: float = 60.0):
        self.state, self.every_s, self.ttl_s = state, every_s, ttl_s

    async def live(self, call_id: str, ttl_s: float) -> None:
        await asyncio.to_thread(self.state.put, "call", call_id, {"on": True}, ttl_s)

    async def ended(self, call_id: str) -> None:
        await asyncio.to_thread(self.state.take, "call", call_id)

    async def send(self, call_id: str, data: bytes) -> None:
        """Leave `data` for call `call_id` on another worker; LookupError if it is on none."""
        if await asyncio.to_thread(self.state.get, "call", call_id) is None:
            raise LookupError(call_id)
        value = {"data": base64.b64encode(data).decode("ascii")}
        for _ in range(int(self.ttl_s / self.every_s)):  # one picture at a time per call
            if await asyncio.to_thread(self.state.put, "image", call_id, value, self.ttl_s, new=True):  # fmt: skip
                return
            await asyncio.sleep(self.every_s)
        raise UploadError(503, "the agent is still reading your last picture; try again in a minute")  # fmt: skip

    async def watch(self, call_id: str, on_data: Callable[[bytes], Awaitable[None]]) -> None:
        """Until cancelled: each picture left for `call_id` goes to `on_data`."""
        while True:
            await asyncio.sleep(self.every_s)
            try:
                if await asyncio.to_thread(self.state.get, "image", call_id) is None:
                    continue
                value = await asyncio.to_thread(self.state.take, "image", call_id)
            except CallStateError as e:
                logger.error("call %s: cannot look for uploaded pictures: %s", call_id, e)
                continue
            if value is not None:
                await on_data(base64.b64decode(value["data"]))
