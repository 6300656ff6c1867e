"""The SQLite ledger: the source of truth for documents and knowledge items.

Chroma holds vectors and mirrors the fields retrieval filters on; every write here runs
in a transaction, and a document is only ``ready`` once its vectors are stored, so a
crash never leaves half a document behind (see ``KnowledgeBase.recover``).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

from kb.items import DocumentRecord, KnowledgeItem, Status, parse_time, utc_now

SCHEMA_VERSION = 2  # 2: items.expired_at and documents.replacing_at (document versions are kept)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    n_chunks INTEGER NOT NULL,
    ingested_at TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'ready')),
    replacing_at TEXT
);
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    text TEXT NOT NULL,
    added_at TEXT NOT NULL,
    validated_at TEXT NOT NULL,
    status TEXT NOT NULL,
    superseded_by TEXT,
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    expired_at TEXT
);
CREATE INDEX IF NOT EXISTS items_doc ON items(doc_id);
CREATE TABLE IF NOT EXISTS reviews (
    review_id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('conflict', 'clarification')),
    state TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
    created_at TEXT NOT NULL,
    old_item TEXT,
    new_item TEXT,
    old_statement TEXT,
    new_statement TEXT,
    relation TEXT,
    confidence REAL,
    reason TEXT,
    detector TEXT,
    question TEXT NOT NULL,
    thread_id TEXT,
    resolution TEXT,
    resolved_by TEXT,
    resolved_at TEXT,
    note TEXT,
    result_item TEXT
);
CREATE TABLE IF NOT EXISTS review_hits (review_id INTEGER NOT NULL, question TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    review_id INTEGER,
    item_id TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_item ON audit(item_id);
CREATE TRIGGER IF NOT EXISTS audit_append_only_u BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_d BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


class LedgerError(RuntimeError):
    pass


class KBBusyError(LedgerError):
    """Another process is writing to the knowledge base and did not finish within the wait allowed."""

    def __init__(self, kb_path: Path | str) -> None:
        super().__init__(f"knowledge base {kb_path} is busy: another dagrag process is writing; try again")


class ReviewError(ValueError):
    """A review cannot be resolved as asked (unknown, or already resolved)."""


KEEP_CHOICES = ("new", "old", "both", "edit")

_DOCUMENT_COLUMNS = "doc_id, source, title, content_hash, n_chunks, ingested_at, valid_from, state"
_ITEM_COLUMNS = "item_id, doc_id, position, kind, title, source, text, added_at, validated_at, status, superseded_by, valid_from, valid_to, expired_at"
_ITEM_VALUES = ",".join("?" * 14)

# Columns an older layout of documents/items may lack: (definition for ALTER TABLE, column whose value it starts with).
_ADDED_COLUMNS = {
    "documents": {"valid_from": ("TEXT NOT NULL DEFAULT ''", "ingested_at"), "state": ("TEXT NOT NULL DEFAULT 'ready'", None),
                  "replacing_at": ("TEXT", None)},
    "items": {"kind": ("TEXT NOT NULL DEFAULT 'chunk'", None), "validated_at": ("TEXT NOT NULL DEFAULT ''", "added_at"),
              "status": ("TEXT NOT NULL DEFAULT 'valid'", None), "superseded_by": ("TEXT", None),
              "valid_from": ("TEXT NOT NULL DEFAULT ''", "added_at"), "valid_to": ("TEXT", None), "expired_at": ("TEXT", None)},
}
_OBJECTS = set(re.findall(r"CREATE (?:TABLE|INDEX|TRIGGER) IF NOT EXISTS (\w+)", _SCHEMA))


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of a script, one by one (executescript would commit the open transaction)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf.strip()
            buf = ""


class _Rows(list):
    """Rows fetched under the ledger's lock, read like a cursor."""

    def fetchone(self) -> sqlite3.Row | None:
        return self[0] if self else None

    def fetchall(self) -> list[sqlite3.Row]:
        return list(self)


