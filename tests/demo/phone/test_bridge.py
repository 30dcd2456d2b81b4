"""The phone line on loopback: a real aiohttp server (webhook, media stream, upload pages) and a
real WebSocket client speaking the Twilio Media Streams protocol, in real time. Tones stand for
speech (ToneASR, ToneTTS); the Agent is the real one over a FakeNLU and a small back office."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import zlib

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from demo.phone.bridge import PhoneBridge, PhoneOptions
from demo.phone.call import CallOptions
from demo.phone.sim import SimOptions, run_callers, sim_call
from demo.phone.upload import UploadLinks
from demo.phone.wire import (
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    TwilioSerializer,
    WireError,
    twilio_signature,
    twiml_dial,
    twiml_stream,
)  # fmt: skip
from demo.runtime import Runtime
from dialogue.agent import AgentServices
from tests.fakes import FakeNLU, FakeOCR
from tests.voice.live.test_session import ToneASR, ToneTTS, timeline
from vision.see import ScreenshotReader
from voice.codec import mulaw_encode
from voice.live.session import SessionOptions, VoiceSession
from voice.live.stream_vad import EnergyStream, StreamVAD

TOKEN = "test-auth-token"
CALLER = {200: "where is my order", 250: "I want to talk to a person",
          300: "I have a screenshot", 350: "wait, stop"}  # fmt: skip
HZ = {text: hz for hz, text in CALLER.items()}
SCRIPT = {
    "where is my order": ("order_status", 0.97, ()),
    "I want to talk to a person": ("talk_to_human", 0.97, ()),
    "I have a screenshot": ("order_status", 0.9, ()),
    "45": ("order_status", 0.9, ()),
}


class Captured:
    """The provider's REST API, never reached: the requests are kept."""

    def __init__(self):
        self.requests = []

    async def __call__(self, request) -> int:
        self.requests.append(request)
        return 200


def make_bridge(office, tmp_path, token: str = "", tts_s: float = 0.01, links=None, metrics=None, asr=None, session=None):  # fmt: skip
    ocr = FakeOCR(lines=(("Order #W1234567 payment failed", (10, 10, 300, 30)),))
    services = AgentServices(nlu=FakeNLU(SCRIPT), office=office, reader=ScreenshotReader(ocr))
    asr, tts = asr or ToneASR(CALLER), ToneTTS(seconds_per_char=tts_s)
    session = session or SessionOptions(silence_timeout_s=None)

    def new_session(responder):
        return VoiceSession(StreamVAD(EnergyStream()), asr, responder, tts, session,
                            in_rate=8000, out_rate=8000)  # fmt: skip

    call = CallOptions(greeting="", out_dir=tmp_path / "calls", transfer_to="sip:desk@pbx.example",
                       dtmf_pause_s=0.5, heard_timeout_s=5.0)  # fmt: skip
    http = Captured()
    bridge = PhoneBridge(Runtime(services, metrics=metrics), new_session, PhoneOptions(auth_token=token, call=call),
                         http=http, links=links, reader=services.reader)  # fmt: skip
    return bridge, http


async def serving(bridge, port: int = 0) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(bridge.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def caller(*parts) -> np.ndarray:
    return timeline(*parts, sr=8000).samples


def start_message(sid="MZ1", call="CA1", params=None) -> str:
    return json.dumps({"event": "start", "streamSid": sid, "start": {
        "streamSid": sid, "callSid": call, "accountSid": "AC1", "tracks": ["inbound"],
        "customParameters": params or {},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})  # fmt: skip


def transcript_of(tmp_path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "calls").glob("*/transcript.json"))]  # fmt: skip


# -- the wire -------------------------------------------------------------------------------------


