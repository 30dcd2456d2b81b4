"""`cca transcribe`: inputs, batching across files, failures, resume, stereo calls, the CLI.

The pipeline is tested with the fake ASR (what it did is visible), and end to end through
`main()` with a tiny random Whisper saved as a real checkpoint file."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import requires_espeak, requires_ffmpeg, tiny_whisper, tone, write_wav
from tests.fakes import FakeASR, FakeVAD
from voice.asr import batch
from voice.asr.batch import (
    MANIFEST,
    BatchOptions,
    BatchTranscriber,
    Job,
    expand_inputs,
)
from voice.asr.transcribe import SUMMARY, main
from voice.asr.types import ASROptions
from voice.asr.vad import EnergyVAD

pytestmark = requires_ffmpeg


@pytest.fixture
def calls(tmp_path) -> Path:
    """A folder of mixed good and bad recordings, as a contact centre would have."""
    d = tmp_path / "calls"
    (d / "2026" / "nov").mkdir(parents=True)
    write_wav(d / "a.wav", tone(2.0))
    write_wav(d / "2026" / "nov" / "b.wav", tone(35.0, 300.0))  # two windows
    write_wav(d / "silence.wav", np.zeros(16000 * 3, np.float32))
    (d / "empty.wav").write_bytes(b"")
    (d / "corrupt.wav").write_bytes(np.random.default_rng(0).bytes(4000))
    (d / "notes.txt").write_text("not audio, and not picked up from a folder")
    return d


def test_expand_inputs_folders_globs_files_and_duplicates(calls, tmp_path):
    jobs = expand_inputs([str(calls)])
    stems = {str(j.stem) for j in jobs}
    assert stems == {"a", "2026/nov/b", "silence", "empty", "corrupt"}  # notes.txt skipped
    globbed = expand_inputs([str(calls / "**" / "*.wav")])
    assert {j.source.name for j in globbed} == {
        "a.wav",
        "b.wav",
        "silence.wav",
        "empty.wav",
        "corrupt.wav",
    }
    write_wav(calls / "a.flac", tone(1.0))  # same stem, other container: both kept, named apart
    both = expand_inputs([str(calls / "a.wav"), str(calls / "a.flac"), str(calls / "a.wav")])
    assert [str(j.stem) for j in both] == ["a", "a.flac"]
    missing = expand_inputs([str(tmp_path / "nope.wav")])
    assert len(missing) == 1  # reported as a failure by the run, not silently dropped


def run(tmp_path, jobs, asr=None, vad=None, **options):
    asr = asr or FakeASR()
    t = BatchTranscriber(asr, vad or FakeVAD(), BatchOptions(**options))
    return t.run(jobs, tmp_path / "out", progress=False), asr


def test_good_and_bad_files_the_run_goes_on(calls, tmp_path):
    results, _ = run(tmp_path, expand_inputs([str(calls)]))
    status = {Path(r.source).name: r.status for r in results}
    assert status == {
        "a.wav": "done",
        "b.wav": "done",
        "silence.wav": "done",
        "empty.wav": "failed",
        "corrupt.wav": "failed",
    }
    errors = {Path(r.source).name: r.error for r in results if r.error}
    assert "empty.wav" in errors["empty.wav"] and "0 bytes" in errors["empty.wav"]
    assert (
        "corrupt.wav" in errors["corrupt.wav"]
        and "not a readable audio file" in errors["corrupt.wav"]
    )
    out = tmp_path / "out"
    for stem in ("a", "2026/nov/b", "silence"):
        for fmt in ("txt", "srt", "vtt", "json"):
            assert (out / f"{stem}.{fmt}").is_file()
    doc = json.loads((out / "2026/nov/b.json").read_text())
    assert {"text", "language", "duration_s", "segments", "model"} <= set(doc)
    assert doc["duration_s"] == pytest.approx(35.0, abs=0.05)
    assert [s["start_s"] for s in doc["segments"]] == [0.0, 17.5]  # cut in two equal windows
    assert not list(out.rglob("*.tmp"))


def test_windows_from_many_files_share_a_batch(tmp_path):
    """Without context, all windows are ready at once: batches mix files and fill up."""
    files = [write_wav(tmp_path / f"f{i}.wav", tone(35.0)) for i in range(3)]  # 2 windows each
    results, asr = run(tmp_path, [Job(f, Path(f.stem)) for f in files], batch_size=4)
    assert all(r.status == "done" for r in results)
    assert asr.batches == [4, 2]  # the first batch already mixes windows of two files
    assert asr.prompts == [""] * 6


def test_with_context_a_files_windows_go_in_order_and_read_the_text_before(tmp_path):
    files = [write_wav(tmp_path / f"f{i}.wav", tone(65.0)) for i in range(2)]  # 3 windows each
    asr = FakeASR(text="one", options=ASROptions(condition_on_previous_text=True))
    results, _ = run(tmp_path, [Job(f, Path(f.stem)) for f in files], asr=asr, batch_size=8)
    assert all(r.status == "done" for r in results)
    assert asr.batches == [2, 2, 2]  # window k of both files together, never two of one file
    assert asr.prompts == ["", "", "one", "one", "one", "one"]
    doc = json.loads((tmp_path / "out" / "f0.json").read_text())
    assert [s["start_s"] for s in doc["segments"]] == sorted(s["start_s"] for s in doc["segments"])
    assert len(doc["segments"]) == 3


def test_a_model_failure_fails_only_the_files_in_that_batch(tmp_path):
    files = [write_wav(tmp_path / f"f{i}.wav", tone(2.0)) for i in range(4)]
    results, _ = run(
        tmp_path,
        [Job(f, Path(f.stem)) for f in files],
        asr=FakeASR(fail_on_batch=0),
        batch_size=2,
        workers=1,
    )
    failed = [r for r in results if r.status == "failed"]
    assert len(failed) == 2 and all("ASR failed" in r.error for r in failed)
    assert sum(r.status == "done" for r in results) == 2


def test_resume_skips_done_files_and_redoes_on_change(calls, tmp_path):
    jobs = [j for j in expand_inputs([str(calls)]) if j.stem.name in ("a", "b")]
    first, _ = run(tmp_path, jobs)
    assert [r.status for r in first] == ["done", "done"]
    again, asr = run(tmp_path, jobs)
    assert [r.status for r in again] == ["skipped", "skipped"] and asr.batches == []
    forced, _ = run(tmp_path, jobs, overwrite=True)
    assert [r.status for r in forced] == ["done", "done"]
    other_model, _ = run(tmp_path, jobs, asr=FakeASR(name="another-model"))
    assert [r.status for r in other_model] == ["done", "done"]
    # a file whose outputs were deleted is redone; a manifest line cut short by a kill is ignored
    (tmp_path / "out" / "a.srt").unlink()
    with open(tmp_path / "out" / MANIFEST, "a") as f:
        f.write('{"source": "/x", "key"')
    partial, _ = run(tmp_path, jobs, asr=FakeASR(name="another-model"))
    assert sorted(r.status for r in partial) == ["done", "skipped"]


def test_a_file_killed_in_flight_is_redone(tmp_path, monkeypatch):
    """Outputs are recorded in the manifest only after every file was written."""
    f = write_wav(tmp_path / "call.wav", tone(2.0))
    real = batch.write_transcript

    def crash(t, base, formats, extra):
        real(t, base, formats[:1], extra)  # one format written, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "write_transcript", crash)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, [Job(f, Path("call"))])
    monkeypatch.setattr(batch, "write_transcript", real)
    results, _ = run(tmp_path, [Job(f, Path("call"))])
    assert [r.status for r in results] == ["done"]


def test_split_channels_labels_speakers_and_merges_by_time(tmp_path):
    sr = 16000
    left = np.concatenate([tone(2.0), np.zeros(sr * 4, np.float32)])
    right = np.concatenate(
        [np.zeros(sr * 3, np.float32), tone(2.0, 330.0), np.zeros(sr, np.float32)]
    )
    f = write_wav(tmp_path / "call.wav", np.stack([left, right], axis=1))
    results, _ = run(tmp_path, [Job(f, Path("call"))], vad=EnergyVAD(), split_channels=True)
    assert results[0].status == "done"
    doc = json.loads((tmp_path / "out" / "call.json").read_text())
    assert [s["speaker"] for s in doc["segments"]] == ["agent", "customer"]
    assert doc["segments"][0]["end_s"] <= doc["segments"][1]["start_s"]
    assert doc["text"].splitlines()[0].startswith("agent: ")
    assert "<v customer>" in (tmp_path / "out" / "call.vtt").read_text()


# -- the command line, end to end with a real (tiny, random) Whisper checkpoint ------------------


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    model = tiny_whisper()
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save({"dims": asdict(model.dims), "model_state_dict": model.state_dict()}, path)
    return path


def test_cli_end_to_end_exit_status_summary_and_progress(calls, tmp_path, tiny_checkpoint, capsys):
    out = tmp_path / "out"
    argv = [
        str(calls),
        "-o",
        str(out),
        "--model",
        str(tiny_checkpoint),
        "--device",
        "cpu",
        "--vad",
        "energy",
        "--temperatures",
        "0",
        "--format",
        "json,srt",
    ]
    assert main(argv) == 1  # two bad files
    err = capsys.readouterr().err
    assert "3 done, 0 skipped, 2 failed of 5 files" in err
    assert "empty.wav: empty file" in err and "file/s" in err  # the progress bar ran
    summary = json.loads((out / SUMMARY).read_text())
    assert summary["failed"] == 2 and summary["done"] == 3 and summary["audio_hours"] > 0
    assert (out / "a.json").is_file() and (out / "a.srt").is_file() and not (out / "a.txt").exists()
    assert json.loads((out / "silence.json").read_text())["text"] == ""
    assert main([*argv, "--no-progress"]) == 1
    assert "0 done, 3 skipped, 2 failed" in capsys.readouterr().err
    good = [
        str(calls / "a.wav"),
        "-o",
        str(tmp_path / "good"),
        "--model",
        str(tiny_checkpoint),
        "--vad",
        "energy",
        "--no-progress",
    ]
    assert main(good) == 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--format", "docx"], "available formats"),
        (["--model", "no-such-model"], "available models"),
        (["--batch-size", "0"], "--batch-size"),
        (["--vad", "nope"], "available VADs"),
        (["--beam-size", "0"], "beam_size must be >= 1"),
    ],
)
def test_cli_bad_arguments_exit_2_with_the_fix(
    calls, tmp_path, tiny_checkpoint, capsys, extra, message
):
    argv = [
        str(calls / "a.wav"),
        "-o",
        str(tmp_path / "o"),
        "--model",
        str(tiny_checkpoint),
        *extra,
    ]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.weights
def test_cli_real_base_on_a_folder(tmp_path, capsys):
    """The README's main job: the packaged Whisper base over a folder with a bad file in it."""
    import shutil
    import subprocess

    from voice.asr.models import available_packaged

    if "base" not in available_packaged() or shutil.which("espeak-ng") is None:
        pytest.skip("needs the offline extra and espeak-ng")
    d = tmp_path / "in"
    d.mkdir()
    subprocess.run(
        ["espeak-ng", "-w", str(d / "hello.wav"), "Hello, I would like to return my order."],
        check=True,
    )
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(d / "hello.wav"),
            "-ar",
            "8000",
            "-acodec",
            "pcm_mulaw",
            str(d / "phone.wav"),
        ],
        check=True,
    )
    (d / "broken.mp3").write_bytes(b"ID3" + b"\0" * 100)
    assert main([str(d), "-o", str(tmp_path / "out"), "--no-progress"]) == 1
    for stem in ("hello", "phone"):
        doc = json.loads((tmp_path / "out" / f"{stem}.json").read_text())
        assert doc["language"] == "en"
        assert "return my order" in doc["text"].lower()