@dataclass(frozen=True)
class Review:
    """An item in the human-review queue."""

    review_id: int
    kind: str
    state: str
    created_at: datetime
    question: str
    old_item: str | None = None
    new_item: str | None = None
    old_statement: str | None = None
    new_statement: str | None = None
    relation: str | None = None
    confidence: float | None = None
    reason: str | None = None
    detector: str | None = None
    thread_id: str | None = None
    resolution: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    note: str | None = None
    result_item: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    review_id: int | None
    item_id: str | None
    detail: dict


class _Reviews:
    """Review queue, status transitions and the append-only audit log (mixed into Ledger)."""

    _db: sqlite3.Connection

    def _query(self, sql: str, params: tuple | list = ()) -> _Rows:
        raise NotImplementedError

    def audit(self, db: sqlite3.Connection, actor: str, action: str, *, review_id: int | None = None,
              item_id: str | None = None, **detail: object) -> None:
        db.execute("INSERT INTO audit(at, actor, action, review_id, item_id, detail) VALUES (?,?,?,?,?,?)",
                   (utc_now().isoformat(), actor, action, review_id, item_id, json.dumps(detail, default=str)))

    def set_status(self, db: sqlite3.Connection, item_id: str, status: Status, actor: str, *, review_id: int | None = None,
                   superseded_by: str | None = None, valid_to: datetime | None = None, validated: bool = False) -> None:
        row = db.execute("SELECT status, superseded_by, valid_to, expired_at FROM items WHERE item_id=?", (item_id,)).fetchone()
        if row is None:
            raise ReviewError(f"item {item_id} no longer exists")
        if row["expired_at"]:  # part of an older version of its document: it stays superseded, and ends no later than it did
            status, superseded_by = Status.SUPERSEDED, row["superseded_by"] or superseded_by
            ended = parse_time(row["valid_to"])  # set when it expired
            valid_to = ended if valid_to is None else min(ended, valid_to)
        now = utc_now().isoformat()
        db.execute(
            "UPDATE items SET status=?, superseded_by=?, valid_to=?, validated_at=CASE WHEN ? THEN ? ELSE validated_at END WHERE item_id=?",
            (status.value, superseded_by, _iso(valid_to), validated, now, item_id),
        )
        self.audit(db, actor, "status", review_id=review_id, item_id=item_id, before=row["status"], after=status.value,
                   superseded_by=superseded_by, valid_to=_iso(valid_to), validated=validated)
        self._mark_unsynced(db, [item_id])

    def _mark_unsynced(self, db: sqlite3.Connection, item_ids: list[str]) -> None:
        """Remember items whose Chroma mirror must be refreshed (cleared once it is)."""
        row = db.execute("SELECT value FROM meta WHERE key='chroma_unsynced'").fetchone()
        pending = set(json.loads(row["value"])) if row else set()
        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('chroma_unsynced', ?)", (json.dumps(sorted(pending | set(item_ids))),))

    def unsynced(self) -> list[str]:
        row = self._query("SELECT value FROM meta WHERE key='chroma_unsynced'").fetchone()
        return json.loads(row["value"]) if row else []

    def mark_synced(self, item_ids: list[str]) -> None:
        with self.transaction() as db:  # type: ignore[attr-defined]
            left = sorted(set(self.unsynced()) - set(item_ids))
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('chroma_unsynced', ?)", (json.dumps(left),))

    def open_conflict(self, old: KnowledgeItem, new: KnowledgeItem, *, old_statement: str, new_statement: str, relation: str,
                      confidence: float, reason: str, detector: str, question: str, actor: str = "dagrag") -> int:
        """Queue a conflict; the older side becomes potentially outdated while it is open."""
        with self.transaction() as db:  # type: ignore[attr-defined]
            cur = db.execute(
                "INSERT INTO reviews(kind, state, created_at, old_item, new_item, old_statement, new_statement, relation, confidence, "
                "reason, detector, question) VALUES ('conflict','open',?,?,?,?,?,?,?,?,?,?)",
                (utc_now().isoformat(), old.item_id, new.item_id, old_statement, new_statement, relation, confidence, reason, detector, question),
            )
            review_id = int(cur.lastrowid)
            self.audit(db, actor, "flagged", review_id=review_id, item_id=new.item_id, old=old.item_id, relation=relation,
                       confidence=confidence, reason=reason, detector=detector)
            current = db.execute("SELECT status FROM items WHERE item_id=?", (old.item_id,)).fetchone()
            if current and current["status"] == Status.VALID.value:
                self.set_status(db, old.item_id, Status.POTENTIALLY_OUTDATED, actor, review_id=review_id)
        return review_id

    def open_clarification(self, question: str, *, items: list[str], thread_id: str | None = None, actor: str = "dagrag") -> int:
        with self.transaction() as db:  # type: ignore[attr-defined]
            cur = db.execute("INSERT INTO reviews(kind, state, created_at, question, thread_id, new_item) VALUES ('clarification','open',?,?,?,?)",
                             (utc_now().isoformat(), question, thread_id, ",".join(items) or None))
            review_id = int(cur.lastrowid)
            self.audit(db, actor, "asked", review_id=review_id, question=question, thread_id=thread_id)
        return review_id

    def attach_thread(self, review_id: int, thread_id: str, actor: str = "dagrag") -> None:
        with self.transaction() as db:  # type: ignore[attr-defined]
            db.execute("UPDATE reviews SET thread_id=? WHERE review_id=?", (thread_id, review_id))
            self.audit(db, actor, "paused", review_id=review_id, thread_id=thread_id)

    def reviews(self, state: str | None = "open") -> list[Review]:
        sql = "SELECT * FROM reviews" + (" WHERE state=?" if state else "") + " ORDER BY created_at, review_id"
        return [_review(r) for r in self._query(sql, (state,) if state else ())]

    def review(self, review_id: int) -> Review:
        row = self._query("SELECT * FROM reviews WHERE review_id=?", (review_id,)).fetchone()
        if row is None:
            raise ReviewError(f"no review {review_id}: `dagrag review` lists the open ones")
        return _review(row)

    def open_reviews_for(self, item_ids: list[str]) -> list[Review]:
        if not item_ids:
            return []
        marks = ",".join("?" * len(item_ids))
        rows = self._query(
            f"SELECT * FROM reviews WHERE state='open' AND kind='conflict' AND (old_item IN ({marks}) OR new_item IN ({marks})) ORDER BY review_id",
            [*item_ids, *item_ids],
        )
        return [_review(r) for r in rows]

    def record_hits(self, review_ids: list[int], question: str) -> None:
        if review_ids:
            with self.transaction() as db:  # type: ignore[attr-defined]
                db.executemany("INSERT INTO review_hits VALUES (?,?,?)", [(r, question, utc_now().isoformat()) for r in review_ids])

    def hits(self, review_id: int) -> list[tuple[str, datetime]]:
        rows = self._query("SELECT question, at FROM review_hits WHERE review_id=? ORDER BY at", (review_id,))
        return [(r["question"], parse_time(r["at"])) for r in rows]

    def resolve(self, review_id: int, keep: str, *, by: str, note: str | None = None, edited: KnowledgeItem | None = None,
                action: str = "resolved") -> Review:
        """Apply a person's decision atomically; exactly one of two racing resolutions wins.

        keep=new: the old side is superseded by the new; keep=old: the new side is superseded;
        both: both stay valid; edit: ``edited`` (a human item) supersedes both sides.
        """
        if keep not in KEEP_CHOICES:
            raise ReviewError(f"--keep must be one of {', '.join(KEEP_CHOICES)}")
        if keep == "edit" and edited is None:
            raise ReviewError("--keep edit needs --edit TEXT: the statement that replaces both sides")
        with self.transaction() as db:  # type: ignore[attr-defined]
            row = db.execute("SELECT * FROM reviews WHERE review_id=?", (review_id,)).fetchone()
            if row is None:
                raise ReviewError(f"no review {review_id}: `dagrag review` lists the open ones")
            if row["state"] != "open":
                raise ReviewError(f"review {review_id} was already resolved by {row['resolved_by']} at {row['resolved_at']} (keep {row['resolution']})")
            now = utc_now()
            old, new = row["old_item"], row["new_item"]
            if row["kind"] == "conflict":
                new_from = db.execute("SELECT valid_from FROM items WHERE item_id=?", (new,)).fetchone()
                if keep == "new":
                    self.set_status(db, old, Status.SUPERSEDED, by, review_id=review_id, superseded_by=new,
                                    valid_to=parse_time(new_from["valid_from"]) if new_from else now, validated=True)
                    self.set_status(db, new, Status.VALID, by, review_id=review_id, validated=True)
                elif keep == "old":
                    self.set_status(db, new, Status.SUPERSEDED, by, review_id=review_id, superseded_by=old,
                                    valid_to=parse_time(new_from["valid_from"]) if new_from else now, validated=True)
                    self.set_status(db, old, Status.VALID, by, review_id=review_id, validated=True)
                elif keep == "both":
                    for item in (old, new):
                        self.set_status(db, item, Status.VALID, by, review_id=review_id, validated=True)
                else:
                    assert edited is not None
                    self.insert_human_item(db, edited, by)
                    for item in (old, new):
                        self.set_status(db, item, Status.SUPERSEDED, by, review_id=review_id, superseded_by=edited.item_id,
                                        valid_to=edited.valid_from, validated=True)
            elif keep == "edit" and edited is not None:
                self.insert_human_item(db, edited, by)
            cur = db.execute(
                "UPDATE reviews SET state='resolved', resolution=?, resolved_by=?, resolved_at=?, note=?, result_item=? "
                "WHERE review_id=? AND state='open'",
                (keep, by, now.isoformat(), note, edited.item_id if edited else None, review_id),
            )
            if cur.rowcount != 1:  # pragma: no cover - BEGIN IMMEDIATE already serializes writers
                raise ReviewError(f"review {review_id} was resolved concurrently")
            self.audit(db, by, action, review_id=review_id, item_id=new, old=old, keep=keep, note=note,
                       edited=edited.item_id if edited else None)
        return self.review(review_id)

    def insert_human_item(self, db: sqlite3.Connection, item: KnowledgeItem, by: str) -> None:
        """A statement from a person: its own one-item document, valid from now."""
        db.execute(
            f"INSERT INTO documents({_DOCUMENT_COLUMNS}) VALUES (?,?,?,?,?,?,?, 'ready')",
            (item.doc_id, item.source, item.title, item.item_id, 1, item.added_at.isoformat(), item.valid_from.isoformat()),
        )
        db.execute(f"INSERT INTO items({_ITEM_COLUMNS}) VALUES ({_ITEM_VALUES})", _item_row(item))
        self.audit(db, by, "added", item_id=item.item_id, text=item.text)
        self._mark_unsynced(db, [item.item_id])

    def history(self, item_id: str) -> list[AuditEntry]:
        rows = self._query(
            "SELECT * FROM audit WHERE item_id=? OR json_extract(detail, '$.old')=? OR json_extract(detail, '$.edited')=? ORDER BY seq",
            (item_id, item_id, item_id),
        )
        return [AuditEntry(r["seq"], parse_time(r["at"]), r["actor"], r["action"], r["review_id"], r["item_id"], json.loads(r["detail"])) for r in rows]

    def audit_log(self) -> list[AuditEntry]:
        rows = self._query("SELECT * FROM audit ORDER BY seq")
        return [AuditEntry(r["seq"], parse_time(r["at"]), r["actor"], r["action"], r["review_id"], r["item_id"], json.loads(r["detail"])) for r in rows]