def test_the_serializer_reads_and_writes_twilio_messages():
    s = TwilioSerializer()
    start = s.parse(start_message(params={"token": "t"}))
    assert start == Start("MZ1", "CA1", "AC1", {"token": "t"}, "audio/x-mulaw", 8000, 1, ("inbound",))  # fmt: skip
    frame = bytes(range(160))
    media = s.parse(json.dumps({"event": "media", "streamSid": "MZ1", "media": {
        "track": "inbound", "chunk": "2", "timestamp": "20", "payload": base64.b64encode(frame).decode()}}))  # fmt: skip
    assert media == Media("MZ1", frame, "inbound", 2, 20)
    assert s.parse('{"event":"mark","streamSid":"MZ1","mark":{"name":"reply-1"}}') == Mark("MZ1", "reply-1")  # fmt: skip
    assert s.parse('{"event":"dtmf","streamSid":"MZ1","dtmf":{"digit":"5"}}') == Dtmf("MZ1", "5")
    assert s.parse('{"event":"stop","streamSid":"MZ1","stop":{"callSid":"CA1"}}') == Stop("MZ1", "CA1")  # fmt: skip
    out = json.loads(s.encode_media("MZ1", frame))
    assert out == {"event": "media", "streamSid": "MZ1", "media": {"payload": base64.b64encode(frame).decode()}}  # fmt: skip
    assert json.loads(s.encode_mark("MZ1", "r")) == {"event": "mark", "streamSid": "MZ1", "mark": {"name": "r"}}  # fmt: skip
    assert json.loads(s.encode_clear("MZ1")) == {"event": "clear", "streamSid": "MZ1"}


@pytest.mark.parametrize("text, says", [
    ("not json", "not JSON"),
    ('{"event":"media","streamSid":"x","media":{"payload":"!!notbase64"}}', "bad field"),
    ('{"event":"hello"}', "unknown event 'hello'"),
    ('{"event":"start","start":{}}', "without 'callSid'"),
    ('{"event":"dtmf","dtmf":{"digit":"x"}}', "dtmf digit"),
    ("[1, 2]", "not a JSON object"),
])  # fmt: skip
def test_malformed_messages_say_what_is_wrong(text, says):
    with pytest.raises(WireError, match=says):
        TwilioSerializer().parse(text)


def test_signature_matches_twilios_documented_example():
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675310", "Digits": "1234",
              "From": "+14158675310", "To": "+18005551212"}  # fmt: skip
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature(url, params.items(), "12345") == "GvWf1cFY/Q7PnoempGyD5oXAezc="


def test_twiml():
    xml = twiml_stream("wss://h/media", {"token": "a&b"})
    assert '<Connect><Stream url="wss://h/media"><Parameter name="token" value="a&amp;b"/>' in xml
    dial = twiml_dial("sip:desk@pbx", "Connecting.", {"X-CCA-Summary": "intent=x;orders=-"})
    assert "<Dial><Sip>sip:desk@pbx?X-CCA-Summary=intent%3Dx%3Border" in dial
    assert "<Number>+15550100</Number>" in twiml_dial("+15550100")


# -- calls on loopback ----------------------------------------------------------------------------


def test_a_call_end_to_end_with_a_signed_webhook(office, tmp_path):
    bridge, _ = make_bridge(office, tmp_path, token=TOKEN)
    bridge.options = PhoneOptions(auth_token=TOKEN, call=CallOptions(greeting="Hello.", out_dir=tmp_path / "calls"))  # fmt: skip
    audio = caller((0.8, None), (1.0, HZ["where is my order"]))  # after the 0.3 s greeting
    messages: list[dict] = []

    async def go():
        runner, base = await serving(bridge)
        try:
            async with aiohttp.ClientSession() as s:
                opts = SimOptions(tail_s=2.5, webhook=True, auth_token=TOKEN)
                return await sim_call(s, base, audio, options=opts, messages=messages)
        finally:
            await runner.cleanup()

    result = asyncio.run(go())
    assert result["ok"] and result["replies"] >= 2  # the greeting, then the answer
    media = [m for m in messages if m["event"] == "media"]
    assert {len(base64.b64decode(m["media"]["payload"])) for m in media} == {160}
    assert all(m["streamSid"] == messages[0]["streamSid"] for m in messages)
    marks = [m["mark"]["name"] for m in messages if m["event"] == "mark"]
    assert marks[:2] == ["reply-1", "reply-2"] and result["marks_echoed"] >= 2
    assert messages.index(next(m for m in messages if m["event"] == "mark")) > 0  # after media
    (latency,) = result["turn_latency_ms"]
    assert 300 < latency < 2000 and result["late_frames"] == 0
    (record,) = transcript_of(tmp_path)
    said = [e["text"] for e in record["entries"] if e["role"] == "caller"]
    assert said == ["where is my order"] and record["turns"][0]["intent"] == "order_status"
    assert record["mark_delays_ms"] and (tmp_path / "calls" / result["call_sid"] / "recording.wav").stat().st_size > 8000 * 4 * 3  # fmt: skip


