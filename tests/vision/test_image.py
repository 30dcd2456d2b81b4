"""Tests for vision.image: PNG, JPEG or WebP to upright RGB uint8, and every way an upload is bad.

Every picture is made here with Pillow; the hostile ones (a decompression bomb, a broken CRC) are
built chunk by chunk.
"""

from __future__ import annotations

import io
import re
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

import vision.image as image_module
from vision.image import ImageError, ImageLimits, decode_image, from_array, load_image, sniff_format
from vision.types import Image

REFUSED_FORMAT = "send a PNG, JPEG or WebP"
CORRUPT = r"corrupt"


def encode(im: PILImage.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def noise_rgb(h: int = 40, w: int = 60, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, (h, w, 3), dtype=np.uint8)


def gradient_rgb(h: int, w: int) -> np.ndarray:
    """A smooth picture, so that JPEG's loss stays small."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack(
        [x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), np.full_like(x, 90)], -1
    ).astype(np.uint8)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def handmade_png(width: int, height: int, idat: bytes | None = None) -> bytes:
    """An 8-bit RGB PNG whose IHDR claims width x height, with a tiny IDAT whatever it claims."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64) if idat is None else idat
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def assert_refused(err: pytest.ExceptionInfo, source: str, problem: str) -> None:
    """The error names the file (in .source and in the message) and says what is wrong."""
    assert err.value.source == source
    assert str(err.value).startswith(f"{source}: ")
    assert re.search(problem, err.value.problem, re.IGNORECASE), err.value.problem


# --- pictures that decode -------------------------------------------------------------------------

LOSSLESS = {"PNG": {}, "WEBP": {"lossless": True}}


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("h,w", [(40, 60), (61, 17), (1, 1)])
def test_accepted_formats_from_bytes_and_path(tmp_path, fmt, h, w):
    rgb = gradient_rgb(h, w)
    data = encode(PILImage.fromarray(rgb), fmt, **LOSSLESS.get(fmt, {"quality": 95}))
    path = tmp_path / f"shot.{fmt.lower()}"
    path.write_bytes(data)

    from_bytes = load_image(data)
    from_path = load_image(path)
    labelled = load_image(data, source="customer.png")
    for im in (from_bytes, from_path, labelled):
        assert isinstance(im, Image)
        assert im.rgb.shape == (h, w, 3) and im.rgb.dtype == np.uint8
        assert im.rgb.flags.c_contiguous
        assert (im.height, im.width, im.format) == (h, w, fmt)
    assert (from_bytes.source, from_path.source, labelled.source) == (
        "upload",
        str(path),
        "customer.png",
    )
    assert load_image(str(path)).source == str(path)  # a str path works like a Path
    np.testing.assert_array_equal(from_bytes.rgb, from_path.rgb)
    if fmt in LOSSLESS:
        np.testing.assert_array_equal(from_bytes.rgb, rgb)
    else:  # JPEG: close, not equal
        assert np.abs(from_bytes.rgb.astype(int) - rgb).mean() < 4


def test_decode_image_and_bytes_like_inputs():
    data = encode(PILImage.fromarray(noise_rgb()), "PNG")
    want = load_image(data).rgb
    for src in (bytearray(data), memoryview(data)):
        np.testing.assert_array_equal(load_image(src).rgb, want)
    im = decode_image(data, source="direct")
    assert im.source == "direct" and im.format == "PNG"
    np.testing.assert_array_equal(im.rgb, want)


# (Pillow mode, format): every mode a screenshot tool writes comes back as RGB
MODES = [
    ("1", "PNG"), ("L", "PNG"), ("P", "PNG"), ("RGBA", "PNG"), ("LA", "PNG"), ("I;16", "PNG"),
    ("L", "JPEG"), ("CMYK", "JPEG"), ("RGBA", "WEBP"), ("L", "WEBP"),
]  # fmt: skip


@pytest.mark.parametrize("mode,fmt", MODES)
def test_every_mode_becomes_rgb(mode, fmt):
    im = load_image(encode(PILImage.new(mode, (7, 5)), fmt))
    assert im.rgb.shape == (5, 7, 3) and im.rgb.dtype == np.uint8 and im.format == fmt


@pytest.mark.parametrize(
    "orientation,shape,red_corner",
    [
        (1, (20, 40), (0, 0)),  # as stored
        (3, (20, 40), (-1, -1)),  # upside down
        (6, (40, 20), (0, -1)),  # turn 90 degrees clockwise: top-left goes to top-right
        (8, (40, 20), (-1, 0)),  # turn 90 degrees anticlockwise: top-left goes to bottom-left
    ],
)
def test_exif_orientation_is_applied(orientation, shape, red_corner):
    stored = np.full((20, 40, 3), 255, np.uint8)  # 40 wide, 20 high, a red block at top-left
    stored[:6, :6] = (255, 0, 0)
    exif = PILImage.Exif()
    exif[0x0112] = orientation  # Orientation
    im = load_image(encode(PILImage.fromarray(stored), "JPEG", exif=exif, quality=95))
    assert im.rgb.shape == (*shape, 3)
    corners = {(0, 0), (0, -1), (-1, 0), (-1, -1)}
    r, g, b = (int(v) for v in im.rgb[red_corner])
    assert r > 200 and g < 60 and b < 60, (red_corner, (r, g, b))
    for y, x in corners - {red_corner}:
        assert im.rgb[y, x].min() > 200, ((y, x), im.rgb[y, x])  # the other corners stay white


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@pytest.mark.parametrize(
    "exif",
    [b"Exif\x00\x00garbage", b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff"],
    ids=["not-tiff", "bad-count"],
)
def test_broken_exif_does_not_cost_the_screenshot(exif):
    im = load_image(encode(PILImage.new("RGB", (10, 6), "red"), "JPEG", exif=exif))
    assert im.rgb.shape == (6, 10, 3)


def test_rgba_transparent_pixels_become_white():
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., :3] = (0, 0, 255)
    rgba[:, :2, 3] = 0  # transparent: white, whatever colour the hidden pixel had
    rgba[:, 2:4, 3] = 255  # opaque: blue
    rgba[:, 4:, 3] = 128  # half: half way to white
    for fmt in ("PNG", "WEBP"):
        rgb = load_image(encode(PILImage.fromarray(rgba, "RGBA"), fmt, lossless=True)).rgb
        np.testing.assert_array_equal(rgb[:, :2], 255)
        np.testing.assert_array_equal(rgb[:, 2:4], np.broadcast_to([0, 0, 255], (4, 2, 3)))
        np.testing.assert_allclose(rgb[:, 4:], np.broadcast_to([127, 127, 255], (4, 2, 3)), atol=1)


def test_la_grey_with_alpha_becomes_rgb_on_white():
    la = np.stack(
        [np.full((3, 3), 10, np.uint8), np.tile([0, 255, 128], (3, 1)).astype(np.uint8)], -1
    )
    rgb = load_image(encode(PILImage.fromarray(la, "LA"), "PNG")).rgb
    assert rgb.shape == (3, 3, 3)
    np.testing.assert_array_equal(rgb[:, 0], 255)
    np.testing.assert_array_equal(rgb[:, 1], 10)
    np.testing.assert_allclose(rgb[:, 2], 132, atol=1)


def test_palette_with_transparent_index_becomes_white():
    p = PILImage.new("P", (4, 4), 0)
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)  # index 0 black, index 1 red
    p.putpixel((1, 1), 1)
    data = encode(p, "PNG", transparency=0)
    assert PILImage.open(io.BytesIO(data)).info.get("transparency") == 0
    rgb = load_image(data).rgb
    np.testing.assert_array_equal(rgb[1, 1], [255, 0, 0])
    mask = np.ones((4, 4), bool)
    mask[1, 1] = False
    np.testing.assert_array_equal(rgb[mask], 255)  # black but transparent: white


