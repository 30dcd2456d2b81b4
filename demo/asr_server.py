"""`cca asr-serve`: one Whisper for every worker of a phone line, batching their callers' turns.

    cca asr-serve [--model base] [--port 8090] [--max-batch 8] [--max-wait-ms 10]
    cca phone --asr http://HOST:8090 ...      # each worker sends its turns here

POST /v1/transcribe with the turn's samples (little-endian float32, 16 kHz mono,
`Content-Type: application/octet-stream`), or an audio file (`Content-Type: audio/...`, decoded
with the same limits as an upload), answers the transcript as `cca transcribe --format json`
does. Turns from all workers join one queue, and `voice.asr.batcher.BatchingASR` decodes the
windows waiting in one batch. GET /healthz answers 200 with the queue depth; GET /metrics the
Prometheus text (requests, errors, batch sizes, queue depth). Bad audio gets a 400 that says
what is wrong; the server goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Sequence

import numpy as np
from aiohttp import web

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16_000 * 4 * 120  # two minutes of float32 samples: a turn, not a recording


def make_app(asr) -> web.Application:
    """The server over a built `SpeechToText` (a `BatchingASR` to batch across workers)."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    registry = CollectorRegistry()
    requests = Counter("cca_asr_requests", "turns transcribed", ["status"], registry=registry)
    seconds = Histogram("cca_asr_request_seconds", "time to answer a turn", registry=registry)
    depth = Gauge("cca_asr_queue_depth", "windows waiting for a batch", registry=registry)
    depth.set_function(lambda: float(getattr(asr, "waiting", 0)))

    async def transcribe(request: web.Request) -> web.Response:
        from voice.audio import AudioError, load_audio_bytes
        from voice.types import Audio

        body = await request.read()
        kind = request.content_type
        try:
            if kind.startswith("audio/"):
                audio = load_audio_bytes(body, "turn")
            elif kind == "application/octet-stream":
                if request.headers.get("X-Sample-Rate", "16000") != "16000" or len(body) % 4:
                    raise ValueError("send float32 samples at 16 kHz (X-Sample-Rate: 16000)")
                samples = np.frombuffer(body, dtype="<f4").astype(np.float32)
                if not np.isfinite(samples).all():
                    raise ValueError("the samples hold NaN or infinity")
                audio = Audio(np.clip(samples, -1.0, 1.0), 16_000, "turn")
            else:
                raise ValueError(f"Content-Type {kind!r}: send application/octet-stream or audio/*")
        except (ValueError, AudioError) as e:
            requests.labels("bad_audio").inc()
            return web.json_response({"error": str(e)}, status=400)
        loop = asyncio.get_running_loop()
        with seconds.time():
            try:
                transcript = await loop.run_in_executor(None, asr.transcribe, audio)
            except Exception as e:
                logger.exception("transcription failed")
                requests.labels("error").inc()
                return web.json_response({"error": f"transcription failed: {e}"}, status=500)
        requests.labels("ok").inc()
        return web.json_response(transcript.to_dict())

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True, "model": asr.name, "waiting": getattr(asr, "waiting", 0)})  # fmt: skip

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.add_routes(
        [
            web.post("/v1/transcribe", transcribe),
            web.get("/healthz", healthz),
            web.get("/metrics", metrics),
        ]  # fmt: skip
    )
    return app


def build_parser() -> argparse.ArgumentParser:
    from voice.asr.context import TURN_CONTEXT_PAD_S

    p = argparse.ArgumentParser(prog="cca asr-serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="base", help="Whisper model: a name, a path, or an offline package's")  # fmt: skip
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--max-batch", type=int, default=8, help="windows decoded at once")
    p.add_argument("--max-wait-ms", type=float, default=10.0, help="how long a window waits for others")  # fmt: skip
    p.add_argument("--context-pad-s", type=float, default=TURN_CONTEXT_PAD_S,
                   help="the encoder reads a batch's longest window and this much padding, not 30 s (voice.asr.context); -1: all 30 s")  # fmt: skip
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from voice.asr.batcher import BatchingASR, BatchOptions
    from voice.asr.stt import WithVAD
    from voice.asr.types import ASROptions
    from voice.asr.vad import SileroVAD
    from voice.asr.whisper import WhisperASR

    options = BatchOptions(args.max_batch, args.max_wait_ms / 1000)
    pad = None if args.context_pad_s < 0 else args.context_pad_s
    whisper = WhisperASR.from_pretrained(args.model, options=ASROptions(context_pad_s=pad))
    asr = BatchingASR(WithVAD(whisper, SileroVAD.load()), options)
    print(json.dumps({"listening": f"http://{args.host}:{args.port}", "model": asr.name}), flush=True)  # fmt: skip
    web.run_app(make_app(asr), host=args.host, port=args.port, print=None)
    return 0
