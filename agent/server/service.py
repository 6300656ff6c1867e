"""What the console, the JSON API and the MCP tools do, over one DagRAG: asking, retrieval,
documents (upload, ingest jobs with progress, removal, history) and the review queue.

Errors a caller can fix are ``ServiceError`` with an HTTP status: 400 bad input, 404 unknown,
409 a review someone else resolved first, 413 an upload over the limit.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.api import DagRAG, QuestionError, clean_question
from agent.server.views import Segment, StatementDiff, TimelineEvent, differing_statements, document_timeline, highlight
from agent.types import Answer, StepEvent
from kb.items import DocumentRecord, Evidence, KnowledgeItem, parse_time
from kb.ledger import KBBusyError, Review, ReviewError
from kb.loaders import LoadError
from retrieval.errors import DagragError

KEEP = ("new", "old", "both")
MAX_JOBS = 50  # finished ingest jobs remembered for their progress pages


class ServiceError(DagragError):
    """A request that cannot be done as asked; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


USER_ERRORS = (DagragError, QuestionError, ReviewError, LoadError, ValueError, FileNotFoundError, KBBusyError)


def user_error(exc: BaseException) -> ServiceError | None:
    """The ServiceError a library error stands for, or None for a bug."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, KBBusyError):
        return ServiceError(str(exc), 503)
    if isinstance(exc, USER_ERRORS):
        return ServiceError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 400)
    return None


def parse_as_of(value: str | datetime | None) -> datetime | None:
    """An "as of" date from a form or JSON ("2024-06-01" or an ISO datetime), as aware UTC; empty = now."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return parse_time(value.isoformat())
    try:
        return parse_time(str(value).strip())
    except ValueError:
        raise ServiceError(f"as_of {value!r} is not a date: use YYYY-MM-DD") from None


@dataclass
class IngestJob:
    """An ingest running in the background; the console polls it for its progress bar."""

    job_id: str
    paths: list[str]
    state: str = "running"  # running, done, failed
    done: int = 0
    total: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    reviews: list[int] = field(default_factory=list)
    chunks: int = 0
    error: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ReviewDetail:
    review: Review
    sides: list[tuple[str, Evidence, KnowledgeItem | None]]  # ("older"/"newer", evidence, ledger item)
    differences: list[StatementDiff]
    hits: list[tuple[str, datetime]]
    audit: list  # AuditEntry of this review
    highlights: list[list[Segment]] = field(default_factory=list)  # each side's text with its changed values marked


