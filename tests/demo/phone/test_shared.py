"""How a worker's calls share speech recognition: `--asr serial|batched|URL`."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from demo.phone.shared import SerialASR, shared_asr
from tests.conftest import tiny_whisper
from voice.asr.batcher import BatchingASR
from voice.asr.remote import RemoteASR
from voice.asr.stt import WithVAD
from voice.asr.types import ASROptions
from voice.asr.vad import EnergyVAD
from voice.asr.whisper import WhisperASR


def runtime():
    asr = WithVAD(WhisperASR(tiny_whisper(), ASROptions(max_new_tokens=4)), EnergyVAD())
    return SimpleNamespace(services=SimpleNamespace(asr=asr))


def test_each_mode_gives_its_asr_and_a_wrong_one_lists_the_choices():
    rt = runtime()
    assert isinstance(shared_asr(rt, "serial"), SerialASR)
    batched = shared_asr(rt, "batched")
    assert isinstance(batched, BatchingASR) and batched.waiting == 0
    remote = shared_asr(rt, "http://asr.internal:8090/")
    assert isinstance(remote, RemoteASR) and remote.url == "http://asr.internal:8090"
    with pytest.raises(ValueError, match="serial.*batched.*asr-serve"):
        shared_asr(rt, "parallel")
