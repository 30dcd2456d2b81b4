"""A phone line of many workers: two real bridges on two ports over one call state (an SQLite
file, and a PostgreSQL server started for the tests), real webhooks, real WebSocket streams in
real time, real upload pages. Tones stand for speech (ToneASR)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import xml.etree.ElementTree as ET

import aiohttp
import numpy as np
import pytest
from sqlalchemy import select

from demo.phone.bridge import PhoneBridge, PhoneOptions
from demo.phone.call import CallOptions
from demo.phone.serve import drain
from demo.phone.state import MemoryCallState, open_call_state
from demo.phone.wire import twilio_signature
from demo.runtime import Runtime
from dialogue.agent import AgentServices
from dialogue.records import schema as s
from dialogue.records.call_state import SqlCallState
from dialogue.records.crypto import Keyring, new_key
from dialogue.records.db import make_engine
from dialogue.records.store import Store
from tests.demo.phone.test_bridge import SCRIPT, Captured, png, serving
from tests.fakes import FakeNLU, FakeOCR
from tests.test_contracts import fresh_postgres_database
from tests.voice.live.test_session import ToneASR, ToneTTS, timeline
from vision.see import ScreenshotReader
from voice.codec import mulaw_encode
from voice.live.session import SessionOptions, VoiceSession
from voice.live.stream_vad import EnergyStream, StreamVAD

TOKEN = "test-auth-token"
KEY = Keyring.from_strings([new_key()])
SAID = {400: "my card number is 4111 1111", 450: "1111 1111", 300: "I have a screenshot"}
HZ = {text: hz for hz, text in SAID.items()}


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    """One database for the line: its call state and its records."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'line.db'}"
    return fresh_postgres_database(request.getfixturevalue("postgres_url"))


def worker(office, tmp_path, url: str, name: str, records: bool = False, state=None,
           public_url: str = ""):  # fmt: skip
    """One `cca phone` worker: its own call state connection over `url`, and a records store
    there too (`records`; else each call's transcript goes to tmp_path/NAME/CALL_SID/);
    `public_url`: the line's address as the provider signs it (a balancer's)."""
    ocr = FakeOCR(lines=(("Order #W1234567 payment failed", (10, 10, 300, 30)),))
    services = AgentServices(nlu=FakeNLU(SCRIPT), office=office, reader=ScreenshotReader(ocr))
    asr, tts = ToneASR(SAID), ToneTTS(seconds_per_char=0.01)

    def new_session(responder):
        return VoiceSession(StreamVAD(EnergyStream()), asr, responder, tts,
                            SessionOptions(silence_timeout_s=None), in_rate=8000, out_rate=8000)  # fmt: skip

    call = CallOptions(greeting="Hello.", out_dir=tmp_path / name, heard_timeout_s=5.0)
    store = Store.open(url, keyring=KEY, actor=name) if records else None
    state = state if state is not None else open_call_state(url, keyring=KEY)
    http = Captured()
    options = PhoneOptions(auth_token=TOKEN, call=call, public_url=public_url)
    bridge = PhoneBridge(Runtime(services, store=store), new_session, options, http=http,
                         reader=services.reader, state=state)  # fmt: skip
    return bridge, http


