"""Build the dialogue model's training data: conversations from STC-3, ABCD and the default
pack's generated dialogues, every text redacted, split into train/dev/test by conversation group.

    cca convdata build [--out data/dialogue] [--sources stc3,abcd,PACK] [--n-generated 1500]
                       [--seed 0] [--data ../shared/data] [--images] [--guided [--n-open 400]]
    cca convdata stats [data/dialogue]

`build` writes OUT/{train,dev,test}.jsonl (the `dialogue.lm.convdata` format) and OUT/manifest.json:
counts per source, language and split, what the cleaning and the redaction removed, the sha256
of every output file and of every input file read. The inputs are read at run time from the
shared data folder (--data, else $CCA_SHARED_DATA, else shared/data beside the checkout) and
are never copied into the repository; the default OUT, data/dialogue, is meant to be git-ignored.
With --images, every customer turn that carries screenshot text gets the picture too: the text
rendered as an app page (vision.synth.render_lines) into OUT/images/, its path in the turn's
`image` (relative to OUT), so that `cca train` trains the image projector with the model.
`stats` prints the table and checks the files against the manifest's hashes.

Licences of what goes in: STC-3 annotations CC-BY-4.0 (NTCIR-14 STC-3, sakai-lab/stc3-dataset);
ABCD MIT (asappresearch/abcd); a pack's generated dialogues as its [code] dialogues module says
(its LICENCE): the sample pack's from MIT data (sierra-research/tau-bench).

The pack's source is named for the pack and comes from its [code] dialogues, a module with
INPUTS (files under the shared data folder), LICENCE, generate(data_dir, n, seed) and
guided_inputs(n_open, seed) -> (open scripts, knowledge base).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dialogue.lm.convdata import (
    DEFAULT_RATIOS,
    LANGUAGES,
    SPLITS,
    ConvDataError,
    Conversation,
    atomic_writer,
    check_ratios,
    file_sha256,
    iter_jsonl,
    split_conversations,
    write_jsonl,
)
from dialogue.lm.public_dialogues import read_abcd, read_stc3
from dialogue.lm.redact import RedactionReport, redact_value, redact_with_report
from dialogue.paths import shared_data

logger = logging.getLogger(__name__)

PUBLIC_INPUTS = {  # source -> files it reads, relative to the shared data folder
    "stc3": ("dialogues/stc3/train_data_cn.json", "dialogues/stc3/train_data_en.json"),
    "abcd": ("kb/abcd/abcd_sample.json", "kb/abcd/guidelines.json"),
}
PUBLIC_LICENCES = {
    "stc3": "CC-BY-4.0 annotations; NTCIR-14 STC-3, sakai-lab/stc3-dataset (Weibo dialogues)",
    "abcd": "MIT; asappresearch/abcd",
}
DEFAULT_OUT = Path("data/dialogue")
MANIFEST = "manifest.json"


def default_data_dir() -> Path:
    return shared_data()


def pack_source() -> tuple[str, Any]:
    """(source name, [code] dialogues module) of the default pack; the name is the pack's."""
    from dialogue.domain.pack import default_pack

    pack = default_pack()
    return pack.name, pack.code("dialogues")


def all_sources() -> tuple[str, ...]:
    return (*PUBLIC_INPUTS, pack_source()[0])


def inputs() -> dict[str, tuple[str, ...]]:
    name, module = pack_source()
    return PUBLIC_INPUTS | {name: tuple(module.INPUTS)}


def licences() -> dict[str, str]:
    name, module = pack_source()
    return PUBLIC_LICENCES | {name: module.LICENCE}


