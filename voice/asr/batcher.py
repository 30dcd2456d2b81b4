"""Many callers, one Whisper: the windows of concurrent transcriptions decoded in shared batches.

    asr = BatchingASR(WithVAD(model, vad), BatchOptions(max_batch=8, max_wait_s=0.01))
    transcript = asr.transcribe(audio)  # from any thread; its windows join the next batch

A phone line holds many calls, and each caller's turn is a short piece of audio. Decoding them
one after another (`demo.phone.shared.SerialASR`) leaves the batch dimension of Whisper's
decoder unused; here a worker thread takes whatever windows are waiting (up to `max_batch`,
waiting at most `max_wait_s` for company when only one is) and decodes them in one
`WhisperASR.decode_windows` call, the batching `cca transcribe` uses for files. Each caller's
transcript is assembled from its own windows, so what a caller gets does not depend on who else
was in the batch, except for the float rounding of a batched matrix product.

The VAD runs in the caller's thread (`SileroVAD` keeps a model per thread, as its state runs
from one chunk of a piece of audio to the next). Each window is decoded on its own,
without the text before it as a prompt (`condition_on_previous_text` is a file-transcription
option; a caller's turn is one window).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from voice.asr.stt import WithVAD
from voice.asr.types import WindowResult
from voice.types import Audio, Transcript


@dataclass(frozen=True)
class BatchOptions:
    max_batch: int = 8  # windows decoded at once (more cost memory, and each waits for the slowest)
    max_wait_s: float = 0.01  # how long a window waits for others before it is decoded alone

    def __post_init__(self):
        if self.max_batch < 1 or self.max_wait_s < 0:
            raise ValueError(f"BatchOptions needs max_batch >= 1 and max_wait_s >= 0; got {self}")


@dataclass(eq=False)
class _Window:
    samples: np.ndarray  # (n_samples,) at 16 kHz
    offset_s: float
    done: threading.Event = field(default_factory=threading.Event)
    result: WindowResult | None = None
    error: BaseException | None = None


class BatchingASR:
    """`SpeechToText` over a Whisper and a VAD (a `WithVAD`), batching across callers."""

    def __init__(self, stt: WithVAD, options: BatchOptions = BatchOptions()):
        self.model, self.vad, self.options = stt.model, stt.vad, options
        self.name = f"{stt.name}+batched"
        self._queue: queue.Queue[_Window] = queue.Queue()
        self.batch_sizes: deque[int] = deque(maxlen=1000)  # the last batches decoded
        threading.Thread(target=self._run, name="asr-batcher", daemon=True).start()

    @property
    def waiting(self) -> int:
        """Windows queued for the next batch (the line's `cca_model_queue_depth`)."""
        return self._queue.qsize()

    def transcribe(self, audio: Audio) -> Transcript:
        from voice.asr.vad import plan_windows

        if audio.sample_rate != 16_000:
            raise ValueError(f"{audio.source}: audio must be 16 kHz; use voice.audio.from_array")
        spans = plan_windows(self.vad.speech(audio), audio.duration_s, self.model.max_window_s)
        windows = [_Window(audio.slice(s, e).samples, s) for s, e in spans]
        for w in windows:
            self._queue.put(w)
        for w in windows:
            w.done.wait()
            if w.error is not None:
                raise w.error
        return self.model.assemble([w.result for w in windows], audio.duration_s)

    def _run(self) -> None:
        o = self.options
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + o.max_wait_s
            while len(batch) < o.max_batch:
                try:  # take what is already waiting at once; wait for more only until the deadline
                    batch.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            try:
                results = self.model.decode_windows(
                    [w.samples for w in batch], [w.offset_s for w in batch]
                )
                for w, r in zip(batch, results, strict=True):
                    w.result = r
            except BaseException as e:  # every caller in the batch hears of it
                for w in batch:
                    w.error = e
            self.batch_sizes.append(len(batch))
            for w in batch:
                w.done.set()