def test_forged_or_unsigned_webhooks_and_unannounced_streams_are_refused(office, tmp_path, caplog):
    bridge, _ = make_bridge(office, tmp_path, token=TOKEN)
    form = {"CallSid": "CA9", "From": "+15550100"}

    async def go():
        runner, base = await serving(bridge)
        out = {}
        try:
            async with aiohttp.ClientSession() as s:
                async with s.post(base + "/voice", data=form) as r:
                    out["unsigned"] = r.status
                forged = twilio_signature(base + "/voice", form.items(), "not-the-token")
                async with s.post(base + "/voice", data=form, headers={"X-Twilio-Signature": forged}) as r:  # fmt: skip
                    out["forged"] = r.status
                good = twilio_signature(base + "/voice", form.items(), TOKEN)
                async with s.post(base + "/voice", data=form, headers={"X-Twilio-Signature": good}) as r:  # fmt: skip
                    out["signed"], out["twiml"] = r.status, await r.text()
                for name, params in (("unannounced", {}), ("made_up", {"token": "guess"})):
                    ws = await s.ws_connect(base.replace("http", "ws") + "/media")
                    await ws.send_str(start_message(call="CA9", params=params))
                    msg = await ws.receive(timeout=5)
                    out[name] = (msg.type, ws.close_code)
                    await ws.close()
        finally:
            await runner.cleanup()
        return out

    with caplog.at_level(logging.WARNING, logger="demo.phone.bridge"):
        out = asyncio.run(go())
    assert out["unsigned"] == 403 and out["forged"] == 403 and out["signed"] == 200
    assert '<Parameter name="token"' in out["twiml"]
    assert out["unannounced"] == (aiohttp.WSMsgType.CLOSE, 1008) and out["made_up"][1] == 1008
    logs = caplog.text
    assert "refused (403): no X-Twilio-Signature" in logs and "invalid X-Twilio-Signature" in logs
    assert "unannounced stream" in logs and bridge.calls == {}


def test_malformed_frames_are_logged_and_the_call_goes_on(office, tmp_path, caplog):
    bridge, _ = make_bridge(office, tmp_path)
    audio = caller((0.3, None), (1.0, HZ["where is my order"]), (2.0, None))
    payload = mulaw_encode(audio)

    async def go():
        runner, base = await serving(bridge)
        got = []
        try:
            async with aiohttp.ClientSession() as s:
                ws = await s.ws_connect(base.replace("http", "ws") + "/media")
                await ws.send_str('{"event":"media","media":{"payload":"AAAA"}}')  # before start
                await ws.send_str(start_message())
                for bad in ("{not json", '{"event":"media","streamSid":"MZ1","media":{"payload":"%%%"}}',
                            '{"event":"surprise"}'):  # fmt: skip
                    await ws.send_str(bad)
                await ws.send_bytes(b"\x00\x01")
                for k in range(0, len(payload), 160):
                    b64 = base64.b64encode(payload[k : k + 160]).decode()
                    await ws.send_str(json.dumps({"event": "media", "streamSid": "MZ1", "media": {"payload": b64}}))  # fmt: skip
                    await asyncio.sleep(0.02)
                    while (msg := await _poll(ws)) is not None:
                        got.append(json.loads(msg))
                await ws.send_str('{"event":"stop","streamSid":"MZ1"}')
                await ws.close()
            await asyncio.sleep(0.3)
        finally:
            await runner.cleanup()
        return got

    with caplog.at_level(logging.WARNING):
        got = asyncio.run(go())
    assert any(m["event"] == "media" for m in got)  # the agent answered after all that
    logs = caplog.text
    for says in ("Media before start", "not JSON", "bad field", "unknown event 'surprise'", "binary frame"):  # fmt: skip
        assert says in logs
    (record,) = transcript_of(tmp_path)
    assert record["ended"] == "hangup" and record["turns"][0]["transcript"] == "where is my order"


