"""Transcript text: decoding loops cut, Chinese script, segments joined as each language writes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from voice.types import Segment

SCRIPTS = ("simplified", "traditional", "original")
_UNSPACED = {"zh", "ja", "th", "lo", "my", "yue"}  # languages written without spaces between words
_REPEAT = re.compile(r"(.{2,60}?)(?:[\s,，、]*\1){3,}", re.DOTALL)


def cut_repetitions(text: str) -> str:
    """Collapse a phrase repeated four or more times in a row (a decoding loop) to one."""
    return _REPEAT.sub(r"\1", text)


@lru_cache(maxsize=2)
def _opencc(config: str):
    try:
        import opencc
    except ImportError as e:
        raise ImportError(
            "Chinese script conversion needs `opencc`: pip install 'contact-centre-agent[voice]', "
            "or set chinese_script='original'"
        ) from e
    return opencc.OpenCC(config)


def to_script(text: str, script: str) -> str:
    """Chinese text in simplified or traditional characters (OpenCC), or left as it is."""
    if script not in SCRIPTS:
        raise ValueError(f"chinese_script={script!r}; choose one of {SCRIPTS}")
    if script == "original":
        return text
    return _opencc("t2s" if script == "simplified" else "s2t").convert(text)


def join_texts(segments: Sequence[Segment]) -> str:
    """Segment texts joined as the language writes: spaces between English, none in Chinese;
    one line per segment, led by its speaker, when segments carry speakers."""
    out = ""
    for s in segments:
        if s.speaker:
            out += ("\n" if out else "") + f"{s.speaker}: {s.text}"
        elif not out:
            out = s.text
        elif s.language in _UNSPACED and (out[-1:] > "\u2e80" or s.text[:1] > "\u2e80"):
            out += s.text
        else:
            out += " " + s.text
    return out
