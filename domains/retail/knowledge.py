"""The sample shop's own knowledge: the pack's knowledge/ folder (a short FAQ and policy summary
in English and Chinese, knowledge/faq.csv), indexed once into the model cache so that a fresh
install answers rule questions."""

from __future__ import annotations

import hashlib
from pathlib import Path

PACK = Path(__file__).resolve().parent
KNOWLEDGE = PACK / "knowledge"
FAQ = KNOWLEDGE / "faq.csv"


def knowledge_files() -> list[Path]:
    return sorted(p for p in KNOWLEDGE.rglob("*") if p.suffix in (".csv", ".md", ".json"))


def faq_knowledge() -> str:
    """The URL of a knowledge base holding the pack's knowledge, built once in the cache (again
    when a file changes)."""
    from dialogue.knowledge.base import KnowledgeBase
    from voice.asr.models import cache_dir

    files = knowledge_files()
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:12]
    path = cache_dir() / "kb" / f"sample-shop-{digest}.db"
    url = f"sqlite:///{path}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.unlink(missing_ok=True)
        with KnowledgeBase.open(f"sqlite:///{tmp}") as kb:
            kb.add(files)
        tmp.replace(path)
    return url
