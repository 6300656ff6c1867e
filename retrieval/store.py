"""Vector storage behind a small base class; Chroma is the implementation.

Chroma runs either embedded (a ``PersistentClient`` folder inside the knowledge base) or as
a server that people already operate (``chroma run --path DIR --port N``), reached by URL.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from retrieval.errors import DagragError
from retrieval.offline import go_offline

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

    def query_many(self, embeddings: Sequence[Sequence[float]], k: int, where: dict[str, Any] | None = None) -> list[list[Hit]]:
        """``query`` for several embeddings at once (one request where the store allows it)."""
        return [self.query(e, k, where) for e in embeddings]

    @abc.abstractmethod
    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Metadata]) -> None: ...

    @abc.abstractmethod
    def ids(self) -> set[str]: ...

    @abc.abstractmethod
    def count(self) -> int: ...


class StoreError(DagragError, RuntimeError):
    """The vector store cannot be reached or used; the message says what to do."""


def is_url(location: object) -> bool:
    """True for an http(s) URL (a Chroma server), False for a folder."""
    return isinstance(location, str) and location.strip().lower().startswith(("http://", "https://"))


class ChromaStore(VectorStore):
    """One cosine Chroma collection, embedded in a folder or on a Chroma server (telemetry off).

    ``location`` is a folder (``PersistentClient``) or a server URL such as
    ``http://db-box:8000`` (``HttpClient``; https turns TLS on). Several knowledge bases may
    share one server, so give each its own ``collection`` (``collection_for(kb_path)``).
    """

    COLLECTION = "dagrag_chunks"

    def __init__(self, location: Path | str, collection: str = COLLECTION) -> None:
        go_offline()
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False)
        self.url: str | None = None
        self.collection = collection
        if is_url(location):
            self.url = str(location).strip().rstrip("/")
            host, port, ssl = _server_address(self.url)
            try:
                self._client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings)
            except Exception as exc:  # chromadb raises ValueError("Could not connect to a Chroma server...")
                raise self._unreachable() from exc
        else:
            self._client = chromadb.PersistentClient(path=str(location), settings=settings)
        with self._guard():
            self._collection = self._client.get_or_create_collection(
                collection, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            )

    @staticmethod
    def collection_for(kb_path: Path | str) -> str:
        """A collection name of its own for the knowledge base in ``kb_path`` (for a shared server)."""
        resolved = str(Path(kb_path).expanduser().resolve())
        return "dagrag_" + hashlib.sha256(resolved.encode("utf-8")).hexdigest()[:16]

    def _unreachable(self) -> StoreError:
        port = _server_address(self.url)[1] if self.url else 8000
        return StoreError(
            f"Chroma server at {self.url} is not reachable: start it (chroma run --path DIR --port {port}) or unset DAGRAG_CHROMA_URL"
        )

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn a lost connection to the Chroma server into a one-line StoreError (no retries)."""
        if self.url is None:
            yield
            return
        import httpx

        try:
            yield
        except (httpx.TransportError, ConnectionError) as exc:
            raise self._unreachable() from exc

    def upsert(self, records: Sequence[Record]) -> None:
        with self._guard():
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
        with self._guard():
            batch = self._client.get_max_batch_size()
            for i in range(0, len(ids), batch):
                self._collection.delete(ids=list(ids[i : i + batch]))

    def query(self, embedding: Sequence[float], k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        n = min(k, self.count())
        if n == 0:
            return []
        with self._guard():
            res = self._collection.query(
                query_embeddings=[list(embedding)], n_results=n, where=where or None, include=["documents", "metadatas", "distances"]
            )
        return [
            Hit(id=i, text=doc or "", score=1.0 - float(dist), metadata=dict(meta or {}))
            for i, doc, meta, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0])
        ]

    def query_many(self, embeddings: Sequence[Sequence[float]], k: int, where: dict[str, Any] | None = None) -> list[list[Hit]]:
        n = min(k, self.count())
        if n == 0 or not embeddings:
            return [[] for _ in embeddings]
        with self._guard():
            res = self._collection.query(
                query_embeddings=[list(e) for e in embeddings],
                n_results=n,
                where=where or None,
                include=["documents", "metadatas", "distances"],
            )
        return [
            [Hit(id=i, text=doc or "", score=1.0 - float(dist), metadata=dict(meta or {})) for i, doc, meta, dist in zip(*row)]
            for row in zip(res["ids"], res["documents"], res["metadatas"], res["distances"])
        ]

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Metadata]) -> None:
        if ids:
            with self._guard():
                self._collection.update(ids=list(ids), metadatas=list(metadatas))

    def ids(self) -> set[str]:
        out: set[str] = set()
        offset, page = 0, 5000
        while True:
            with self._guard():
                got = self._collection.get(include=[], limit=page, offset=offset)["ids"]
            out.update(got)
            if len(got) < page:
                return out
            offset += page

    def count(self) -> int:
        with self._guard():
            return self._collection.count()

    def close(self) -> None:
        """Release this client. Embedded: Chroma stops the on-disk system (SQLite, HNSW files) with
        its last client. Server: only this client's connections close; the server keeps the data."""
        self._client.close()


def _server_address(url: str) -> tuple[str, int, bool]:
    """(host, port, ssl) of a Chroma server URL; the port defaults to Chroma's 8000 (443 for https)."""
    parts = urlsplit(url)
    ssl = parts.scheme.lower() == "https"
    if not parts.hostname:
        raise StoreError(f"Chroma URL {url!r} has no host: set DAGRAG_CHROMA_URL to e.g. http://127.0.0.1:8000")
    if parts.path not in ("", "/"):
        raise StoreError(f"Chroma URL {url!r} has a path: give only scheme, host and port, e.g. http://db-box:8000")
    try:
        port = parts.port
    except ValueError:
        raise StoreError(f"Chroma URL {url!r} has an invalid port: set DAGRAG_CHROMA_URL to e.g. http://127.0.0.1:8000") from None
    return parts.hostname, port or (443 if ssl else 8000), ssl