async def _poll(ws):
    try:
        msg = await ws.receive(timeout=0.001)
    except TimeoutError:
        return None
    return msg.data if msg.type == aiohttp.WSMsgType.TEXT else None


def test_keypad_digits_reach_the_agent_as_a_text_turn(office, tmp_path):
    bridge, _ = make_bridge(office, tmp_path)

    async def go():
        runner, base = await serving(bridge)
        try:
            async with aiohttp.ClientSession() as s:
                opts = SimOptions(tail_s=2.5, dtmf="45#", dtmf_at_s=0.3)
                return await sim_call(s, base, np.zeros(8000, np.float32), options=opts)
        finally:
            await runner.cleanup()

    result = asyncio.run(go())
    (record,) = transcript_of(tmp_path)
    assert [t["text"] for t in record["turns"]] == ["45"]
    assert {"role": "caller", "source": "keypad", "text": "45"}.items() <= record["entries"][0].items()  # fmt: skip
    assert result["replies"] == 1  # and the agent spoke its answer


def test_a_handoff_moves_the_call_with_a_summary(office, tmp_path):
    bridge, http = make_bridge(office, tmp_path, token=TOKEN)
    audio = caller((0.3, None), (1.0, HZ["where is my order"]), (1.5, None),
                   (1.0, HZ["I want to talk to a person"]))  # fmt: skip

    async def go():
        runner, base = await serving(bridge)
        try:
            async with aiohttp.ClientSession() as s:
                opts = SimOptions(tail_s=6.0, webhook=True, auth_token=TOKEN)
                return await sim_call(s, base, audio, options=opts)
        finally:
            await runner.cleanup()

    result = asyncio.run(go())
    assert result["ended_by"] == "agent"  # the bridge closed the stream after the hand-over
    (request,) = http.requests
    assert request.method == "POST" and request.url.endswith(f"/Accounts/{'AC' + '0' * 32}/Calls/{result['call_sid']}.json")  # fmt: skip
    assert request.auth == ("AC" + "0" * 32, TOKEN)
    assert "<Dial><Sip>sip:desk@pbx.example?X-CCA-Summary=intent%3Dtalk_to_human" in request.form["Twiml"]  # fmt: skip
    assert "lang%3Den" in request.form["Twiml"]
    (record,) = transcript_of(tmp_path)
    assert record["transfer"]["summary"]["intent"] == "talk_to_human" and record["transfer"]["status"] == 200  # fmt: skip
    assert record["ended"] == "handoff"


