"""Where the knowledge base keeps its chunks: any SQLAlchemy database, an SQLite file by default.

Three tables: `kb_meta` (the encoder's name and dim, one store one encoder), `kb_documents`
(one row per file: its resolved path and the sha256 of its bytes) and `kb_chunks` (source,
title, text, language, content hash, and the embedding as little-endian float32 bytes).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import make_url

from dialogue.knowledge.ingest import Document

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "1"

metadata = MetaData()
meta_table = Table(
    "kb_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
documents = Table(
    "kb_documents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", String(1024), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("updated_at", Float, nullable=False),  # unix time
)
chunks = Table(
    "kb_chunks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("document_id", ForeignKey("kb_documents.id"), nullable=False, index=True),
    Column("ordinal", Integer, nullable=False),  # position in its document
    Column("source", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("language", String(8), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("embedding", LargeBinary, nullable=False),  # (dim,) little-endian float32
)


class EncoderMismatchError(ValueError):
    """The store was embedded with another encoder than the one asked for."""


def database_url(db: str) -> str:
    """An SQLAlchemy URL as given, or a bare file path as an SQLite URL."""
    return db if "://" in db else f"sqlite:///{db}"


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL; None for other databases and in-memory SQLite."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        return Path(u.database)
    return None


def store_exists(url: str | None) -> bool:
    """Whether there is a store to open at `url` without creating one: an SQLite file that
    exists, or any server database (it is there to ask)."""
    if not url:
        return False
    path = sqlite_file(url)
    return path is None or path.exists()


def stored_encoder(db: str) -> tuple[str, int] | None:
    """(name, dim) of the encoder a store was built with; None for a new or missing store.

    Creates nothing: a missing SQLite file stays missing.
    """
    url = database_url(db)
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return None
    engine = create_engine(url)
    try:
        if not inspect(engine).has_table("kb_meta"):
            return None
        with engine.connect() as c:
            meta = dict(c.execute(select(meta_table.c.key, meta_table.c.value)).all())
    finally:
        engine.dispose()
    return (meta["encoder"], int(meta["dim"])) if "encoder" in meta else None


class KnowledgeStore:
    """The tables of one knowledge base; every write is one transaction."""

    def __init__(self, db: str):
        self.url = database_url(db)
        path = sqlite_file(self.url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(self.url)
        metadata.create_all(self.engine)

    def bind_encoder(self, name: str, dim: int) -> None:
        """Record the encoder of a new store; refuse another one for an existing store."""
        with self.engine.begin() as c:
            meta = dict(c.execute(select(meta_table.c.key, meta_table.c.value)).all())
            if "encoder" not in meta:
                c.execute(
                    meta_table.insert(),
                    [
                        {"key": "encoder", "value": name},
                        {"key": "dim", "value": str(dim)},
                        {"key": "schema", "value": SCHEMA_VERSION},
                    ],
                )
                return
        if (meta["encoder"], int(meta["dim"])) != (name, dim):
            raise EncoderMismatchError(
                f"{self.url} was embedded with encoder {meta['encoder']!r} (dim {meta['dim']}), "
                f"not {name!r} (dim {dim}). Search it with --encoder {meta['encoder']}, or "
                f"re-embed every chunk with: cca kb add --reindex --encoder {name} --db {self.url}"
            )

    def set_encoder(self, name: str, dim: int, connection) -> None:
        for key, value in (("encoder", name), ("dim", str(dim)), ("schema", SCHEMA_VERSION)):
            connection.execute(delete(meta_table).where(meta_table.c.key == key))
            connection.execute(meta_table.insert().values(key=key, value=value))

    def document_hash(self, path: str) -> str | None:
        with self.engine.connect() as c:
            q = select(documents.c.content_hash).where(documents.c.path == path)
            return c.execute(q).scalar_one_or_none()

    def count_chunks(self, path: str | None = None) -> int:
        q = select(func.count()).select_from(chunks)
        if path is not None:
            q = q.join(documents).where(documents.c.path == path)
        with self.engine.connect() as c:
            return int(c.execute(q).scalar_one())

    def embeddings_by_hash(self, path: str) -> dict[str, bytes]:
        """content hash -> embedding bytes of the chunks a document has now."""
        q = (
            select(chunks.c.content_hash, chunks.c.embedding)
            .join(documents)
            .where(documents.c.path == path)
        )
        with self.engine.connect() as c:
            return dict(c.execute(q).all())

    def put_document(self, doc: Document, embeddings: list[bytes]) -> None:
        """Insert a document, or replace its row and all its chunks, in one transaction."""
        row = {"kind": doc.kind, "content_hash": doc.content_hash, "updated_at": time.time()}
        with self.engine.begin() as c:
            doc_id = c.execute(
                select(documents.c.id).where(documents.c.path == doc.path)
            ).scalar_one_or_none()
            if doc_id is None:
                doc_id = c.execute(
                    documents.insert().values(path=doc.path, **row)
                ).inserted_primary_key[0]
            else:
                c.execute(update(documents).where(documents.c.id == doc_id).values(**row))
                c.execute(delete(chunks).where(chunks.c.document_id == doc_id))
            if doc.chunks:
                c.execute(
                    chunks.insert(),
                    [
                        {
                            "document_id": doc_id,
                            "ordinal": i,
                            "source": ch.source,
                            "title": ch.title,
                            "text": ch.text,
                            "language": ch.language,
                            "content_hash": ch.content_hash,
                            "embedding": emb,
                        }
                        for i, (ch, emb) in enumerate(zip(doc.chunks, embeddings, strict=True))
                    ],
                )

    def chunk_texts(self) -> list[tuple[int, str]]:
        """(chunk id, title + text) of every chunk: what `reindex` embeds again."""
        q = select(chunks.c.id, chunks.c.title, chunks.c.text).order_by(chunks.c.id)
        with self.engine.connect() as c:
            return [(i, f"{t}\n{x}" if t else x) for i, t, x in c.execute(q)]

    def replace_embeddings(self, ids: list[int], matrix: np.ndarray, name: str, dim: int) -> None:
        """Store new embeddings for the chunks `ids` and the encoder they came from, atomically."""
        stmt = (
            update(chunks)
            .where(chunks.c.id == bindparam("chunk_id"))
            .values(embedding=bindparam("vector"))
        )
        with self.engine.begin() as c:
            if ids:
                c.execute(
                    stmt,
                    [
                        {"chunk_id": i, "vector": v.astype("<f4").tobytes()}
                        for i, v in zip(ids, matrix, strict=True)
                    ],
                )
            self.set_encoder(name, dim, c)

    def load_chunks(self, dim: int) -> list[tuple[str, str, str, np.ndarray]]:
        """(source, title, text, embedding (dim,)) of every chunk, in document order."""
        q = select(chunks.c.source, chunks.c.title, chunks.c.text, chunks.c.embedding).order_by(
            chunks.c.document_id, chunks.c.ordinal
        )
        out = []
        with self.engine.connect() as c:
            for source, title, text, blob in c.execute(q):
                if len(blob) != 4 * dim:
                    raise ValueError(
                        f"{self.url}: chunk {source} has a {len(blob)}-byte embedding, expected "
                        f"{4 * dim} (dim {dim}); re-embed with cca kb add --reindex --db {self.url}"
                    )
                out.append((source, title, text, np.frombuffer(blob, dtype="<f4")))
        return out

    def close(self) -> None:
        self.engine.dispose()
