"""The telephone provider's wire: media-stream messages, the webhook's signature and TwiML, and
the REST request that moves a call to a person.

`TwilioSerializer` is the only place that knows the Twilio Media Streams JSON:

    inbound   connected | start {streamSid, callSid, accountSid, customParameters, mediaFormat}
              | media {track, chunk, timestamp, payload: base64 8 kHz mu-law} | mark {name}
              | dtmf {digit} | stop
    outbound  media {payload} | mark {name} (echoed back once the audio before it was played)
              | clear (drop the audio not yet played: a barge-in)

Other providers differ in names, not in kind; a serializer for one keeps this class's verbs:
- Telnyx: `stream_id` for `streamSid`, `start.media_format` {encoding "PCMU", sample_rate,
  channels}, outbound `media` without a stream id; `mark` and `clear` as here.
- Plivo: `streamId`/`callId`, outbound `playAudio` {media: {contentType "audio/x-mulaw",
  sampleRate, payload}}, `checkpoint` {name} echoed as `playedStream`, and `clearAudio`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr


class WireError(ValueError):
    """A message from the provider that cannot be used; the call goes on without it."""


@dataclass(frozen=True)
class Connected:
    protocol: str = ""
    version: str = ""


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str = ""
    custom: dict[str, str] = field(default_factory=dict)  # the TwiML <Parameter>s
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1
    tracks: tuple[str, ...] = ("inbound",)


@dataclass(frozen=True)
class Media:
    stream_sid: str
    payload: bytes  # mu-law bytes, 160 per 20 ms
    track: str = "inbound"
    chunk: int = 0
    timestamp_ms: int = 0


@dataclass(frozen=True)
class Mark:
    stream_sid: str
    name: str


@dataclass(frozen=True)
class Dtmf:
    stream_sid: str
    digit: str


@dataclass(frozen=True)
class Stop:
    stream_sid: str
    call_sid: str = ""


Message = Connected | Start | Media | Mark | Dtmf | Stop
DIGITS = frozenset("0123456789*#ABCD")


class TwilioSerializer:
    name = "twilio"
    encoding, sample_rate = "audio/x-mulaw", 8000  # what the bridge accepts

    def parse(self, text: str | bytes) -> Message:
        try:
            m = json.loads(text)
        except (ValueError, UnicodeDecodeError) as e:
            raise WireError(f"not JSON ({e}): {_clip(text)}") from None
        if not isinstance(m, dict):
            raise WireError(f"not a JSON object: {_clip(text)}")
        event, sid = m.get("event"), str(m.get("streamSid", ""))
        try:
            if event == "connected":
                return Connected(str(m.get("protocol", "")), str(m.get("version", "")))
            if event == "start":
                s = m["start"]
                fmt = s.get("mediaFormat", {})
                return Start(
                    stream_sid=str(s.get("streamSid", sid)), call_sid=str(s["callSid"]),
                    account_sid=str(s.get("accountSid", "")),
                    custom={str(k): str(v) for k, v in (s.get("customParameters") or {}).items()},
                    encoding=str(fmt.get("encoding", self.encoding)),
                    sample_rate=int(fmt.get("sampleRate", self.sample_rate)),
                    channels=int(fmt.get("channels", 1)),
                    tracks=tuple(s.get("tracks", ("inbound",))),
                )  # fmt: skip
            if event == "media":
                media = m["media"]
                payload = base64.b64decode(media["payload"], validate=True)
                return Media(sid, payload, str(media.get("track", "inbound")),
                             int(media.get("chunk", 0)), int(media.get("timestamp", 0)))  # fmt: skip
            if event == "mark":
                return Mark(sid, str(m["mark"]["name"]))
            if event == "dtmf":
                digit = str(m["dtmf"]["digit"])
                if digit not in DIGITS:
                    raise WireError(f"dtmf digit {digit!r} is not one of {''.join(sorted(DIGITS))}")
                return Dtmf(sid, digit)
            if event == "stop":
                return Stop(sid, str((m.get("stop") or {}).get("callSid", "")))
        except (KeyError, TypeError, AttributeError) as e:
            raise WireError(f"{event} message without {e}: {_clip(text)}") from None
        except (binascii.Error, ValueError) as e:
            if isinstance(e, WireError):
                raise
            raise WireError(f"{event} message with a bad field ({e}): {_clip(text)}") from None
        raise WireError(
            f"unknown event {event!r}; known: connected, start, media, mark, dtmf, stop"
        )

    def encode_media(self, stream_sid: str, payload: bytes) -> str:
        b64 = base64.b64encode(payload).decode("ascii")
        return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": b64}})

    def encode_mark(self, stream_sid: str, name: str) -> str:
        return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})

    def encode_clear(self, stream_sid: str) -> str:
        return json.dumps({"event": "clear", "streamSid": stream_sid})


def _clip(text: str | bytes, n: int = 80) -> str:
    s = text if isinstance(text, str) else repr(text)
    return repr(s[:n] + ("..." if len(s) > n else ""))


# -- the webhook --------------------------------------------------------------------------------


def twilio_signature(url: str, params: Iterable[tuple[str, str]], token: str) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1, keyed by the auth token, of the full URL (with its
    query string) followed by each POST parameter's name and value, sorted by name (then value)."""
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def signature_ok(url: str, params: Iterable[tuple[str, str]], token: str, given: str) -> bool:
    return bool(given) and hmac.compare_digest(twilio_signature(url, params, token), given)