async def leg(s, base: str, call_sid: str, audio: np.ndarray, *, hang_up: bool, tail_s: float = 2.5,
              stream_base: str | None = None, during=None) -> list[dict]:  # fmt: skip
    """One stretch of a call: the signed webhook on `base`, the media stream on `stream_base`
    (another worker, or the same), `audio` in real time, then a hang-up (`stop`) or a dropped
    stream (the worker lost). Returns the messages the bridge sent."""
    form = {"CallSid": call_sid, "AccountSid": "AC1", "From": "+15550100"}
    sig = twilio_signature(base + "/voice", form.items(), TOKEN)
    async with s.post(base + "/voice", data=form, headers={"X-Twilio-Signature": sig}) as r:
        assert r.status == 200, await r.text()
        stream = ET.fromstring(await r.text()).find("./Connect/Stream")
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    ws_url = (stream_base or base).replace("http", "ws", 1) + "/media"
    ws = await s.ws_connect(ws_url)
    sid = f"MZ{call_sid}"
    start = {"streamSid": sid, "callSid": call_sid, "accountSid": "AC1", "tracks": ["inbound"],
             "customParameters": params,
             "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}  # fmt: skip
    await ws.send_str(json.dumps({"event": "start", "streamSid": sid, "start": start}))
    pcm = np.concatenate([audio, np.zeros(int(tail_s * 8000), np.float32)])
    payload = mulaw_encode(pcm)
    messages: list[dict] = []

    async def receive():
        async for msg in ws:
            m = json.loads(msg.data)
            messages.append(m)
            if m["event"] == "mark":
                await ws.send_str(
                    json.dumps({"event": "mark", "streamSid": sid, "mark": m["mark"]})
                )

    rx = asyncio.create_task(receive())
    t0 = time.monotonic()
    for k in range(0, len(payload), 160):
        await asyncio.sleep(max(0.0, t0 + k / 8000 - time.monotonic()))
        if ws.closed:
            break
        frame = base64.b64encode(payload[k : k + 160]).decode()
        await ws.send_str(json.dumps({"event": "media", "streamSid": sid, "media": {"track": "inbound", "payload": frame}}))  # fmt: skip
        if during is not None and k == 160 * 50:
            await during(sid)
    if hang_up and not ws.closed:
        await ws.send_str(json.dumps({"event": "stop", "streamSid": sid, "stop": {"callSid": call_sid}}))  # fmt: skip
        await asyncio.sleep(0.3)
    await ws.close()
    await asyncio.gather(rx, return_exceptions=True)
    return messages


def said(*parts) -> np.ndarray:
    return timeline(*parts, sr=8000).samples


def entries(tmp_path, name: str, call_sid: str = "*") -> list[dict]:
    (path,) = (tmp_path / name).glob(f"{call_sid}/transcript.json")
    return json.loads(path.read_text())["entries"]


def test_two_workers_share_one_line(office, tmp_path, url):
    """The webhook on one worker, its stream on the other; a code the call gets on one works
    on the other's upload page and the picture reaches the call; a stream token works once."""
    a, _ = worker(office, tmp_path, url, "a")
    b, _ = worker(office, tmp_path, url, "b")
    pages = {}

    async def upload_on_a(base_a):
        async def during(sid):
            while not b.calls:
                await asyncio.sleep(0.05)
            code = b.links.issue("CA1")  # the code the agent on b reads out (for the call)
            async with aiohttp.ClientSession() as s:
                form = aiohttp.FormData()
                form.add_field("image", png(), filename="shot.png", content_type="image/png")
                async with s.post(f"{base_a}/upload/{code}", data=form) as r:
                    pages["a"] = (r.status, await r.text())
                async with s.get(f"{base_a}/upload/{code}") as r:  # spent, on any worker
                    pages["again"] = r.status

        return during

    async def go():
        ra, base_a = await serving(a)
        rb, base_b = await serving(b)
        try:
            async with aiohttp.ClientSession() as s:
                audio = said((0.3, None), (1.0, HZ["I have a screenshot"]))
                during = await upload_on_a(base_a)
                await leg(s, base_a, "CA1", audio, hang_up=True, stream_base=base_b, tail_s=5.0, during=during)  # fmt: skip
                replay = await s.ws_connect(base_b.replace("http", "ws") + "/media")
                form = {"CallSid": "CA2", "From": "+1"}
                sig = twilio_signature(base_a + "/voice", form.items(), TOKEN)
                async with s.post(base_a + "/voice", data=form, headers={"X-Twilio-Signature": sig}) as r:  # fmt: skip
                    token = ET.fromstring(await r.text()).find(".//Parameter[@name='token']").get("value")  # fmt: skip
                codes = []
                for base in (base_b, base_a):  # the token is spent by the first worker it reaches
                    ws = await s.ws_connect(base.replace("http", "ws") + "/media")
                    start = {"streamSid": "MZ2", "callSid": "CA2", "customParameters": {"token": token},
                             "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}  # fmt: skip
                    await ws.send_str(json.dumps({"event": "start", "streamSid": "MZ2", "start": start}))  # fmt: skip
                    if base == base_b:
                        await asyncio.sleep(0.5)
                        codes.append(None if ws.closed else "open")
                        await ws.send_str(json.dumps({"event": "stop", "streamSid": "MZ2", "stop": {}}))  # fmt: skip
                    else:
                        msg = await ws.receive(timeout=5)
                        codes.append(ws.close_code if msg.type == aiohttp.WSMsgType.CLOSE else msg.type)  # fmt: skip
                    await ws.close()
                await replay.close()
                return codes
        finally:
            await ra.cleanup()
            await rb.cleanup()

    codes = asyncio.run(go())
    assert pages["a"][0] == 200 and "agent has your picture" in pages["a"][1], pages
    assert pages["again"] == 410
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "b").glob("CA1/transcript.json")]
    shots = [shot for turn in record["turns"] for shot in turn["screenshots"]]
    assert shots and shots[0]["fields"]["order_number"] == ["W1234567"]  # read on b, sent to a
    assert codes == ["open", 1008]  # the token worked once: on b, then refused on a
    assert not (tmp_path / "a").exists()  # the call ran on b alone


