"""OCR: the text on a screenshot as lines with boxes, confidence and reading order.

`OCR_BACKENDS` holds the engines: RapidOCR (PP-OCR detection and recognition in ONNX, English and
Chinese in one model, weights inside the wheel) by default, and the tesseract program as an
option. Each has one verb, `read(image) -> PageText`.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from vision.types import Image, OCRLine, PageText

logger = logging.getLogger(__name__)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


class OCRError(RuntimeError):
    """The OCR engine failed on an image (not: found no text, which is an empty PageText)."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


def page_language(text: str) -> str:
    """ "zh" when Chinese characters outnumber Latin words, "en" when there is Latin text, else ""."""
    n_cjk = len(_CJK.findall(text))
    n_latin = len(_LATIN_WORD.findall(text))
    if n_cjk == 0 and n_latin == 0:
        return ""
    return "zh" if n_cjk >= n_latin else "en"


def reading_order(lines: list[OCRLine]) -> list[OCRLine]:
    """Top to bottom, and left to right within a row: boxes whose vertical centres fall inside
    each other's extent share a row (a price at the right edge beside an item name)."""
    rows: list[list[OCRLine]] = []
    for line in sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3]) / 2):
        cy = (line.box[1] + line.box[3]) / 2
        if rows:
            ref = rows[-1]
            top = min(ln.box[1] for ln in ref)
            bottom = max(ln.box[3] for ln in ref)
            ref_cy = sum((ln.box[1] + ln.box[3]) / 2 for ln in ref) / len(ref)
            half = (line.box[3] - line.box[1]) / 2
            if top <= cy <= bottom and abs(cy - ref_cy) <= max(half, 1):
                ref.append(line)
                continue
        rows.append([line])
    return [ln for row in rows for ln in sorted(row, key=lambda ln: ln.box[0])]


def make_page(lines: list[OCRLine]) -> PageText:
    ordered = reading_order([ln for ln in lines if ln.text.strip()])
    return PageText(
        lines=tuple(ordered), language=page_language(" ".join(ln.text for ln in ordered))
    )


@dataclass(frozen=True)
class OCROptions:
    min_confidence: float = 0.5  # drop lines the recogniser is less sure of than this
    max_side: int = 2000  # the detector scales longer images down to this many pixels
    languages: tuple[str, ...] = ("en", "zh")  # tesseract only: RapidOCR reads both in one model


@runtime_checkable
class OCREngine(Protocol):
    """The OCR seam: `read(image) -> PageText`, lines in reading order with boxes and confidence.
    A picture with no text gives a page with no lines; an engine failure raises `OCRError`."""

    name: str
    languages: tuple[str, ...]

    def read(self, image: Image) -> PageText: ...


class RapidOCRBackend:
    """PP-OCR through RapidOCR on onnxruntime; CUDA when onnxruntime-gpu is installed."""

    name = "rapidocr"
    languages = ("en", "zh")

    def __init__(self, options: OCROptions = OCROptions()):
        try:
            import onnxruntime
            from rapidocr import RapidOCR
        except ImportError as e:
            raise ImportError(
                "RapidOCR needs the vision extra: pip install 'contact-centre-agent[vision]'"
            ) from e
        params = {
            "Global.log_level": "error",
            "Global.text_score": options.min_confidence,
            "Global.max_side_len": options.max_side,
        }
        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            params["EngineConfig.onnxruntime.use_cuda"] = True
        self.options = options
        self.engine = RapidOCR(params=params)

    def read(self, image: Image) -> PageText:
        try:
            out = self.engine(image.rgb)
        except Exception as e:
            raise OCRError(f"{image.source}: RapidOCR failed: {e}") from e
        if out.boxes is None or out.txts is None:
            return PageText(lines=(), language="")
        lines = []
        for quad, text, score in zip(out.boxes, out.txts, out.scores, strict=True):
            q = np.asarray(quad)
            box = (
                int(q[:, 0].min()),
                int(q[:, 1].min()),
                int(np.ceil(q[:, 0].max())),
                int(np.ceil(q[:, 1].max())),
            )
            lines.append(OCRLine(text=str(text).strip(), box=box, confidence=float(score)))
        return make_page(lines)


class TesseractBackend:
    """The tesseract program (Debian: tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim)."""

    name = "tesseract"
    _CODES = {"en": "eng", "zh": "chi_sim"}

    def __init__(self, options: OCROptions = OCROptions()):
        self.binary = shutil.which("tesseract")
        if self.binary is None:
            raise FileNotFoundError(
                "tesseract is not installed; apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim"
            )
        unknown = [lang for lang in options.languages if lang not in self._CODES]
        if unknown:
            raise ValueError(
                f"tesseract languages {unknown} unknown; choose from {sorted(self._CODES)}"
            )
        self.options = options
        self.languages = options.languages

    def read(self, image: Image) -> PageText:
        from PIL import Image as PILImage

        buf = io.BytesIO()
        PILImage.fromarray(image.rgb).save(buf, format="PNG")
        langs = "+".join(self._CODES[lang] for lang in self.options.languages)
        try:
            proc = subprocess.run(
                [self.binary, "stdin", "stdout", "-l", langs, "tsv"],
                input=buf.getvalue(), capture_output=True, timeout=120, check=True,
            )  # fmt: skip
        except subprocess.TimeoutExpired as e:
            raise OCRError(f"{image.source}: tesseract timed out", retryable=True) from e
        except subprocess.CalledProcessError as e:
            raise OCRError(
                f"{image.source}: tesseract failed: {e.stderr.decode(errors='replace')[-300:]}"
            ) from e
        return make_page(
            _tsv_lines(proc.stdout.decode("utf-8", errors="replace"), self.options.min_confidence)
        )


def _tsv_lines(tsv: str, min_confidence: float) -> list[OCRLine]:
    """Group tesseract's word rows (level 5) into its lines (block, paragraph, line)."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        if row.get("level") == "5" and (row.get("text") or "").strip() and float(row["conf"]) >= 0:
            groups.setdefault((row["block_num"], row["par_num"], row["line_num"]), []).append(row)
    lines = []
    for words in groups.values():
        conf = float(np.mean([float(w["conf"]) for w in words])) / 100.0
        if conf < min_confidence:
            continue
        text = " ".join(w["text"] for w in words)
        text = re.sub(
            r"(?<=[\u3000-\u9fff\uff00-\uffef]) (?=[\u3000-\u9fff\uff00-\uffef])", "", text
        )
        x0 = min(int(w["left"]) for w in words)
        y0 = min(int(w["top"]) for w in words)
        x1 = max(int(w["left"]) + int(w["width"]) for w in words)
        y1 = max(int(w["top"]) + int(w["height"]) for w in words)
        lines.append(OCRLine(text=text, box=(x0, y0, x1, y1), confidence=conf))
    return lines


OCR_BACKENDS: dict[str, Callable[[OCROptions], object]] = {
    "rapidocr": RapidOCRBackend,
    "tesseract": TesseractBackend,
}


def available_ocr() -> tuple[str, ...]:
    return tuple(OCR_BACKENDS)


def load_ocr(name: str = "rapidocr", options: OCROptions = OCROptions()):
    if name not in OCR_BACKENDS:
        raise ValueError(f"OCR backend {name!r} not found; available: {list(available_ocr())}")
    return OCR_BACKENDS[name](options)
