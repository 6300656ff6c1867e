"""KnowledgeBase with a hash embedder and an in-memory store: ingest, skip, replace, remove, recover."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from helpers import HashEmbedder, MemoryStore
from kb.items import Status
from kb.knowledge_base import KnowledgeBase
from retrieval.store import Record


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    return KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=MemoryStore(), chunk_chars=200, chunk_overlap=0)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_ingest_records_items_with_aria_fields(kb, tmp_path):
    doc = write(tmp_path / "docs" / "a.md", "---\ntitle: Policy A\ndate: 2024-03-01\n---\n# Policy A\n\nRefunds take 14 days. " * 3)
    report = kb.ingest([tmp_path / "docs"])
    assert report.added == [doc.resolve().as_posix()] and report.failed == []
    items = kb.ledger.items()
    assert len(items) == report.chunks == kb.store.count() >= 1
    item = items[0]
    assert item.title == "Policy A" and item.source == doc.resolve().as_posix()
    assert item.status is Status.VALID and item.superseded_by is None and item.valid_to is None
    assert item.valid_from == datetime(2024, 3, 1, tzinfo=timezone.utc)
    assert item.added_at == item.validated_at and item.added_at.tzinfo is not None
    meta = kb.store.records[item.item_id].metadata
    assert meta["doc_id"] == item.doc_id and meta["status"] == "valid" and meta["ingested_at"].endswith("+00:00")


def test_valid_from_option_and_ingest_time_default(kb, tmp_path):
    write(tmp_path / "x.txt", "Plain text without a date.")
    kb.ingest([tmp_path / "x.txt"])
    item = kb.ledger.items()[0]
    assert abs((item.valid_from - item.added_at).total_seconds()) < 1
    when = datetime(2020, 1, 2, tzinfo=timezone.utc)
    write(tmp_path / "y.txt", "Another text.")
    kb.ingest([tmp_path / "y.txt"], valid_from=when)
    assert [i.valid_from for i in kb.ledger.items() if i.source.endswith("y.txt")] == [when]


def test_unchanged_file_is_skipped_and_changed_file_replaced(kb, tmp_path):
    path = write(tmp_path / "a.txt", "Alpha beta gamma. " * 30)
    first = kb.ingest([path])
    embedded = len(kb.embedder.texts)
    again = kb.ingest([path])
    assert again.unchanged == first.added and again.chunks == 0 and len(kb.embedder.texts) == embedded
    write(path, "Completely different words now. " * 5)
    third = kb.ingest([path])
    assert third.updated == first.added
    texts = {i.text for i in kb.ledger.items()}
    assert all("different" in t for t in texts)
    assert kb.store.ids() == kb.ledger.item_ids()


def test_bad_files_are_reported_and_good_ones_ingested(kb, tmp_path):
    good = write(tmp_path / "d" / "good.md", "# Good\n\nUseful text.")
    write(tmp_path / "d" / "empty.txt", "   ")
    (tmp_path / "d" / "bin.txt").write_bytes(b"\xff\xfe\x00\x81garbage")
    docx = write(tmp_path / "notes.docx", "x")
    report = kb.ingest([tmp_path / "d", docx])
    assert report.added == [good.resolve().as_posix()]
    failed = dict(report.failed)
    assert set(Path(p).name for p in failed) == {"empty.txt", "bin.txt", "notes.docx"}
    assert all("\n" not in reason for reason in failed.values())


def test_json_passages_are_documents_and_rm_by_path_removes_all(kb, tmp_path):
    corpus = write(tmp_path / "corpus.json", '[{"title": "A", "text": "First passage."}, {"title": "B", "text": "Second passage."}]')
    report = kb.ingest([corpus])
    assert len(report.added) == 2 and all("#" in d for d in report.added)
    removed = kb.remove(str(corpus))
    assert sorted(removed) == sorted(report.added)
    assert kb.store.count() == 0 and kb.ledger.items() == [] and kb.documents() == []


def test_rm_by_doc_id_only_removes_that_document(kb, tmp_path):
    a = write(tmp_path / "a.txt", "Apples are red.")
    write(tmp_path / "b.txt", "Bananas are yellow.")
    kb.ingest([tmp_path])
    assert kb.remove(a.resolve().as_posix()) == [a.resolve().as_posix()]
    assert [d.title for d in kb.documents()] == ["b"]
    assert kb.remove("nothing-here") == []


def test_search_returns_evidence_with_metadata(kb, tmp_path):
    write(tmp_path / "a.txt", "The Payments team owns the billing service.")
    write(tmp_path / "b.txt", "Omar works in Oslo.")
    kb.ingest([tmp_path])
    got = kb.search("Which team owns billing?", 1)
    assert [e.title for e in got.evidence] == ["a"]
    assert got.evidence[0].source.endswith("a.txt") and got.evidence[0].chunk_id in kb.ledger.item_ids()


def test_recover_removes_half_ingested_documents_and_orphan_vectors(tmp_path):
    store = MemoryStore()
    kb = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=store)
    write(tmp_path / "a.txt", "Kept text.")
    kb.ingest([tmp_path / "a.txt"])
    # simulate a crash: a document recorded as pending, its vectors written, plus a stray vector
    from kb.items import DocumentRecord, KnowledgeItem, utc_now

    now = utc_now()
    record = DocumentRecord(doc_id="half", source="/x", title="x", content_hash="h", n_chunks=1, ingested_at=now, valid_from=now)
    item = KnowledgeItem(item_id="half-1", doc_id="half", text="t", title="x", source="/x", added_at=now, validated_at=now, valid_from=now)
    kb.ledger.begin_document(record, [item])
    store.upsert([Record("half-1", "t", [0.0] * 64, {}), Record("stray", "s", [0.0] * 64, {})])
    kb.close()
    reopened = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=store)
    assert "half-1" not in store.ids() and "stray" not in store.ids()
    assert [d.doc_id for d in reopened.documents()] == [Path(tmp_path / "a.txt").resolve().as_posix()]
    assert store.ids() == reopened.ledger.item_ids()


def test_kb_folder_is_private(tmp_path):
    KnowledgeBase(tmp_path / "private", HashEmbedder(), store=MemoryStore())
    assert (tmp_path / "private").stat().st_mode & 0o077 == 0


def test_progress_reports_every_passage(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=MemoryStore(), chunk_chars=100, chunk_overlap=0, batch_passages=4)
    for i in range(6):
        write(tmp_path / "d" / f"{i}.txt", f"Document {i} sentence one. Sentence two is here. " * 4)
    seen: list[tuple[int, int]] = []
    report = kb.ingest([tmp_path / "d"], progress=lambda done, total: seen.append((done, total)))
    assert len(seen) > 1 and sum(d for d, _ in seen) == report.chunks == seen[0][1]


def test_stats(kb, tmp_path):
    write(tmp_path / "a.txt", "One. " * 100)
    kb.ingest([tmp_path / "a.txt"])
    s = kb.stats()
    assert s.documents == 1 and s.chunks == s.vectors > 1 and s.by_status["valid"] == s.chunks