def twiml_stream(stream_url: str, parameters: Mapping[str, str], then: str = "") -> str:
    """TwiML that connects the call's audio to `stream_url` (wss://HOST/media). `then`: the
    webhook the provider goes back to when the stream drops (a worker lost mid-call: another
    one takes the call on); "" hangs up there."""
    params = "".join(
        f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in parameters.items()
    )
    redirect = f'<Redirect method="POST">{escape(then)}</Redirect>' if then else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        f"<Stream url={quoteattr(stream_url)}>{params}</Stream></Connect>{redirect}</Response>"
    )


def twiml_hangup() -> str:
    return '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'


def twiml_busy(says: Mapping[str, str], target: str = "") -> str:
    """TwiML for a full line: the busy message in each language (`says`: language -> text),
    then a transfer to `target` (a number or a SIP URI), or a hang-up when there is none."""
    voices = {"en": "en-US", "zh": "zh-CN"}
    say_xml = "".join(
        f"<Say language={quoteattr(voices.get(lang, lang))}>{escape(text)}</Say>"
        for lang, text in says.items()
    )
    if not target:
        return f'<?xml version="1.0" encoding="UTF-8"?><Response>{say_xml}<Hangup/></Response>'
    dial = f"<Sip>{escape(target)}</Sip>" if target.startswith("sip:") else f"<Number>{escape(target)}</Number>"  # fmt: skip
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{say_xml}<Dial>{dial}</Dial></Response>'
    )


def twiml_dial(target: str, say: str = "", headers: Mapping[str, str] | None = None) -> str:
    """TwiML that dials a person: a SIP URI (with `headers` as X- SIP headers) or a number."""
    say_xml = f"<Say>{escape(say)}</Say>" if say else ""
    if target.startswith("sip:"):
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in (headers or {}).items())
        uri = target + ("?" + query if query else "")
        dial = f"<Sip>{escape(uri)}</Sip>"
    else:
        dial = f"<Number>{escape(target)}</Number>"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Response>{say_xml}<Dial>{dial}</Dial></Response>'
    )


# -- the REST API -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRequest:
    """One provider API call, built here and sent by an injectable client."""

    method: str
    url: str
    form: dict[str, str]
    auth: tuple[str, str]  # HTTP Basic (account SID, auth token)


TWILIO_API = "https://api.twilio.com/2010-04-01"


def twilio_update_call(account_sid: str, call_sid: str, twiml: str, token: str) -> HttpRequest:
    """Replace a live call's instructions (POST .../Calls/{CallSid}.json Twiml=...)."""
    url = f"{TWILIO_API}/Accounts/{account_sid}/Calls/{call_sid}.json"
    return HttpRequest("POST", url, {"Twiml": twiml}, (account_sid, token))


def twilio_sms(account_sid: str, token: str, to: str, sender: str, body: str) -> HttpRequest:
    url = f"{TWILIO_API}/Accounts/{account_sid}/Messages.json"
    return HttpRequest("POST", url, {"To": to, "From": sender, "Body": body}, (account_sid, token))


def twiml_redirect(url: str) -> str:
    """TwiML that sends a live call to a webhook again (`url`): a draining worker's calls are
    taken on by another worker."""
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Redirect method="POST">{escape(url)}</Redirect></Response>'  # fmt: skip


async def aiohttp_client(request: HttpRequest) -> int:
    """Sends a provider API request; returns the HTTP status."""
    import aiohttp

    auth = aiohttp.BasicAuth(*request.auth)
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as s,
        s.request(request.method, request.url, data=request.form, auth=auth) as r,
    ):
        return r.status


def call_key(start: Start) -> str:
    """What names a call across workers: its CallSid (a call carried on by another worker has
    a new stream sid), else the stream sid. Upload codes and relayed pictures use it."""
    return start.call_sid or start.stream_sid
