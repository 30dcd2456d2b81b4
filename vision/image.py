"""Screenshots in: PNG, JPEG or WebP bytes to an upright RGB array, with limits checked first.

The byte limit is checked before a file is read and the pixel limit before any pixel is decoded
(Pillow reads only the header on open), so a 100 MB upload or a decompression bomb (a small file
that claims an enormous canvas) is refused without the memory it would need.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.types import Image

logger = logging.getLogger(__name__)

ACCEPTED = ("PNG", "JPEG", "WEBP")
_MAGIC = (  # (prefix, offset, format) for what we accept and for what people try to send instead
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"WEBP", 8, "WEBP"),
    (b"GIF8", 0, "GIF"),
    (b"BM", 0, "BMP"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"%PDF", 0, "PDF"),
    (b"ftypheic", 4, "HEIC"),
    (b"ftypavif", 4, "AVIF"),
)


class ImageError(ValueError):
    """A picture that cannot be used; the message names the file and what is wrong."""

    def __init__(self, source: str, problem: str):
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 20 * 1024**2  # refuse uploads larger than this before reading them
    max_pixels: int = 40_000_000  # refuse larger canvases before decoding (8K x 5K; at most 179 MP)
    max_side: int = 20_000  # refuse absurd aspect ratios (a 1 x 30,000,000 strip)


def sniff_format(head: bytes) -> str:
    """The image format named by a file's first bytes, or "" when it is none we know."""
    for prefix, offset, name in _MAGIC:
        if head[offset : offset + len(prefix)] == prefix:
            if name == "WEBP" and head[:4] != b"RIFF":
                continue
            return name
    if head.lstrip()[:5].lower() in (b"<?xml", b"<svg ", b"<svg>"):
        return "SVG"
    return ""


def load_image(
    src: str | os.PathLike | bytes, *, source: str = "", limits: ImageLimits = ImageLimits()
) -> Image:
    """Decode one picture: EXIF orientation applied, alpha flattened onto white, RGB uint8.

    `src` is a path or the uploaded bytes; `source` labels it in errors (defaults to the path).
    Raises ImageError naming the problem: too large, not an accepted format, corrupt, a bomb.
    """
    if isinstance(src, bytes | bytearray | memoryview):
        data = bytes(src)
        source = source or "upload"
        _check_bytes(source, len(data), limits)
    else:
        path = Path(src)
        source = source or str(path)
        try:
            size = path.stat().st_size
        except OSError as e:
            raise ImageError(source, f"cannot read: {e.strerror or e}") from e
        if not path.is_file():
            raise ImageError(source, "not a file")
        _check_bytes(source, size, limits)
        with open(path, "rb") as f:
            data = f.read(limits.max_bytes + 1)
        _check_bytes(source, len(data), limits)
    return decode_image(data, source=source, limits=limits)


def _check_bytes(source: str, n: int, limits: ImageLimits) -> None:
    if n == 0:
        raise ImageError(source, "empty file (0 bytes)")
    if n > limits.max_bytes:
        raise ImageError(
            source,
            f"{_size(n)} is over the {_size(limits.max_bytes)} upload limit; "
            "send a smaller screenshot or raise ImageLimits.max_bytes",
        )


def _size(n: int) -> str:
    return f"{n / 1024**2:.3g} MB" if n >= 1024**2 else f"{n:,} bytes"


def decode_image(
    data: bytes, *, source: str = "upload", limits: ImageLimits = ImageLimits()
) -> Image:
    from PIL import Image as PILImage
    from PIL import ImageOps, UnidentifiedImageError

    fmt = sniff_format(data[:32])
    if fmt not in ACCEPTED:
        what = f"a {fmt} file" if fmt else "not a picture we recognise"
        raise ImageError(source, f"{what}; send a PNG, JPEG or WebP image")
    try:
        with warnings.catch_warnings():
            # our own limit decides, checked on the header below; Pillow itself still refuses
            # anything over twice its MAX_IMAGE_PIXELS (179 MP) as it opens
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            im = PILImage.open(io.BytesIO(data), formats=[fmt])  # reads the header only
            _check_canvas(source, im.size, limits)
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)  # an animated PNG or WebP: the first frame is the screenshot
            im.load()
    except ImageError:
        raise
    except PILImage.DecompressionBombError as e:
        raise ImageError(source, f"refused as a decompression bomb: {e}") from e
    except UnidentifiedImageError as e:
        raise ImageError(source, f"corrupt {fmt} file: the header cannot be read") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(source, f"corrupt or truncated {fmt} file ({e})") from e
    try:
        im = ImageOps.exif_transpose(im) or im
    except Exception as e:  # a broken EXIF block should not cost the customer their screenshot
        logger.warning("%s: EXIF orientation ignored (%s)", source, e)
    return Image(rgb=_to_rgb(im), source=source, format=fmt)


def _check_canvas(source: str, size: tuple[int, int], limits: ImageLimits) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(source, f"empty canvas ({w}x{h})")
    if w * h > limits.max_pixels or max(w, h) > limits.max_side:
        raise ImageError(
            source,
            f"{w}x{h} pixels ({w * h / 1e6:.3g} MP) is over the limit of "
            f"{limits.max_pixels / 1e6:.3g} MP or {limits.max_side} px a side; refused before "
            "decoding (a decompression bomb or a huge scan). Crop or scale the image down",
        )


def _to_rgb(im) -> np.ndarray:
    """Any Pillow mode to (h, w, 3) uint8; transparent pixels become white."""
    from PIL import Image as PILImage

    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        if im.mode.startswith("I;16") or arr.max() > 255:
            arr = np.clip(arr, 0, 65535) / 257.0  # the 16-bit range onto 8 bits
        elif im.mode == "F" and arr.max() <= 1.0:
            arr = arr * 255.0  # floats in [0, 1]
        im = PILImage.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8))
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        white = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = PILImage.alpha_composite(white, rgba)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def from_array(rgb: np.ndarray, source: str = "array") -> Image:
    """Wrap an (h, w, 3) uint8 array (or (h, w) grey) that is already decoded."""
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ImageError(source, f"expected an (h, w, 3) array, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ImageError(source, f"expected uint8 pixels, got {arr.dtype}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(source, f"empty canvas ({arr.shape[1]}x{arr.shape[0]})")
    if arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = (arr[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return Image(rgb=np.ascontiguousarray(arr), source=source, format="")
