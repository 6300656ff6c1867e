"""The SQLite ledger: the source of truth for documents and knowledge items.

Chroma holds vectors and mirrors the fields retrieval filters on; every write here runs
in a transaction, and a document is only ``ready`` once its vectors are stored, so a
crash never leaves half a document behind (see ``KnowledgeBase.recover``). The schema is
built by the numbered steps in ``kb.migrations``; the review queue (``kb.reviews``) works
on a ledger through ``queue``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator
from pydantic.dataclasses import dataclass

from kb import entity_index, migrations
from kb.items import DocumentRecord, KnowledgeItem, Status, UTCDateTime, as_utc, parse_time, utc_now
from kb.reviews import KEEP_CHOICES, Review, ReviewError, ReviewQueue
from retrieval.errors import DagragError

__all__ = ["AuditEntry", "KBBusyError", "KEEP_CHOICES", "Ledger", "LedgerError", "Review", "ReviewError", "SCHEMA_VERSION"]

SCHEMA_VERSION = migrations.schema_version()


class LedgerError(DagragError, RuntimeError):
    pass


class KBBusyError(LedgerError):
    """Another process is writing to the knowledge base and did not finish within the wait allowed."""

    def __init__(self, kb_path: Path | str) -> None:
        super().__init__(f"knowledge base {kb_path} is busy: another dagrag process is writing; try again")


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class AuditEntry:
    """One line of the append-only audit log (a validated row of ``audit``)."""

    seq: int
    at: UTCDateTime
    actor: str
    action: str
    review_id: int | None
    item_id: str | None
    detail: Annotated[dict, BeforeValidator(_json)]


_DOCUMENT_COLUMNS = ("doc_id", "source", "title", "content_hash", "n_chunks", "ingested_at", "valid_from")
_ITEM_COLUMNS = (
    "item_id",
    "doc_id",
    "position",
    "kind",
    "title",
    "source",
    "text",
    "added_at",
    "validated_at",
    "status",
    "superseded_by",
    "valid_from",
    "valid_to",
    "expired_at",
)
_INSERT_ITEM = (
    f"INSERT INTO items({', '.join(_ITEM_COLUMNS)}) VALUES ({','.join('?' * len(_ITEM_COLUMNS))}) ON CONFLICT(item_id) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in _ITEM_COLUMNS[1:])
)
_UPSERT_DOCUMENT = (
    f"INSERT INTO documents({', '.join(_DOCUMENT_COLUMNS)}, state, replacing_at) "
    f"VALUES ({','.join('?' * len(_DOCUMENT_COLUMNS))}, ?, NULL) "
    "ON CONFLICT(doc_id) DO UPDATE SET " + ", ".join(f"{c}=excluded.{c}" for c in (*_DOCUMENT_COLUMNS[1:], "state", "replacing_at"))
)


class Ledger:
    """Documents, items, reviews and the audit log in one SQLite file, shared safely between processes (WAL)
    and between the threads of one process (one connection, used under a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self.queue = ReviewQueue(self)
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if isinstance(exc, sqlite3.OperationalError):
                if "locked" in str(exc) or "busy" in str(exc):
                    raise KBBusyError(self.path.parent) from exc
                raise
            raise LedgerError(f"{self.path} is not a dagrag ledger or is damaged ({exc}); it was left as it is") from exc
        except migrations.SchemaError as exc:
            self._db.close()
            raise LedgerError(str(exc)) from None
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        """Check the schema before anything writes to the file, then apply the migrations it lacks in one transaction."""
        with self._lock:
            todo = migrations.pending(self._db, self.path)  # refuses a newer or unknown layout, still before any write
            self._db.execute("PRAGMA journal_mode=WAL")
            if todo:
                # foreign keys off while tables are rebuilt (SQLite cannot switch them inside a transaction); checked before commit
                self._db.execute("PRAGMA foreign_keys=OFF")
                with self.transaction() as db:  # all or nothing: a crash mid-migration leaves the old ledger as it was
                    existing = migrations.stored_version(db, self.path) is not None
                    todo = migrations.pending(db, self.path)  # another process may have migrated it meanwhile
                    if migrations.migrate(db, todo) and existing:
                        # Chroma's mirror was written by an older dagrag: refresh every item's fields on the next sync
                        db.execute("INSERT OR IGNORE INTO unsynced SELECT item_id FROM items")
                    if db.execute("PRAGMA foreign_key_check").fetchone() is not None:
                        raise LedgerError(f"{self.path} cannot be migrated: rows refer to missing ones; it was left as it is")
            self._db.execute("PRAGMA foreign_keys=ON")

    def query(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        """Rows of one read, under the ledger's lock."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; threads of this process take turns, other processes wait up to 30 s."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise KBBusyError(self.path.parent) from exc
                raise
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self._db.close()

    # the review queue (kb.reviews): what ingest, the console and the CLI call on the ledger; the rest on ``queue``
    def open_conflict(self, *args, **kwargs) -> int:
        return self.queue.open_conflict(*args, **kwargs)

    def reviews(self, state: str | None = "open") -> list[Review]:
        return self.queue.reviews(state)

    def review(self, review_id: int) -> Review:
        return self.queue.review(review_id)

    def hits(self, review_id: int) -> list[tuple[str, datetime]]:
        return self.queue.hits(review_id)

    def resolve(self, review_id: int, keep: str, **kwargs) -> Review:
        return self.queue.resolve(review_id, keep, **kwargs)

    # status, audit log and the Chroma mirror -------------------------------------
    def audit(
        self, db: sqlite3.Connection, actor: str, action: str, *, review_id: int | None = None, item_id: str | None = None, **detail: object
    ) -> None:
        db.execute(
            "INSERT INTO audit(at, actor, action, review_id, item_id, detail) VALUES (?,?,?,?,?,?)",
            (utc_now().isoformat(), actor, action, review_id, item_id, json.dumps(detail, default=str)),
        )

    def set_status(
        self,
        db: sqlite3.Connection,
        item_id: str,
        status: Status,
        actor: str,
        *,
        review_id: int | None = None,
        superseded_by: str | None = None,
        valid_to: datetime | None = None,
        validated: bool = False,
    ) -> None:
        row = db.execute("SELECT status, superseded_by, valid_to, expired_at FROM items WHERE item_id=?", (item_id,)).fetchone()
        if row is None:
            raise ReviewError(f"item {item_id} no longer exists")
        valid_to = as_utc(valid_to) if valid_to else None
        if row["expired_at"]:  # part of an older version of its document: it stays superseded, and ends no later than it did
            status, superseded_by = Status.SUPERSEDED, row["superseded_by"] or superseded_by
            ended = parse_time(row["valid_to"])  # set when it expired
            valid_to = ended if valid_to is None else min(ended, valid_to)
        now = utc_now().isoformat()
        db.execute(
            "UPDATE items SET status=?, superseded_by=?, valid_to=?, validated_at=CASE WHEN ? THEN ? ELSE validated_at END WHERE item_id=?",
            (status.value, superseded_by, _iso(valid_to), validated, now, item_id),
        )
        self.audit(
            db,
            actor,
            "status",
            review_id=review_id,
            item_id=item_id,
            before=row["status"],
            after=status.value,
            superseded_by=superseded_by,
            valid_to=_iso(valid_to),
            validated=validated,
        )
        self.mark_unsynced(db, [item_id])

    def mark_unsynced(self, db: sqlite3.Connection, item_ids: list[str]) -> None:
        """Remember items whose Chroma mirror must be refreshed (cleared once it is)."""
        db.executemany("INSERT OR IGNORE INTO unsynced(item_id) VALUES (?)", [(i,) for i in item_ids])

    def unsynced(self) -> list[str]:
        return [r["item_id"] for r in self.query("SELECT item_id FROM unsynced ORDER BY item_id")]

    def mark_synced(self, item_ids: list[str]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM unsynced WHERE item_id=?", [(i,) for i in item_ids])

    def insert_human_item(self, db: sqlite3.Connection, item: KnowledgeItem, by: str) -> None:
        """A statement from a person: its own one-item document, valid from now."""
        db.execute(
            f"INSERT INTO documents({', '.join(_DOCUMENT_COLUMNS)}, state) VALUES (?,?,?,?,?,?,?, 'ready')",
            (item.doc_id, item.source, item.title, item.item_id, 1, item.added_at.isoformat(), item.valid_from.isoformat()),
        )
        db.execute(_INSERT_ITEM, _item_row(item))
        entity_index.index_items(db, [item.item_id])
        self.audit(db, by, "added", item_id=item.item_id, text=item.text)
        self.mark_unsynced(db, [item.item_id])

    def history(self, item_id: str) -> list[AuditEntry]:
        rows = self.query(
            "SELECT * FROM audit WHERE item_id=? OR json_extract(detail, '$.old')=? OR json_extract(detail, '$.edited')=? ORDER BY seq",
            (item_id, item_id, item_id),
        )
        return [AuditEntry(**dict(r)) for r in rows]

    def audit_log(self) -> list[AuditEntry]:
        return [AuditEntry(**dict(r)) for r in self.query("SELECT * FROM audit ORDER BY seq")]

    # documents -----------------------------------------------------------------
    def document(self, doc_id: str) -> DocumentRecord | None:
        rows = self.query("SELECT * FROM documents WHERE doc_id=? AND state='ready'", (doc_id,))
        return DocumentRecord.model_validate(dict(rows[0])) if rows else None

    def documents(self) -> list[DocumentRecord]:
        rows = self.query("SELECT * FROM documents WHERE state='ready' ORDER BY source, doc_id")
        return [DocumentRecord.model_validate(dict(r)) for r in rows]

    def pending_documents(self) -> list[str]:
        return [r["doc_id"] for r in self.query("SELECT doc_id FROM documents WHERE state='pending'")]

    def current_items(self, doc_id: str) -> set[str]:
        """Ids of the items of a document's current version (a half-written new version is not current)."""
        rows = self.query(
            "SELECT i.item_id FROM items i JOIN documents d USING (doc_id) WHERE i.doc_id=? AND i.expired_at IS NULL "
            "AND NOT (d.state='pending' AND (d.replacing_at IS NULL OR i.added_at=d.replacing_at))",
            (doc_id,),
        )
        return {r["item_id"] for r in rows}

    def has_item(self, item_id: str) -> bool:
        return bool(self.query("SELECT 1 FROM items WHERE item_id=?", (item_id,)))

    def begin_documents(self, docs: list[tuple[DocumentRecord, list[KnowledgeItem]]]) -> list[str]:
        """Record new document versions as pending, with their new items, in one transaction.

        A known document stays as it is (record and items current) until ``commit_documents``.
        Returns the ids of items an abandoned half-written version left behind (to delete from the store).
        """
        abandoned: list[str] = []
        with self.transaction() as db:
            for doc, items in docs:
                abandoned += self._abandon(db, doc.doc_id)
                if db.execute("SELECT 1 FROM documents WHERE doc_id=?", (doc.doc_id,)).fetchone():
                    db.execute(
                        "UPDATE documents SET state='pending', replacing_at=? WHERE doc_id=?", (doc.ingested_at.isoformat(), doc.doc_id)
                    )
                else:
                    db.execute(_UPSERT_DOCUMENT, (*_document_row(doc), "pending"))
                db.executemany(_INSERT_ITEM, [_item_row(i) for i in items])
        return abandoned

    def commit_documents(self, docs: list[tuple[DocumentRecord, list[str]]]) -> list[str]:
        """Make pending versions current (their vectors are stored); ``docs`` pairs each record with all item ids of the version.

        Items of the previous version that the new one does not keep are expired, not deleted:
        superseded by the new version's item at the same position, valid until the new
        version's ``valid_from``, so that answers "as of" an earlier date still find them.
        Returns the expired ids (their mirror in the store must be refreshed).
        """
        expired: list[str] = []
        with self.transaction() as db:
            for doc, version in docs:
                wanted = set(version)
                rows = db.execute(
                    "SELECT item_id, position, status, valid_to FROM items WHERE doc_id=? AND expired_at IS NULL", (doc.doc_id,)
                ).fetchall()
                if lost := wanted - {r["item_id"] for r in rows}:
                    raise LedgerError(
                        f"{doc.source} changed in another process while this one ingested it ({len(lost)} chunks gone); "
                        "run the ingest again"
                    )
                successor = {r["position"]: r["item_id"] for r in rows if r["item_id"] in wanted}
                for r in rows:
                    if r["item_id"] in wanted:
                        continue
                    valid_to = min(parse_time(r["valid_to"]), doc.valid_from) if r["valid_to"] else doc.valid_from
                    db.execute(
                        "UPDATE items SET status=?, superseded_by=COALESCE(superseded_by, ?), valid_to=?, expired_at=? WHERE item_id=?",
                        (
                            Status.SUPERSEDED.value,
                            successor.get(r["position"]),
                            valid_to.isoformat(),
                            doc.ingested_at.isoformat(),
                            r["item_id"],
                        ),
                    )
                    self.audit(
                        db,
                        "ingest",
                        "expired",
                        item_id=r["item_id"],
                        doc_id=doc.doc_id,
                        before=r["status"],
                        after=Status.SUPERSEDED.value,
                        superseded_by=successor.get(r["position"]),
                        valid_to=valid_to.isoformat(),
                        version=doc.content_hash,
                    )
                    expired.append(r["item_id"])
                db.execute(_UPSERT_DOCUMENT, (*_document_row(doc), "ready"))
                entity_index.index_items(db, version)  # the version's new items; expired ones stay indexed as history
            if expired:
                self.mark_unsynced(db, expired)
        return expired

    def abandon_pending(self, doc_id: str) -> list[str]:
        """Undo a half-written version (after a crash); return the ids of the items removed."""
        with self.transaction() as db:
            return self._abandon(db, doc_id)

    def _abandon(self, db: sqlite3.Connection, doc_id: str) -> list[str]:
        row = db.execute("SELECT replacing_at FROM documents WHERE doc_id=? AND state='pending'", (doc_id,)).fetchone()
        if row is None:
            return []
        if row["replacing_at"] is None:  # a new document: none of it was ever ready
            return self._delete_document(db, doc_id)
        # a new version of a known document: drop its items, the previous version stays current
        where = "doc_id=? AND expired_at IS NULL AND added_at=?"
        ids = [r["item_id"] for r in db.execute(f"SELECT item_id FROM items WHERE {where}", (doc_id, row["replacing_at"]))]
        db.execute(f"DELETE FROM items WHERE {where}", (doc_id, row["replacing_at"]))
        db.execute("UPDATE documents SET state='ready', replacing_at=NULL WHERE doc_id=?", (doc_id,))
        return ids

    def remove_document(self, doc_id: str) -> list[str]:
        """Delete a document with all its versions (a person asked to forget it); return the removed item ids."""
        with self.transaction() as db:
            return self._delete_document(db, doc_id)

    @staticmethod
    def _delete_document(db: sqlite3.Connection, doc_id: str) -> list[str]:
        ids = [r["item_id"] for r in db.execute("SELECT item_id FROM items WHERE doc_id=?", (doc_id,))]
        db.execute("DELETE FROM items WHERE doc_id=?", (doc_id,))  # items first: they refer to their document
        db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
        return ids

    # items ---------------------------------------------------------------------
    def items(self, ids: list[str] | None = None) -> list[KnowledgeItem]:
        if ids is None:
            rows = self.query("SELECT * FROM items ORDER BY doc_id, position")
        else:
            marks = ",".join("?" * len(ids))
            rows = self.query(f"SELECT * FROM items WHERE item_id IN ({marks})", ids) if ids else []
        return [KnowledgeItem.model_validate(dict(r)) for r in rows]

    def item_ids(self, ready_only: bool = True) -> set[str]:
        sql = "SELECT i.item_id FROM items i JOIN documents d USING (doc_id)" + (" WHERE d.state='ready'" if ready_only else "")
        return {r["item_id"] for r in self.query(sql)}

    def counts(self) -> dict[str, int]:
        docs = self.query("SELECT COUNT(*) FROM documents WHERE state='ready'")[0][0]
        by_status = dict(self.query("SELECT status, COUNT(*) FROM items GROUP BY status"))
        expired = self.query("SELECT COUNT(*) FROM items WHERE expired_at IS NOT NULL")[0][0]
        return {
            "documents": docs,
            "items": sum(by_status.values()),
            "expired": expired,
            **{s.value: by_status.get(s.value, 0) for s in Status},
        }


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value else None


def _document_row(doc: DocumentRecord) -> tuple:
    return (doc.doc_id, doc.source, doc.title, doc.content_hash, doc.n_chunks, doc.ingested_at.isoformat(), doc.valid_from.isoformat())


def _item_row(i: KnowledgeItem) -> tuple:
    return (
        i.item_id,
        i.doc_id,
        i.position,
        i.kind,
        i.title,
        i.source,
        i.text,
        _iso(i.added_at),
        _iso(i.validated_at),
        i.status.value,
        i.superseded_by,
        _iso(i.valid_from),
        _iso(i.valid_to),
        _iso(i.expired_at),
    )