class Console:
    """The operations behind every page, API route and MCP tool."""

    def __init__(self, rag: DagRAG) -> None:
        self.rag = rag
        self.upload_dir = Path(rag.settings.kb_path) / "uploads"
        self.max_upload_bytes = int(rag.settings.upload_max_mb * 1024 * 1024)
        self._jobs: dict[str, IngestJob] = {}
        self._jobs_lock = threading.Lock()

    # asking ------------------------------------------------------------------------
    def stream(self, question: str, as_of: str | datetime | None = None) -> Iterator[StepEvent]:
        """Progress events of one question; the last is "done" with the Answer (the server never pauses for a person)."""
        question, when = clean_question(question), parse_as_of(as_of)  # bad input fails here, before a stream starts
        if self.rag.kb.stats().chunks == 0:
            raise ServiceError("the knowledge base is empty: add documents first (Documents page, or POST /api/ingest)")
        return self.rag.stream(question, as_of=when)

    def ask(self, question: str, as_of: str | datetime | None = None) -> Answer:
        answer = None
        for event in self.stream(question, as_of):
            answer = event.answer or answer
        assert answer is not None
        return answer

    def retrieve(self, query: str, k: int | None = None, as_of: str | datetime | None = None) -> list[Evidence]:
        if not query or not query.strip():
            raise ServiceError("the query is empty")
        k = k or self.rag.settings.top_k
        if not 1 <= k <= 50:
            raise ServiceError("k must be between 1 and 50")
        return self.rag.kb.search(query.strip(), k, as_of=parse_as_of(as_of)).evidence

    def passage(self, item_id: str) -> KnowledgeItem:
        found = self.rag.kb.ledger.items([item_id])
        if not found:
            raise ServiceError(f"no passage {item_id}", 404)
        return found[0]

    # documents -----------------------------------------------------------------------
    def documents(self) -> list[dict]:
        """Documents with their versions and the statuses of their passages."""
        by_doc: dict[str, list[KnowledgeItem]] = {}
        for it in self.rag.kb.ledger.items():
            by_doc.setdefault(it.doc_id, []).append(it)
        out = []
        for d in self.rag.kb.documents():
            items = by_doc.get(d.doc_id, [])
            statuses: dict[str, int] = {}
            for it in items:
                if it.expired_at is None:
                    statuses[it.status.value] = statuses.get(it.status.value, 0) + 1
            out.append(
                {
                    **d.model_dump(mode="json"),
                    "versions": len({it.added_at for it in items}) or 1,
                    "history_passages": sum(1 for it in items if it.expired_at),
                    "statuses": statuses,
                    "kind": items[0].kind if items else "chunk",
                }
            )
        return out

    def document(self, doc_id: str) -> tuple[DocumentRecord, list[TimelineEvent], list[KnowledgeItem]]:
        record = self.rag.kb.ledger.document(doc_id)
        if record is None:
            raise ServiceError(f"no document {doc_id!r}: see the Documents page or GET /api/documents", 404)
        items = [i for i in self.rag.kb.ledger.items() if i.doc_id == doc_id]
        return record, document_timeline(items, self.rag.kb.ledger.audit_log()), items

    def find_document(self, doc: str) -> str:
        """A document id from an id, a source path or a unique substring of either."""
        docs = self.rag.kb.documents()
        exact = [d.doc_id for d in docs if doc in (d.doc_id, d.source)]
        if exact:
            return exact[0]
        partial = [d.doc_id for d in docs if doc and (doc in d.doc_id or doc in d.title)]
        if len(partial) == 1:
            return partial[0]
        raise ServiceError(f"no document {doc!r}" if not partial else f"{doc!r} matches {len(partial)} documents: give more of its id", 404)

    def remove(self, doc_id: str) -> list[str]:
        removed = self.rag.kb.remove(doc_id)
        if not removed:
            raise ServiceError(f"no document {doc_id!r}", 404)
        return removed

    def start_ingest(self, paths: list[str], *, cleanup_failed: bool = False) -> IngestJob:
        """Ingest in a background thread; poll ``job``. ``cleanup_failed`` deletes refused uploads."""
        if not paths:
            raise ServiceError("no paths given")
        job = IngestJob(uuid.uuid4().hex[:12], [str(p) for p in paths])
        with self._jobs_lock:
            self._jobs[job.job_id] = job
            for old in [j for j in self._jobs.values() if j.state != "running"][:-MAX_JOBS]:
                del self._jobs[old.job_id]
        threading.Thread(target=self._run_ingest, args=(job, cleanup_failed), daemon=True, name=f"ingest-{job.job_id}").start()
        return job

    def ingest(self, paths: list[str], *, cleanup_failed: bool = False) -> IngestJob:
        """Ingest now and return the finished job."""
        job = IngestJob(uuid.uuid4().hex[:12], [str(p) for p in paths])
        self._run_ingest(job, cleanup_failed)
        if job.state == "failed":
            raise ServiceError(job.error, 503 if "busy" in job.error else 400)
        return job

    def job(self, job_id: str) -> IngestJob:
        with self._jobs_lock:
            if job_id not in self._jobs:
                raise ServiceError(f"no ingest job {job_id}", 404)
            return self._jobs[job_id]

    def _run_ingest(self, job: IngestJob, cleanup_failed: bool) -> None:
        def progress(done: int, total: int) -> None:
            job.done, job.total = job.done + done, total

        try:
            missing = [p for p in job.paths if not Path(p).expanduser().exists()]
            if missing:
                raise ServiceError(f"{missing[0]} not found on the server")
            report = self.rag.ingest([Path(p).expanduser() for p in job.paths], progress=progress)
        except Exception as exc:  # reported on the job, the server goes on
            err = user_error(exc)
            job.state, job.error = "failed", str(err) if err else f"unexpected {type(exc).__name__}: {exc}"
            return
        job.added, job.updated, job.unchanged, job.failed = report.added, report.updated, report.unchanged, report.failed
        job.reviews, job.chunks, job.done, job.total = report.reviews, report.chunks, max(job.done, job.total), max(job.total, job.done)
        if cleanup_failed:
            for path, _ in report.failed:
                Path(path).unlink(missing_ok=True)
        job.state = "done"

    def save_upload(self, filename: str, data: bytes) -> Path:
        """Store an uploaded file under ``<kb>/uploads/`` (a re-upload of the same name is a new version)."""
        if len(data) > self.max_upload_bytes:
            raise ServiceError(
                f"{filename} is {len(data) / 1e6:.1f} MB; uploads are limited to {self.max_upload_bytes / 1e6:.1f} MB "
                "(set DAGRAG_UPLOAD_MAX_MB to raise it)",
                413,
            )
        name = re.sub(r"[^\w.\- ]", "_", Path(filename or "").name).strip(" .")
        if not name:
            raise ServiceError("the uploaded file has no name")
        self.upload_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.upload_dir / name
        tmp = path.with_name(f".{name}.{uuid.uuid4().hex[:6]}.part")
        tmp.write_bytes(data)
        tmp.replace(path)  # a crash mid-write never leaves half a file under the real name
        return path

    # the review queue ------------------------------------------------------------------
    def reviews(self, state: str | None = "open") -> list[Review]:
        if state not in ("open", "resolved", None):
            raise ServiceError("state must be open, resolved or all")
        return self.rag.reviews(state)

    def open_count(self) -> int:
        return len(self.rag.reviews("open"))

    def review(self, review_id: int) -> ReviewDetail:
        ledger = self.rag.kb.ledger
        try:
            review = ledger.review(review_id)
        except ReviewError as exc:
            raise ServiceError(str(exc), 404) from None
        sides: list[tuple[str, Evidence, KnowledgeItem | None]] = []
        differences: list[StatementDiff] = []
        marked: list[list[Segment]] = []
        if review.kind == "conflict":
            ids = [review.old_item or "", review.new_item or ""]
            items = {i.item_id: i for i in ledger.items([i for i in ids if i])}
            found = {e.chunk_id: e for e in self.rag.kb.evidence_for(ids)}
            for label, item_id in zip(("older", "newer"), ids):
                if item_id in found:  # a side whose document was removed since is left out
                    sides.append((label, found[item_id], items.get(item_id)))
            if len(sides) == 2:
                differences = differing_statements(sides[0][1].text, sides[1][1].text, (review.old_statement, review.new_statement))
                marked = [
                    highlight(sides[0][1].text, [v for x in differences for v in x.removed]),
                    highlight(sides[1][1].text, [v for x in differences for v in x.added]),
                ]
        audit = [e for e in ledger.audit_log() if e.review_id == review_id]
        return ReviewDetail(review, sides, differences, ledger.hits(review_id), audit, marked)

    def resolve(
        self, review_id: int, keep: str, *, by: str | None, note: str | None = None, edit: str | None = None
    ) -> tuple[Review, Answer | None]:
        """Resolve a conflict; exactly one of two racing reviewers wins, the other gets a 409.

        A conflict a paused run waits on is resolved first (with the note), then the run resumes
        and its answer comes back.
        """
        review = self._open_review(review_id)
        if review.kind != "conflict":
            raise ServiceError(f"review {review_id} is a question, not a conflict: answer it instead")
        edit = (edit or "").strip() or None
        if not edit and keep not in KEEP:
            raise ServiceError("keep must be new, old or both (or give an edited statement)")
        by = _name(by) or self.rag.settings.reviewer
        try:
            resolved = self.rag.resolve(review_id, keep if not edit else "edit", by=by, note=(note or "").strip() or None, edit=edit)
        except ReviewError as exc:
            raise self._lost(review_id, exc) from None
        answer = None
        if review.thread_id and not edit:  # the paused run sees the decision and goes on
            answer = _last_answer(self.rag.resume(review_id, keep=keep, by=by))
        return resolved, answer

    def answer(
        self, review_id: int, *, text: str | None = None, keep: str | None = None, by: str | None = None
    ) -> tuple[Review, Answer | None]:
        """Answer a question the agent queued; a paused run resumes and its answer comes back."""
        review = self._open_review(review_id)
        text, by = (text or "").strip() or None, _name(by) or self.rag.settings.reviewer
        if review.kind == "conflict":
            return self.resolve(review_id, keep or "", by=by, note=text)
        if not text:
            raise ServiceError("write your answer: it becomes knowledge from you")
        answer = None
        try:
            if review.thread_id:
                answer = _last_answer(self.rag.resume(review_id, text=text, by=by))
            else:
                self.rag.desk.answer_question(review_id, text, by)
        except ReviewError as exc:
            raise self._lost(review_id, exc) from None
        return self.rag.kb.ledger.review(review_id), answer

    def _open_review(self, review_id: int) -> Review:
        try:
            review = self.rag.kb.ledger.review(review_id)
        except ReviewError as exc:
            raise ServiceError(str(exc), 404) from None
        if review.state != "open":
            raise self._lost(review_id, None)
        return review

    def _lost(self, review_id: int, exc: BaseException | None) -> ServiceError:
        """The error for a review someone else resolved (409), or the library's own message."""
        review = self.rag.kb.ledger.review(review_id)
        if review.state != "open":
            when = f"{review.resolved_at:%Y-%m-%d %H:%M} UTC" if review.resolved_at else "earlier"
            return ServiceError(
                f"review #{review_id} was already resolved by {review.resolved_by} at {when} "
                f"(keep {review.resolution}); nothing was changed",
                409,
            )
        return ServiceError(str(exc) if exc else f"review #{review_id} cannot be resolved", 400)

    def item_history(self, item_id: str) -> tuple[KnowledgeItem, list]:
        item = self.passage(item_id)
        return item, self.rag.kb.ledger.history(item_id)

    def stats(self) -> dict[str, Any]:
        s = self.rag.kb.stats()
        return {
            "path": str(s.path),
            "documents": s.documents,
            "chunks": s.chunks,
            "vectors": s.vectors,
            "expired": s.expired,
            "by_status": s.by_status,
            "embedder": s.embedder,
            "open_reviews": self.open_count(),
        }


def _name(by: str | None) -> str | None:
    """A reviewer name as given (one line, at most 80 characters), or None."""
    cleaned = " ".join((by or "").split())[:80]
    return cleaned or None


def _last_answer(events: Iterator[StepEvent]) -> Answer | None:
    answer = None
    for event in events:
        answer = event.answer or answer
    return answer
