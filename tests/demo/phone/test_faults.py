"""Faults a contact centre meets, each against the real thing: a phone worker in a process of its
own killed with SIGKILL mid-call, a `cca asr-serve` app that stops or stalls, an OpenAI-compatible
model server that stops or never answers, a PostgreSQL server stopped and started again. The
calls are real webhooks and WebSocket streams in real time; tones stand for speech.

    python -m tests.demo.phone.test_faults URL KEY OFFICE_DB OUT   # the worker the first test kills
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from sqlalchemy import select

from demo.metrics import Metrics
from demo.phone.bridge import PhoneBridge, PhoneOptions
from demo.phone.call import CallOptions
from demo.phone.state import open_call_state
from demo.phone.upload import UploadLinks
from demo.phone.wire import twilio_signature
from demo.runtime import Runtime
from dialogue.agent import AgentServices
from dialogue.records import schema as s
from dialogue.records.crypto import Keyring, new_key
from dialogue.records.db import make_engine
from dialogue.records.store import Store
from tests.demo.phone.test_bridge import SCRIPT, Captured, png, scraped, serving
from tests.fakes import FakeNLU, FakeOCR
from tests.voice.live.test_session import ToneASR, ToneTTS, timeline
from vision.see import ScreenshotReader
from voice.codec import mulaw_encode
from voice.live.session import SessionOptions, VoiceSession
from voice.live.stream_vad import EnergyStream, StreamVAD

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "test-auth-token"
KEY_TEXT = new_key()
KEY = Keyring.from_strings([KEY_TEXT])
SAID = {200: "where is my order", 250: "I want to talk to a person",
        400: "my card number is 4111 1111", 450: "1111 1111"}  # fmt: skip
HZ = {text: hz for hz, text in SAID.items()}


def line_worker(office, out: Path, url: str | None, keyring: Keyring, *, records: bool = True,
                asr=None, generator=None, fusion=None, metrics=None, session: SessionOptions | None = None,
                state=None) -> PhoneBridge:  # fmt: skip
    """One `cca phone` worker over the line's database `url` (its call state and, with
    `records`, its conversation store); else the call state `state` and transcripts in `out`."""
    ocr = FakeOCR(lines=(("Order #W1234567 payment failed", (10, 10, 300, 30)),))
    services = AgentServices(nlu=FakeNLU(SCRIPT | {t: ("order_status", 0.9, ()) for t in SAID if t not in SCRIPT}),
                             office=office, reader=ScreenshotReader(ocr), generator=generator, fusion=fusion)  # fmt: skip
    asr, tts = asr or ToneASR(SAID), ToneTTS(seconds_per_char=0.01)
    options = session or SessionOptions(silence_timeout_s=None)

    def new_session(responder):
        return VoiceSession(StreamVAD(EnergyStream()), asr, responder, tts, options, in_rate=8000, out_rate=8000)  # fmt: skip

    call = CallOptions(greeting="Hello.", out_dir=out, transfer_to="sip:desk@pbx.example", heard_timeout_s=5.0)  # fmt: skip
    store = Store.open(url, keyring=keyring, actor=out.name) if records else None
    state = state if state is not None else open_call_state(url, keyring=keyring)
    runtime = Runtime(services, store=store, metrics=metrics)
    return PhoneBridge(runtime, new_session, PhoneOptions(auth_token=TOKEN, call=call), http=Captured(),
                       reader=services.reader, state=state)  # fmt: skip


def said(*parts) -> np.ndarray:
    return timeline(*parts, sr=8000).samples


async def leg(s: aiohttp.ClientSession, base: str, call_sid: str, audio: np.ndarray, *, tail_s: float,
              at_s: float | None = None, during=None, hang_up: bool = True) -> list[dict]:  # fmt: skip
    """One stretch of a call as the provider plays it: the signed webhook, then the media stream
    of its TwiML in real time (`during(stream_sid)` started as a task at `at_s`), then a hang-up.
    A worker that dies mid-stream ends the stretch. Returns what the bridge sent."""
    form = {"CallSid": call_sid, "AccountSid": "AC1", "From": "+15550100"}
    sig = twilio_signature(base + "/voice", form.items(), TOKEN)
    async with s.post(base + "/voice", data=form, headers={"X-Twilio-Signature": sig}) as r:
        assert r.status == 200, await r.text()
        twiml = ET.fromstring(await r.text())
    stream = twiml.find("./Connect/Stream")
    assert twiml.find("./Redirect").text == base + "/voice"  # a dropped stream comes back here
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    sid = f"MZ{call_sid}{time.monotonic_ns()}"  # each stream of a call has its own sid
    ws = await s.ws_connect(stream.get("url"))
    start = {"streamSid": sid, "callSid": call_sid, "accountSid": "AC1", "tracks": ["inbound"], "customParameters": params,
             "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}  # fmt: skip
    messages: list[dict] = []

    async def receive():
        async for msg in ws:
            m = json.loads(msg.data)
            messages.append(m)
            if m["event"] == "mark":
                await ws.send_str(
                    json.dumps({"event": "mark", "streamSid": sid, "mark": m["mark"]})
                )

    tasks = [asyncio.create_task(receive())]
    payload = mulaw_encode(np.concatenate([audio, np.zeros(int(tail_s * 8000), np.float32)]))
    try:
        await ws.send_str(json.dumps({"event": "start", "streamSid": sid, "start": start}))
        t0 = time.monotonic()
        for k in range(0, len(payload), 160):
            await asyncio.sleep(max(0.0, t0 + k / 8000 - time.monotonic()))
            if ws.closed:
                break
            if during is not None and at_s is not None and k == int(at_s * 8000) // 160 * 160:
                tasks.append(asyncio.create_task(during(sid)))
            frame = base64.b64encode(payload[k : k + 160]).decode()
            await ws.send_str(json.dumps({"event": "media", "streamSid": sid, "media": {"track": "inbound", "payload": frame}}))  # fmt: skip
        if hang_up and not ws.closed:
            await ws.send_str(json.dumps({"event": "stop", "streamSid": sid, "stop": {"callSid": call_sid}}))  # fmt: skip
            await asyncio.sleep(0.3)
    except (ConnectionError, aiohttp.ClientError):  # the worker died under the stream
        pass
    await ws.close()
    for failed in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(failed, AssertionError):  # a `during` that waited in vain
            raise failed
    return messages


async def until(ready, what: str, timeout_s: float = 30.0, thread: bool = False) -> None:
    """Wait for `ready()` (run in a thread when it blocks); an AssertionError naming `what` when it
    is not by `timeout_s`."""
    t_end = time.monotonic() + timeout_s
    while not (await asyncio.to_thread(ready) if thread else ready()):
        if time.monotonic() > t_end:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture(params=["sqlite", "postgres"])
def line_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'line.db'}"
    from tests.test_contracts import fresh_postgres_database

    return fresh_postgres_database(request.getfixturevalue("postgres_url"))


# -- a worker killed mid-call --------------------------------------------------------------------


def test_a_worker_killed_mid_call_the_call_goes_on_on_another(office, tmp_path, line_url, caplog):
    """Worker a (a process of its own) hears the first half of a card number, then is killed
    with SIGKILL: no clean-up runs. The provider goes back to the webhook (the TwiML's
    <Redirect>), and worker b takes the call on: no second greeting, the same conversation in
    the records, the second half of the card still hidden. A picture uploaded to a third worker
    with the code a's agent gave reaches the call on b."""
    caplog.set_level(logging.INFO, logger="demo.phone.resume")
    office_db = f"sqlite:///{tmp_path / 'retail.db'}"
    b = line_worker(office, tmp_path / "b", line_url, KEY)
    c = line_worker(office, tmp_path / "c", line_url, KEY, records=False)
    state = open_call_state(line_url, keyring=KEY)  # the test's own look at the line's state
    read_on_b, reader = [], b.reader

    class Counted:  # b's screenshot reader, counting the pictures it reads
        def read(self, images):
            read_on_b.append(len(images))
            return reader.read(images)

    b.reader = Counted()
    out: dict = {}

    async def go():
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.demo.phone.test_faults", line_url, KEY_TEXT, office_db,
            str(tmp_path / "a"), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 180)
            base_a = f"http://127.0.0.1:{json.loads(line)['port']}"
            rb, base_b = await serving(b)
            rc, base_c = await serving(c)
            code = UploadLinks(state=state).issue("CA5")  # as a's agent does when a caller asks

            def shared() -> bool:  # the call's and the records' redaction both hold the half
                memory = state.get("redaction", "CA5")
                return bool(memory and memory["conversation_id"] and memory["call"]["tail"].endswith("4111 1111")
                            and (memory["records"] or {}).get("tail", "").endswith("4111 1111"))  # fmt: skip

            async def kill_once_shared(sid):  # the turn is heard, stored and shared: then the kill
                await until(shared, "worker a shares the first half of the card", thread=True)
                proc.send_signal(signal.SIGKILL)
                out["killed"] = await proc.wait()

            async def upload_to_c(sid):
                async with aiohttp.ClientSession() as u:
                    form = aiohttp.FormData()
                    form.add_field("image", png(), filename="shot.png", content_type="image/png")
                    async with u.post(f"{base_c}/upload/{code}", data=form) as r:
                        out["upload"] = (r.status, await r.text())

            try:
                async with aiohttp.ClientSession() as sess:
                    out["a"] = await leg(sess, base_a, "CA5", said((1.0, None), (1.2, HZ["my card number is 4111 1111"])),
                                         tail_s=8.0, at_s=1.0, during=kill_once_shared)  # fmt: skip
                    out["b"] = await leg(sess, base_b, "CA5", said((1.0, None), (1.2, HZ["1111 1111"])),
                                         tail_s=6.0, at_s=2.5, during=upload_to_c)  # fmt: skip
            finally:
                await rb.cleanup()
                await rc.cleanup()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    asyncio.run(go())
    assert out["killed"] == -signal.SIGKILL
    assert any(m["event"] == "media" for m in out["a"])  # a answered before it died
    assert out["upload"][0] == 200 and "agent has your picture" in out["upload"][1]
    (result,) = b.finished
    assert result["ended"] == "hangup"
    assert "call CA5: resumed from another worker" in caplog.text  # so no second greeting
    b.runtime.store.close()
    engine = make_engine(line_url)
    with engine.connect() as conn:
        convs = conn.execute(select(s.conversations.c.id, s.conversations.c.ended_at)).all()
        rows = conn.execute(select(s.turns.c.idx, s.turns.c.transcript_enc)
                            .where(s.turns.c.role == "customer").order_by(s.turns.c.idx)).all()  # fmt: skip
        left = conn.execute(select(s.call_state.c.kind)).scalars().all()
    engine.dispose()
    heard = [KEY.decrypt_text(t, "turns.transcript") for _, t in rows]
    assert len(convs) == 1 and convs[0].ended_at is not None  # one conversation, a then b
    assert heard[:2] == ["my card number is [CARD]", "[CARD]"]  # the second half still hidden
    assert read_on_b == [1]  # the picture, uploaded to c, was read into the call on b
    assert len({i for i, _ in rows}) == len(rows)  # no turn written twice
    assert "redaction" not in left  # the call ended on b: its memory is gone