@pytest.mark.parametrize("records", [False, True], ids=["transcript", "records"])
def test_a_card_read_across_a_worker_restart_is_still_redacted(office, tmp_path, url, records):
    """The caller reads the first half of a card to worker a, which is lost (its stream drops,
    the process goes); the call comes back to a fresh worker b, where the second half is heard:
    hidden in b's transcript, or in the records, in the same conversation."""
    first = worker(office, tmp_path, url, "a", records)[0]

    async def go():
        async with aiohttp.ClientSession() as s:
            runner, base = await serving(first)
            try:
                await leg(s, base, "CA7", said((0.3, None), (1.2, HZ["my card number is 4111 1111"])), hang_up=False)  # fmt: skip
            finally:
                await runner.cleanup()
            if records:
                first.runtime.store.close()
            first.state.close()
            second = worker(office, tmp_path, url, "b", records)[
                0
            ]  # a restart: nothing kept in memory
            runner, base = await serving(second)
            try:
                messages = await leg(s, base, "CA7", said((0.3, None), (1.2, HZ["1111 1111"])), hang_up=True)  # fmt: skip
            finally:
                await runner.cleanup()
            return second, messages

    second, messages = asyncio.run(go())
    assert [m for m in messages if m["event"] == "media"]  # b answered the caller
    if not records:
        heard_a = [e["text"] for e in entries(tmp_path, "a") if e["role"] == "caller"]
        heard_b = [e["text"] for e in entries(tmp_path, "b") if e["role"] == "caller"]
        assert heard_a == ["my card number is [CARD]"] and heard_b == ["[CARD]"]
        assert "1111 1111" not in (next((tmp_path / "b").iterdir()) / "transcript.json").read_text()
        return
    engine = make_engine(url)
    with engine.connect() as c:
        convs = c.execute(select(s.conversations.c.id)).scalars().all()
        rows = c.execute(select(s.turns.c.text, s.turns.c.transcript_enc).where(s.turns.c.role == "customer")).all()  # fmt: skip
        texts = [(t, KEY.decrypt_text(enc, "turns.transcript")) for t, enc in rows]
        left = c.execute(select(s.call_state.c.kind)).scalars().all()
    engine.dispose()
    second.runtime.store.close()
    assert len(convs) == 1  # the records go on in the conversation worker a started
    assert [t[1] for t in texts][0] == "my card number is [CARD]" and len(texts) == 2
    assert "redaction" not in left  # the caller hung up on b: the call's memory is gone
    assert texts[1][1] == "[CARD]"  # the second half, heard by b, read as the card it ends


