"""The knowledge base: documents in, chunks embedded into Chroma, recorded in the ledger."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kb import detection, entity_index, hybrid
from kb.conflicts import ConflictJudge, Finding, rule_finding
from kb.hybrid import RetrievalPolicy
from kb.items import DocumentRecord, Evidence, KnowledgeItem, Status, as_utc, parse_time, utc_now
from kb.ledger import KBBusyError, Ledger, LedgerError, Review
from kb.loaders import LoadError, SourceDocument, iter_files, load_file
from kb.lock import FolderLock
from kb.policy import TimePolicy, aria_score
from kb.records import as_evidence, chroma_metadata, embed_text, human_item
from kb.reports import IngestReport, KBStats, Retrieval
from retrieval.chunking import chunk_text, content_hash
from retrieval.embedder import Embedder
from retrieval.store import ChromaStore, Record, VectorStore

__all__ = [
    "ConflictJudge",
    "Finding",
    "IngestReport",
    "KBBusyError",
    "KBStats",
    "KnowledgeBase",
    "Progress",
    "Retrieval",
    "RetrievalPolicy",
    "StoreFactory",
    "TimePolicy",
    "aria_score",
]

Progress = Callable[[int, int], None]  # (passages just embedded, total passages)
StoreFactory = Callable[[], VectorStore]  # opens a vector store that the knowledge base then owns

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    doc: SourceDocument
    record: DocumentRecord
    items: list[KnowledgeItem]  # the whole new version
    new_items: list[KnowledgeItem]  # what it does not share with the current version: to embed and store
    replaced: bool


class KnowledgeBase:
    """A folder holding a Chroma collection and a SQLite ledger that agree with each other.

    Several processes may use one folder: writes to the vector store take turns (see
    ``kb.lock``); a process that cannot get its turn within ``lock_timeout`` seconds
    raises ``KBBusyError``.
    """

    def __init__(
        self,
        path: Path,
        embedder: Embedder,
        *,
        store: VectorStore | StoreFactory | None = None,
        chunk_chars: int = 800,
        chunk_overlap: int = 120,
        batch_passages: int = 256,
        judge: ConflictJudge | None = None,
        time_policy: TimePolicy = TimePolicy(),
        lock_timeout: float = 30.0,
        retrieval: RetrievalPolicy = RetrievalPolicy(),
    ) -> None:
        """``store``: a vector store instance stays the caller's (used as is, never closed here); a factory, or
        None for a Chroma folder inside ``path``, gives one this knowledge base owns: it opens it under the folder
        lock, reopens it when another process has written, and closes it."""
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.embedder = embedder
        self.ledger = Ledger(self.path / "ledger.sqlite3")
        self._lock = FolderLock(self.path / "write.lock", lock_timeout)
        self._open_store: StoreFactory | None = None
        if isinstance(store, VectorStore):
            self.store: VectorStore = store
        else:
            self._open_store = store or (lambda: ChromaStore(self.path / "chroma"))
            self.store = None  # type: ignore[assignment]  # opened under the lock (below)
        self._seen: bytes | None = None  # the lock file's token when this process last used the store
        self._wrote = False
        self.chunk_chars = chunk_chars
        self.chunk_overlap = chunk_overlap
        self.batch_passages = batch_passages
        self.judge = judge
        self.time_policy = time_policy
        self.retrieval = retrieval
        try:
            if self._open_store is not None and not (self.path / "chroma").exists():
                with self._using_store(write=True):
                    pass  # a new Chroma folder and collection, created by one process at a time
            self.recover()
        except BaseException:
            self.close()
            raise

    # the vector store, shared with other processes -------------------------------------
    @contextmanager
    def _using_store(self, write: bool) -> Iterator[None]:
        """Use the vector store under the folder lock (exclusive to write); reopen an owned store another process outdated."""
        with self._lock.hold(write) as outermost:
            if outermost:
                self._wrote = False
                token = self._lock.token()
                if token != self._seen:
                    if self._open_store is not None:
                        self._close_store()
                        self.store = self._open_store()
                    self._seen = token
            yield

    def _close_store(self) -> None:
        if self._open_store is not None and self.store is not None:
            store, self.store = self.store, None  # type: ignore[assignment]
            getattr(store, "close", lambda: None)()

    def _changing_store(self) -> None:
        """Called before a write to the store: other processes' clients are outdated from now on."""
        if not self._wrote:
            self._seen = self._lock.new_token()
            self._wrote = True

    # consistency ---------------------------------------------------------------
    def recover(self) -> None:
        """Undo half-finished ingests and drop vectors the ledger does not know."""
        with self._using_store(write=False):  # looking needs only the shared lock: opening does not queue behind others
            clean = not self.ledger.pending_documents() and not self.ledger.unsynced() and self.store.ids() == self.ledger.item_ids()
        if clean:
            return
        with self._using_store(write=True):  # no other process is between begin and commit of a batch now
            for doc_id in self.ledger.pending_documents():
                self._changing_store()
                self.store.delete(self.ledger.abandon_pending(doc_id))
            stored, known = self.store.ids(), self.ledger.item_ids()
            if stored - known:
                self._changing_store()
                self.store.delete(sorted(stored - known))
            lost = self.ledger.items(sorted(known - stored))  # ready in the ledger, vectors gone: embed them again
            if lost:
                self._changing_store()
                vectors = self.embedder.embed([embed_text(i) for i in lost])
                self.store.upsert([Record(i.item_id, i.text, v, chroma_metadata(i)) for i, v in zip(lost, vectors)])
            self.sync()

    def sync(self) -> None:
        """Bring Chroma's mirror of statuses and times up to date with the ledger (and embed human items)."""
        if not self.ledger.unsynced():
            return
        with self._using_store(write=True):
            pending = self.ledger.unsynced()
            if not pending:
                return
            items = self.ledger.items(pending)
            present = self.store.ids()
            have = [i for i in items if i.item_id in present]
            missing = [i for i in items if i.item_id not in present]
            self._changing_store()
            self.store.update_metadata([i.item_id for i in have], [chroma_metadata(i) for i in have])
            if missing:
                vectors = self.embedder.embed([embed_text(i) for i in missing])
                self.store.upsert([Record(i.item_id, i.text, v, chroma_metadata(i)) for i, v in zip(missing, vectors)])
            self.ledger.mark_synced(pending)

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
        detect_conflicts: bool = True,
    ) -> IngestReport:
        """Chunk, embed in batches, and store documents that are new or changed.

        With a judge, each stored document is compared with similar chunks of other
        documents; conflicts go to the review queue.
        """
        report = report or IngestReport()
        valid_from = as_utc(valid_from) if valid_from else None  # naive: UTC
        start = time.perf_counter()
        todo: list[_Pending] = []
        for doc in docs:
            pending = self._prepare(doc, valid_from)
            if pending is None:
                report.unchanged.append(doc.doc_id)
            else:
                todo.append(pending)
        total = sum(len(p.new_items) for p in todo)
        batch: list[_Pending] = []
        for pending in todo:
            batch.append(pending)
            if sum(len(p.new_items) for p in batch) >= self.batch_passages:
                self._write(batch, report, progress, total, detect_conflicts)
                batch = []
        if batch:
            self._write(batch, report, progress, total, detect_conflicts)
        report.seconds = time.perf_counter() - start
        return report

    def _prepare(self, doc: SourceDocument, valid_from: datetime | None) -> _Pending | None:
        digest = content_hash(doc.title, doc.text)
        known = self.ledger.document(doc.doc_id)
        if known is not None and known.content_hash == digest:
            return None
        now = utc_now()
        world = valid_from or (parse_time(doc.metadata["valid_from"]) if doc.metadata.get("valid_from") else now)
        current = self.ledger.current_items(doc.doc_id)  # chunks the new version shares with it are kept as they are
        items = []
        for c in chunk_text(doc.text, self.chunk_chars, self.chunk_overlap):
            item_id = content_hash(doc.doc_id, str(c.position), doc.title, c.text)  # the title is embedded with the text
            if item_id not in current and self.ledger.has_item(item_id):  # back to an older version's text: history keeps its own row
                item_id = content_hash(doc.doc_id, str(c.position), doc.title, c.text, now.isoformat())
            items.append(
                KnowledgeItem(
                    item_id=item_id,
                    doc_id=doc.doc_id,
                    text=c.text,
                    title=doc.title,
                    source=doc.source,
                    position=c.position,
                    added_at=now,
                    validated_at=now,
                    status=Status.VALID,
                    valid_from=world,
                )
            )
        record = DocumentRecord(
            doc_id=doc.doc_id,
            source=doc.source,
            title=doc.title,
            content_hash=digest,
            n_chunks=len(items),
            ingested_at=now,
            valid_from=world,
        )
        return _Pending(doc, record, items, [i for i in items if i.item_id not in current], replaced=known is not None or bool(current))

    def _write(self, batch: list[_Pending], report: IngestReport, progress: Progress | None, total: int, detect: bool = True) -> None:
        items = [i for p in batch for i in p.new_items]
        t0 = time.perf_counter()
        vectors = self.embedder.embed([embed_text(i) for i in items]) if items else []
        report.embed_seconds += time.perf_counter() - t0
        by_id = dict(zip((i.item_id for i in items), vectors))
        # pending in the ledger -> vectors in Chroma -> ready, the previous version expired: a crash in between is undone by recover()
        with self._using_store(write=True):
            self._changing_store()
            stale = sorted(set(self.ledger.begin_documents([(p.record, p.new_items) for p in batch])) - set(by_id))
            if stale:
                self.store.delete(stale)
            if items:
                self.store.upsert([Record(i.item_id, i.text, by_id[i.item_id], chroma_metadata(i)) for i in items])
            try:
                expired = self.ledger.commit_documents([(p.record, [i.item_id for i in p.items]) for p in batch])
            except LedgerError:
                for p in batch:
                    self.store.delete(self.ledger.abandon_pending(p.record.doc_id))
                raise
            if expired:
                self.sync()  # the store's copy of their status and valid_to
                report.expired += len(expired)
        for p in batch:
            (report.updated if p.replaced else report.added).append(p.record.doc_id)
            report.chunks += len(p.new_items)
        if progress:
            progress(len(items), total)
        if detect and self.judge is not None:
            self._detect_conflicts(items, vectors, report)

    # conflicts -----------------------------------------------------------------
    def _detect_conflicts(self, items: list[KnowledgeItem], vectors: Sequence[Sequence[float]], report: IngestReport) -> None:
        """Compare a batch's new chunks with similar chunks of other documents (``kb.detection``); queue what the judges flag."""
        tp, judge = self.time_policy, self.judge
        assert judge is not None
        if not items:
            return
        others = {"$and": [{"doc_id": {"$nin": sorted({i.doc_id for i in items})}}, {"status": {"$ne": Status.SUPERSEDED.value}}]}
        with self._using_store(write=False):  # one query for the whole batch
            stored = self.store.query_many(vectors, tp.conflict_candidates, others)
        batch = detection.within_batch(items, vectors, tp.conflict_candidates, tp.conflict_similarity)
        near = [[detection.known_from_hit(h) for h in hits] + mine for hits, mine in zip(stored, batch)]
        found = detection.candidates(items, near, tp.conflict_similarity)
        known = {(r.old_item, r.new_item) for r in self.ledger.reviews(state=None)}
        budget = max(0, tp.judge_max_per_ingest - report.judged_pairs)
        by_llm, by_rule = detection.to_judge(found, known, per_document=tp.judge_max_pairs, budget=budget)
        new_ones = {i.item_id: i for i in items}
        for c, decide in [*((c, judge) for c in by_llm), *((c, None) for c in by_rule)]:
            old_item = new_ones.get(c.known.item_id) or self.ledger.items([c.known.item_id])[0]
            if decide is None:
                finding = rule_finding(c.old_statement, c.new_statement)
                report.rule_judged_pairs += 1
            else:
                finding = decide(c.old_statement, c.new_statement, old_item.valid_from, c.new.valid_from)
                report.judged_pairs += 1
            if finding is not None:
                self._flag(old_item, c.new, c.old_statement, c.new_statement, finding, report)
        self.sync()

    def _flag(
        self, old_item: KnowledgeItem, new_item: KnowledgeItem, old_s: str, new_s: str, finding: Finding, report: IngestReport
    ) -> None:
        """Queue a conflict, the older side first; the auto policy resolves it at once."""
        tp = self.time_policy
        older, newer, o_s, n_s, question = detection.conflict_pair(old_item, new_item, old_s, new_s)
        review_id = self.ledger.open_conflict(
            older,
            newer,
            old_statement=o_s,
            new_statement=n_s,
            relation=finding.relation,
            confidence=finding.confidence,
            reason=finding.reason,
            detector=finding.detector,
            question=question,
        )
        report.reviews.append(review_id)
        if tp.policy == "auto" and finding.confidence >= tp.auto_confidence:
            self.ledger.resolve(
                review_id,
                "new",
                by="auto-policy",
                note=f"newer supersedes older (confidence {finding.confidence:.2f})",
                action="auto-resolved",
            )
            report.auto_resolved.append(review_id)

    def resolve(self, review_id: int, keep: str, *, by: str, note: str | None = None, edit: str | None = None) -> Review:
        """Resolve a review (see ``Ledger.resolve``); ``edit`` is the text of a human item replacing both sides."""
        edited = human_item(edit, by) if edit else None
        with self._using_store(write=True):  # busy: nothing was decided; otherwise ledger and Chroma both change
            review = self.ledger.resolve(review_id, "edit" if edit else keep, by=by, note=note, edited=edited)
            self.sync()
        return review

    # knowledge from people, items as evidence ------------------------------------
    def add_statement(self, text: str, *, by: str, valid_from: datetime | None = None) -> KnowledgeItem:
        """Knowledge from a person (for instance an answer to the agent's question), used from now on."""
        item = human_item(text, by, as_utc(valid_from) if valid_from else None)
        with self._using_store(write=True):
            with self.ledger.transaction() as db:
                self.ledger.insert_human_item(db, item, by)
            self.sync()
        return item

    def evidence_for(self, item_ids: list[str]) -> list[Evidence]:
        """Ledger items as evidence (with the fields retrieval sees), in the order asked."""
        by_id = {i.item_id: i for i in self.ledger.items([i for i in item_ids if i])}
        return [as_evidence(by_id[i]) for i in item_ids if i in by_id]

    # removal and stats ---------------------------------------------------------
    def remove(self, doc: str) -> list[str]:
        """Remove a document (its id, or a path: every document from that file) everywhere; return removed doc ids."""
        wanted = {doc, Path(doc).expanduser().resolve().as_posix()}
        removed = [d.doc_id for d in self.ledger.documents() if d.doc_id in wanted or d.source in wanted]
        with self._using_store(write=True):
            for doc_id in removed:
                self._changing_store()
                self.store.delete(self.ledger.remove_document(doc_id))
        return removed

    def stats(self) -> KBStats:
        counts = self.ledger.counts()
        with self._using_store(write=False):
            vectors = self.store.count()
        return KBStats(
            path=self.path,
            documents=counts.pop("documents"),
            chunks=counts.pop("items"),
            expired=counts.pop("expired"),
            vectors=vectors,
            by_status=counts,
            embedder=getattr(self.embedder, "name", "?"),
            entity_index=entity_index.size(self.ledger.query),
        )

    def documents(self) -> list[DocumentRecord]:
        return self.ledger.documents()

    # retrieval -----------------------------------------------------------------
    def search(self, query: str, k: int, *, as_of: datetime | None = None, plain: bool | None = None) -> Retrieval:
        """Top-``k`` items for ``query``, scored as in ARIA: status weight x time decay x similarity.

        Now: superseded items are out (weight 0), potentially outdated ones weigh less, and
        similarity decays with the time since an item was last validated. ``as_of``: only
        items valid at that world time count, superseded since or not, by similarity alone.
        The BM25 channel and the mention graph (``self.retrieval``, see ``kb.hybrid``) re-rank
        the dense hits with the same visibility; ``plain=True`` is dense retrieval alone.
        """
        t0 = time.perf_counter()
        vector = self.embedder.embed([query])[0]
        t1 = time.perf_counter()
        if as_of is None:
            where = {"status": {"$ne": Status.SUPERSEDED.value}}
        else:
            at = as_utc(as_of).timestamp()  # naive: UTC, not the machine's zone
            where = {"$and": [{"valid_from": {"$lte": at}}, {"valid_to": {"$gt": at}}]}
        now = time.time()
        policy = self.retrieval if plain is not True else RetrievalPolicy(entity_expansion=False, lexical_channel=False)
        base = k * self.time_policy.candidate_factor
        with self._using_store(write=False):
            hits = self.store.query(vector, base if policy.plain else max(base, policy.pool), where)
        t2 = time.perf_counter()
        evidence = hybrid.rank(
            query,
            hits,
            k,
            base_size=base,
            ledger=self.ledger.query,
            as_of=as_of,
            policy=policy,
            load=lambda ids: {e.chunk_id: e for e in self.evidence_for(list(ids))},
            score=lambda h: aria_score(h.score, h.metadata, now, self.time_policy) if as_of is None else h.score,
        )
        t3 = time.perf_counter()
        return Retrieval(evidence, t1 - t0, t3 - t1, graph_seconds=t3 - t2)

    def close(self) -> None:
        self.ledger.close()
        self._close_store()
        self._lock.close()
