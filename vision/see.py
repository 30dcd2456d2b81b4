"""Read screenshots end to end, and `cca see IMAGE... [--json]`.

`ScreenshotReader(ocr, encoder, classifier).read(images) -> list[Screenshot]`: OCR each picture,
pull the fields out of its text, encode the batch, and decide what kind of picture it is.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vision.encoder import ImageEncoder
from vision.fields import CORE_CUES, FieldCues, extract_fields
from vision.image import ACCEPTED, ImageError, ImageLimits, load_image
from vision.kind import KindClassifier
from vision.ocr import OCREngine, OCRError, available_ocr, load_ocr
from vision.pack_words import pack_words
from vision.types import Image, Screenshot

logger = logging.getLogger(__name__)

SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


class ScreenshotReader:
    """OCR (required), an image encoder (optional) and the kind classifier, composed; `cues`
    are a business's own words that name a field (a pack's, `DomainPack.reading_words`)."""

    def __init__(
        self,
        ocr: OCREngine,
        encoder: ImageEncoder | None = None,
        classifier: KindClassifier | None = None,
        cues: FieldCues = CORE_CUES,
    ):
        self.ocr, self.cues = ocr, cues
        self.encoder = encoder
        self.classifier = classifier or KindClassifier(labels=encoder.labels if encoder else ())

    @classmethod
    def from_names(
        cls, ocr: str = "rapidocr", encoder: str | None = "auto", device: str | None = None,
        prototypes: str | None = None, cues: FieldCues = CORE_CUES,
        kind_words: dict[str, Sequence[str]] | None = None,
    ) -> ScreenshotReader:  # fmt: skip
        """cues, kind_words: a business's own words that name fields and kinds of picture,
        beside the core's (a pack's [fields] and [kinds] tables; `pack_words`)."""
        enc = None
        if encoder == "auto":  # the packaged encoder when the offline extra is installed
            try:
                enc = ImageEncoder.from_pretrained("packaged:efficientnet_lite0", device=device)
            except ImportError as e:
                logger.warning("no image encoder (%s); the kind uses OCR cues alone", e)
        elif encoder:
            enc = ImageEncoder.from_pretrained(encoder, device=device)
        protos = dict(np.load(prototypes)) if prototypes else None
        kinds = KindClassifier(
            labels=enc.labels if enc else (), prototypes=protos, words=kind_words
        )
        return cls(load_ocr(ocr), enc, kinds, cues)

    def read(self, images: Sequence[Image]) -> list[Screenshot]:
        t0 = time.perf_counter()
        features = self.encoder.encode(images) if self.encoder else [None] * len(images)
        encode_ms = (time.perf_counter() - t0) * 1000 / max(len(images), 1)
        out = []
        for image, feats in zip(images, features, strict=True):
            t1 = time.perf_counter()
            page = self.ocr.read(image)
            t2 = time.perf_counter()
            fields = extract_fields(page.text, cues=self.cues)
            kind = self.classifier.classify(page, fields, feats)
            t3 = time.perf_counter()
            timings = {"ocr": (t2 - t1) * 1000, "fields_kind": (t3 - t2) * 1000}
            if self.encoder:
                timings["encode"] = encode_ms
            out.append(
                Screenshot(
                    source=image.source,
                    width=image.width,
                    height=image.height,
                    page=page,
                    fields=fields,
                    kind=kind,
                    features=feats,
                    timings_ms=timings,
                )  # fmt: skip
            )
        return out


def expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """Files as given (any suffix: the bytes decide), folders searched for picture suffixes."""
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES)
        else:
            paths.append(p)
    return paths


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cca see",
        description="Read screenshots: text lines with boxes, fields (order numbers, amounts, "
        "error codes...), the kind of picture and its language. "
        f"Accepts {', '.join(ACCEPTED)}; folders are searched.",
    )
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("--json", action="store_true", help="print a JSON array, one object per image")
    p.add_argument(
        "--ocr", default="rapidocr", choices=available_ocr(), help="OCR engine (default rapidocr)"
    )
    p.add_argument(
        "--encoder", default="auto",
        help="image encoder: auto (packaged:efficientnet_lite0 when installed, else none), "
        "a torchvision name, ARCH:FILE, a folder, or none",
    )  # fmt: skip
    p.add_argument("--kind-prototypes", default=None, help=".npz of per-kind mean embeddings")
    p.add_argument(
        "--domain", default=None, metavar="DIR",
        help="a domain pack whose words name fields and kinds of picture beside the core's "
        "(its domain.toml [fields] and [kinds], e.g. domains/retail); default: the core's alone",
    )  # fmt: skip
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if present)")
    p.add_argument(
        "--max-mb", type=float, default=20.0, help="refuse files larger than this (default 20)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    paths = expand_inputs(args.inputs)
    if not paths:
        print("cca see: no images found in the inputs given", file=sys.stderr)
        return 2
    encoder = None if args.encoder.lower() == "none" else args.encoder
    try:
        cues, kind_words = pack_words(args.domain) if args.domain else (CORE_CUES, None)
        reader = ScreenshotReader.from_names(
            args.ocr, encoder, args.device, args.kind_prototypes, cues, kind_words
        )
    except (ImportError, FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"cca see: {e}", file=sys.stderr)
        return 2
    limits = ImageLimits(max_bytes=int(args.max_mb * 1024**2))
    results: list[dict] = []
    failed = 0
    bar = tqdm(paths, unit="img", disable=args.no_progress or len(paths) < 2, file=sys.stderr)
    for path in bar:
        try:
            shot = reader.read([load_image(path, limits=limits)])[0]
        except (ImageError, OCRError) as e:
            failed += 1
            results.append({"source": str(path), "error": str(e)})
            bar.write(f"failed: {e}", file=sys.stderr)
            continue
        results.append(shot.to_dict())
        if not args.json:
            bar.write(_human(shot), file=sys.stdout)
    if args.json:
        json.dump(results, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    if failed:
        print(f"cca see: {failed} of {len(paths)} images failed", file=sys.stderr)
    return 1 if failed else 0


def _human(shot: Screenshot) -> str:
    head = (
        f"== {shot.source}  {shot.width}x{shot.height}  {shot.kind.label} "
        f"({shot.kind.confidence:.2f})  language={shot.language or '-'}"
    )
    fields = "\n".join(f"  {k}: {', '.join(v)}" for k, v in shot.fields_by_kind().items())
    return (
        "\n".join(x for x in (head, shot.text, "fields:\n" + fields if fields else "") if x) + "\n"
    )
