"""The entity index and the BM25 text index, kept in the ledger (SQLite), next to the items.

Tables (written in the ledger's own transactions, so they are exactly as durable as the items):

- ``entity_items(n, item_id)``: the items indexed (``n`` is also the FTS5 rowid);
- ``entity_about(key, n)``: an item is about the entity (its title, a heading);
- ``entity_mentions(n, key)``: an item mentions the entity;
- ``chunk_fts``: FTS5 over the items' title and text, for the lexical channel.

An item is indexed when its document version becomes current (``commit``) or a person adds it,
and leaves the index when it leaves the ledger (the ``entity_index_forget`` trigger: its
document removed, a half-written version abandoned). Expired and superseded items stay
indexed (they are history, found "as of" a time they were valid): what a query may see is
decided when it reads, from the item's status and validity in ``items``, as for the vectors
in Chroma.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from kb.items import Status, as_utc, parse_time
from retrieval import lexical
from retrieval.entities import extract

Query = Callable[[str, Sequence[object]], Sequence[sqlite3.Row]]

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entity_items (n INTEGER PRIMARY KEY, item_id TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS entity_about (key TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (key, n)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS entity_about_n ON entity_about(n)",
    "CREATE TABLE IF NOT EXISTS entity_mentions (n INTEGER NOT NULL, key TEXT NOT NULL, PRIMARY KEY (n, key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS entity_mentions_key ON entity_mentions(key)",
)
_CHUNK = 500  # SQLite host parameters per statement, well under its limit


def create(db: sqlite3.Connection) -> None:
    """The index tables (idempotent)."""
    for statement in SCHEMA:
        db.execute(statement)
    lexical.create_fts(db)


# an item leaving the ledger (its document removed, a half-written version abandoned) leaves the index in the same statement
FORGET_TRIGGER = (
    "CREATE TRIGGER IF NOT EXISTS entity_index_forget AFTER DELETE ON items BEGIN "
    "DELETE FROM entity_about WHERE n IN (SELECT n FROM entity_items WHERE item_id = OLD.item_id); "
    "DELETE FROM entity_mentions WHERE n IN (SELECT n FROM entity_items WHERE item_id = OLD.item_id); "
    f"DELETE FROM {lexical.FTS_TABLE} WHERE rowid IN (SELECT n FROM entity_items WHERE item_id = OLD.item_id); "
    "DELETE FROM entity_items WHERE item_id = OLD.item_id; END"
)


def migrate(db: sqlite3.Connection) -> None:
    """Schema migration: create the tables and index every item already in the ledger, in the caller's transaction."""
    create(db)
    db.execute(FORGET_TRIGGER)
    index_items(db, [r[0] for r in db.execute("SELECT item_id FROM items")])


def reextract_mentions(db: sqlite3.Connection) -> None:
    """Re-read every indexed item's mentions with the current rules (after the rules change), in the caller's transaction."""
    db.execute("DELETE FROM entity_mentions")
    rows = db.execute("SELECT e.n, i.title, i.text FROM entity_items e JOIN items i ON i.item_id = e.item_id").fetchall()
    for n, title, text in rows:
        db.executemany("INSERT OR IGNORE INTO entity_mentions(n, key) VALUES (?,?)", [(n, k) for k in extract(title, text).mentions])


def _parts(values: Sequence, size: int = _CHUNK) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def index_items(db: sqlite3.Connection, item_ids: Sequence[str]) -> int:
    """Index the ledger items among ``item_ids`` that are not indexed yet; returns how many were added."""
    added = 0
    for part in _parts(sorted(set(item_ids))):
        marks = ",".join("?" * len(part))
        rows = db.execute(
            f"SELECT item_id, title, text FROM items WHERE item_id IN ({marks}) "
            f"AND item_id NOT IN (SELECT item_id FROM entity_items WHERE item_id IN ({marks}))",
            [*part, *part],
        ).fetchall()
        for item_id, title, text in rows:
            n = int(db.execute("INSERT INTO entity_items(item_id) VALUES (?)", (item_id,)).lastrowid)
            ents = extract(title, text)
            db.executemany("INSERT OR IGNORE INTO entity_about(key, n) VALUES (?,?)", [(k, n) for k in ents.about])
            db.executemany("INSERT OR IGNORE INTO entity_mentions(n, key) VALUES (?,?)", [(n, k) for k in ents.mentions])
            lexical.index_rows(db, [(n, title, text)])
            added += 1
    return added


def unindexed(query: Query) -> list[str]:
    """Items of the ledger the index lacks (none, unless a ledger was written by a dagrag without the index)."""
    rows = query("SELECT item_id FROM items WHERE item_id NOT IN (SELECT item_id FROM entity_items)", ())
    return [r[0] for r in rows]