def serve_worker(url: str, key: str, office_db: str, out: str) -> None:
    """The worker the test above kills: prints {"port": N} once it listens."""
    from domains.retail.backoffice import BackOffice

    bridge = line_worker(BackOffice.open(office_db), Path(out), url, Keyring.from_strings([key]))

    async def run():
        runner, base = await serving(bridge)
        print(json.dumps({"port": int(base.rsplit(":", 1)[1])}), flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


# -- the shared ASR server down or slow ------------------------------------------------------------


class NamedToneASR(ToneASR):
    name = "tones"


@pytest.mark.parametrize("fault", ["stopped", "stalled"])
def test_the_asr_server_down_or_slow_mid_call_gets_an_apology_then_a_person(
    office, tmp_path, fault
):
    """The line's `cca asr-serve` answers the first turn, then stops (connection refused) or
    stalls (no answer within the session's asr_timeout_s): the caller hears the apology, then
    the handover, and the call is transferred, not dropped; /metrics counts the ASR errors."""
    from demo.asr_server import make_app
    from voice.asr.remote import RemoteASR

    stall = asyncio.Event()
    tones = NamedToneASR(SAID)

    class Stalling:  # the server's model: stuck once told to be
        name = "tones"

        def transcribe(self, audio):
            if stall.is_set():
                time.sleep(3.0)
            return tones.transcribe(audio)

    metrics = Metrics()
    session = SessionOptions(silence_timeout_s=None, asr_timeout_s=1.0)
    audio = said((1.0, None), (1.0, HZ["where is my order"]), (3.0, None), (1.0, HZ["where is my order"]),
                 (3.0, None), (1.0, HZ["where is my order"]))  # fmt: skip

    async def go():
        asr_runner, asr_base = await serving_app(make_app(Stalling()))
        bridge = line_worker(office, tmp_path / "calls", None, KEY, records=False, metrics=metrics, session=session,
                             asr=RemoteASR(asr_base, timeout_s=5.0), state=open_call_state("memory"))  # fmt: skip
        runner, base = await serving(bridge)

        async def fail(sid):  # once the first turn was answered
            await until(lambda: any(e["role"] == "agent" for c in bridge.calls.values() for e in c.entries), "the first answer")  # fmt: skip
            if fault == "stopped":
                await asr_runner.cleanup()  # (a second clean-up below does nothing)
            else:
                stall.set()

        try:
            async with aiohttp.ClientSession() as sess:
                await leg(sess, base, "CA6", audio, tail_s=8.0, at_s=1.0, during=fail)
                form = {
                    "CallSid": "CA6"
                }  # the provider back at the webhook after the stream closed
                sig = twilio_signature(base + "/voice", form.items(), TOKEN)
                async with sess.post(base + "/voice", data=form, headers={"X-Twilio-Signature": sig}) as r:  # fmt: skip
                    out["again"] = await r.text()
                async with sess.get(base + "/metrics") as r:
                    return bridge, scraped(await r.text())
        finally:
            await runner.cleanup()
            await asr_runner.cleanup()

    out: dict = {}
    bridge, after = asyncio.run(go())
    (result,) = bridge.finished
    assert "<Hangup/>" in out["again"] and "<Stream" not in out["again"]  # ended: not a new call
    agent = [e["text"] for e in result["entries"] if e["role"] == "agent"]
    o = SessionOptions()
    assert agent[-2:] == [o.apology["en"], o.handover["en"]], agent  # never silence
    assert len(agent) == 3  # the first turn answered by the server, then the two
    assert (
        result["ended"] == "handoff" and result["transfer"]["status"] == 200
    )  # moved, not dropped
    assert after[("cca_stage_errors_total", (("channel", "phone"), ("stage", "asr")))] >= 2
    assert after[("cca_handoffs_total", (("channel", "phone"), ("reason", "cannot_hear")))] == 1


async def serving_app(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=1.0)  # a request held open does not hold the test
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


# -- the model server down --------------------------------------------------------------------------


def model_server(behaviour: dict) -> web.Application:
    """An OpenAI-compatible completions endpoint: a streamed reply while behaviour["how"] is
    "answer", none at all (the request held open) when it is "hang"."""

    async def completions(request: web.Request) -> web.StreamResponse:
        await request.json()
        behaviour["requests"] = behaviour.get("requests", 0) + 1
        if behaviour["how"] == "hang":
            await asyncio.sleep(60)
        r = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await r.prepare(request)
        for piece in ("Let me ", "check that order."):
            await r.write(f"data: {json.dumps({'choices': [{'text': piece}]})}\n\n".encode())
        await r.write(b"data: [DONE]\n\n")
        return r

    app = web.Application()
    app.add_routes([web.post("/v1/completions", completions)])
    return app


@pytest.mark.parametrize("fault", ["stops", "never answers"])
def test_the_model_server_down_replies_fall_back_to_templates_in_time(office, tmp_path, fault):
    """`--lm openai:URL`: the server answers the first turn, then stops (connection refused), or
    never answers at all: every later turn is answered with the template within the phone's
    model timeout, and /metrics counts each as a fallback and a `generate` error."""
    from demo.phone.serve import bound_model_wait
    from dialogue.lm.openai_client import OpenAIGenerator
    from fusion.fuse import Fusion
    from tests.conftest import tiny_tokenizer

    behaviour = {"how": "answer" if fault == "stops" else "hang"}
    metrics = Metrics()
    audio = said((1.0, None), (1.0, HZ["where is my order"]), (3.5, None), (1.0, HZ["where is my order"]),
                 (3.5, None), (1.0, HZ["where is my order"]))  # fmt: skip

    async def go():
        lm_runner, lm_base = await serving_app(model_server(behaviour))
        generator = OpenAIGenerator(lm_base + "/v1", "cca")
        bound_model_wait(generator, first_token_s=1.0)  # as `cca phone --lm-timeout-s 1` does
        bridge = line_worker(office, tmp_path / "calls", None, KEY, records=False, metrics=metrics,
                             generator=generator, fusion=Fusion(tiny_tokenizer()), state=open_call_state("memory"))  # fmt: skip
        runner, base = await serving(bridge)

        async def stop(sid):  # once the first turn was answered
            await until(lambda: any(e["role"] == "agent" for c in bridge.calls.values() for e in c.entries), "the first answer")  # fmt: skip
            await lm_runner.cleanup()

        try:
            async with aiohttp.ClientSession() as sess:
                await leg(sess, base, "CA7", audio, tail_s=4.0, at_s=1.0, during=stop if fault == "stops" else None)  # fmt: skip
                async with sess.get(base + "/metrics") as r:
                    return bridge, scraped(await r.text())
        finally:
            await runner.cleanup()
            await lm_runner.cleanup()

    bridge, after = asyncio.run(go())
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "calls").glob("*/transcript.json")]
    turns = record["turns"]
    assert len(turns) == 3 and all(t["reply"] for t in turns)  # every turn answered
    failed = [t for t in turns if any(e.startswith("generate:") for e in t["errors"])]
    assert len(failed) == (2 if fault == "stops" else 3) and behaviour["requests"] >= 1
    assert all(t["reply_source"] == "template" for t in failed)
    assert all(t["timings_ms"]["generate"] < 1500 for t in failed)  # the phone's 1 s, not 30 s
    assert max(bridge.finished[0]["metrics"]) < 4000  # voice to voice, every turn: not 30 s
    assert after[("cca_model_fallbacks_total", (("channel", "phone"),))] >= len(failed)
    assert after[("cca_stage_errors_total", (("channel", "phone"), ("stage", "generate")))] == len(
        failed
    )


