"""The knowledge base: documents in, chunks embedded into Chroma, recorded in the ledger."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Sequence

from kb.items import DocumentRecord, Evidence, KnowledgeItem, Status, parse_time, utc_now
from kb.ledger import Ledger
from kb.loaders import LoadError, SourceDocument, iter_files, load_file
from retrieval.chunking import chunk_text, content_hash
from retrieval.embedder import Embedder
from retrieval.store import ChromaStore, Record, VectorStore

Progress = Callable[[int, int], None]  # (passages just embedded, total passages)

OPEN_END = 253402300799.0  # 9999-12-31, Chroma metadata cannot hold None


@dataclass
class IngestReport:
    """What one ingest did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def passages_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Retrieval:
    """Evidence for one query and where the time went."""

    evidence: list[Evidence]
    embed_seconds: float
    search_seconds: float


@dataclass(frozen=True)
class KBStats:
    path: Path
    documents: int
    chunks: int
    vectors: int
    by_status: dict[str, int]
    embedder: str


@dataclass
class _Pending:
    doc: SourceDocument
    record: DocumentRecord
    items: list[KnowledgeItem]
    replaced: bool


class KnowledgeBase:
    """A folder holding a Chroma collection and a SQLite ledger that agree with each other."""

    def __init__(
        self,
        path: Path,
        embedder: Embedder,
        *,
        store: VectorStore | None = None,
        chunk_chars: int = 800,
        chunk_overlap: int = 120,
        batch_passages: int = 256,
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.embedder = embedder
        self.ledger = Ledger(self.path / "ledger.sqlite3")
        self.store = store if store is not None else ChromaStore(self.path / "chroma")
        self._owns_store = store is None  # a store passed in is the caller's to close
        self.chunk_chars = chunk_chars
        self.chunk_overlap = chunk_overlap
        self.batch_passages = batch_passages
        self.recover()

    # consistency ---------------------------------------------------------------
    def recover(self) -> None:
        """Undo half-finished ingests and drop vectors the ledger does not know."""
        for doc_id in self.ledger.pending_documents():
            self.store.delete(self.ledger.remove_document(doc_id))
        orphans = self.store.ids() - self.ledger.item_ids()
        if orphans:
            self.store.delete(sorted(orphans))

    # ingest --------------------------------------------------------------------
    def ingest(self, paths: Sequence[str | Path], *, valid_from: datetime | None = None, progress: Progress | None = None) -> IngestReport:
        """Ingest files and folders; bad files are reported in ``failed`` and the rest go on."""
        report = IngestReport()
        docs: list[SourceDocument] = []
        for path in iter_files(paths):
            try:
                docs.extend(load_file(path))
            except LoadError as exc:
                report.failed.append((str(path), str(exc)))
        return self.ingest_documents(docs, valid_from=valid_from, progress=progress, report=report)

    def ingest_documents(
        self,
        docs: Iterable[SourceDocument],
        *,
        valid_from: datetime | None = None,
        progress: Progress | None = None,
        report: IngestReport | None = None,
    ) -> IngestReport:
        """Chunk, embed in batches, and store documents that are new or changed."""
        report = report or IngestReport()
        start = time.perf_counter()
        todo: list[_Pending] = []
        for doc in docs:
            pending = self._prepare(doc, valid_from)
            if pending is None:
                report.unchanged.append(doc.doc_id)
            else:
                todo.append(pending)
        total = sum(len(p.items) for p in todo)
        batch: list[_Pending] = []
        for pending in todo:
            batch.append(pending)
            if sum(len(p.items) for p in batch) >= self.batch_passages:
                self._write(batch, report, progress, total)
                batch = []
        if batch:
            self._write(batch, report, progress, total)
        report.seconds = time.perf_counter() - start
        return report

    def _prepare(self, doc: SourceDocument, valid_from: datetime | None) -> _Pending | None:
        digest = content_hash(doc.title, doc.text)
        known = self.ledger.document(doc.doc_id)
        if known is not None and known.content_hash == digest:
            return None
        now = utc_now()
        world = valid_from or (parse_time(doc.metadata["valid_from"]) if doc.metadata.get("valid_from") else now)
        chunks = chunk_text(doc.text, self.chunk_chars, self.chunk_overlap)
        items = [
            KnowledgeItem(
                item_id=content_hash(doc.doc_id, str(c.position), c.text),
                doc_id=doc.doc_id, text=c.text, title=doc.title, source=doc.source, position=c.position,
                added_at=now, validated_at=now, status=Status.VALID, valid_from=world,
            )
            for c in chunks
        ]
        record = DocumentRecord(
            doc_id=doc.doc_id, source=doc.source, title=doc.title, content_hash=digest,
            n_chunks=len(items), ingested_at=now, valid_from=world,
        )
        return _Pending(doc, record, items, replaced=known is not None)

    def _write(self, batch: list[_Pending], report: IngestReport, progress: Progress | None, total: int) -> None:
        items = [i for p in batch for i in p.items]
        t0 = time.perf_counter()
        vectors = self.embedder.embed([_embed_text(i) for i in items])
        report.embed_seconds += time.perf_counter() - t0
        by_id = dict(zip((i.item_id for i in items), vectors))
        for p in batch:
            replaced_ids = self.ledger.begin_document(p.record, p.items)
            stale = sorted(set(replaced_ids) - {i.item_id for i in p.items})
            if stale:
                self.store.delete(stale)
            self.store.upsert([Record(i.item_id, i.text, by_id[i.item_id], _chroma_metadata(i)) for i in p.items])
            self.ledger.commit_document(p.record.doc_id)
            (report.updated if p.replaced else report.added).append(p.record.doc_id)
            report.chunks += len(p.items)
        if progress:
            progress(len(items), total)

    # removal and stats ---------------------------------------------------------
    def remove(self, doc: str) -> list[str]:
        """Remove a document (its id, or a path: every document from that file) everywhere; return removed doc ids."""
        wanted = {doc, Path(doc).expanduser().resolve().as_posix()}
        removed = [
            d.doc_id for d in self.ledger.documents()
            if d.doc_id in wanted or d.source in wanted
        ]
        for doc_id in removed:
            self.store.delete(self.ledger.remove_document(doc_id))
        return removed

    def stats(self) -> KBStats:
        counts = self.ledger.counts()
        return KBStats(
            path=self.path, documents=counts.pop("documents"), chunks=counts.pop("items"),
            vectors=self.store.count(), by_status=counts, embedder=getattr(self.embedder, "name", "?"),
        )

    def documents(self) -> list[DocumentRecord]:
        return self.ledger.documents()

    # retrieval -----------------------------------------------------------------
    def search(self, query: str, k: int) -> Retrieval:
        """Top-``k`` chunks for ``query`` by cosine similarity."""
        t0 = time.perf_counter()
        vector = self.embedder.embed([query])[0]
        t1 = time.perf_counter()
        hits = self.store.query(vector, k)
        t2 = time.perf_counter()
        evidence = [
            Evidence(
                chunk_id=h.id, doc_id=str(h.metadata.get("doc_id", "")), title=str(h.metadata.get("title", "")),
                source=str(h.metadata.get("source", "")), text=h.text, score=h.score, metadata=h.metadata,
            )
            for h in hits
        ]
        return Retrieval(evidence, t1 - t0, t2 - t1)

    def close(self) -> None:
        self.ledger.close()
        if self._owns_store:
            self.store.close()  # type: ignore[attr-defined]


def _embed_text(item: KnowledgeItem) -> str:
    return f"{item.title}\n{item.text}" if item.title and item.title not in item.text[:200] else item.text


def _chroma_metadata(item: KnowledgeItem) -> dict:
    return {
        "doc_id": item.doc_id,
        "source": item.source,
        "title": item.title,
        "position": item.position,
        "kind": item.kind,
        "status": item.status.value,
        "added_at": item.added_at.timestamp(),
        "validated_at": item.validated_at.timestamp(),
        "valid_from": item.valid_from.timestamp(),
        "valid_to": item.valid_to.timestamp() if item.valid_to else OPEN_END,
        "ingested_at": item.added_at.isoformat(),
    }