@dataclass(frozen=True)
class IndexSize:
    items: int  # items indexed
    entities: int  # distinct entity keys (about or mentioned)
    about: int  # (entity, item) "about" rows
    mentions: int  # (item, entity) "mentions" rows


def size(query: Query) -> IndexSize:
    one = lambda sql: int(query(sql, ())[0][0])  # noqa: E731
    return IndexSize(
        items=one("SELECT COUNT(*) FROM entity_items"),
        entities=one("SELECT COUNT(*) FROM (SELECT key FROM entity_about UNION SELECT key FROM entity_mentions)"),
        about=one("SELECT COUNT(*) FROM entity_about"),
        mentions=one("SELECT COUNT(*) FROM entity_mentions"),
    )


class Visibility:
    """Which items a query may see: now, every item not superseded; as of a time, the items valid then."""

    def __init__(self, as_of: datetime | None) -> None:
        self.as_of = as_utc(as_of) if as_of is not None else None  # naive: UTC

    def __call__(self, status: str, valid_from: str, valid_to: str | None) -> bool:
        if self.as_of is None:
            return status != Status.SUPERSEDED.value
        return parse_time(valid_from) <= self.as_of and (valid_to is None or parse_time(valid_to) > self.as_of)


class LedgerLookup:
    """``EntityLookup`` over the ledger's index tables, restricted to what ``visible`` allows."""

    def __init__(self, query: Query, visible: Visibility) -> None:
        self._query, self._visible = query, visible
        self._df: dict[str, int] = {}  # entity key -> items mentioning it, read once per query

    def mentions_of(self, item_ids: Sequence[str]) -> Mapping[str, list[str]]:
        out: dict[str, list[str]] = {}
        for part in _parts(sorted(set(item_ids))):
            rows = self._query(
                f"SELECT e.item_id, m.key FROM entity_items e JOIN entity_mentions m ON m.n = e.n "
                f"WHERE e.item_id IN ({','.join('?' * len(part))}) ORDER BY e.item_id, m.key",
                part,
            )
            for item_id, key in rows:
                out.setdefault(item_id, []).append(key)
        return out

    def about(self, keys: Sequence[str]) -> Mapping[str, list[str]]:
        return self._items_by_key("entity_about", sorted(set(keys)))

    def mentioned_by(self, keys: Sequence[str], limit: int) -> Mapping[str, list[str]]:
        df = self.mention_counts(keys)  # counted once per query: the idf weights use the same counts
        return self._items_by_key("entity_mentions", sorted(k for k, n in df.items() if n <= limit))

    def _items_by_key(self, table: str, keys: list[str]) -> dict[str, list[str]]:
        """entity key -> the visible items ``table`` (about or mentions) links it to."""
        out: dict[str, list[str]] = {}
        for part in _parts(keys):
            rows = self._query(
                f"SELECT t.key, e.item_id, i.status, i.valid_from, i.valid_to FROM {table} t JOIN entity_items e ON e.n = t.n "
                f"JOIN items i ON i.item_id = e.item_id WHERE t.key IN ({','.join('?' * len(part))}) ORDER BY t.key, e.item_id",
                part,
            )
            for key, item_id, status, valid_from, valid_to in rows:
                if self._visible(status, valid_from, valid_to):
                    out.setdefault(key, []).append(item_id)
        return out

    def mention_counts(self, keys: Sequence[str]) -> Mapping[str, int]:
        todo = sorted(set(keys) - set(self._df))
        for part in _parts(todo):
            self._df.update((k, 0) for k in part)
            marks = ",".join("?" * len(part))
            self._df.update(
                (r[0], int(r[1]))
                for r in self._query(f"SELECT key, COUNT(*) FROM entity_mentions WHERE key IN ({marks}) GROUP BY key", part)
            )
        return {k: self._df[k] for k in keys if self._df.get(k)}

    def lexical(self, text: str, limit: int) -> list[str]:
        """Item ids by BM25 for ``text``, best first, visible ones only (ranked in FTS5 alone, then joined)."""
        hits = lexical.search(_Connection(self._query), text, limit * 3)
        if not hits:
            return []
        rowids = [h[0] for h in hits]
        rows = self._query(
            "SELECT e.n, e.item_id, i.status, i.valid_from, i.valid_to FROM entity_items e JOIN items i ON i.item_id = e.item_id "
            f"WHERE e.n IN ({','.join('?' * len(rowids))})",
            rowids,
        )
        seen = {r[0]: r for r in rows if self._visible(r[2], r[3], r[4])}
        return [seen[n][1] for n in rowids if n in seen][:limit]


class _Connection:
    """Just enough of a connection for ``lexical.search`` on a ``Query`` function."""

    def __init__(self, query: Query) -> None:
        self._query = query

    def execute(self, sql: str, params: Sequence[object]) -> _Connection:
        self._rows = self._query(sql, params)
        return self

    def fetchall(self) -> list:
        return list(self._rows)
