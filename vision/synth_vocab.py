"""The words vision.synth draws its pages with, read from a file a domain pack ships (the sample
shop's: its screens.toml, through `DomainPack.screen_words`): per language, a table of WORD_KEYS
(names, products, messages, chats) and a `labels` table of LABEL_KEYS (the pages' fixed words,
`{}` marking a value). `read_words(path)` checks it and raises ValueError naming the file and the
missing keys; lists become tuples."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

WORD_KEYS = ("shops", "products", "statuses", "errors", "apps", "buttons", "customers", "domains",
             "agents", "addresses", "carriers", "scripts", "faq", "toggles", "values", "sections")  # fmt: skip
LABEL_KEYS = ("orders", "details", "order", "placed", "eta", "cols", "subtotal", "fee", "free",
              "total", "ship_to", "carrier", "tracking", "track", "contact", "note", "online",
              "typing", "send", "help", "search", "account", "edit", "signout", "settings", "name",
              "email", "phone", "since", "address", "when", "code", "support", "notice")  # fmt: skip
Words = dict[str, dict[str, Any]]  # language -> {WORD_KEYS..., "labels": {LABEL_KEYS...}}


def read_words(path: str | Path, languages: tuple[str, ...] = ("en", "zh")) -> Words:
    """The pages' words of the TOML file `path`: a [LANGUAGE] table and a [LANGUAGE.labels]
    table for each of `languages`."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: {e}; fix the TOML") from None
    return {language: _words(data, language, path) for language in languages}


def _words(data: dict, language: str, path: str | Path) -> dict[str, Any]:
    table = data.get(language)
    if not isinstance(table, dict):
        raise ValueError(f"{path}: no [{language}] table; give one with {', '.join(WORD_KEYS)}")
    labels = table.get("labels")
    missing = [k for k in WORD_KEYS if not table.get(k)]
    missing += [f"labels.{k}" for k in LABEL_KEYS if not isinstance(labels, dict) or not labels.get(k)]  # fmt: skip
    if missing:
        raise ValueError(f"{path}: [{language}] has no {', '.join(missing)}; give each")
    words = {k: _frozen(table[k]) for k in WORD_KEYS}
    return {**words, "labels": {k: _frozen(v) for k, v in labels.items()}}


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value
