"""Transcript files: txt, srt, vtt and json, each written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from voice.types import Transcript

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once at import, before any threads start


def _clock(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_txt(t: Transcript, extra: dict) -> str:
    return t.text + "\n" if t.text else ""


def to_srt(t: Transcript, extra: dict) -> str:
    blocks = []
    for i, s in enumerate(t.segments, 1):
        text = f"{s.speaker}: {s.text}" if s.speaker else s.text
        blocks.append(f"{i}\n{_clock(s.start_s, ',')} --> {_clock(s.end_s, ',')}\n{text}\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(t: Transcript, extra: dict) -> str:
    blocks = ["WEBVTT\n"]
    for s in t.segments:
        text = _vtt_escape(s.text)
        text = f"<v {_vtt_escape(s.speaker)}>{text}" if s.speaker else text
        blocks.append(f"{_clock(s.start_s, '.')} --> {_clock(s.end_s, '.')}\n{text}\n")
    return "\n".join(blocks)


def to_json(t: Transcript, extra: dict) -> str:
    return json.dumps({**t.to_dict(), **extra}, ensure_ascii=False, indent=2) + "\n"


WRITERS: dict[str, Callable[[Transcript, dict], str]] = {
    "txt": to_txt,
    "srt": to_srt,
    "vtt": to_vtt,
    "json": to_json,  # last: its presence marks a finished file for resuming
}


def available_formats() -> list[str]:
    return list(WRITERS)


def parse_formats(spec: str) -> tuple[str, ...]:
    """ "all" or a comma list such as "json,srt"; returned in WRITERS order."""
    asked = set(WRITERS) if spec == "all" else {f.strip() for f in spec.split(",") if f.strip()}
    unknown = asked - set(WRITERS)
    if unknown or not asked:
        raise ValueError(
            f"format(s) {sorted(unknown) or spec!r} not known; available formats = {available_formats()} or all"
        )
    return tuple(f for f in WRITERS if f in asked)


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, then rename: never a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file owner-only: give it the mode a plain open() would have
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_transcript(
    t: Transcript, base: Path, formats: tuple[str, ...], extra: dict
) -> list[Path]:
    """Write `base.<fmt>` for each format (json last); `extra` keys are added to the json."""
    paths = []
    for fmt in sorted(formats, key=lambda f: f == "json"):
        path = base.with_name(base.name + "." + fmt)
        write_atomic(path, WRITERS[fmt](t, extra))
        paths.append(path)
    return paths