def test_an_asr_server_that_is_down_gets_an_apology_then_the_call_moves_to_a_person(office, tmp_path):  # fmt: skip
    """The line's shared ASR server cannot be reached (`--asr http://...` to a closed port): the
    caller hears the apology, then the handover, and the call is transferred; never silence."""
    from voice.asr.remote import RemoteASR

    bridge, http = make_bridge(office, tmp_path, token=TOKEN, asr=RemoteASR("http://127.0.0.1:1", timeout_s=2))  # fmt: skip
    audio = caller((0.3, None), (1.0, HZ["where is my order"]), (4.0, None),
                   (1.0, HZ["I want to talk to a person"]))  # fmt: skip

    async def go():
        runner, base = await serving(bridge)
        try:
            async with aiohttp.ClientSession() as s:
                opts = SimOptions(tail_s=8.0, webhook=True, auth_token=TOKEN)
                return await sim_call(s, base, audio, options=opts)
        finally:
            await runner.cleanup()

    result = asyncio.run(go())
    assert result["ended_by"] == "agent"
    (record,) = transcript_of(tmp_path)
    said = [e["text"] for e in record["entries"] if e["role"] == "agent"]
    options = SessionOptions()
    assert said[:2] == [options.apology["en"], options.handover["en"]]
    assert record["ended"] == "handoff" and "<Dial>" in http.requests[0].form["Twiml"]


def test_a_turn_spoken_over_the_greeting_is_answered_though_the_asr_is_slow(office, tmp_path):
    """The caller talks over the greeting and stops before it ends; the agent only ducks its
    voice (no pause), and the quick transcript that would judge the speech takes 2.5 s (a loaded
    CPU): the greeting ends first. The speech is still the caller's first turn, and answered."""
    from voice.live.clock import RealClock

    slow = ToneASR(CALLER, clock=RealClock(), latency_s=2.5)
    options = SessionOptions(silence_timeout_s=None, barge_in_pause_s=None)
    bridge, _ = make_bridge(office, tmp_path, tts_s=0.04, asr=slow, session=options)
    bridge.options = PhoneOptions(call=CallOptions(greeting="Hello, thanks for calling.", out_dir=tmp_path / "calls"))  # fmt: skip
    audio = caller((0.3, None), (0.5, HZ["where is my order"]))  # the greeting plays ~1.04 s

    async def go():
        runner, base = await serving(bridge)
        try:
            async with aiohttp.ClientSession() as s:
                return await sim_call(s, base, audio, options=SimOptions(tail_s=5.5))
        finally:
            await runner.cleanup()

    result = asyncio.run(go())
    assert result["ok"] and result["replies"] >= 2  # the greeting, then the answer
    (record,) = transcript_of(tmp_path)
    said = [(e["role"], e["text"]) for e in record["entries"] if e["role"] in ("caller", "agent")]
    assert said[0] == ("caller", "where is my order") and said[1][0] == "agent"
    assert [t["transcript"] for t in record["turns"]] == ["where is my order"]
    assert not any(e["role"] == "event" for e in record["entries"])  # no barge-in


def test_a_turn_over_the_greeting_is_answered_though_its_quick_transcripts_fail(office, tmp_path):  # fmt: skip
    """A short turn over the greeting on an overloaded ASR server: the quick transcript and the
    one at the speech's end both fail. The speech is not taken for silence: the greeting
    stops and the turn's own transcript, taken again, is answered."""
    from tests.voice.live.test_session_kept_turns import FlakyASR

    flaky = FlakyASR(CALLER, fail={"where is my order": 2})
    bridge, _ = make_bridge(office, tmp_path, tts_s=0.04, asr=flaky)
    greeting = "Hello, thanks for calling. How can I help you today?"  # ~2 s
    bridge.options = PhoneOptions(call=CallOptions(greeting=greeting, out_dir=tmp_path / "calls"))
    audio = caller((0.3, None), (0.5, HZ["where is my order"]))

    async def go():
        runner, base = await serving(bridge)
        try:
            async with aiohttp.ClientSession() as s:
                return await sim_call(s, base, audio, options=SimOptions(tail_s=3.0))
        finally:
            await runner.cleanup()

    result = asyncio.run(go())
    assert result["ok"] and flaky.failed == 2
    (record,) = transcript_of(tmp_path)
    assert [t["transcript"] for t in record["turns"]] == ["where is my order"]
    said = [(e["role"], e["text"]) for e in record["entries"] if e["role"] in ("caller", "agent")]
    assert said[-2] == ("caller", "where is my order") and said[-1][0] == "agent"


