"""Entities in one customer turn, typed or heard: the field kinds of `vision.fields` (order and
tracking numbers, emails, phones, amounts, dates, error codes), plus zip codes and the products
of a catalogue.

Spoken readings are written as digits first (`dialogue.nlu.spoken`: "W two six one one" -> W2611,
"幺三八" -> 138), and every entity's span is mapped back, so `text[start:end]` is always what the
customer said or typed, and `value` is the canonical form ("W2611340", "+8613812345678").

Beyond `vision.fields`:
- zip_code: US 5-digit (or ZIP+4) after "zip", "zip code", "postal code", "postcode", or after a
  state at the end of an address ("Fort Worth, TX 76165"); a Chinese 6-digit postcode after 邮编
  or 邮政编码.
- order_number: tau-bench style ids with no cue ("W2611340", and "W 2611340" as speech
  recognition writes "W, two six one one..."); with a cue or "#" the fields patterns already
  read them ("order #W2611340" -> W2611340, the "#" outside the span).
- product: a catalogue name, case-insensitive, longest match first, loose about spaces and
  hyphens ("t shirt" finds "T-Shirt") and a plural "s"; the value is the catalogue's spelling.
Overlaps are settled like `vision.fields`: a zip after its cue beats any field, a catalogue
product beats a field, fields beat a bare id or an address-end zip; then the longer match wins.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dialogue.nlu.spoken import normalise_spoken
from vision.fields import CORE_CUES, FIELD_KINDS, FieldCues, extract_fields

ENTITY_TYPES = (*FIELD_KINDS, "zip_code", "product")
MAX_ENTITY_TEXT = 100_000  # characters; longer text is a paste, not a turn


@dataclass(frozen=True)
class Entity:
    """One value in a turn. `start`/`end` index the original text: text[start:end] is the surface.

    type: one of ENTITY_TYPES
    value: canonical form (digits of an order number, E.164 phone, "12.50 USD", ISO date...)
    """

    type: str
    value: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value, "start": self.start, "end": self.end}


_STATES = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY", "PR",
)  # fmt: skip
_STATE_NAMES = (
    "alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|florida|georgia|"
    "hawaii|idaho|illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|massachusetts|"
    "michigan|minnesota|mississippi|missouri|montana|nebraska|nevada|new hampshire|new jersey|"
    "new mexico|new york|north carolina|north dakota|ohio|oklahoma|oregon|pennsylvania|"
    "rhode island|south carolina|south dakota|tennessee|texas|utah|vermont|virginia|washington|"
    "west virginia|wisconsin|wyoming"
)
_ZIP = r"(?P<v>[0-9]{5}(?:-[0-9]{4})?)(?![0-9])"
# after its cue, also as Whisper writes five spoken digits: "my zip code is 94,105"
_CUED_ZIP = r"(?P<v>[0-9]{5}(?:-[0-9]{4})?|[0-9]{2},[0-9]{3})(?![0-9]|,[0-9])"
_CUE_SEP = r"[ \t]*(?:is|was|是|为)?[ \t]*[:：#]?[ \t]*"
# (priority, pattern, type); the span is the group "v"
_EXTRA_RULES: tuple[tuple[int, re.Pattern[str], str], ...] = (
    (95, re.compile(r"(?<![A-Za-z])(?:zip(?:[ \t]*code)?|postal[ \t]*code|post[ \t]*code|postcode)" + _CUE_SEP + _CUED_ZIP, re.I), "zip_code"),
    (95, re.compile(r"(?:邮政编码|邮编)" + _CUE_SEP + r"(?P<v>[0-9]{6}|[0-9]{5}(?:-[0-9]{4})?)(?![0-9])"), "zip_code"),
    (45, re.compile(r"(?<![A-Za-z])(?:" + "|".join(_STATES) + r")\.?,?[ \t]+" + _ZIP), "zip_code"),
    (45, re.compile(r"(?<![A-Za-z])(?:" + _STATE_NAMES + r"),?[ \t]+" + _ZIP, re.I), "zip_code"),
    (40, re.compile(r"(?<![0-9A-Za-z])#?(?P<v>[A-Z]{1,2}(?:,?[ \t]|-)?[0-9]{6,10})(?![0-9A-Za-z])"), "order_number"),
)  # fmt: skip
_FIELD_PRIORITY, _PRODUCT_PRIORITY = 50, 60


def _catalogue_pattern(catalogue: Iterable[str]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """One alternation of every name, longest first; and loose key -> the catalogue's spelling."""
    names = sorted({n.strip() for n in catalogue if n and n.strip()}, key=len, reverse=True)
    if not names:
        return None, {}
    alternatives, canonical = [], {}
    for name in names:
        tokens = [re.escape(t) for t in re.split(r"[\s\-]+", name) if t]
        body = r"[\s\-]*".join(tokens)
        if name[0].isascii() and name[0].isalnum():
            body = r"(?<![A-Za-z0-9])" + body
        if name[-1].isascii() and name[-1].isalpha():
            body += r"(?:e?s)?(?![A-Za-z0-9])"
        elif name[-1].isascii() and name[-1].isalnum():
            body += r"(?![A-Za-z0-9])"
        alternatives.append(f"(?:{body})")
        canonical.setdefault(_loose(name), name)
    return re.compile("|".join(alternatives), re.IGNORECASE), canonical


