"""Vector storage behind a small base class; Chroma is the implementation."""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

Metadata = dict[str, str | int | float | bool]


@dataclass(frozen=True)
class Record:
    id: str
    text: str
    embedding: Sequence[float]
    metadata: Metadata


@dataclass(frozen=True)
class Hit:
    id: str
    text: str
    score: float  # cosine similarity, higher is closer
    metadata: Metadata = field(default_factory=dict)


class VectorStore(abc.ABC):
    """The few operations dagrag needs from a vector database."""

    @abc.abstractmethod
    def upsert(self, records: Sequence[Record]) -> None: ...

    @abc.abstractmethod
    def delete(self, ids: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def query(self, embedding: Sequence[float], k: int, where: dict[str, Any] | None = None) -> list[Hit]: ...

    @abc.abstractmethod
    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Metadata]) -> None: ...

    @abc.abstractmethod
    def ids(self) -> set[str]: ...

    @abc.abstractmethod
    def count(self) -> int: ...


class ChromaStore(VectorStore):
    """One cosine Chroma collection in a ``PersistentClient`` folder (telemetry off)."""

    COLLECTION = "dagrag_chunks"

    def __init__(self, path: Path, collection: str = COLLECTION) -> None:
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self._client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
        self._collection = self._client.get_or_create_collection(
            collection, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )

    def upsert(self, records: Sequence[Record]) -> None:
        batch = self._client.get_max_batch_size()
        for i in range(0, len(records), batch):
            part = records[i : i + batch]
            self._collection.upsert(
                ids=[r.id for r in part],
                embeddings=[list(r.embedding) for r in part],
                documents=[r.text for r in part],
                metadatas=[r.metadata for r in part],
            )

    def delete(self, ids: Sequence[str]) -> None:
        batch = self._client.get_max_batch_size()
        for i in range(0, len(ids), batch):
            self._collection.delete(ids=list(ids[i : i + batch]))

    def query(self, embedding: Sequence[float], k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        n = min(k, self.count())
        if n == 0:
            return []
        res = self._collection.query(
            query_embeddings=[list(embedding)], n_results=n, where=where or None, include=["documents", "metadatas", "distances"]
        )
        return [
            Hit(id=i, text=doc or "", score=1.0 - float(dist), metadata=dict(meta or {}))
            for i, doc, meta, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0])
        ]

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Metadata]) -> None:
        if ids:
            self._collection.update(ids=list(ids), metadatas=list(metadatas))

    def ids(self) -> set[str]:
        out: set[str] = set()
        offset, page = 0, 5000
        while True:
            got = self._collection.get(include=[], limit=page, offset=offset)["ids"]
            out.update(got)
            if len(got) < page:
                return out
            offset += page

    def count(self) -> int:
        return self._collection.count()

    def close(self) -> None:
        """Release this client; Chroma stops the on-disk system (SQLite, HNSW files) with its last client."""
        self._client.close()
