"""The sample shop's own knowledge: a short FAQ and policy summary in English and Chinese
(faq.csv), indexed once into the model cache so that a fresh install answers rule questions."""

from __future__ import annotations

import hashlib
from pathlib import Path

FAQ = Path(__file__).resolve().parent / "faq.csv"


def faq_knowledge() -> str:
    """The URL of a knowledge base holding the FAQ, built once in the cache (again when the FAQ
    changes)."""
    from dialogue.knowledge.base import KnowledgeBase
    from voice.asr.models import cache_dir

    digest = hashlib.sha256(FAQ.read_bytes()).hexdigest()[:12]
    path = cache_dir() / "kb" / f"sample-shop-{digest}.db"
    url = f"sqlite:///{path}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.unlink(missing_ok=True)
        with KnowledgeBase.open(f"sqlite:///{tmp}") as kb:
            kb.add([FAQ])
        tmp.replace(path)
    return url