def test_a_barge_in_clears_the_providers_buffer(office, tmp_path):
    bridge, _ = make_bridge(office, tmp_path, tts_s=0.06)  # replies of several seconds
    audio = caller((0.3, None), (1.0, HZ["where is my order"]), (1.8, None), (1.2, HZ["wait, stop"]))  # fmt: skip
    messages: list[dict] = []

    async def go():
        runner, base = await serving(bridge)
        try:
            async with aiohttp.ClientSession() as s:
                return await sim_call(s, base, audio, options=SimOptions(tail_s=1.5), messages=messages)  # fmt: skip
        finally:
            await runner.cleanup()

    result = asyncio.run(go())
    kinds = [m["event"] for m in messages]
    assert "clear" in kinds and result["clears"] == 1
    assert kinds.index("clear") > kinds.index("media")
    (record,) = transcript_of(tmp_path)
    assert any(e["role"] == "event" and e["text"] == "barge_in" for e in record["entries"])


def test_four_calls_at_once(office, tmp_path):
    bridge, _ = make_bridge(office, tmp_path)
    audio = caller((0.3, None), (1.0, HZ["where is my order"]))

    async def go():
        runner, base = await serving(bridge)
        try:
            return await run_callers(base, audio, 4, SimOptions(tail_s=2.5), stagger_s=0.05)
        finally:
            await runner.cleanup()

    summary = asyncio.run(go())
    assert summary["ok"] == 4 and summary["turn_latency_ms"]["n"] == 4
    assert summary["turn_latency_ms"]["p95"] < 2000 and summary["late_frames"] == 0
    records = transcript_of(tmp_path)
    assert len(records) == 4 and all(r["turns"][0]["intent"] == "order_status" for r in records)


# -- screenshots during a call --------------------------------------------------------------------


def png(size=(64, 32)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, "white").save(buf, "PNG")
    return buf.getvalue()


def png_bomb(side: int = 100_000) -> bytes:
    """A small PNG whose header claims a side x side canvas (10 gigapixels)."""
    data = bytearray(png())
    data[16:24] = side.to_bytes(4, "big") * 2
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


def test_upload_codes_expire_and_work_once():
    now = [0.0]
    links = UploadLinks(ttl_s=600, clock=lambda: now[0])
    code = links.issue("MZ1")
    assert len(code) == 6 and code.isdigit()
    assert links.check(code) == "MZ1"
    assert links.redeem(code) == "MZ1"
    with pytest.raises(Exception, match="already used"):
        links.redeem(code)
    late = links.issue("MZ1")
    now[0] = 600.0
    with pytest.raises(Exception, match="expired") as e:
        links.check(late)
    assert e.value.status == 410
    for _ in range(10):
        with pytest.raises(Exception, match="not valid"):
            links.check("000000" if late != "000000" else "111111", peer="1.2.3.4")
    with pytest.raises(Exception, match="too many wrong codes"):
        links.check(links.issue("MZ2"), peer="1.2.3.4")


