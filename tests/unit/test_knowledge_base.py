"""KnowledgeBase with a hash embedder and an in-memory store: ingest, skip, replace, remove, recover."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from helpers import HashEmbedder, MemoryStore
from kb.items import Status
from kb.knowledge_base import IngestReport, KnowledgeBase
from kb.ledger import LedgerError
from kb.loaders import load_file
from retrieval.store import Record


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    kb = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=MemoryStore(), chunk_chars=200, chunk_overlap=0)
    yield kb
    kb.close()


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
    assert third.updated == first.added and third.expired == first.chunks
    current = [i for i in kb.ledger.items() if i.expired_at is None]
    assert current and all("different" in i.text for i in current)
    assert all(i.status is Status.SUPERSEDED for i in kb.ledger.items() if i.expired_at)  # the earlier version: history
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
    kb.ledger.begin_documents([(record, [item])])
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


# document versions: a changed file replaces its current version, and the earlier one stays as history
V1 = "Opening hours are nine to five.\n\nThe canteen closes at three.\n\nParking is free for visitors."
V2 = "Opening hours are eight to six.\n\nThe canteen closes at three.\n\nParking is free for visitors."
THEN, LATER = datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2024, 1, 1, tzinfo=timezone.utc)


def top_text(kb: KnowledgeBase, query: str, as_of: datetime | None = None) -> str:
    return kb.search(query, 1, as_of=as_of).evidence[0].text


def test_changed_file_expires_only_its_changed_chunks_and_keeps_them_for_as_of(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=MemoryStore(), chunk_chars=50, chunk_overlap=0)
    path = write(tmp_path / "hours.txt", V1)
    first = kb.ingest([path], valid_from=THEN)
    before = {i.position: i for i in kb.ledger.items()}
    assert first.chunks == 3 and len(before) == 3
    embedded = len(kb.embedder.texts)
    write(path, V2)
    second = kb.ingest([path], valid_from=LATER)
    assert second.updated == first.added and second.chunks == 1 and second.expired == 1
    assert len(kb.embedder.texts) == embedded + 1, "only the changed chunk is embedded again"
    items = kb.ledger.items()
    old = next(i for i in items if "nine to five" in i.text)
    new = next(i for i in items if "eight to six" in i.text)
    assert old.item_id == before[0].item_id and old.status is Status.SUPERSEDED and old.expired_at is not None
    assert old.valid_to == LATER and old.superseded_by == new.item_id and new.position == 0 and new.valid_from == LATER
    kept = [i for i in items if i.position > 0]
    assert {i.item_id for i in kept} == {before[1].item_id, before[2].item_id}, "unchanged chunks keep their items"
    assert all(i.status is Status.VALID and i.valid_from == THEN and i.expired_at is None for i in kept)
    assert "eight to six" in top_text(kb, "opening hours nine five eight six")
    assert "nine to five" in top_text(kb, "opening hours nine five eight six", as_of=datetime(2022, 1, 1, tzinfo=timezone.utc))
    assert "canteen" in top_text(kb, "canteen closes", as_of=datetime(2022, 1, 1, tzinfo=timezone.utc))
    assert kb.store.records[old.item_id].metadata["status"] == "superseded"  # the store mirrors the expiry
    assert kb.store.ids() == kb.ledger.item_ids() and kb.ledger.unsynced() == []
    [doc] = kb.documents()
    assert doc.n_chunks == 3 and doc.valid_from == LATER
    assert [e.action for e in kb.ledger.history(old.item_id)][-1] == "expired"
    stats = kb.stats()
    assert stats.documents == 1 and stats.chunks == 4 and stats.expired == 1


def test_going_back_to_an_earlier_text_keeps_every_period(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=MemoryStore(), chunk_chars=50, chunk_overlap=0)
    path = write(tmp_path / "hours.txt", V1)
    kb.ingest([path], valid_from=THEN)
    write(path, V2)
    kb.ingest([path], valid_from=LATER)
    write(path, V1)
    third = kb.ingest([path], valid_from=datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert third.chunks == 1 and third.expired == 1
    query = "opening hours nine five eight six"
    assert [("nine" in top_text(kb, query, as_of=datetime(y, 6, 1, tzinfo=timezone.utc))) for y in (2021, 2024, 2026)] == [
        True,
        False,
        True,
    ]
    assert "nine to five" in top_text(kb, query)
    assert sorted(i.text.startswith("Opening hours are nine") for i in kb.ledger.items() if i.position == 0) == [False, True, True]


def test_crash_between_begin_and_commit_of_a_new_version_keeps_the_previous_one(tmp_path):
    store = MemoryStore()
    kb = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=store, chunk_chars=50, chunk_overlap=0)
    path = write(tmp_path / "hours.txt", V1)
    kb.ingest([path], valid_from=THEN)
    ids, [record] = kb.ledger.item_ids(), kb.documents()
    write(path, V2)
    [doc] = load_file(path)
    pending = kb._prepare(doc, LATER)
    assert len(pending.new_items) == 1
    kb.ledger.begin_documents([(pending.record, pending.new_items)])  # the process dies here: vectors may or may not be stored
    store.upsert([Record(i.item_id, i.text, [0.0] * 64, {}) for i in pending.new_items])
    kb.close()
    reopened = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=store, chunk_chars=50, chunk_overlap=0)
    assert reopened.ledger.item_ids() == ids == store.ids(), "the half-written version is gone, the previous one whole"
    assert reopened.documents() == [record] and reopened.ledger.pending_documents() == []
    assert all(i.status is Status.VALID and i.expired_at is None for i in reopened.ledger.items())
    assert "nine to five" in top_text(reopened, "opening hours nine five")
    again = reopened.ingest([path], valid_from=LATER)  # running the ingest again finishes the job
    assert again.updated == [record.doc_id] and again.chunks == 1 and again.expired == 1


def test_a_version_changed_by_another_process_meanwhile_is_refused_and_undone(tmp_path):
    store = MemoryStore()
    kb = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=store, chunk_chars=50, chunk_overlap=0)
    path = write(tmp_path / "hours.txt", V1)
    kb.ingest([path], valid_from=THEN)
    write(path, V2)
    [doc] = load_file(path)
    mine = kb._prepare(doc, LATER)  # keeps chunks 1 and 2 of V1 as they are...
    write(path, "Something else entirely.")
    kb.ingest([path])  # ...which another ingest expires before this one writes
    ids = kb.ledger.item_ids()
    with pytest.raises(LedgerError, match="changed in another process.*run the ingest again"):
        kb._write([mine], IngestReport(), None, 1)
    assert kb.ledger.item_ids() == ids == store.ids() and kb.ledger.pending_documents() == []
    assert "Something else" in top_text(kb, "something else entirely")


def test_a_retitled_document_replaces_every_chunk_since_titles_are_embedded(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=MemoryStore(), chunk_chars=50, chunk_overlap=0)
    path = write(tmp_path / "hours.md", "---\ntitle: Hours\n---\n" + V1)
    kb.ingest([path])
    write(path, "---\ntitle: Office hours\n---\n" + V1)
    again = kb.ingest([path])
    assert again.chunks == 3 and again.expired == 3
    assert {i.title for i in kb.ledger.items() if i.expired_at is None} == {"Office hours"}
    assert {r.metadata["title"] for r in kb.store.records.values() if r.metadata["status"] == "valid"} == {"Office hours"}
