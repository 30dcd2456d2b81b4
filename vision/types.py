"""The frozen types that carry screenshots and what was read from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Image:
    """One decoded picture, upright, RGB, no alpha.

    rgb: (height, width, 3) uint8
    """

    rgb: np.ndarray
    source: str = ""  # file name or other label, for error messages and outputs
    format: str = ""  # "PNG", "JPEG" or "WEBP": what the bytes were

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


@dataclass(frozen=True, eq=False)
class ImageFeatures:
    """What the image encoder saw in one picture.

    patches: (n_patches, d_vision) float32, the last feature map read row by row
    pooled: (d_vision,) float32, the mean of the patches
    grid: (rows, cols) of the feature map, rows * cols == n_patches
    label_probs: (n_labels,) float32 class probabilities when the encoder has a trained
        classification head (the packaged EfficientNet-Lite0 has ImageNet's), else None
    """

    patches: np.ndarray
    pooled: np.ndarray
    grid: tuple[int, int]
    label_probs: np.ndarray | None = None


@dataclass(frozen=True)
class OCRLine:
    """One line of text on the page.

    box: (x0, y0, x1, y1) in pixels of the upright image, the axis-aligned bounds of the line
    """

    text: str
    box: tuple[int, int, int, int]
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "box": list(self.box), "confidence": round(self.confidence, 4)}


@dataclass(frozen=True)
class PageText:
    """Everything OCR read on one image, lines in reading order."""

    lines: tuple[OCRLine, ...]
    language: str  # "en", "zh" or "" when there is no text

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class Field:
    """One value found in text: an order number, an amount, an email...

    kind: one of vision.fields.FIELD_KINDS
    text: the characters as they stood in the source
    value: the normalised value ("ORD-12345", "128.00 CNY", "2026-11-29", "+8613812345678")
    span: (start, end) character offsets into the text that was searched
    """

    kind: str
    text: str
    value: str
    span: tuple[int, int]


@dataclass(frozen=True)
class Kind:
    """What sort of picture this is, with the score of every choice (they sum to 1)."""

    label: str  # one of vision.kind.KINDS
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Screenshot:
    """One image read end to end: the record that fusion and `cca see` use."""

    source: str
    width: int
    height: int
    page: PageText
    fields: tuple[Field, ...]
    kind: Kind
    features: ImageFeatures | None = None  # None when no encoder ran
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.page.text

    @property
    def language(self) -> str:
        return self.page.language

    def fields_by_kind(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for f in self.fields:
            values = out.setdefault(f.kind, [])
            if f.value not in values:
                values.append(f.value)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "width": self.width,
            "height": self.height,
            "text": self.text,
            "language": self.language,
            "lines": [line.to_dict() for line in self.page.lines],
            "fields": self.fields_by_kind(),
            "kind": self.kind.label,
            "kind_confidence": round(self.kind.confidence, 4),
            "kind_scores": {k: round(v, 4) for k, v in self.kind.scores.items()},
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }
