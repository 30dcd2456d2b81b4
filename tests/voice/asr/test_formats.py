"""Tests for voice.asr.formats: txt, srt, vtt and json transcripts, written atomically."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

import voice.asr.formats
from voice.asr.formats import (
    available_formats,
    parse_formats,
    to_json,
    to_srt,
    to_txt,
    to_vtt,
    write_atomic,
    write_transcript,
)
from voice.types import Segment, Transcript, Word

TRANSCRIPT = Transcript(
    text="Hello, how can I help? 我想改地址。",
    language="en",
    duration_s=3725.5,
    segments=(
        Segment(0.0, 2.5, "Hello, how can I help?", "en", speaker="agent", avg_logprob=-0.21),
        Segment(
            3723.0424,  # over an hour; 42.4 ms rounds to 042
            3725.5,
            "我想改地址。",
            "zh",
            words=(Word(3723.05, 3724.0, "我想", 0.91234), Word(3724.0, 3725.4, "改地址。", 0.8)),
        ),
    ),
    language_probs={"en": 0.61234, "zh": 0.38766},
    model="tiny-test",
)


def test_txt():
    assert to_txt(TRANSCRIPT, {}) == "Hello, how can I help? 我想改地址。\n"
    assert to_txt(Transcript("", "", 1.0), {}) == ""


def test_srt():
    assert to_srt(TRANSCRIPT, {}) == (
        "1\n00:00:00,000 --> 00:00:02,500\nagent: Hello, how can I help?\n"
        "\n"
        "2\n01:02:03,042 --> 01:02:05,500\n我想改地址。\n"
    )


def test_vtt():
    assert to_vtt(TRANSCRIPT, {}) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.000 --> 00:00:02.500\n<v agent>Hello, how can I help?\n"
        "\n"
        "01:02:03.042 --> 01:02:05.500\n我想改地址。\n"
    )


@pytest.mark.parametrize(
    "seconds,srt",
    [
        (0.0, "00:00:00,000"),
        (59.9994, "00:00:59,999"),
        (59.9996, "00:01:00,000"),  # rounds up across the minute
        (3599.9999, "01:00:00,000"),
        (36_000 + 61.25, "10:01:01,250"),
    ],
)
def test_timestamps(seconds, srt):
    t = Transcript("x", "en", seconds + 1, (Segment(seconds, seconds + 1, "x"),))
    assert to_srt(t, {}).splitlines()[1].startswith(f"{srt} --> ")
    assert to_vtt(t, {}).splitlines()[2].startswith(f"{srt.replace(',', '.')} --> ")


def test_vtt_escapes_cue_text():
    t = Transcript("", "en", 2.0, (Segment(0.0, 2.0, "Q&A: is 3 < 5?", speaker="agent"),))
    assert "<v agent>Q&amp;A: is 3 &lt; 5?" in to_vtt(t, {})


def test_json_round_trips():
    data = json.loads(to_json(TRANSCRIPT, {"source": "call.wav"}))
    assert {"text", "language", "duration_s", "segments", "model"} <= set(data)
    assert data["text"] == TRANSCRIPT.text and data["language"] == "en"
    assert data["duration_s"] == 3725.5 and data["model"] == "tiny-test"
    assert data["source"] == "call.wav"  # extra keys are added
    assert data["language_probs"] == {"en": 0.6123, "zh": 0.3877}
    first, second = data["segments"]
    assert (first["start_s"], first["end_s"], first["text"]) == (
        0.0,
        2.5,
        TRANSCRIPT.segments[0].text,
    )
    assert first["speaker"] == "agent" and "speaker" not in second
    assert (second["start_s"], second["end_s"], second["text"]) == (
        3723.042,
        3725.5,
        "我想改地址。",
    )
    assert second["words"][0] == {
        "start_s": 3723.05,
        "end_s": 3724.0,
        "text": "我想",
        "probability": 0.9123,
    }
    assert "我想改地址" in to_json(TRANSCRIPT, {})  # written as UTF-8, not \\u escapes


@pytest.mark.parametrize(
    "spec,want",
    [
        ("all", ("txt", "srt", "vtt", "json")),
        ("json,srt", ("srt", "json")),  # in WRITERS order: json last
        (" vtt , txt ,", ("txt", "vtt")),
        ("json", ("json",)),
    ],
)
def test_parse_formats(spec, want):
    assert parse_formats(spec) == want


@pytest.mark.parametrize(
    "spec,named", [("docx", "docx"), ("json,pdf", "pdf"), ("", "''"), (",", "','")]
)
def test_parse_formats_unknown(spec, named):
    with pytest.raises(ValueError) as err:
        parse_formats(spec)
    message = str(err.value)
    assert named in message
    assert f"available formats = {available_formats()}" in message
    assert available_formats() == ["txt", "srt", "vtt", "json"]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_atomic_writes_and_replaces(tmp_path):
    path = tmp_path / "sub" / "call.srt"
    write_atomic(path, "first\n")
    write_atomic(path, "second 第二\n")
    assert path.read_text(encoding="utf-8") == "second 第二\n"
    assert _files(path.parent) == ["call.srt"]  # no temporary file left


def test_write_atomic_failed_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "call.json"
    path.write_text("old")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "new" * 1000)
    assert path.read_text() == "old"
    assert _files(tmp_path) == ["call.json"]


def test_write_atomic_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "call.txt"
    path.write_text("old")
    with pytest.raises(TypeError):
        write_atomic(path, object())  # type: ignore[arg-type]

    real_fdopen = os.fdopen

    class DiskFull:  # writes half of the text, then fails as a full disk does
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, text):
            self.f.write(text[: len(text) // 2])
            self.f.flush()
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: DiskFull(real_fdopen(fd, *a, **k)))
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, "new text " * 100)
    assert path.read_text() == "old"
    assert _files(tmp_path) == ["call.txt"]


def test_write_atomic_keeps_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = tmp_path / "call.txt"
        write_atomic(path, "text")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    finally:
        os.umask(umask)


def test_write_transcript_writes_each_format_json_last(tmp_path, monkeypatch):
    order = []
    real = voice.asr.formats.write_atomic
    monkeypatch.setattr(
        voice.asr.formats, "write_atomic", lambda p, t: (order.append(p.name), real(p, t))
    )
    paths = write_transcript(
        TRANSCRIPT, tmp_path / "out" / "call", ("json", "txt", "srt"), {"a": 1}
    )
    assert [p.name for p in paths] == order == ["call.txt", "call.srt", "call.json"]
    assert json.loads((tmp_path / "out" / "call.json").read_text())["a"] == 1
    assert (tmp_path / "out" / "call.srt").read_text() == to_srt(TRANSCRIPT, {})