def test_16_bit_grey_png_becomes_8_bit_rgb():
    grey = np.array([[0, 1000, 30000], [40000, 50000, 65535]], np.uint16)
    data = encode(PILImage.fromarray(grey), "PNG")
    assert PILImage.open(io.BytesIO(data)).mode == "I;16"
    rgb = load_image(data).rgb
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])  # still grey
    np.testing.assert_allclose(rgb[..., 0], grey / 257, atol=1)  # full range maps onto 0..255


@pytest.mark.parametrize("fmt,kw", [("PNG", {}), ("WEBP", {"lossless": True})])
def test_animation_gives_the_first_frame(fmt, kw):
    frames = [PILImage.new("RGB", (8, 6), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **kw)
    assert PILImage.open(io.BytesIO(data)).n_frames == 3
    im = load_image(data)
    assert im.format == fmt and im.rgb.shape == (6, 8, 3)
    np.testing.assert_array_equal(im.rgb, np.broadcast_to([255, 0, 0], (6, 8, 3)))


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_path", [False, True], ids=["bytes", "path"])
def test_empty_file(tmp_path, as_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    src, source = (path, str(path)) if as_path else (b"", "upload")
    with pytest.raises(ImageError) as err:
        load_image(src)
    assert_refused(err, source, r"empty file \(0 bytes\)")


def test_byte_limit_is_checked_before_the_file_is_read(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    with open(path, "wb") as f:  # 21 MB on paper, nothing on disk: a sparse file
        f.write(b"\x89PNG\r\n\x1a\n")
        f.truncate(21 * 1024**2)

    def no_reading(*args, **kwargs):
        raise AssertionError("the file was opened before its size was checked")

    monkeypatch.setattr(image_module, "open", no_reading, raising=False)
    with pytest.raises(ImageError) as err:
        load_image(path)  # the default 20 MB limit
    assert_refused(err, str(path), r"21 MB is over the 20 MB upload limit.*max_bytes")


def test_byte_limit_from_bytes_and_custom_limit(tmp_path):
    data = encode(PILImage.fromarray(noise_rgb(64, 64)), "PNG")  # ~12 KB of noise
    limits = ImageLimits(max_bytes=4096)
    with pytest.raises(ImageError) as err:
        load_image(data, source="big.png", limits=limits)
    assert_refused(err, "big.png", r"12,420 bytes is over the 4,096 bytes upload limit")
    path = tmp_path / "big.png"
    path.write_bytes(data)
    with pytest.raises(ImageError) as err:
        load_image(path, limits=limits)
    assert_refused(err, str(path), r"upload limit")
    assert load_image(data, limits=ImageLimits(max_bytes=len(data))).rgb.shape == (64, 64, 3)


@pytest.mark.parametrize(
    "width,height,problem",
    [
        (100_000, 100_000, r"decompression bomb"),  # over Pillow's own guard: 10 gigapixels
        (7_000, 7_000, r"49 MP\) is over the limit of 40 MP.*refused before decoding"),
        (30_000, 10, r"30000x10 pixels.*20000 px a side"),  # a strip within the pixel limit
    ],
)
def test_a_canvas_too_large_is_refused_before_decoding(width, height, problem):
    bomb = handmade_png(width, height)
    assert len(bomb) < 200  # a tiny file that would decode to gigabytes
    start = time.perf_counter()
    with pytest.raises(ImageError) as err:
        load_image(bomb, source="bomb.png")
    assert time.perf_counter() - start < 0.5  # header only: no pixel was allocated
    assert_refused(err, "bomb.png", problem)


@pytest.mark.parametrize(
    "limits,problem",
    [
        (
            ImageLimits(max_pixels=2_000),
            r"60x40 pixels .* is over the limit.*refused before decoding",
        ),
        (ImageLimits(max_side=50), r"60x40 pixels.*50 px a side"),
    ],
)
def test_pixel_and_side_limits(limits, problem):
    data = encode(PILImage.fromarray(noise_rgb(40, 60)), "PNG")
    with pytest.raises(ImageError) as err:
        load_image(data, source="shot.png", limits=limits)
    assert_refused(err, "shot.png", problem)
    loose = ImageLimits(max_pixels=2_400, max_side=60)  # exactly at the limits: accepted
    assert load_image(data, limits=loose).rgb.shape == (40, 60, 3)


def _saved(fmt: str) -> bytes:
    return encode(PILImage.fromarray(noise_rgb(8, 8)), fmt)


# what people send instead of a PNG, JPEG or WebP, and how the refusal names it
NOT_ACCEPTED = [
    pytest.param(_saved("GIF"), "a GIF file", id="gif"),
    pytest.param(_saved("BMP"), "a BMP file", id="bmp"),
    pytest.param(_saved("TIFF"), "a TIFF file", id="tiff"),
    pytest.param(_saved("PDF"), "a PDF file", id="pdf"),
    pytest.param(b'<svg xmlns="http://www.w3.org/2000/svg"/>', "a SVG file", id="svg"),
    pytest.param(b'<?xml version="1.0"?>\n<svg/>', "a SVG file", id="svg-xml"),
    pytest.param(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "a HEIC file", id="heic"),
    pytest.param(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "a AVIF file", id="avif"),
    pytest.param(b"My order 12345 never arrived.\n", "not a picture we recognise", id="text"),
    pytest.param(b"RIFF\x24\x00\x00\x00WAVEfmt ", "not a picture we recognise", id="wav"),
    pytest.param(
        np.random.RandomState(1).bytes(4096), "not a picture we recognise", id="random-bytes"
    ),
]


@pytest.mark.parametrize("data,what", NOT_ACCEPTED)
def test_other_formats_are_refused(tmp_path, data, what):
    with pytest.raises(ImageError) as err:
        load_image(data, source="attachment")
    assert_refused(err, "attachment", re.escape(f"{what}; {REFUSED_FORMAT}"))
    path = tmp_path / "attachment.png"  # the file name does not fool it
    path.write_bytes(data)
    with pytest.raises(ImageError) as err:
        load_image(path)
    assert_refused(err, str(path), re.escape(REFUSED_FORMAT))


@pytest.mark.parametrize(
    "head,fmt",
    [
        (b"\x89PNG\r\n\x1a\n", "PNG"),
        (b"\xff\xd8\xff\xe0", "JPEG"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WEBP"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", ""),
        (b"XXXX\x00\x00\x00\x00WEBPVP8 ", ""),  # WEBP at offset 8 but no RIFF
        (b"GIF89a", "GIF"),
        (b"  \n<svg>", "SVG"),
        (b"", ""),
    ],
)
def test_sniff_format(head, fmt):
    assert sniff_format(head) == fmt


def _half(fmt: str) -> bytes:
    data = encode(
        PILImage.fromarray(noise_rgb(64, 64)), fmt, **({"quality": 90} if fmt == "JPEG" else {})
    )
    return data[: len(data) // 2]


def _bad_ihdr_crc() -> bytes:
    data = bytearray(encode(PILImage.fromarray(noise_rgb(8, 8)), "PNG"))
    data[8 + 8 + 13] ^= 0xFF  # signature, IHDR length and type, 13 bytes of IHDR, then its CRC
    return bytes(data)


BROKEN = [
    pytest.param(_half("PNG"), r"corrupt or truncated PNG file", id="png-cut-in-half"),
    pytest.param(_half("JPEG"), r"corrupt or truncated JPEG file", id="jpeg-cut-in-half"),
    pytest.param(_half("WEBP"), r"corrupt or truncated WEBP file", id="webp-cut-in-half"),
    pytest.param(_bad_ihdr_crc(), r"corrupt PNG file: the header cannot be read", id="ihdr-crc"),
    pytest.param(b"\x89PNG\r\n\x1a\n" + b"garbage!" * 8, r"corrupt.* PNG file", id="png-garbage"),
    pytest.param(b"\x89PNG\r\n\x1a\n", r"corrupt.* PNG file", id="png-signature-only"),
    pytest.param(b"\xff\xd8\xff" + b"\x00" * 40, r"corrupt.* JPEG file", id="jpeg-garbage"),
    pytest.param(handmade_png(0, 10), r"corrupt.* PNG file", id="png-zero-width"),
    pytest.param(handmade_png(8, 8, idat=b"not zlib"), r"corrupt or truncated PNG", id="bad-idat"),
]


@pytest.mark.parametrize("data,problem", BROKEN)
def test_corrupt_and_truncated_files(data, problem):
    with pytest.raises(ImageError) as err:
        load_image(data, source="broken")
    assert_refused(err, "broken", problem)


def test_missing_path_and_directory(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(ImageError) as err:
        load_image(missing)
    assert_refused(err, str(missing), r"cannot read: No such file")
    with pytest.raises(ImageError) as err:
        load_image(tmp_path)
    assert_refused(err, str(tmp_path), r"not a file")
    with pytest.raises(ImageError) as err:
        load_image(str(missing), source="label.png")  # the label replaces the path in messages
    assert_refused(err, "label.png", r"cannot read")


def test_image_error_is_a_value_error():
    err = ImageError("a.png", "too big")
    assert isinstance(err, ValueError)
    assert (str(err), err.source, err.problem) == ("a.png: too big", "a.png", "too big")


# --- from_array -----------------------------------------------------------------------------------


def test_from_array_rgb_and_grey():
    rgb = noise_rgb(5, 7)
    im = from_array(rgb, source="camera")
    assert (im.source, im.format, im.height, im.width) == ("camera", "", 5, 7)
    np.testing.assert_array_equal(im.rgb, rgb)
    assert from_array(rgb).source == "array"

    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    g = from_array(grey)
    assert g.rgb.shape == (3, 4, 3)
    for c in range(3):
        np.testing.assert_array_equal(g.rgb[..., c], grey)


def test_from_array_flattens_rgba_onto_white():
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., :3] = (200, 0, 0)
    rgba[..., 3] = [[0, 255, 128], [0, 255, 128]]
    rgb = from_array(rgba).rgb
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb[:, 0], 255)
    np.testing.assert_array_equal(rgb[:, 1], np.broadcast_to([200, 0, 0], (2, 3)))
    np.testing.assert_allclose(rgb[:, 2], np.broadcast_to([227, 127, 127], (2, 3)), atol=1)


@pytest.mark.parametrize(
    "arr,problem",
    [
        (np.zeros((4, 4, 3), np.float32), r"expected uint8 pixels, got float32"),
        (np.zeros((4, 4, 3), np.uint16), r"expected uint8 pixels, got uint16"),
        (np.zeros((4, 4), np.int64), r"expected uint8 pixels, got int64"),
        (np.zeros((4, 4, 2), np.uint8), r"expected an \(h, w, 3\) array, got shape \(4, 4, 2\)"),
        (np.zeros((4, 4, 3, 1), np.uint8), r"expected an \(h, w, 3\) array"),
        (np.zeros(12, np.uint8), r"expected an \(h, w, 3\) array, got shape \(12,\)"),
    ],
)
def test_from_array_refuses_wrong_shape_and_dtype(arr, problem):
    with pytest.raises(ImageError) as err:
        from_array(arr, source="frame-7")
    assert_refused(err, "frame-7", problem)


def test_loaded_pictures_are_frozen(tmp_path: Path):
    im = load_image(encode(PILImage.fromarray(noise_rgb(4, 4)), "PNG"))
    with pytest.raises(AttributeError):
        im.source = "other"  # type: ignore[misc]
