"""The ledger's schema as numbered migrations, each applied once (as simonw/llm does).

``MIGRATIONS`` is an ordered list of functions; each takes the connection inside the
transaction that opens the ledger and changes the schema one step. The names of the
migrations applied are recorded in the ``migrations`` table, and ``meta.schema_version``
holds how many there are, so an older dagrag refuses a ledger a newer one wrote. To change
the schema, append a function to ``MIGRATIONS``; never edit one that has shipped.

Ledgers written before this module existed have no ``migrations`` table: a version 2
ledger has had the first two steps, a version 1 ledger (whose layout varied) gets them
all (``m001`` adds only what a version 1 layout lacks).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from kb.items import utc_now

Migration = Callable[[sqlite3.Connection], "bool | None"]  # True: Chroma's mirror of every item must be refreshed


class SchemaError(Exception):
    """The file is not a ledger this dagrag can open (the message says why; the file was left as it is)."""


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


def _tables(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


# The columns a version 1 ledger may lack: definition for ALTER TABLE, and the column whose value it starts with.
_V1_ADDED = {
    "documents": {"valid_from": ("TEXT NOT NULL DEFAULT ''", "ingested_at"), "state": ("TEXT NOT NULL DEFAULT 'ready'", None)},
    "items": {
        "kind": ("TEXT NOT NULL DEFAULT 'chunk'", None),
        "validated_at": ("TEXT NOT NULL DEFAULT ''", "added_at"),
        "status": ("TEXT NOT NULL DEFAULT 'valid'", None),
        "superseded_by": ("TEXT", None),
        "valid_from": ("TEXT NOT NULL DEFAULT ''", "added_at"),
        "valid_to": ("TEXT", None),
    },
}
# The columns every version 1 ledger has (the first layout).
_V1_BASE = {
    "documents": ["doc_id", "source", "title", "content_hash", "n_chunks", "ingested_at"],
    "items": ["item_id", "doc_id", "position", "title", "source", "text", "added_at"],
}


def m001_documents_items_reviews_audit(db: sqlite3.Connection) -> bool:
    """Documents and items with their ARIA time fields, the review queue and the append-only audit log."""
    existing = bool(_tables(db) & {"documents", "items"})
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS documents (doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, title TEXT NOT NULL, "
        "content_hash TEXT NOT NULL, n_chunks INTEGER NOT NULL, ingested_at TEXT NOT NULL)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS items (item_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, position INTEGER NOT NULL, "
        "title TEXT NOT NULL, source TEXT NOT NULL, text TEXT NOT NULL, added_at TEXT NOT NULL)"
    )
    for table, added in _V1_ADDED.items():
        have = set(_columns(db, table))
        for column, (definition, start) in added.items():
            if column not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
                if start:
                    db.execute(f"UPDATE {table} SET {column}={start}")
    db.execute("CREATE INDEX IF NOT EXISTS items_doc ON items(doc_id)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS reviews (review_id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "kind TEXT NOT NULL CHECK (kind IN ('conflict', 'clarification')), state TEXT NOT NULL CHECK (state IN ('open', 'resolved')), "
        "created_at TEXT NOT NULL, old_item TEXT, new_item TEXT, old_statement TEXT, new_statement TEXT, relation TEXT, "
        "confidence REAL, reason TEXT, detector TEXT, question TEXT NOT NULL, thread_id TEXT, resolution TEXT, resolved_by TEXT, "
        "resolved_at TEXT, note TEXT, result_item TEXT)"
    )
    db.execute("CREATE TABLE IF NOT EXISTS review_hits (review_id INTEGER NOT NULL, question TEXT NOT NULL, at TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL, "
        "action TEXT NOT NULL, review_id INTEGER, item_id TEXT, detail TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS audit_item ON audit(item_id)")
    for op, name in (("UPDATE", "audit_append_only_u"), ("DELETE", "audit_append_only_d")):
        db.execute(
            f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )
    return existing  # Chroma's mirror of an older ledger lacks the fields retrieval filters on


def m002_document_versions(db: sqlite3.Connection) -> bool:
    """A changed document's replaced chunks are kept as history (``expired_at``); a pending new version (``replacing_at``)."""
    existing = db.execute("SELECT 1 FROM items LIMIT 1").fetchone() is not None
    db.execute("ALTER TABLE items ADD COLUMN expired_at TEXT")
    db.execute("ALTER TABLE documents ADD COLUMN replacing_at TEXT")
    db.execute("UPDATE documents SET state='ready' WHERE state NOT IN ('pending', 'ready')")
    return existing


