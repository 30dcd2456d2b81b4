"""OCR: the real packaged RapidOCR reads rendered English and Chinese screenshots back; reading
order, page language and the tesseract backend's parsing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from dialogue.domain.pack import DomainPack
from tests.conftest import ROOT
from tests.fakes import FakeOCR
from vision.image import from_array
from vision.ocr import (
    OCR_BACKENDS,
    OCRLine,
    _tsv_lines,
    load_ocr,
    make_page,
    page_language,
    reading_order,
)
from vision.synth import font_files
from vision.synth import render as render_with

# the sample shop's pages: the synthetic screenshots' words come from a pack
WORDS = DomainPack.load(ROOT / "domains" / "retail").screen_words()


def render(kind: str, language: str, seed: int, **kw):
    """A synthetic screenshot with the sample shop's words (vision.synth.render)."""
    return render_with(kind, language, seed, words=WORDS, **kw)


try:
    font_files("zh")
    HAVE_FONTS = True
except (FileNotFoundError, ValueError, OSError):
    HAVE_FONTS = False
requires_fonts = pytest.mark.skipif(
    not HAVE_FONTS, reason="apt-get install fonts-wqy-microhei fonts-dejavu-core"
)
requires_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="apt-get install tesseract-ocr"
)


def char_errors(ref: str, hyp: str) -> float:
    a, b = "".join(ref.split()), "".join(hyp.split())
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
    return prev[-1] / max(len(a), 1)


@pytest.fixture(scope="module")
def rapid():
    return load_ocr("rapidocr")


@requires_fonts
@pytest.mark.parametrize("kind", ["error_dialog", "order_page"])
@pytest.mark.parametrize("language", ["en", "zh"])
def test_rapidocr_reads_rendered_screenshots(rapid, kind, language):
    shot = render(kind, language, seed=3)
    page = rapid.read(shot.image)
    assert page.language == language
    assert char_errors(shot.text, page.text) < 0.03
    for line in page.lines:
        x0, y0, x1, y1 = line.box
        assert 0 <= x0 < x1 <= shot.image.width and 0 <= y0 < y1 <= shot.image.height
        assert 0.5 <= line.confidence <= 1.0
    # rows run top to bottom: a line may sit a little above the one before it only within a row
    centres = [(ln.box[1] + ln.box[3]) / 2 for ln in page.lines]
    assert all(b >= a - 12 for a, b in zip(centres, centres[1:], strict=False))


def test_blank_image_has_no_text(rapid):
    page = rapid.read(from_array(np.full((200, 300, 3), 255, np.uint8)))
    assert page.lines == () and page.text == "" and page.language == ""


def line(text, x0, y0, x1, y1):
    return OCRLine(text, (x0, y0, x1, y1), 0.9)


def test_reading_order_rows_then_left_to_right():
    lines = [
        line("$12.50", 600, 102, 680, 122),  # a price a little lower than its item name
        line("Total", 20, 140, 90, 160),
        line("Mug", 20, 100, 80, 120),
        line("Header", 20, 10, 200, 40),
        line("$12.50", 600, 140, 680, 160),
    ]
    assert [ln.text for ln in reading_order(lines)] == [
        "Header",
        "Mug",
        "$12.50",
        "Total",
        "$12.50",
    ]


def test_make_page_drops_empty_lines_and_detects_language():
    page = make_page(
        [line("  ", 0, 0, 5, 5), line("订单已发货", 0, 10, 50, 20), line("ORD-1", 60, 10, 90, 20)]
    )
    assert [ln.text for ln in page.lines] == ["订单已发货", "ORD-1"] and page.language == "zh"


@pytest.mark.parametrize(
    "text, language",
    [("Payment failed", "en"), ("支付失败", "zh"), ("订单 ORD-48213 支付失败", "zh"),
     ("Order 订单 shipped today", "en"), ("12345 67", ""), ("", "")],
)  # fmt: skip
def test_page_language(text, language):
    assert page_language(text) == language


def test_tesseract_tsv_lines_join_words_and_close_cjk_gaps():
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "5\t1\t1\t1\t1\t1\t10\t10\t40\t20\t96\tOrder",
        "5\t1\t1\t1\t1\t2\t55\t10\t60\t20\t90\tORD-1",
        "5\t1\t1\t1\t2\t1\t10\t40\t20\t20\t91\t支",
        "5\t1\t1\t1\t2\t2\t32\t40\t20\t20\t93\t付",
        "5\t1\t1\t1\t3\t1\t10\t70\t20\t20\t20\tnoise",
        "4\t1\t1\t1\t1\t0\t10\t10\t105\t20\t-1\t",
    ]
    lines = _tsv_lines("\n".join([header, *rows]), min_confidence=0.5)
    assert [(ln.text, ln.box) for ln in lines] == [
        ("Order ORD-1", (10, 10, 115, 30)),
        ("支付", (10, 40, 52, 60)),
    ]
    assert lines[0].confidence == pytest.approx(0.93)


@requires_tesseract
@requires_fonts
def test_tesseract_backend_reads_english():
    shot = render("error_dialog", "en", seed=1)
    page = load_ocr("tesseract").read(shot.image)
    assert page.language == "en" and char_errors(shot.text, page.text) < 0.3


def test_unknown_backend_lists_the_choices():
    with pytest.raises(ValueError, match="rapidocr"):
        load_ocr("easyocr")
    assert set(OCR_BACKENDS) == {"rapidocr", "tesseract"}


def test_fake_ocr_follows_the_protocol():
    page = FakeOCR().read(from_array(np.zeros((4, 4, 3), np.uint8), source="x"))
    assert page.text == "Payment failed\nError 0x80070005" and page.language == "en"