# -- the records database down --------------------------------------------------------------------


def test_the_records_database_down_mid_call_the_call_goes_on_and_the_turns_follow(
    office, tmp_path, caplog
):
    """PostgreSQL (a cluster of this test's own) is stopped after the call's first turn and
    started again before its third: the turn in between is answered, the failure is logged and
    counted, the turn waits in memory and is written after the first, in order, once the
    database is back; nothing stored before is lost or changed."""
    from tests.conftest import PostgresCluster

    cluster = PostgresCluster()
    try:
        _records_down(office, tmp_path, caplog, cluster)
    finally:
        cluster.remove()


def _records_down(office, tmp_path, caplog, cluster) -> None:
    from tests.test_contracts import fresh_postgres_database

    url = fresh_postgres_database(cluster.url)
    metrics = Metrics()
    bridge = line_worker(
        office, tmp_path / "calls", url, KEY, metrics=metrics, state=open_call_state("memory")
    )
    audio = said((1.0, None), (1.0, HZ["where is my order"]), (3.0, None), (1.0, HZ["my card number is 4111 1111"]),
                 (3.0, None), (1.0, HZ["1111 1111"]))  # fmt: skip
    seen: dict = {}

    def stored() -> list[tuple]:
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(select(s.turns.c.idx, s.turns.c.role, s.turns.c.transcript_enc, s.turns.c.text).order_by(s.turns.c.idx))]  # fmt: skip
        finally:
            engine.dispose()

    def first_turn_stored() -> bool:
        seen["before"] = stored()
        return len(seen["before"]) == 2

    async def go():
        runner, base = await serving(bridge)

        async def down_then_up(sid):  # down once the first turn is stored, for the second
            await until(first_turn_stored, "the first turn's two rows", thread=True)
            await asyncio.to_thread(cluster.stop)
            try:
                await until(lambda: any(c.responder.conversation.unsaved for c in bridge.calls.values()), "a turn answered while the database is down")  # fmt: skip
                async with aiohttp.ClientSession() as m, m.get(base + "/metrics") as r:
                    seen["down"] = scraped(await r.text())
            finally:
                await asyncio.to_thread(cluster.start)

        try:
            async with aiohttp.ClientSession() as sess:
                await leg(sess, base, "CA8", audio, tail_s=4.0, at_s=1.0, during=down_then_up)
        finally:
            await runner.cleanup()

    asyncio.run(go())
    bridge.runtime.store.close()
    (result,) = bridge.finished
    agent = [e for e in result["entries"] if e["role"] == "agent"]
    assert len(agent) == 3  # every turn answered, the one while the database was down too
    errors = ("cca_stage_errors_total", (("channel", "phone"), ("stage", "records")))
    assert seen["down"][errors] >= 1 and "turn(s) wait for the store" in caplog.text
    after = stored()
    assert (
        after[: len(seen["before"])] == seen["before"] and len(seen["before"]) == 2
    )  # kept as it was
    heard = [
        KEY.decrypt_text(t, "turns.transcript") for _, role, t, _ in after if role == "customer"
    ]
    assert heard == ["where is my order", "my card number is [CARD]", "[CARD]"]  # in order, once
    assert [i for i, *_ in after] == list(range(6))


if __name__ == "__main__":
    serve_worker(*sys.argv[1:5])
