"""The SQLite ledger: the source of truth for documents and knowledge items.

Chroma holds vectors and mirrors the fields retrieval filters on; every write here runs
in a transaction, and a document is only ``ready`` once its vectors are stored, so a
crash never leaves half a document behind (see ``KnowledgeBase.recover``).
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

from kb.items import DocumentRecord, KnowledgeItem, Status, parse_time

SCHEMA_VERSION = 1

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
    state TEXT NOT NULL CHECK (state IN ('pending', 'ready'))
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
    valid_to TEXT
);
CREATE INDEX IF NOT EXISTS items_doc ON items(doc_id);
"""


class LedgerError(RuntimeError):
    pass


class Ledger:
    """Documents and items in one SQLite file, safe to share between processes (WAL)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        found = self._db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if found:
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row["value"]) if row else None
            if version is not None and version > SCHEMA_VERSION:
                raise LedgerError(
                    f"knowledge base {self.path.parent} was written by a newer dagrag (schema {version}); upgrade dagrag to open it"
                )
        self._db.executescript(_SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    # documents -----------------------------------------------------------------
    def document(self, doc_id: str) -> DocumentRecord | None:
        row = self._db.execute("SELECT * FROM documents WHERE doc_id=? AND state='ready'", (doc_id,)).fetchone()
        return _document(row) if row else None

    def documents(self) -> list[DocumentRecord]:
        rows = self._db.execute("SELECT * FROM documents WHERE state='ready' ORDER BY source, doc_id").fetchall()
        return [_document(r) for r in rows]

    def pending_documents(self) -> list[str]:
        return [r["doc_id"] for r in self._db.execute("SELECT doc_id FROM documents WHERE state='pending'")]

    def begin_document(self, doc: DocumentRecord, items: list[KnowledgeItem]) -> list[str]:
        """Record ``doc`` and its items as pending; return the item ids it replaces."""
        with self.transaction() as db:
            old = [r["item_id"] for r in db.execute("SELECT item_id FROM items WHERE doc_id=?", (doc.doc_id,))]
            db.execute("DELETE FROM items WHERE doc_id=?", (doc.doc_id,))
            db.execute(
                "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?, 'pending')",
                (doc.doc_id, doc.source, doc.title, doc.content_hash, doc.n_chunks, doc.ingested_at.isoformat(), doc.valid_from.isoformat()),
            )
            db.executemany("INSERT OR REPLACE INTO items VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", [_item_row(i) for i in items])
        return old

    def commit_document(self, doc_id: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE documents SET state='ready' WHERE doc_id=?", (doc_id,))

    def remove_document(self, doc_id: str) -> list[str]:
        """Delete a document and its items; return the removed item ids."""
        with self.transaction() as db:
            ids = [r["item_id"] for r in db.execute("SELECT item_id FROM items WHERE doc_id=?", (doc_id,))]
            db.execute("DELETE FROM items WHERE doc_id=?", (doc_id,))
            db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
        return ids

    # items ---------------------------------------------------------------------
    def items(self, ids: list[str] | None = None) -> list[KnowledgeItem]:
        if ids is None:
            rows = self._db.execute("SELECT * FROM items ORDER BY doc_id, position").fetchall()
        else:
            marks = ",".join("?" * len(ids))
            rows = self._db.execute(f"SELECT * FROM items WHERE item_id IN ({marks})", ids).fetchall() if ids else []
        return [_item(r) for r in rows]

    def item_ids(self, ready_only: bool = True) -> set[str]:
        sql = "SELECT i.item_id FROM items i JOIN documents d USING (doc_id)" + (" WHERE d.state='ready'" if ready_only else "")
        return {r["item_id"] for r in self._db.execute(sql)}

    def counts(self) -> dict[str, int]:
        docs = self._db.execute("SELECT COUNT(*) FROM documents WHERE state='ready'").fetchone()[0]
        by_status = dict(self._db.execute("SELECT status, COUNT(*) FROM items GROUP BY status").fetchall())
        return {"documents": docs, "items": sum(by_status.values()), **{s.value: by_status.get(s.value, 0) for s in Status}}


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
        i.status.value, i.superseded_by, _iso(i.valid_from), _iso(i.valid_to),
    )


def _item(row: sqlite3.Row) -> KnowledgeItem:
    return KnowledgeItem(
        item_id=row["item_id"], doc_id=row["doc_id"], position=row["position"], kind=row["kind"], title=row["title"],
        source=row["source"], text=row["text"], added_at=parse_time(row["added_at"]),
        validated_at=parse_time(row["validated_at"]), status=Status(row["status"]), superseded_by=row["superseded_by"],
        valid_from=parse_time(row["valid_from"]), valid_to=parse_time(row["valid_to"]) if row["valid_to"] else None,
    )