def test_health_draining_and_a_call_sent_to_another_worker(office, tmp_path):
    """/healthz says ok, then 503 while draining; the webhook of a draining worker answers 503;
    a call still on it at the timeout is sent back to the webhook (a Redirect through the REST
    API) and its memory is kept for the worker that takes it."""
    state = MemoryCallState()
    bridge, http = worker(office, tmp_path, "memory", "a", state=state)
    out = {}

    async def go():
        runner, base = await serving(bridge)
        try:
            async with aiohttp.ClientSession() as s:
                async with s.get(base + "/healthz") as r:
                    out["before"] = (r.status, await r.json())

                async def sigterm():  # after the caller's first turn was heard
                    await asyncio.sleep(1.8)
                    out["drain"] = asyncio.create_task(drain(bridge, timeout_s=1.5))
                    await asyncio.sleep(0.2)
                    async with s.get(base + "/healthz") as r:
                        out["draining"] = (r.status, await r.json())
                    form = {"CallSid": "CA9"}
                    sig = twilio_signature(base + "/voice", form.items(), TOKEN)
                    async with s.post(base + "/voice", data=form, headers={"X-Twilio-Signature": sig}) as r:  # fmt: skip
                        out["webhook"] = r.status

                async def during(sid):
                    out["sigterm"] = asyncio.create_task(sigterm())

                audio = said((0.3, None), (1.2, HZ["my card number is 4111 1111"]))
                await leg(s, base, "CA8", audio, hang_up=True, tail_s=5.0, during=during)
                await out["sigterm"]
                out["drained"] = await out["drain"]
        finally:
            await runner.cleanup()

    asyncio.run(go())
    assert out["before"][0] == 200 and out["before"][1]["status"] == "ok"
    assert out["draining"][0] == 503 and out["draining"][1]["status"] == "draining"
    assert out["webhook"] == 503
    assert out["drained"] == {"calls_at_timeout": 1, "moved": 1, "ended_here": 0}
    (moved,) = [r for r in http.requests if r.url.endswith("/Calls/CA8.json")]
    assert "<Redirect" in moved.form["Twiml"] and "/voice" in moved.form["Twiml"]
    assert state.get("redaction", "CA8")["call"]["tail"].endswith("4111 1111")


def test_a_call_state_that_is_down_is_a_clear_503_and_loses_nothing(office, tmp_path, caplog):
    down = SqlCallState(make_engine("postgresql+psycopg://cca@127.0.0.1:1/line?connect_timeout=1"), KEY)  # fmt: skip
    bridge, _ = worker(office, tmp_path, "memory", "a", state=down)

    async def go():
        runner, base = await serving(bridge)
        out = {}
        try:
            async with aiohttp.ClientSession() as s:
                form = {"CallSid": "CA1"}
                sig = twilio_signature(base + "/voice", form.items(), TOKEN)
                async with s.post(base + "/voice", data=form, headers={"X-Twilio-Signature": sig}) as r:  # fmt: skip
                    out["webhook"] = (r.status, await r.text())
                async with s.get(base + "/upload/123456") as r:
                    out["upload"] = (r.status, await r.text())
                async with s.get(base + "/healthz") as r:
                    out["health"] = (r.status, await r.json())
        finally:
            await runner.cleanup()
        return out

    out = asyncio.run(go())
    assert out["webhook"][0] == 503 and "shared state is unreachable" in out["webhook"][1]
    assert out["upload"][0] == 503 and "Your code still works" in out["upload"][1]
    assert out["health"][0] == 503 and "127.0.0.1:1/line" in out["health"][1]["error"]
    assert "database server is running" in caplog.text


def test_a_shared_state_needs_the_records_key():
    with pytest.raises(ValueError, match="CCA_RECORDS_KEY"):
        open_call_state("sqlite:///state.db")
    with pytest.raises(ValueError, match="--records URL or set CCA_RECORDS_DB"):
        open_call_state("records", records_url=None, keyring=KEY)
    assert isinstance(open_call_state("memory"), MemoryCallState)