def m003_foreign_keys(db: sqlite3.Connection) -> None:
    """An item belongs to a document, a hit to a review (SQLite adds foreign keys by rebuilding the table)."""
    db.execute("DELETE FROM items WHERE doc_id NOT IN (SELECT doc_id FROM documents)")  # unreachable leftovers: never retrieved
    db.execute("DELETE FROM review_hits WHERE review_id NOT IN (SELECT review_id FROM reviews)")
    db.execute(
        "CREATE TABLE documents_new (doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, title TEXT NOT NULL, content_hash TEXT NOT NULL, "
        "n_chunks INTEGER NOT NULL, ingested_at TEXT NOT NULL, valid_from TEXT NOT NULL, "
        "state TEXT NOT NULL CHECK (state IN ('pending', 'ready')), replacing_at TEXT)"
    )
    db.execute(
        "CREATE TABLE items_new (item_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE, "
        "position INTEGER NOT NULL, kind TEXT NOT NULL, title TEXT NOT NULL, source TEXT NOT NULL, text TEXT NOT NULL, "
        "added_at TEXT NOT NULL, validated_at TEXT NOT NULL, status TEXT NOT NULL, superseded_by TEXT, valid_from TEXT NOT NULL, "
        "valid_to TEXT, expired_at TEXT)"
    )
    db.execute(
        "CREATE TABLE review_hits_new (review_id INTEGER NOT NULL REFERENCES reviews(review_id), question TEXT NOT NULL, at TEXT NOT NULL)"
    )
    for table in ("documents", "items", "review_hits"):
        columns = ", ".join(_columns(db, f"{table}_new"))
        db.execute(f"INSERT INTO {table}_new ({columns}) SELECT {columns} FROM {table}")
    for table in ("review_hits", "items", "documents"):  # children first
        db.execute(f"DROP TABLE {table}")
    for table in ("documents", "items", "review_hits"):
        db.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
    db.execute("CREATE INDEX items_doc ON items(doc_id)")
    db.execute("CREATE INDEX review_hits_review ON review_hits(review_id)")


def m004_unsynced_table(db: sqlite3.Connection) -> None:
    """Items whose Chroma mirror must be refreshed: a table (was a JSON list in ``meta``, rewritten on every change)."""
    db.execute("CREATE TABLE unsynced (item_id TEXT PRIMARY KEY REFERENCES items(item_id) ON DELETE CASCADE)")
    row = db.execute("SELECT value FROM meta WHERE key='chroma_unsynced'").fetchone()
    if row is not None:
        db.executemany("INSERT OR IGNORE INTO unsynced SELECT item_id FROM items WHERE item_id=?", [(i,) for i in json.loads(row[0])])
        db.execute("DELETE FROM meta WHERE key='chroma_unsynced'")


def m005_entity_index(db: sqlite3.Connection) -> None:
    """The entity index and the BM25 text index of the items (``kb.entity_index``), filled from the items already there."""
    from kb import entity_index

    entity_index.migrate(db)


def m006_mentions_with_initials(db: sqlite3.Connection) -> None:
    """Mentions re-read: an initial no longer ends a name ("E. B. White" was "E" and "B. White")."""
    from kb import entity_index

    entity_index.reextract_mentions(db)


PRE_RECORD = "before migrations were recorded"

MIGRATIONS: list[Migration] = [
    m001_documents_items_reviews_audit,
    m002_document_versions,
    m003_foreign_keys,
    m004_unsynced_table,
    m005_entity_index,
    m006_mentions_with_initials,
]


def schema_version() -> int:
    """The version this dagrag writes: the number of migrations."""
    return len(MIGRATIONS)


def stored_version(db: sqlite3.Connection, path: object) -> int | None:
    """The schema version of the ledger in the file; None for a new, empty file. Reads only."""
    tables = _tables(db)
    if not tables:
        return None
    if "meta" in tables:
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is not None:
            try:
                return int(row[0])
            except ValueError:
                raise SchemaError(f"{path} has an unreadable schema version {row[0]!r}; it was left as it is") from None
    if not tables & {"meta", "documents", "items"}:
        raise SchemaError(f"{path} is not a dagrag ledger (tables: {', '.join(sorted(tables))}); it was left as it is")
    return 1  # the first layout, before the version was recorded


def pending(db: sqlite3.Connection, path: object) -> list[Migration]:
    """The migrations this ledger still needs, checked without writing: refuses a newer or unknown layout."""
    version = stored_version(db, path)
    if version is not None and version > schema_version():
        raise SchemaError(
            f"knowledge base {getattr(path, 'parent', path)} was written by a newer dagrag (ledger schema {version}, "
            f"this dagrag reads up to {schema_version()}); upgrade dagrag to open it; the ledger was left as it is"
        )
    if "migrations" in _tables(db):
        done = {r[0] for r in db.execute("SELECT name FROM migrations")}
    else:  # written before migrations were recorded: version 2 had the first two, version 1 layouts varied
        done = {m.__name__ for m in MIGRATIONS[:2]} if version == 2 else set()
        for table, base in _V1_BASE.items():
            have = _columns(db, table)
            lacking = [c for c in base if c not in have]
            if have and lacking:
                raise SchemaError(f"{path} cannot be migrated: {table} lacks {', '.join(lacking)}; it was left as it is")
    return [m for m in MIGRATIONS if m.__name__ not in done]


def migrate(db: sqlite3.Connection, todo: list[Migration]) -> bool:
    """Apply ``todo`` in order inside the caller's transaction; True if Chroma's mirror of every item must be refreshed."""
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    # steps a ledger had before they were recorded (schema 2 without this table)
    db.executemany(
        "INSERT OR IGNORE INTO migrations (name, applied_at) VALUES (?, ?)", [(m.__name__, PRE_RECORD) for m in MIGRATIONS if m not in todo]
    )
    resync = False
    for migration in todo:
        resync = bool(migration(db)) or resync
        db.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (migration.__name__, utc_now().isoformat()))
    db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(schema_version()),))
    return resync
