"""`cca asr-serve` over a real HTTP connection: the remote client gets the transcript the model
behind the server makes, bad audio gets a 400 that names the problem and the next turn works,
and /healthz and /metrics answer."""

from __future__ import annotations

import asyncio
import io
import threading
import urllib.request
import wave

import numpy as np
import pytest

from demo.asr_server import make_app
from tests.fakes import FakeASR
from voice.asr.remote import RemoteASR
from voice.asr.types import ASRError
from voice.types import Audio


def serve(asr) -> str:
    """Start the app on a free port in a thread; its base URL."""
    from aiohttp import web

    ready, box = threading.Event(), {}

    def run():
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(make_app(asr))
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        box["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    assert ready.wait(10)
    return box["url"]


@pytest.fixture(scope="module")
def url():
    return serve(FakeASR())


def post(url: str, body: bytes, kind: str) -> tuple[int, str]:
    r = urllib.request.Request(f"{url}/v1/transcribe", data=body, headers={"Content-Type": kind})
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_the_remote_client_gets_the_servers_transcript(url):
    audio = Audio(np.full(16_000, 0.1, np.float32), 16_000, "turn")
    want = FakeASR().transcribe(audio)
    got = RemoteASR(url).transcribe(audio)
    assert got.text == want.text and got.language == want.language
    assert got.duration_s == pytest.approx(want.duration_s, abs=1e-3)
    assert [(s.start_s, s.text) for s in got.segments] == [(round(s.start_s, 3), s.text) for s in want.segments]  # fmt: skip


def test_bad_audio_is_named_and_the_next_turn_works(url):
    status, body = post(url, b"\x00\x01\x02", "application/octet-stream")
    assert status == 400 and "float32" in body
    nan = np.array([0.0, np.nan], "<f4").tobytes()
    assert post(url, nan, "application/octet-stream") == (400, '{"error": "the samples hold NaN or infinity"}')  # fmt: skip
    status, body = post(url, b"not audio at all", "audio/wav")
    assert status == 400 and "turn" in body and "/tmp" not in body
    status, _ = post(url, b"{}", "application/json")
    assert status == 400
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:  # a real file, decoded as an upload is
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes((np.full(8000, 0.2) * 32767).astype("<i2").tobytes())
    status, body = post(url, buf.getvalue(), "audio/wav")
    assert status == 200 and '"duration_s": 1.0' in body
    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as r:
        assert b'"ok": true' in r.read()
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:
        text = r.read().decode()
    assert 'cca_asr_requests_total{status="bad_audio"} 4.0' in text
    assert 'cca_asr_requests_total{status="ok"}' in text and "cca_asr_queue_depth" in text


def test_a_server_that_is_down_is_named_with_what_to_do():
    with pytest.raises(ASRError, match="127.0.0.1:1 could not be reached.*cca asr-serve") as e:
        RemoteASR("http://127.0.0.1:1", timeout_s=2).transcribe(Audio(np.zeros(160, np.float32)))
    assert e.value.retryable
    with pytest.raises(ValueError, match="http"):
        RemoteASR("asr.internal:8090")
