"""A domain pack's words for reading its pictures, beside the core's: the [fields] table of its
domain.toml (the words that name a field before its value, `vision.fields.FieldCues`) and its
[kinds] table (the words that tell a kind of picture, `vision.kind`). For example:

    [fields]
    order_number = ["账单号"]
    amount = ["转账"]
    [kinds]
    order_page = ["账单", "发票"]
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from vision.fields import FieldCues
from vision.kind import WORD_KINDS


def pack_words(folder: str | Path) -> tuple[FieldCues, dict[str, tuple[str, ...]]]:
    """A domain pack's words for reading its pictures, from its domain.toml: [fields] (the words
    that name a field, `FieldCues`) and [kinds] (kind = ["word", ...], beside vision.kind's).
    ValueError names the file and the fix."""
    path = Path(folder) / "domain.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: {e}; give a pack's folder (one with a domain.toml)") from None
    return words_of(data, path)


def words_of(data: dict, path: str | Path) -> tuple[FieldCues, dict[str, tuple[str, ...]]]:
    """`pack_words` of domain.toml's tables already read (`data`); `path` names the file in errors."""
    kinds = data.get("kinds", {})
    if not isinstance(kinds, dict) or not all(
        isinstance(w, list) and all(isinstance(x, str) and x.strip() for x in w) for w in kinds.values()
    ):  # fmt: skip
        raise ValueError(f'{path}: [kinds] holds kind = ["word", ...], e.g. order_page = ["账单"]')
    unknown = sorted(set(kinds) - set(WORD_KINDS))
    if unknown:
        raise ValueError(f"{path}: [kinds] {unknown}: words tell the kinds {WORD_KINDS}")
    return FieldCues.from_table(data.get("fields", {}), str(path)), {
        k: tuple(w) for k, w in kinds.items()
    }