def test_an_uploaded_screenshot_joins_the_call(office, tmp_path):
    now = [0.0]
    links = UploadLinks(ttl_s=600, clock=lambda: now[0])
    bridge, _ = make_bridge(office, tmp_path, links=links)
    audio = caller((0.3, None), (1.0, HZ["I have a screenshot"]))
    messages: list[dict] = []
    pages = {}

    async def upload(base):
        while not links.state.keys("upload"):  # the agent's reply offers a code
            await asyncio.sleep(0.05)
        (code,) = links.state.keys("upload")
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/upload/{code}") as r:
                pages["form"] = (r.status, await r.text())
            bomb = png_bomb()
            for name, data in (("good", png()), ("again", png())):
                form = aiohttp.FormData()
                form.add_field("image", data, filename="shot.png", content_type="image/png")
                async with s.post(f"{base}/upload/{code}", data=form) as r:
                    pages[name] = (r.status, await r.text())
            code2 = links.issue(next(iter(bridge.calls)))
            form = aiohttp.FormData()
            form.add_field("image", bomb, filename="bomb.png", content_type="image/png")
            async with s.post(f"{base}/upload/{code2}", data=form) as r:
                pages["bomb"] = (r.status, await r.text())
            now[0] = 601.0
            async with s.get(f"{base}/upload/{links.issue('x')}") as r:
                pages["fresh"] = r.status

    async def go():
        runner, base = await serving(bridge)
        try:
            async with aiohttp.ClientSession() as s:
                up = asyncio.create_task(upload(base))
                result = await sim_call(s, base, audio, options=SimOptions(tail_s=5.0), messages=messages)  # fmt: skip
                await up
                return result
        finally:
            await runner.cleanup()

    result = asyncio.run(go())
    assert pages["form"][0] == 200 and "<form" in pages["form"][1]
    assert pages["good"][0] == 200 and "agent has your picture" in pages["good"][1]
    assert pages["again"][0] == 410 and "already used" in pages["again"][1]
    assert pages["bomb"][0] == 415 and "bomb.png" in pages["bomb"][1]
    (record,) = transcript_of(tmp_path)
    first, shot = record["turns"]
    assert "upload and enter the code" in next(e["text"] for e in record["entries"] if e["role"] == "agent")  # fmt: skip
    assert shot["screenshots"] and shot["screenshots"][0]["fields"]["order_number"] == ["W1234567"]
    # the offer, heard out; then the agent speaks about the picture
    roles = [(e["role"], e.get("source", "")) for e in record["entries"] if e["role"] != "metrics"]
    assert roles == [("caller", "voice"), ("agent", ""), ("caller", "upload"), ("agent", "")]
    assert result["marks_echoed"] == 2


def test_a_card_typed_on_the_keypad_never_reaches_the_records(office, tmp_path):
    bridge, _ = make_bridge(office, tmp_path)
    card = "4111111111111111"

    async def go():
        runner, base = await serving(bridge)
        try:
            async with aiohttp.ClientSession() as s:
                opts = SimOptions(tail_s=2.5, dtmf=card + "#", dtmf_at_s=0.3)
                return await sim_call(s, base, np.zeros(8000, np.float32), options=opts)
        finally:
            await runner.cleanup()

    asyncio.run(go())
    (folder,) = (tmp_path / "calls").iterdir()
    text = (folder / "transcript.json").read_text()
    assert card not in text and "[CARD]" in text


def scraped(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, from the Prometheus text format."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (smp.name, tuple(sorted(smp.labels.items()))): smp.value
        for family in text_string_to_metric_families(text)
        for smp in family.samples
    }


