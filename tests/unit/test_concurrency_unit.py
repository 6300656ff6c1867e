"""Threads sharing one ledger or knowledge base, and the folder lock's rules (no model, no Chroma)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from helpers import HashEmbedder, MemoryStore
from kb.knowledge_base import KnowledgeBase
from kb.ledger import KBBusyError, Ledger, LedgerError, ReviewError


def run_threads(n: int, target) -> list[str]:
    """Start ``n`` threads at once on target(i); return the errors they raised."""
    barrier, errors = threading.Barrier(n), []

    def body(i: int) -> None:
        barrier.wait()
        try:
            target(i)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(repr(exc))

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_one_ledger_shared_by_threads_takes_turns(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    review = ledger.queue.open_clarification("Who cleans the office?", items=[])

    def work(i: int) -> None:
        for k in range(60):
            ledger.queue.record_hits([review], f"thread {i} question {k}")
            ledger.queue.open_clarification(f"thread {i} asks {k}", items=[])
            ledger.reviews(state=None)
            ledger.hits(review)

    try:
        assert run_threads(8, work) == []  # one connection: without turns, "cannot start a transaction within a transaction"
        assert len(ledger.hits(review)) == 8 * 60
        assert len(ledger.reviews()) == 1 + 8 * 60
        assert [e.action for e in ledger.audit_log()].count("asked") == 1 + 8 * 60
    finally:
        ledger.close()


def test_threads_racing_to_resolve_the_same_reviews_apply_each_once(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=MemoryStore())
    reviews = [kb.ledger.queue.open_clarification(f"Question {n}?", items=[]) for n in range(12)]
    refused: list[str] = []

    def work(i: int) -> None:
        for r in reviews:
            try:
                kb.resolve(r, "edit", by=f"person-{i}", edit=f"Answer {r} from person {i}.")
            except ReviewError as exc:
                refused.append(str(exc))

    try:
        assert run_threads(6, work) == []
        assert len(refused) == 5 * len(reviews) and all("already resolved" in r for r in refused)
        log = kb.ledger.audit_log()
        assert sorted(e.review_id for e in log if e.action == "resolved") == reviews
        humans = [i for i in kb.ledger.items() if i.kind == "human"]
        assert len(humans) == len(reviews) and set(kb.store.records) == {h.item_id for h in humans}
        assert kb.ledger.unsynced() == []
    finally:
        kb.close()


def test_a_second_knowledge_base_on_the_folder_waits_then_is_refused_in_one_clear_line(tmp_path):
    first = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=MemoryStore(), lock_timeout=0.2)
    second = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=MemoryStore(), lock_timeout=0.2)
    review = second.ledger.queue.open_clarification("Who waters the plants?", items=[])
    try:
        with first._lock.hold(True):  # as during a write: flock conflicts between two opens of the file, in one process too
            with pytest.raises(KBBusyError) as busy:
                second.resolve(review, "edit", by="ana", edit="Bo waters the plants.")
            with pytest.raises(KBBusyError):
                second.search("plants", 1)
        assert str(busy.value) == f"knowledge base {tmp_path / 'kb'} is busy: another dagrag process is writing; try again"
        assert isinstance(busy.value, LedgerError) and "\n" not in str(busy.value)
        assert second.ledger.review(review).state == "open"
        second.resolve(review, "edit", by="ana", edit="Bo waters the plants.")  # the turn is free again
        assert second.ledger.review(review).state == "resolved"
    finally:
        first.close()
        second.close()


def test_the_folder_lock_is_reentrant_and_a_write_changes_the_token_others_check(tmp_path):
    kb = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=MemoryStore())
    other = KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=MemoryStore())
    try:
        with kb._lock.hold(True) as outer:
            with kb._lock.hold(False) as inner:  # reading while writing: fine
                assert (outer, inner) == (True, False)
        with kb._lock.hold(False):
            with pytest.raises(RuntimeError, match="cannot write to the knowledge base while reading it"):
                with kb._lock.hold(True):
                    pass
        other.search("anything", 1)
        seen = other._seen
        kb.add_statement("The office opens at nine.", by="ana")  # a write to the store: a new token
        assert kb._lock.token() != seen
        other.search("anything", 1)  # the other instance notices (with its own Chroma client, it reopens it)
        assert other._seen == kb._lock.token()
        kb.search("office", 1)  # reading changes nothing
        assert other._seen == kb._lock.token()
    finally:
        kb.close()
        other.close()


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts open files in /proc")
def test_a_knowledge_base_that_cannot_open_leaves_no_file_open(tmp_path, monkeypatch):
    def busy(self: KnowledgeBase) -> None:
        raise KBBusyError(self.path)

    monkeypatch.setattr(KnowledgeBase, "recover", busy)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(KBBusyError):
            KnowledgeBase(tmp_path / "kb", HashEmbedder(), store=MemoryStore())
    assert len(os.listdir("/proc/self/fd")) == before  # the ledger and the lock file were closed
