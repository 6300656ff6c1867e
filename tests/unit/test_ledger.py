"""The ledger's structure: numbered migrations (from the schema-2 layout too), foreign keys, the unsynced table,
rows validated into models, the review queue, store ownership, and aware datetimes at every boundary."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from helpers import HashEmbedder, MemoryStore
from kb import migrations
from kb.conflicts import rule_finding
from kb.items import KnowledgeItem, Status
from kb.knowledge_base import KnowledgeBase, TimePolicy
from kb.ledger import SCHEMA_VERSION, Ledger, LedgerError
from kb.loaders import SourceDocument
from kb.reviews import Review

# The layout dagrag wrote as ledger schema 2 (kb/ledger.py before migrations were numbered functions), verbatim.
V2_SCHEMA = """
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

T0 = "2024-05-01T10:00:00+00:00"


def v2_ledger(path: Path) -> Path:
    """A schema-2 ledger as the old code left it: a document, two items (one potentially outdated), a conflict under
    review with a hit, the audit log, and the JSON list of items whose Chroma mirror was not yet refreshed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(V2_SCHEMA)
    db.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    db.execute("INSERT INTO meta VALUES ('chroma_unsynced', ?)", (json.dumps(["i-0", "gone"]),))
    db.execute("INSERT INTO documents VALUES ('doc-1', '/docs/hours.md', 'Hours', 'h1', 2, ?, ?, 'ready', NULL)", (T0, T0))
    for n, (text, status) in enumerate([("The office opens at nine.", "potentially_outdated"), ("The office opens at ten.", "valid")]):
        db.execute(
            "INSERT INTO items VALUES (?, 'doc-1', ?, 'chunk', 'Hours', '/docs/hours.md', ?, ?, ?, ?, NULL, ?, NULL, NULL)",
            (f"i-{n}", n, text, T0, T0, status, T0),
        )
    db.execute(
        "INSERT INTO reviews(kind, state, created_at, old_item, new_item, question, relation, confidence, reason, detector) "
        "VALUES ('conflict', 'open', ?, 'i-0', 'i-1', 'Does ten replace nine?', 'updates', 0.6, 'nine -> ten', 'rule')",
        (T0,),
    )
    db.execute("INSERT INTO review_hits VALUES (1, 'When does the office open?', ?)", (T0,))
    db.execute(
        "INSERT INTO audit(at, actor, action, review_id, item_id, detail) VALUES (?, 'dagrag', 'flagged', 1, 'i-1', ?)",
        (T0, json.dumps({"old": "i-0"})),
    )
    db.commit()
    db.close()
    return path


def test_a_schema_2_ledger_is_migrated_step_by_step_and_keeps_everything(tmp_path):
    path = v2_ledger(tmp_path / "kb" / "ledger.sqlite3")
    ledger = Ledger(path)
    try:
        applied = {r["name"]: r["applied_at"] for r in ledger.query("SELECT name, applied_at FROM migrations")}
        assert list(applied) == [m.__name__ for m in migrations.MIGRATIONS]
        assert [applied[m.__name__] for m in migrations.MIGRATIONS[:2]] == [migrations.PRE_RECORD] * 2  # schema 2 had the first two steps
        assert all(applied[m.__name__] != migrations.PRE_RECORD for m in migrations.MIGRATIONS[2:])
        assert (
            ledger.query("SELECT value FROM meta WHERE key='schema_version'")[0][0]
            == str(SCHEMA_VERSION)
            == str(len(migrations.MIGRATIONS))
        )
        items = {i.item_id: i for i in ledger.items()}
        assert items["i-0"].status is Status.POTENTIALLY_OUTDATED and items["i-1"].text == "The office opens at ten."
        assert items["i-0"].added_at == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
        review = ledger.review(1)
        assert (review.old_item, review.new_item, review.state, review.detector) == ("i-0", "i-1", "open", "rule")
        assert [q for q, _ in ledger.hits(1)] == ["When does the office open?"]
        assert [e.action for e in ledger.audit_log()] == ["flagged"] and ledger.audit_log()[0].detail == {"old": "i-0"}
        assert ledger.unsynced() == ["i-0"]  # the JSON list became rows; an id the ledger no longer knows is dropped
        assert not ledger.query("SELECT 1 FROM meta WHERE key='chroma_unsynced'")
        # foreign keys where they belong, enforced
        assert {r["table"] for r in ledger.query("PRAGMA foreign_key_list(items)")} == {"documents"}
        assert {r["table"] for r in ledger.query("PRAGMA foreign_key_list(review_hits)")} == {"reviews"}
        with pytest.raises(sqlite3.IntegrityError):
            with ledger.transaction() as db:
                db.execute(
                    "INSERT INTO items VALUES ('x', 'no-such-doc', 0, 'chunk', 't', 's', 'x', ?, ?, 'valid', NULL, ?, NULL, NULL)",
                    (T0, T0, T0),
                )
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            with ledger.transaction() as db:
                db.execute("DELETE FROM audit")
        # and it works: resolving the migrated review, removing the document
        ledger.resolve(1, "new", by="ana")
        assert {i.item_id: i.status for i in ledger.items()} == {"i-0": Status.SUPERSEDED, "i-1": Status.VALID}
        assert ledger.remove_document("doc-1") == ["i-0", "i-1"] and ledger.unsynced() == []  # unsynced rows go with their items
    finally:
        ledger.close()
    again = Ledger(path)  # opening again applies nothing
    try:
        assert {r["name"]: r["applied_at"] for r in again.query("SELECT name, applied_at FROM migrations")} == applied
    finally:
        again.close()


def test_a_schema_2_knowledge_base_opens_and_searches(tmp_path):
    v2_ledger(tmp_path / "kb" / "ledger.sqlite3")
    kb = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=MemoryStore())  # recover() embeds the items the store lacks
    try:
        assert kb.store.ids() == {"i-0", "i-1"} and kb.ledger.unsynced() == []
        assert kb.store.records["i-0"].metadata["status"] == "potentially_outdated"
        assert kb.search("When does the office open?", 2).evidence[0].chunk_id in {"i-0", "i-1"}
    finally:
        kb.close()


def test_each_migration_runs_once_and_a_new_one_is_applied_on_the_next_open(tmp_path, monkeypatch):
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    ran: list[str] = []

    def m999_example(db: sqlite3.Connection) -> None:
        ran.append("m999")
        db.execute("CREATE TABLE example (x)")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, m999_example])
    for _ in range(2):
        ledger = Ledger(path)
        names = [r["name"] for r in ledger.query("SELECT name FROM migrations ORDER BY rowid")]
        version = ledger.query("SELECT value FROM meta WHERE key='schema_version'")[0][0]
        ledger.close()
    assert ran == ["m999"] and names[-1] == "m999_example" and len(names) == len(set(names)) and version == str(len(names))


def test_a_failing_migration_leaves_the_ledger_as_it_was(tmp_path, monkeypatch):
    path = v2_ledger(tmp_path / "ledger.sqlite3")

    def m999_broken(db: sqlite3.Connection) -> None:
        db.execute("DROP TABLE items")
        raise sqlite3.OperationalError("disk I/O error while migrating")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, m999_broken])
    with pytest.raises(sqlite3.OperationalError):
        Ledger(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"
    assert db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 2
    db.close()


def test_rows_are_validated_into_models_with_aware_times(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        review_id = ledger.queue.open_clarification("Who cleans the office?", items=[])
        review = ledger.review(review_id)
        assert isinstance(review, Review) and review.created_at.tzinfo is not None and review.thread_id is None
        ledger.queue.attach_thread(review_id, "ask-1")
        assert ledger.review(review_id).thread_id == "ask-1"
        ledger.queue.attach_thread(review_id, None)  # the run finished: nothing waits on it
        assert ledger.review(review_id).thread_id is None
        assert [e.action for e in ledger.audit_log()] == ["asked", "paused", "unpaused"]
    finally:
        ledger.close()


def test_the_same_open_question_is_queued_once(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        first = ledger.queue.open_clarification("Who cleans the office?", items=["i-1"])
        assert ledger.queue.open_clarification("Who cleans the office?", items=["i-1"]) == first  # asked again with `dagrag ask`
        other = ledger.queue.open_clarification("Who waters the plants?", items=[])
        waiting = ledger.queue.open_clarification("Who cleans the office?", items=[], thread_id="chat-1")  # a paused run waits on its own
        assert len({first, other, waiting}) == 3 and len(ledger.queue.reviews()) == 3
    finally:
        ledger.close()


def test_a_naive_datetime_is_taken_as_utc_everywhere(tmp_path):
    item = KnowledgeItem(
        item_id="a",
        doc_id="d",
        text="t",
        title="t",
        source="s",
        added_at=datetime(2024, 1, 1),
        validated_at="2024-01-01T00:00:00",
        valid_from=datetime(2024, 1, 1, 2, tzinfo=timezone.utc),
    )
    assert item.added_at == datetime(2024, 1, 1, tzinfo=timezone.utc) and item.validated_at.tzinfo is timezone.utc
    assert item.valid_from.tzinfo is timezone.utc


def _kb_with_rule_judge(tmp_path: Path) -> KnowledgeBase:
    return KnowledgeBase(
        tmp_path / "kb",
        HashEmbedder(),
        store=MemoryStore(),
        judge=lambda o, n, of, nf: rule_finding(o, n),
        time_policy=TimePolicy(conflict_similarity=0.0),
    )


def refunds(name: str, days: int) -> SourceDocument:
    text = f"Refunds are processed within {days} days of the request."
    return SourceDocument(doc_id=name, source=f"/docs/{name}.md", title=name, text=text)


def test_bug1_naive_valid_from_flags_a_conflict_instead_of_crashing(tmp_path):
    """`dagrag ingest --valid-from 2026-03-01` after a document ingested `--valid-from 2024-01-01` (both naive)."""
    kb = _kb_with_rule_judge(tmp_path)
    try:
        kb.ingest_documents([refunds("refunds-2024", 14)], valid_from=datetime(2024, 1, 1))
        report = kb.ingest_documents([refunds("refunds-2026", 30)], valid_from=datetime(2026, 3, 1))
        assert len(report.reviews) == 1
        review = kb.ledger.review(report.reviews[0])
        assert "2026-03-01" in review.question and "within 14 days" in review.old_statement
        assert {i.valid_from for i in kb.ledger.items()} == {
            datetime(2024, 1, 1, tzinfo=timezone.utc),
            datetime(2026, 3, 1, tzinfo=timezone.utc),
        }
        as_of = kb.search("How long do refunds take?", 2, as_of=datetime(2025, 1, 1)).evidence  # naive as_of: UTC too
        assert [e.doc_id for e in as_of] == ["refunds-2024"]
    finally:
        kb.close()


class ClosingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_a_store_passed_in_stays_the_callers_and_one_from_a_factory_is_the_knowledge_bases(tmp_path):
    mine = ClosingStore()
    KnowledgeBase(tmp_path / "a", HashEmbedder(), store=mine).close()
    assert not mine.closed
    opened: list[ClosingStore] = []

    def factory() -> ClosingStore:
        opened.append(ClosingStore())
        return opened[-1]

    kb = KnowledgeBase(tmp_path / "b", HashEmbedder(), store=factory)
    other = KnowledgeBase(tmp_path / "b", HashEmbedder(), store=MemoryStore())
    other.add_statement("The office opens at nine.", by="ana")  # another writer: the owned store is reopened on next use
    other.close()
    kb.stats()
    kb.close()
    assert len(opened) == 2 and all(s.closed for s in opened)


def test_time_policy_from_settings():
    from agent.settings import Settings

    s = Settings(
        outdated_weight=0.25,
        decay_per_day=0.01,
        candidate_factor=7,
        conflict_similarity=0.7,
        judge_max_pairs=5,
        judge_max_per_ingest=7,
        conflict_policy="auto",
        auto_resolve_confidence=0.99,
    )
    assert TimePolicy.from_settings(s) == TimePolicy(
        outdated_weight=0.25,
        decay_per_day=0.01,
        candidate_factor=7,
        conflict_similarity=0.7,
        judge_max_pairs=5,
        judge_max_per_ingest=7,
        policy="auto",
        auto_confidence=0.99,
    )
    assert TimePolicy.from_settings(s, llm_judge=False).judge_max_pairs == 0  # the rules judge every pair


def test_a_ledger_error_is_a_dagrag_error():
    from retrieval.errors import DagragError

    assert issubclass(LedgerError, DagragError)