def redact_conversation(conv: Conversation) -> tuple[Conversation, RedactionReport]:
    """Every text of a conversation redacted: turn text, transcript, screenshot text, the
    strings in action arguments and results, and the facts and slot values the agent was given."""
    report, turns = RedactionReport(), []
    for t in conv.turns:
        changes: dict[str, Any] = {}
        for key in ("text", "transcript", "screenshot_text"):
            if getattr(t, key):
                changes[key], r = redact_with_report(getattr(t, key))
                report += r
        if t.action is not None:
            args, r1 = redact_value(t.action.args)
            result, r2 = redact_value(t.action.result)
            changes["action"] = replace(t.action, args=args, result=result)
            report += r1 + r2
        if t.facts:
            facts = []
            for source, text in t.facts:
                text, r = redact_with_report(text)
                facts.append((source, text))
                report += r
            changes["facts"] = tuple(facts)
        if t.slots:
            slots = {}
            for name, value in t.slots.items():
                slots[name], r = redact_with_report(value)
                report += r
            changes["slots"] = slots
        turns.append(replace(t, **changes))
    return replace(conv, turns=tuple(turns)), report


def read_sources(
    sources: Sequence[str], data_dir: Path, n_generated: int, seed: int
) -> tuple[list[Conversation], dict[str, Counter]]:
    """The conversations of each source, in order, and per source what cleaning dropped."""
    files = inputs()
    unknown = sorted(set(sources) - set(files))
    if unknown:
        raise ValueError(f"unknown source(s) {unknown}; available sources = {list(files)}")
    for source in sources:
        for rel in files[source]:
            if not (data_dir / rel).is_file():
                raise ConvDataError(
                    f"{data_dir / rel}: not found (needed by source {source!r}); pass --data "
                    "with the shared data folder, or leave the source out of --sources"
                )
    convs: list[Conversation] = []
    notes: dict[str, Counter] = {s: Counter() for s in sources}
    for source in sources:
        t0 = time.perf_counter()
        if source == "stc3":
            zh, en = (data_dir / rel for rel in files["stc3"])
            got = read_stc3(zh, "zh", notes["stc3"]) + read_stc3(en, "en", notes["stc3"])
        elif source == "abcd":
            got = read_abcd(*(data_dir / rel for rel in files["abcd"]))
        else:
            got = pack_source()[1].generate(data_dir, n_generated, seed)
        logger.info("%s: %d conversations in %.1f s", source, len(got), time.perf_counter() - t0)
        convs += got
    return convs, notes


def _guided(convs, data_dir: Path, n_open: int, seed: int, kb: str | None, progress: bool):
    from dialogue.lm.guided import guide_all

    if n_open < 0:
        raise ValueError(f"n_open must be >= 0, got {n_open}")
    name, module = pack_source()
    opens, faq = module.guided_inputs(n_open, seed)
    own = [c for c in convs if c.source == name]
    others = [c for c in convs if c.source != name]
    done, notes = guide_all(own, opens, data_dir / module.FOLDER, kb or faq, progress)
    return others + done, notes


def render_images(
    convs: Sequence[Conversation], out: Path, progress: bool = True
) -> tuple[list[Conversation], int]:
    """(the conversations with `image` set on turns that carry screenshot text, pictures written)"""
    from PIL import Image as PILImage

    from vision.synth import render_lines

    folder = out / "images"
    folder.mkdir(parents=True, exist_ok=True)
    done, n = [], 0
    for conv in tqdm(convs, desc="images", unit="conv", disable=not progress, file=sys.stderr):
        turns = list(conv.turns)
        for i, t in enumerate(turns):
            if t.role != "customer" or not t.screenshot_text or t.image:
                continue
            shot = render_lines(t.screenshot_text.splitlines(), conv.language, seed=n)
            name = f"images/{conv.id}-{i}.png"
            PILImage.fromarray(shot.image.rgb).save(out / name, optimize=True)
            turns[i], n = replace(t, image=name), n + 1
        done.append(replace(conv, turns=tuple(turns)))
    return done, n


