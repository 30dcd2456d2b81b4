"""Speech to text on another machine: the `SpeechToText` seam over HTTP, for the phone line's
workers to share one ASR server (`cca asr-serve`) that batches every worker's calls together.

    asr = RemoteASR("http://asr.internal:8090")
    transcript = asr.transcribe(audio)  # 16 kHz audio; POST /v1/transcribe

The request body is the samples as little-endian float32 (`Content-Type:
application/octet-stream`, `X-Sample-Rate: 16000`); the answer is the transcript in the JSON
shape of `cca transcribe --format json` (`Transcript.to_dict`). Only the standard library is used.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import numpy as np

from voice.asr.types import ASRError
from voice.types import Audio, Segment, Transcript, Word

SAMPLE_RATE = 16_000


def transcript_from_dict(d: dict) -> Transcript:
    """The inverse of `Transcript.to_dict`."""
    segments = tuple(
        Segment(
            start_s=s["start_s"], end_s=s["end_s"], text=s["text"], language=s.get("language", ""),
            speaker=s.get("speaker", ""), avg_logprob=s.get("avg_logprob", 0.0),
            no_speech_prob=s.get("no_speech_prob", 0.0),
            words=tuple(Word(w["start_s"], w["end_s"], w["text"], w["probability"]) for w in s.get("words", ())),
        )
        for s in d.get("segments", ())
    )  # fmt: skip
    return Transcript(
        text=d["text"], language=d["language"], duration_s=d["duration_s"], segments=segments,
        language_probs=dict(d.get("language_probs", {})), model=d.get("model", ""),
    )  # fmt: skip


class RemoteASR:
    def __init__(self, url: str, timeout_s: float = 30.0):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL: give the ASR server's, e.g. http://host:8090")  # fmt: skip
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s  # a turn the server has not answered by then fails
        self.name = f"remote:{self.url}"
        self.waiting = 0  # this process's turns sent and not yet answered
        self._count = threading.Lock()

    def transcribe(self, audio: Audio) -> Transcript:
        if audio.sample_rate != SAMPLE_RATE:
            raise ValueError(f"{audio.source}: audio must be 16 kHz; use voice.audio.from_array")
        body = np.asarray(audio.samples, dtype="<f4").tobytes()
        request = urllib.request.Request(
            f"{self.url}/v1/transcribe", data=body, method="POST",
            headers={"Content-Type": "application/octet-stream", "X-Sample-Rate": str(SAMPLE_RATE)},
        )  # fmt: skip
        with self._count:
            self.waiting += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as r:
                return transcript_from_dict(json.load(r))
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")[:300]
            raise ASRError(f"the ASR server at {self.url} answered {e.code}: {detail}", e.code >= 500) from e  # fmt: skip
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            raise ASRError(
                f"the ASR server at {self.url} could not be reached ({reason}); start it with "
                "`cca asr-serve` or check the URL", retryable=True,
            ) from e  # fmt: skip
        finally:
            with self._count:
                self.waiting -= 1