class Ledger(_Reviews):
    """Documents, items, reviews and the audit log in one SQLite file, shared safely between processes (WAL)
    and between the threads of one process (one connection, used under a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if isinstance(exc, sqlite3.OperationalError):
                if "locked" in str(exc) or "busy" in str(exc):
                    raise KBBusyError(self.path.parent) from exc
                raise
            raise LedgerError(f"{self.path} is not a dagrag ledger or is damaged ({exc}); it was left as it is") from exc
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        """Check the schema version before anything writes to the file, then migrate an older layout in one transaction."""
        version = self._stored_version()
        if version is not None and version > SCHEMA_VERSION:
            raise LedgerError(f"knowledge base {self.path.parent} was written by a newer dagrag (ledger schema {version}, "
                              f"this dagrag reads up to {SCHEMA_VERSION}); upgrade dagrag to open it; the ledger was left as it is")
        missing = self._missing()  # refuses a layout it cannot migrate, still before any write
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        if version == SCHEMA_VERSION and not any(missing.values()):
            return
        with self.transaction() as db:  # all or nothing: a crash mid-migration leaves the old ledger as it was
            version = self._stored_version()  # another process may have migrated it meanwhile
            missing = self._missing()
            for statement in _statements(_SCHEMA):
                db.execute(statement)
            for table, column in missing["columns"]:
                definition, start = _ADDED_COLUMNS[table][column]
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
                if start:
                    db.execute(f"UPDATE {table} SET {column}={start}")
            if version is not None and (missing["columns"] or missing["objects"]):
                # Chroma's mirror was written by the older dagrag: refresh every item's fields on the next sync
                self._mark_unsynced(db, [r["item_id"] for r in db.execute("SELECT item_id FROM items")])
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _stored_version(self) -> int | None:
        """The schema version of the ledger in the file; None for a new, empty file."""
        tables = {r["name"] for r in self._query("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return None
        if "meta" in tables:
            row = self._query("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is not None:
                try:
                    return int(row["value"])
                except ValueError:
                    raise LedgerError(f"{self.path} has an unreadable schema version {row['value']!r}; it was left as it is") from None
        if not tables & {"meta", "documents", "items"}:
            raise LedgerError(f"{self.path} is not a dagrag ledger (tables: {', '.join(sorted(tables))}); it was left as it is")
        return 1  # the first layout, before the version was recorded

    def _missing(self) -> dict[str, list]:
        """Tables, indexes and triggers the ledger lacks, and (table, column) pairs an older layout lacks."""
        present = {r["name"] for r in self._query("SELECT name FROM sqlite_master")}
        columns = []
        for table, added in _ADDED_COLUMNS.items():
            have = {r["name"] for r in self._query(f"PRAGMA table_info({table})")}
            if have:
                lacking = sorted(c for c in re.findall(r"\n    (\w+) ", _table_sql(table)) if c not in have)
                unknown = [c for c in lacking if c not in added]
                if unknown:
                    raise LedgerError(f"{self.path} cannot be migrated: {table} lacks {', '.join(unknown)}; it was left as it is")
                columns += [(table, c) for c in lacking]
        return {"objects": sorted(_OBJECTS - present), "columns": columns}

    def _query(self, sql: str, params: tuple | list = ()) -> _Rows:
        with self._lock:
            return _Rows(self._db.execute(sql, params).fetchall())

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

    # documents -----------------------------------------------------------------
    def document(self, doc_id: str) -> DocumentRecord | None:
        row = self._query("SELECT * FROM documents WHERE doc_id=? AND state='ready'", (doc_id,)).fetchone()
        return _document(row) if row else None

    def documents(self) -> list[DocumentRecord]:
        rows = self._query("SELECT * FROM documents WHERE state='ready' ORDER BY source, doc_id").fetchall()
        return [_document(r) for r in rows]

    def pending_documents(self) -> list[str]:
        return [r["doc_id"] for r in self._query("SELECT doc_id FROM documents WHERE state='pending'")]

    def current_items(self, doc_id: str) -> set[str]:
        """Ids of the items of a document's current version (a half-written new version is not current)."""
        rows = self._query(
            "SELECT i.item_id FROM items i JOIN documents d USING (doc_id) WHERE i.doc_id=? AND i.expired_at IS NULL "
            "AND NOT (d.state='pending' AND (d.replacing_at IS NULL OR i.added_at=d.replacing_at))", (doc_id,))
        return {r["item_id"] for r in rows}

    def has_item(self, item_id: str) -> bool:
        return self._query("SELECT 1 FROM items WHERE item_id=?", (item_id,)).fetchone() is not None

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
                    db.execute("UPDATE documents SET state='pending', replacing_at=? WHERE doc_id=?", (doc.ingested_at.isoformat(), doc.doc_id))
                else:
                    db.execute(
                        f"INSERT INTO documents({_DOCUMENT_COLUMNS}) VALUES (?,?,?,?,?,?,?, 'pending')",
                        (doc.doc_id, doc.source, doc.title, doc.content_hash, doc.n_chunks, doc.ingested_at.isoformat(), doc.valid_from.isoformat()),
                    )
                db.executemany(f"INSERT OR REPLACE INTO items({_ITEM_COLUMNS}) VALUES ({_ITEM_VALUES})", [_item_row(i) for i in items])
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
                rows = db.execute("SELECT item_id, position, status, valid_to FROM items WHERE doc_id=? AND expired_at IS NULL", (doc.doc_id,)).fetchall()
                if lost := wanted - {r["item_id"] for r in rows}:
                    raise LedgerError(f"{doc.source} changed in another process while this one ingested it ({len(lost)} chunks gone); run the ingest again")
                successor = {r["position"]: r["item_id"] for r in rows if r["item_id"] in wanted}
                for r in rows:
                    if r["item_id"] in wanted:
                        continue
                    valid_to = min(parse_time(r["valid_to"]), doc.valid_from) if r["valid_to"] else doc.valid_from
                    db.execute("UPDATE items SET status=?, superseded_by=COALESCE(superseded_by, ?), valid_to=?, expired_at=? WHERE item_id=?",
                               (Status.SUPERSEDED.value, successor.get(r["position"]), valid_to.isoformat(), doc.ingested_at.isoformat(), r["item_id"]))
                    self.audit(db, "ingest", "expired", item_id=r["item_id"], doc_id=doc.doc_id, before=r["status"], after=Status.SUPERSEDED.value,
                               superseded_by=successor.get(r["position"]), valid_to=valid_to.isoformat(), version=doc.content_hash)
                    expired.append(r["item_id"])
                db.execute(
                    f"INSERT OR REPLACE INTO documents({_DOCUMENT_COLUMNS}, replacing_at) VALUES (?,?,?,?,?,?,?, 'ready', NULL)",
                    (doc.doc_id, doc.source, doc.title, doc.content_hash, doc.n_chunks, doc.ingested_at.isoformat(), doc.valid_from.isoformat()),
                )
            if expired:
                self._mark_unsynced(db, expired)
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
            ids = [r["item_id"] for r in db.execute("SELECT item_id FROM items WHERE doc_id=?", (doc_id,))]
            db.execute("DELETE FROM items WHERE doc_id=?", (doc_id,))
            db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
            return ids
        # a new version of a known document: drop its items, the previous version stays current
        where = "doc_id=? AND expired_at IS NULL AND added_at=?"
        ids = [r["item_id"] for r in db.execute(f"SELECT item_id FROM items WHERE {where}", (doc_id, row["replacing_at"]))]
        db.execute(f"DELETE FROM items WHERE {where}", (doc_id, row["replacing_at"]))
        db.execute("UPDATE documents SET state='ready', replacing_at=NULL WHERE doc_id=?", (doc_id,))
        return ids

    def remove_document(self, doc_id: str) -> list[str]:
        """Delete a document with all its versions (a person asked to forget it); return the removed item ids."""
        with self.transaction() as db:
            ids = [r["item_id"] for r in db.execute("SELECT item_id FROM items WHERE doc_id=?", (doc_id,))]
            db.execute("DELETE FROM items WHERE doc_id=?", (doc_id,))
            db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
        return ids

    # items ---------------------------------------------------------------------
    def items(self, ids: list[str] | None = None) -> list[KnowledgeItem]:
        if ids is None:
            rows = self._query("SELECT * FROM items ORDER BY doc_id, position").fetchall()
        else:
            marks = ",".join("?" * len(ids))
            rows = self._query(f"SELECT * FROM items WHERE item_id IN ({marks})", ids).fetchall() if ids else []
        return [_item(r) for r in rows]

    def item_ids(self, ready_only: bool = True) -> set[str]:
        sql = "SELECT i.item_id FROM items i JOIN documents d USING (doc_id)" + (" WHERE d.state='ready'" if ready_only else "")
        return {r["item_id"] for r in self._query(sql)}

    def counts(self) -> dict[str, int]:
        docs = self._query("SELECT COUNT(*) FROM documents WHERE state='ready'").fetchone()[0]
        by_status = dict(self._query("SELECT status, COUNT(*) FROM items GROUP BY status").fetchall())
        expired = self._query("SELECT COUNT(*) FROM items WHERE expired_at IS NOT NULL").fetchone()[0]
        return {"documents": docs, "items": sum(by_status.values()), "expired": expired, **{s.value: by_status.get(s.value, 0) for s in Status}}