def test_an_output_that_cannot_be_written_fails_that_file_only(tmp_path, monkeypatch):
    good = write_wav(tmp_path / "good.wav", tone(2.0))
    quiet = write_wav(tmp_path / "quiet.wav", np.zeros(16000 * 2, np.float32))
    real = batch.write_transcript

    def disk_full(t, base, formats, extra):
        if base.name == "good":
            raise OSError(28, "No space left on device")
        return real(t, base, formats, extra)

    monkeypatch.setattr(batch, "write_transcript", disk_full)
    results, _ = run(
        tmp_path, [Job(good, Path("good")), Job(quiet, Path("quiet"))], vad=EnergyVAD()
    )
    status = {Path(r.source).name: (r.status, r.error) for r in results}
    assert status["good.wav"][0] == "failed" and "No space left" in status["good.wav"][1]
    assert status["quiet.wav"] == ("done", "")


@requires_espeak
def test_two_workers_give_the_same_segments_on_every_run_and_after_a_kill(tmp_path, monkeypatch):
    """The windows come from the real Silero VAD in 2 decode threads; every run, and a run
    killed after its first file and resumed, writes the same segments."""
    import subprocess

    pytest.importorskip("silero_vad")
    from voice.asr.vad import SileroVAD
    from voice.audio import load_audio

    texts = [
        "Hello, thank you for calling the support line.",
        "I would like to change the address on my account, please.",
        "My order number is W two six one one three four zero.",
        "Could you tell me when my refund will arrive?",
    ]
    jobs = []
    for i, text in enumerate(texts):
        wav = tmp_path / "calls" / f"c{i}.wav"
        wav.parent.mkdir(exist_ok=True)
        subprocess.run(["espeak-ng", "-s", str(140 + 15 * i), "-w", str(wav), text], check=True, capture_output=True)  # fmt: skip
        speech = load_audio(wav).samples
        gap = np.zeros(16_000, np.float32)
        write_wav(wav, np.concatenate([speech, gap, speech, gap[: 4000 * (i + 1)], speech]))
        jobs.append(Job(wav, Path(f"c{i}")))
    vad = SileroVAD.load()

    def segments(out: Path) -> dict:
        return {p.name: json.loads(p.read_text())["segments"] for p in sorted(out.glob("c*.json"))}

    runs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        BatchTranscriber(FakeASR(), vad, BatchOptions(workers=2, batch_size=2)).run(jobs, out, progress=False)  # fmt: skip
        runs.append(segments(out))
    assert len(runs[0]) == 4 and all(runs[0].values()) and runs[0] == runs[1]

    real, written = batch.write_transcript, []

    def dies_after_one(t, base, formats, extra):
        if written:
            raise KeyboardInterrupt  # the process is killed while the second file is written
        written.append(base)
        return real(t, base, formats, extra)

    monkeypatch.setattr(batch, "write_transcript", dies_after_one)
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        BatchTranscriber(FakeASR(), vad, BatchOptions(workers=2, batch_size=2)).run(jobs, out, progress=False)  # fmt: skip
    monkeypatch.setattr(batch, "write_transcript", real)
    resumed = BatchTranscriber(FakeASR(), vad, BatchOptions(workers=2, batch_size=2)).run(jobs, out, progress=False)  # fmt: skip
    assert sorted(r.status for r in resumed) == ["done", "done", "done", "skipped"]
    assert segments(out) == runs[0]