def _loose(s: str) -> str:
    return re.sub(r"[\s\-]+", "", s).lower()


def _product_value(surface: str, canonical: dict[str, str]) -> str:
    key = _loose(surface)
    for k in (key, key.removesuffix("s"), key.removesuffix("es")):
        if k in canonical:
            return canonical[k]
    return surface


def extract_entities(
    text: str, catalogue: Iterable[str] = (), cues: FieldCues = CORE_CUES
) -> list[Entity]:
    """Every entity in `text`, sorted by start, none overlapping (see the module docstring).

    catalogue: product names to look for; matched case-insensitively, longest first.
    cues: a business's own words that name a field, beside the core's (`vision.fields`).
    """
    if not isinstance(text, str):
        raise TypeError(f"extract_entities wants a str, got {type(text).__name__}")
    if len(text) > MAX_ENTITY_TEXT:
        raise ValueError(
            f"text of {len(text)} characters is over the {MAX_ENTITY_TEXT} limit; "
            "pass one customer turn, not a document"
        )
    norm = normalise_spoken(text)
    found: list[tuple[int, int, int, str, str]] = []  # priority, start, end, type, value
    for f in extract_fields(norm.text, cues=cues):
        start, end = norm.to_original(*f.span)
        found.append((_FIELD_PRIORITY, start, end, f.kind, f.value))
    for priority, pattern, kind in _EXTRA_RULES:
        for m in pattern.finditer(norm.text):
            start, end = norm.to_original(*m.span("v"))
            value = m["v"].upper()
            if kind == "order_number":  # "W 6247578" as a recogniser writes it: W6247578
                value = re.sub(r"[^0-9A-Z]", "", value)
            elif kind == "zip_code":
                value = value.replace(",", "")
            found.append((priority, start, end, kind, value))
    pattern, canonical = _catalogue_pattern(catalogue)
    if pattern is not None:
        for m in pattern.finditer(text):
            if m.end() > m.start():
                value = _product_value(m[0], canonical)
                found.append((_PRODUCT_PRIORITY, m.start(), m.end(), "product", value))
    found.sort(key=lambda c: (-c[0], c[1] - c[2], c[1]))  # best first: priority, then length
    starts: list[int] = []
    taken: list[Entity] = []
    for _, start, end, kind, value in found:
        i = bisect.bisect(starts, start)
        if (i and taken[i - 1].end > start) or (i < len(starts) and starts[i] < end):
            continue  # overlaps a better entity
        starts.insert(i, start)
        taken.insert(i, Entity(kind, value, start, end))
    return taken