def _table_sql(table: str) -> str:
    """The CREATE TABLE statement of ``table`` in the current schema."""
    return next(s for s in _statements(_SCHEMA) if s.startswith(f"CREATE TABLE IF NOT EXISTS {table} ("))


def _review(row: sqlite3.Row) -> Review:
    return Review(
        review_id=row["review_id"], kind=row["kind"], state=row["state"], created_at=parse_time(row["created_at"]),
        question=row["question"], old_item=row["old_item"], new_item=row["new_item"], old_statement=row["old_statement"],
        new_statement=row["new_statement"], relation=row["relation"], confidence=row["confidence"], reason=row["reason"],
        detector=row["detector"], thread_id=row["thread_id"], resolution=row["resolution"], resolved_by=row["resolved_by"],
        resolved_at=parse_time(row["resolved_at"]) if row["resolved_at"] else None, note=row["note"], result_item=row["result_item"],
    )


def _document(row: sqlite3.Row) -> DocumentRecord:
    return DocumentRecord(
        doc_id=row["doc_id"],
        source=row["source"],
        title=row["title"],
        content_hash=row["content_hash"],
        n_chunks=row["n_chunks"],
        ingested_at=parse_time(row["ingested_at"]),
        valid_from=parse_time(row["valid_from"]),
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _item_row(i: KnowledgeItem) -> tuple:
    return (
        i.item_id, i.doc_id, i.position, i.kind, i.title, i.source, i.text, _iso(i.added_at), _iso(i.validated_at),
        i.status.value, i.superseded_by, _iso(i.valid_from), _iso(i.valid_to), _iso(i.expired_at),
    )


def _item(row: sqlite3.Row) -> KnowledgeItem:
    return KnowledgeItem(
        item_id=row["item_id"], doc_id=row["doc_id"], position=row["position"], kind=row["kind"], title=row["title"],
        source=row["source"], text=row["text"], added_at=parse_time(row["added_at"]),
        validated_at=parse_time(row["validated_at"]), status=Status(row["status"]), superseded_by=row["superseded_by"],
        valid_from=parse_time(row["valid_from"]), valid_to=parse_time(row["valid_to"]) if row["valid_to"] else None,
        expired_at=parse_time(row["expired_at"]) if row["expired_at"] else None,
    )