def test_the_fitted_context_options_key_a_run_only_when_the_context_is_fitted():
    """Over the full 30 s the fitted context's options change nothing, so they do not change
    which files a resumed run counts as done; a fitted context does."""
    from types import SimpleNamespace

    def key(**kw):
        asr = SimpleNamespace(name="m", options=ASROptions(**kw))
        return BatchTranscriber(asr, FakeVAD(), BatchOptions()).key

    assert key() == key(redetect_below=0.5, fitted_languages=("en", "zh"))
    assert key(context_pad_s=6.0) != key() != key(quantize="int8")
    assert key(context_pad_s=6.0) != key(context_pad_s=6.0, fitted_languages=("en", "zh"))


def test_the_default_output_projection_keeps_the_keys_made_before_it():
    """`ASROptions.head` is keyed only when it is not the default, so runs resumed across the
    upgrade count their finished files as done; "full" is another run."""
    import dataclasses
    import hashlib
    import json
    from types import SimpleNamespace

    options = ASROptions()
    asr = SimpleNamespace(name="m", options=options)
    key = BatchTranscriber(asr, FakeVAD(), BatchOptions()).key
    before = {k: v for k, v in dataclasses.asdict(options).items()
              if k not in ("head", "context_pad_s", "redetect_below", "fitted_languages")}  # fmt: skip
    desc = {"model": "m", "asr": before, "vad": "fake-vad", "split": [False, ["agent", "customer"]]}
    old = hashlib.sha256(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()[:16]
    assert key == old
    full = SimpleNamespace(name="m", options=ASROptions(head="full"))
    assert BatchTranscriber(full, FakeVAD(), BatchOptions()).key != key


def test_cli_head_full_is_another_run_with_the_same_text(calls, tmp_path, tiny_checkpoint, capsys):
    out = tmp_path / "out"
    argv = [str(calls / "a.wav"), "-o", str(out), "--model", str(tiny_checkpoint), "--device",
            "cpu", "--vad", "energy", "--temperatures", "0", "--format", "json", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    fast = json.loads((out / "a.json").read_text())
    assert main([*argv, "--head", "full"]) == 0
    assert "1 done, 0 skipped" in capsys.readouterr().err  # not skipped: another run's options
    full = json.loads((out / "a.json").read_text())
    assert fast["segments"] and [s["text"] for s in full["segments"]] == [
        s["text"] for s in fast["segments"]
    ]
