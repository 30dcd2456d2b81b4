"""`cca transcribe --ray`: the same outputs as a local run, resuming, a worker that dies.

On a local Ray cluster of 2 CPUs (one for the module), with a tiny random Whisper saved as a
checkpoint that the workers load. The random model loops until its token cap, which depends on
the other windows in its batch: equal outputs show that the batches are the local run's."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import requires_ffmpeg, tiny_whisper, tone, write_wav
from voice.asr.batch import MANIFEST, BatchOptions, expand_inputs
from voice.asr.transcribe import SUMMARY, main
from voice.asr.types import ASROptions

requires_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="needs Ray: pip install 'contact-centre-agent[ray]'",
)


def test_without_ray_the_error_says_what_to_install(monkeypatch):
    from voice.asr.distributed import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'contact-centre-agent\[ray\]'"):
        import_ray()


@requires_ray
@pytest.mark.parametrize(
    "address, message",
    [
        ("127.0.0.1:1", "cannot reach the Ray cluster at '127.0.0.1:1'"),
        ("ray://127.0.0.1:1", "ray start --head"),
        ("somewhere", "give auto, host:port or ray://host:port"),
    ],
)
def test_an_address_where_no_cluster_answers_fails_at_once(monkeypatch, address, message):
    import ray

    from voice.asr.distributed import connect

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises((RuntimeError, ValueError), match=re.escape(message)):
        connect(address)


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray", reason="needs Ray: pip install 'contact-centre-agent[ray]'")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def calls(tmp_path_factory) -> Path:
    """Files of different lengths (the random model's token cap follows the longest window in a
    batch), one silent, one corrupt, and a checkpoint the workers load."""
    d = tmp_path_factory.mktemp("ray")
    model = tiny_whisper()
    torch.save({"dims": asdict(model.dims), "model_state_dict": model.state_dict()}, d / "tiny.pt")
    (d / "in").mkdir()
    for i, seconds in enumerate([1.0, 3.0, 1.5, 2.5, 4.0, 2.0]):
        write_wav(d / "in" / f"call{i}.wav", tone(seconds, 180.0 + 40 * i))
    write_wav(d / "in" / "silence.wav", np.zeros(16000 * 2, np.float32))
    (d / "in" / "corrupt.wav").write_bytes(np.random.default_rng(0).bytes(4000))
    return d


def argv(calls: Path, out: Path, *extra: str) -> list[str]:
    return [
        str(calls / "in"),
        "-o",
        str(out),
        "--model",
        str(calls / "tiny.pt"),
        "--vad",
        "energy",
        "--temperatures",
        "0",
        "--batch-size",
        "2",
        "--no-progress",
        *extra,
    ]


def outputs(out: Path) -> dict[str, bytes]:
    """Every transcript file in `out` (not the manifest, which names its folder, nor the summary)."""
    return {
        p.name: p.read_bytes()
        for p in sorted(out.glob("*.*"))
        if p.name != SUMMARY and not p.name.startswith(".")
    }


def manifest_sources(out: Path) -> list[str]:
    rows = [json.loads(x) for x in (out / MANIFEST).read_text().splitlines()]
    return sorted(Path(r["source"]).name for r in rows)


@pytest.fixture(scope="module")
def local_and_ray(cluster, calls):
    """One local run and one run on 2 Ray workers over the same files."""
    local, spread = calls / "local", calls / "ray"
    assert main(argv(calls, local)) == 1  # the corrupt file
    assert main(argv(calls, spread, "--ray", "auto", "--ray-workers", "2")) == 1
    return local, spread


@requires_ffmpeg
@requires_ray
def test_ray_writes_what_a_local_run_writes_byte_for_byte(local_and_ray):
    local, spread = local_and_ray
    mine, theirs = outputs(local), outputs(spread)
    assert len(mine) == 7 * 4  # 6 calls and the silence, in txt, srt, vtt and json
    assert mine == theirs
    summary = json.loads((spread / SUMMARY).read_text())
    assert (summary["done"], summary["failed"]) == (7, 1)
    assert "corrupt.wav" in summary["failures"][0]["error"]
    assert summary["failures"] == json.loads((local / SUMMARY).read_text())["failures"]
    assert manifest_sources(spread) == sorted(f"call{i}.wav" for i in range(6)) + ["silence.wav"]
    assert not list(spread.rglob("*.tmp"))


@requires_ffmpeg
@requires_ray
def test_ray_resumes_from_the_same_manifest(local_and_ray, calls, capsys):
    """In the Ray run's own folder (the manifest names it), which it leaves as it found it."""
    _, out = local_and_ray
    capsys.readouterr()
    assert main(argv(calls, out, "--ray", "auto", "--ray-workers", "2")) == 1
    assert "0 done, 7 skipped, 1 failed" in capsys.readouterr().err
    assert main(argv(calls, out)) == 1  # a local run reads the same manifest
    assert "0 done, 7 skipped, 1 failed" in capsys.readouterr().err
    (out / "call3.srt").unlink()
    before = outputs(local_and_ray[0])
    assert main(argv(calls, out, "--ray", "auto")) == 1  # one worker (one node) by default
    assert "1 done, 6 skipped, 1 failed" in capsys.readouterr().err
    assert outputs(out) == before
    assert manifest_sources(out).count("call3.wav") == 2  # its first run's line, and this one


@requires_ffmpeg
@requires_ray
def test_a_worker_that_dies_has_its_files_redone_once(cluster, calls, local_and_ray, tmp_path):
    """A worker process dies in the middle of its first chunk: Ray starts it again, the chunk is
    done again, and every file is written once, whole, as a local run writes it."""
    from voice.asr.distributed import RayOptions, RayTranscriber, Worker, WorkerSpec

    local, _ = local_and_ray
    died = tmp_path / "died"

    class DiesOnce(Worker):  # defined here: Ray sends the class itself to the workers
        def transcribe(self, jobs):
            if not died.exists():
                died.write_text(str(os.getpid()))
                os._exit(1)  # killed, with files in flight
            return super().transcribe(jobs)

    spec = WorkerSpec(
        str(calls / "tiny.pt"),
        None,
        ASROptions(beam_size=2, temperatures=(0.0,)),
        "energy",
        BatchOptions(batch_size=2),
    )
    transcriber = RayTranscriber(spec, RayOptions(workers=2), worker=DiesOnce)
    out = tmp_path / "out"
    try:
        results = transcriber.run(expand_inputs([str(calls / "in")]), out, progress=False)
    finally:
        transcriber.stop()
    assert died.exists()
    assert sorted(r.status for r in results) == ["done"] * 7 + ["failed"]
    assert manifest_sources(out) == sorted(f"call{i}.wav" for i in range(6)) + ["silence.wav"]
    assert outputs(out) == outputs(local)
    assert not list(out.rglob("*.tmp")) and not list(out.rglob(".*.tmp"))


@requires_ffmpeg
@requires_ray
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--ray-workers", "3", "--ray-cpus-per-worker", "1"], "lower --ray-workers"),
        (["--ray-workers", "0"], "--ray-workers must be at least 1"),
        (["--model", "/nowhere/model.pt"], "every node needs the same model"),
        (["--vad", "nope"], "available VADs"),
    ],
)
def test_bad_ray_arguments_exit_2_with_the_fix(cluster, calls, tmp_path, capsys, extra, message):
    assert main(argv(calls, tmp_path / "o", "--ray", "auto", *extra)) == 2
    assert message in capsys.readouterr().err