def test_metrics_move_during_a_simulated_call(office, tmp_path):
    from demo.metrics import Metrics

    bridge, _ = make_bridge(office, tmp_path, token=TOKEN, metrics=Metrics())
    audio = caller((0.3, None), (1.0, HZ["where is my order"]), (1.5, None),
                   (1.0, HZ["I want to talk to a person"]))  # fmt: skip
    during: list[dict] = []

    async def go():
        runner, base = await serving(bridge)
        try:
            async with aiohttp.ClientSession() as s:

                async def scrape_while_the_call_runs():
                    for _ in range(40):
                        async with s.get(f"{base}/metrics") as r:
                            assert r.status == 200 and r.headers["Content-Type"].startswith(
                                "text/plain"
                            )
                            during.append(scraped(await r.text()))
                        await asyncio.sleep(0.1)

                scraper = asyncio.create_task(scrape_while_the_call_runs())
                opts = SimOptions(tail_s=6.0, webhook=True, auth_token=TOKEN)
                result = await sim_call(s, base, audio, options=opts)
                # a stream no webhook announced is refused, and counted
                async with s.ws_connect(base.replace("http", "ws") + "/media") as ws:
                    await ws.send_str(start_message(sid="MZ9", call="CA9"))
                    await ws.receive()
                await scraper
                async with s.get(f"{base}/metrics") as r:
                    return result, scraped(await r.text())
        finally:
            await runner.cleanup()

    result, after = asyncio.run(go())
    assert result["ok"]
    active = ("cca_sessions_active", (("channel", "phone"),))
    assert max(m.get(active, 0) for m in during) == 1 and after[active] == 0  # open, then closed
    assert after[("cca_sessions_total", (("channel", "phone"),))] == 1
    turns = sum(v for (name, _), v in after.items() if name == "cca_turns_total")
    assert turns == 2
    assert after[("cca_handoffs_total", (("channel", "phone"), ("reason", "asked")))] == 1
    assert after[("cca_voice_to_voice_seconds_count", (("channel", "phone"),))] == 2
    stages = {
        dict(labels)["stage"]
        for (name, labels), v in after.items()
        if name == "cca_stage_seconds_count" and v
    }
    assert {"endpoint", "asr", "respond", "tts_first_audio", "nlu", "policy"} <= stages
    assert after[("cca_calls_refused_total", (("reason", "token"),))] == 1
    assert (
        "cca_model_queue_depth",
        (("server", "asr"),),
    ) not in after  # no shared ASR in this test


def test_a_full_line_says_so_and_transfers_never_a_time_out(office, tmp_path):
    """With --max-calls 1, a second caller while the first is on the line gets a busy message in
    English and Chinese and a transfer to a person; it is counted as refused (line_full)."""
    from demo.metrics import Metrics

    bridge, _ = make_bridge(office, tmp_path, metrics=Metrics())
    bridge.options = PhoneOptions(max_calls=1, call=CallOptions(greeting="", transfer_to="sip:desk@pbx.example", out_dir=tmp_path / "calls"))  # fmt: skip

    async def go():
        runner, base = await serving(bridge)
        try:
            async with aiohttp.ClientSession() as s:
                answers = []
                for sid in ("CA1", "CA2"):
                    async with s.post(f"{base}/voice", data={"CallSid": sid, "From": "+15550100"}) as r:  # fmt: skip
                        answers.append((r.status, await r.text()))
                async with s.get(f"{base}/metrics") as r:
                    return answers, scraped(await r.text())
        finally:
            await runner.cleanup()

    (first, second), metrics = asyncio.run(go())
    assert first[0] == 200 and "<Stream" in first[1]  # the first call is taken
    assert second[0] == 200 and "<Stream" not in second[1]
    assert "all our lines are busy" in second[1] and "目前线路繁忙" in second[1]
    assert second[1].index("<Say") < second[1].index("<Dial><Sip>sip:desk@pbx.example</Sip></Dial>")
    assert metrics[("cca_calls_refused_total", (("reason", "line_full"),))] == 1


@pytest.mark.parametrize(("kind", "template", "expect"),
                         [("confirm", "confirm_action", "yes_no"), ("confirm", "ask_yes_no", "yes_no"),
                          ("ask", "ask_auth", "email"), ("answer", "kb_answer", "")])  # fmt: skip
def test_a_calls_reply_says_what_it_asks_for_as_the_voice_agents_does(kind, template, expect):
    """The phone line's replies expect what AgentResponder's expect: a yes or a no after a
    write's confirmation question, so that "yeah" over that question answers it on a call too."""
    from types import SimpleNamespace

    from demo.phone.responder import CallResponder
    from dialogue.types import Decision

    turn = SimpleNamespace(said=lambda: "Shall I?", language="en", timings_ms={}, handoff=False,
                           decision=Decision(kind, template))  # fmt: skip
    assert CallResponder.reply_of(turn).expect == expect