def build(
    out: str | Path = DEFAULT_OUT,
    sources: Sequence[str] | None = None,
    data_dir: str | Path | None = None,
    n_generated: int = 1500,
    seed: int = 0,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    progress: bool = True,
    images: bool = False,
    guided: bool = False,
    n_open: int = 400,
    kb: str | None = None,
) -> dict[str, Any]:
    """Read, redact, split and write (and with `images` render the screenshots); returns the
    manifest (also written to OUT/manifest.json).

    `sources`: default all (`all_sources()`); `n_generated`: the pack's generated conversations.
    `guided` replays the pack's conversations through the Agent and adds `n_open` open turns
    (`dialogue.lm.guided`), answering rule questions from `kb` (default: the pack's FAQ)."""
    out, data_dir = Path(out), Path(data_dir) if data_dir else default_data_dir()
    sources = list(sources or all_sources())
    ratios = check_ratios(ratios)  # before the reading, which takes a while
    convs, notes = read_sources(sources, data_dir, n_generated, seed)
    if guided:
        convs, notes["guided"] = _guided(convs, data_dir, n_open, seed, kb, progress)
    report, redacted = RedactionReport(), []
    for conv in tqdm(convs, desc="redact", unit="conv", disable=not progress, file=sys.stderr):
        conv, r = redact_conversation(conv)
        redacted.append(conv)
        report += r
    out.mkdir(parents=True, exist_ok=True)
    n_images = 0
    if images:
        redacted, n_images = render_images(redacted, out, progress)
    splits = split_conversations(redacted, seed, ratios)
    files = {}
    for name in SPLITS:
        path = out / f"{name}.jsonl"
        n = write_jsonl(path, splits[name])
        files[path.name] = {"conversations": n, "bytes": path.stat().st_size, "sha256": file_sha256(path)}  # fmt: skip
    by_source: dict[str, dict[str, dict[str, int]]] = {}
    for name in SPLITS:
        for conv in splits[name]:
            langs = by_source.setdefault(conv.source, {})
            langs.setdefault(conv.language, dict.fromkeys(SPLITS, 0))[name] += 1
    manifest = {
        "format": "dialogue.lm.convdata JSONL, one conversation a line",
        "seed": seed,
        "ratios": list(ratios),
        "sources": list(sources),
        f"n_{pack_source()[0]}": n_generated if pack_source()[0] in sources else 0,
        "guided": guided,
        "n_open": n_open if guided else 0,
        "counts": {
            "conversations": len(redacted),
            "turns": sum(len(c.turns) for c in redacted),
            "images": n_images,
            "by_split": {name: len(splits[name]) for name in SPLITS},
            "by_source": by_source,
        },
        "cleaning": {s: dict(sorted(c.items())) for s, c in notes.items() if c},
        "redaction": report.to_dict(),
        "files": files,
        "inputs": [
            {
                "source": s,
                "path": rel,
                "sha256": file_sha256(data_dir / rel),
                "bytes": (data_dir / rel).stat().st_size,
            }  # fmt: skip
            for s in sources
            for rel in inputs()[s]
        ],
        "data_dir": str(data_dir),
        "licences": {s: licences()[s] for s in sources},
    }
    with atomic_writer(out / MANIFEST) as f:
        f.write(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n")
    return manifest


def stats_table(folder: str | Path) -> tuple[str, list[str]]:
    """(the table of a built folder, the problems: missing files, hashes that differ)"""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise ConvDataError(f"{path}: no manifest; build the folder with `cca convdata build`")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    problems, turns, actions = [], Counter(), Counter()
    for name, info in manifest["files"].items():
        if not (folder / name).is_file():
            problems.append(f"{folder / name}: missing")
            continue
        if file_sha256(folder / name) != info["sha256"]:
            problems.append(f"{folder / name}: sha256 differs from the manifest (changed since the build?)")  # fmt: skip
        for conv in iter_jsonl(folder / name):
            turns[conv.source] += len(conv.turns)
            actions[conv.source] += sum(t.action is not None for t in conv.turns)
    head = f"{'source':<8} {'lang':<4} " + " ".join(f"{s:>7}" for s in SPLITS) + f" {'total':>7}"
    lines = [head, "-" * len(head)]
    totals = Counter()
    for source, langs in manifest["counts"]["by_source"].items():
        for lang in LANGUAGES:
            if lang in langs:
                row = [langs[lang][s] for s in SPLITS]
                totals.update(dict(zip(SPLITS, row, strict=True)))
                cells = " ".join(f"{n:>7}" for n in row)
                lines.append(f"{source:<8} {lang:<4} {cells} {sum(row):>7}")
    lines += ["-" * len(head), f"{'total':<13} " + " ".join(f"{totals[s]:>7}" for s in SPLITS) + f" {sum(totals.values()):>7}"]  # fmt: skip
    lines.append("")
    for source in manifest["counts"]["by_source"]:
        lines.append(f"{source}: {turns[source]} turns, {actions[source]} with an action")
    lines.append("redacted: " + ", ".join(f"{k} {v}" for k, v in manifest["redaction"].items()))
    for source, c in manifest.get("cleaning", {}).items():
        lines.append(f"cleaned {source}: " + ", ".join(f"{k} {v}" for k, v in c.items()))
    for name, info in manifest["files"].items():
        lines.append(f"{name:<12} {info['bytes'] / 1e6:7.2f} MB  sha256 {info['sha256'][:16]}")
    return "\n".join(lines), problems


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cca convdata", description="Training conversations for the dialogue model."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="read, redact, split and write the conversations")
    b.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")  # fmt: skip
    b.add_argument("--sources", default=None, help="comma-separated, of stc3,abcd and the default pack's name (default: all)")  # fmt: skip
    b.add_argument("--data", type=Path, default=None, help="the shared data folder (default $CCA_SHARED_DATA or shared/data beside the checkout)")  # fmt: skip
    b.add_argument("--n-generated", "--n-retail", dest="n_generated", type=int, default=1500, help="conversations generated by the default pack's [code] dialogues")  # fmt: skip
    b.add_argument("--seed", type=int, default=0, help="for the generator and the split")
    b.add_argument("--ratios", default="0.8,0.1,0.1", help="train,dev,test shares")
    b.add_argument("--images", action="store_true", help="render the screenshots of customer turns into OUT/images")  # fmt: skip
    b.add_argument("--guided", action="store_true", help="replay the pack's conversations through the Agent so each reply carries the facts the model is given, and add open turns (dialogue.lm.guided)")  # fmt: skip
    b.add_argument("--n-open", type=int, default=400, help="open turns with --guided")
    b.add_argument("--kb", default=None, help="with --guided: the knowledge base rule questions are answered from (default: the pack's FAQ)")  # fmt: skip
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    s = sub.add_parser("stats", help="print the counts of a built folder and check its hashes")
    s.add_argument("folder", type=Path, nargs="?", default=DEFAULT_OUT)
    for p in (b, s):
        p.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "stats":
            table, problems = stats_table(args.folder)
            print(table)
            for p in problems:
                print(f"cca convdata: {p}", file=sys.stderr)
            return 1 if problems else 0
        if args.n_generated < 0:
            print(f"cca convdata: --n-generated must be >= 0, got {args.n_generated}", file=sys.stderr)  # fmt: skip
            return 2
        ratios = [float(x) for x in args.ratios.split(",")]
        sources = [x.strip() for x in (args.sources or "").split(",") if x.strip()] or None
        t0 = time.perf_counter()
        manifest = build(args.out, sources, args.data, args.n_generated, args.seed, ratios, progress=not args.no_progress, images=args.images, guided=args.guided, n_open=args.n_open, kb=args.kb)  # fmt: skip
        counts = manifest["counts"]
        print(
            f"wrote {counts['conversations']} conversations ({counts['turns']} turns) to "
            f"{args.out} in {time.perf_counter() - t0:.1f} s: "
            + ", ".join(f"{k} {v}" for k, v in counts["by_split"].items())
        )
        print(stats_table(args.out)[0])
        return 0
    except (ConvDataError, ValueError) as e:
        print(f"cca convdata: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
