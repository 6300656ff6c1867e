"""ARIA's timestamped knowledge base with a scripted LLM: conflicts, the review queue, statuses,
resolutions, history, time-aware retrieval, caveats, self-check and the person in the loop."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from agent.api import DagRAG
from agent.settings import Settings
from helpers import FakeLLM, HashEmbedder, MemoryStore
from kb.items import Status
from kb.ledger import Ledger, ReviewError

OLD = "---\ntitle: Refund policy 2024\ndate: 2024-01-01\n---\nRefunds are processed within 14 days of the request."
NEW = "---\ntitle: Refund policy 2025\ndate: 2025-03-01\n---\nRefunds are processed within 30 days of the request."
CONTRADICTS = {"relation": "contradicts", "confidence": 90, "reason": "14 days versus 30 days"}
CONSISTENT = {"relation": "consistent", "confidence": 80, "reason": "same"}


def make(tmp_path: Path, script: list, store: MemoryStore | None = None, **settings) -> DagRAG:
    s = Settings(kb_path=tmp_path / "kb", reviewer="tester", **settings)
    rag = DagRAG(s, llm=FakeLLM(script), embedder=HashEmbedder(), store=store if store is not None else MemoryStore())
    OPENED.append(rag)
    return rag


OPENED: list[DagRAG] = []  # every DagRAG a test made here, closed after it


@pytest.fixture(autouse=True)
def _close_opened() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def two_policies(tmp_path: Path, judge_reply: dict = CONTRADICTS, **settings) -> tuple[DagRAG, int]:
    rag = make(tmp_path, [judge_reply], **settings)
    rag.ingest([write(tmp_path / "docs" / "old.md", OLD)])
    report = rag.ingest([write(tmp_path / "docs" / "new.md", NEW)])
    assert len(report.reviews) == 1 and report.judged_pairs == 1
    return rag, report.reviews[0]


def items_by_title(rag: DagRAG) -> dict[str, object]:
    return {i.title: i for i in rag.kb.ledger.items()}


def test_contradiction_is_flagged_and_the_older_side_marked_potentially_outdated(tmp_path):
    rag, review_id = two_policies(tmp_path)
    review = rag.kb.ledger.review(review_id)
    items = items_by_title(rag)
    old, new = items["Refund policy 2024"], items["Refund policy 2025"]
    assert (review.state, review.kind, review.relation, review.detector) == ("open", "conflict", "contradicts", "judge")
    assert review.old_item == old.item_id and review.new_item == new.item_id
    assert "14 days" in review.old_statement and "30 days" in review.new_statement
    assert review.confidence == pytest.approx(0.9) and "replace" in review.question
    assert old.status is Status.POTENTIALLY_OUTDATED and new.status is Status.VALID
    assert rag.kb.store.records[old.item_id].metadata["status"] == "potentially_outdated"  # Chroma mirrors the ledger
    assert [e.action for e in rag.kb.ledger.history(old.item_id)] == ["flagged", "status"]
    judge_prompt = rag.llm.calls[0][0][-1]["content"]
    assert "2024-01-01" in judge_prompt and "2025-03-01" in judge_prompt


def test_the_value_change_rule_backs_up_a_judge_that_misses(tmp_path):
    rag, review_id = two_policies(tmp_path, judge_reply=CONSISTENT)
    review = rag.kb.ledger.review(review_id)
    assert review.detector == "rule" and review.relation == "updates" and "14" in review.reason and "30" in review.reason


def test_the_embedded_model_judges_no_conflict_the_rules_do(tmp_path):
    """judge_llm "auto": the LLM judges only when it is one the user chose (the embedded 135M judge is near chance)."""
    rag = DagRAG(Settings(kb_path=tmp_path / "kb"), embedder=HashEmbedder(), store=MemoryStore())
    OPENED.append(rag)
    assert not rag.llm_judges and rag.kb.time_policy.judge_max_pairs == 0
    rag.ingest([write(tmp_path / "docs" / "old.md", OLD)])
    report = rag.ingest([write(tmp_path / "docs" / "new.md", NEW)])
    assert len(report.reviews) == 1 and report.judged_pairs == 0 and report.rule_judged_pairs == 1
    assert rag.kb.ledger.review(report.reviews[0]).detector == "rule" and rag._llm is None  # the model was never loaded
    assert DagRAG(Settings(kb_path=tmp_path / "k2", judge_llm="on")).llm_judges
    assert DagRAG(Settings(kb_path=tmp_path / "k3", llm_url="http://127.0.0.1:9/v1")).llm_judges
    assert not DagRAG(Settings(kb_path=tmp_path / "k4", judge_llm="off"), llm=FakeLLM([])).llm_judges
    assert make(tmp_path / "k5", []).llm_judges  # an LLM passed in is one the caller chose


def test_identical_copy_and_unrelated_documents_are_not_flagged(tmp_path):
    rag = make(tmp_path, [])  # no judge call may happen
    rag.ingest([write(tmp_path / "a" / "old.md", OLD)])
    report = rag.ingest(
        [
            write(tmp_path / "b" / "copy.md", OLD.replace("Refund policy 2024", "Copy")),
            write(tmp_path / "b" / "other.md", "The cafeteria opens at nine."),
        ]
    )
    assert report.reviews == [] and report.judged_pairs == 0 and rag.reviews() == []


def test_detection_can_be_switched_off(tmp_path):
    rag = make(tmp_path, [], detect_conflicts=False)
    rag.ingest([write(tmp_path / "old.md", OLD)])
    assert rag.ingest([write(tmp_path / "new.md", NEW)]).reviews == []


def test_keep_new_supersedes_old_and_as_of_still_finds_it(tmp_path):
    rag, review_id = two_policies(tmp_path)
    review = rag.resolve(review_id, "new", by="ana", note="2025 policy replaces 2024")
    assert (review.state, review.resolution, review.resolved_by) == ("resolved", "new", "ana")
    items = items_by_title(rag)
    old, new = items["Refund policy 2024"], items["Refund policy 2025"]
    assert old.status is Status.SUPERSEDED and old.superseded_by == new.item_id
    assert old.valid_to == new.valid_from == datetime(2025, 3, 1, tzinfo=timezone.utc)
    assert new.validated_at > new.added_at and new.status is Status.VALID
    now = rag.kb.search("How long do refunds take?", 5)
    assert [e.title for e in now.evidence] == ["Refund policy 2025"]  # superseded items weigh 0 now
    then = rag.kb.search("How long do refunds take?", 5, as_of=datetime(2024, 6, 1, tzinfo=timezone.utc))
    assert [e.title for e in then.evidence] == ["Refund policy 2024"]  # but were valid then
    before_all = rag.kb.search("How long do refunds take?", 5, as_of=datetime(2023, 6, 1, tzinfo=timezone.utc))
    assert before_all.evidence == []
    actions = [e.action for e in rag.kb.ledger.audit_log()]
    assert actions[-1] == "resolved" and actions.count("status") == 3


def test_keep_old_supersedes_the_new_side(tmp_path):
    rag, review_id = two_policies(tmp_path)
    rag.resolve(review_id, "old", by="ana")
    items = items_by_title(rag)
    assert items["Refund policy 2025"].status is Status.SUPERSEDED
    assert items["Refund policy 2024"].status is Status.VALID
    assert items["Refund policy 2025"].superseded_by == items["Refund policy 2024"].item_id


def test_a_resolution_does_not_revive_an_earlier_version_of_a_changed_document(tmp_path):
    rag = make(tmp_path, [CONTRADICTS, CONSISTENT])
    rag.ingest([write(tmp_path / "docs" / "old.md", OLD)])
    [review_id] = rag.ingest([write(tmp_path / "docs" / "new.md", NEW)]).reviews
    edited = OLD.replace("date: 2024-01-01", "date: 2024-09-01").replace("14 days", "21 days")
    report = rag.ingest([write(tmp_path / "docs" / "old.md", edited)])
    assert report.updated and report.expired == 1
    before = {i.item_id: i for i in rag.kb.ledger.items()}
    review = rag.kb.ledger.review(review_id)
    expired = before[review.old_item]
    assert expired.expired_at is not None and expired.valid_to == datetime(2024, 9, 1, tzinfo=timezone.utc)
    rag.resolve(review_id, "old", by="ana")  # the person prefers the 2024 text, which its own document has replaced since
    after = {i.item_id: i for i in rag.kb.ledger.items()}
    assert after[review.old_item].status is Status.SUPERSEDED and after[review.old_item].valid_to == expired.valid_to
    assert after[review.new_item].status is Status.SUPERSEDED and after[review.new_item].superseded_by == review.old_item
    assert [e.text for e in rag.kb.search("How long do refunds take?", 5).evidence] == [
        "Refunds are processed within 21 days of the request."
    ]
    then = rag.kb.search("How long do refunds take?", 5, as_of=datetime(2024, 6, 1, tzinfo=timezone.utc))
    assert [e.text for e in then.evidence] == ["Refunds are processed within 14 days of the request."]


def test_keep_both_leaves_both_valid_with_the_note(tmp_path):
    rag, review_id = two_policies(tmp_path)
    review = rag.resolve(review_id, "both", by="ana", note="30 days applies to gift cards only")
    assert review.note == "30 days applies to gift cards only"
    assert {i.status for i in rag.kb.ledger.items()} == {Status.VALID}


def test_edit_replaces_both_with_a_human_item_that_is_searchable(tmp_path):
    rag, review_id = two_policies(tmp_path)
    review = rag.resolve(review_id, "new", by="ana", edit="Refunds are processed within 21 days of the request.")
    human = rag.kb.ledger.items([review.result_item])[0]
    assert human.kind == "human" and human.source == "ana" and review.resolution == "edit"
    assert {i.status for i in rag.kb.ledger.items() if i.kind == "chunk"} == {Status.SUPERSEDED}
    assert [e.chunk_id for e in rag.kb.search("How long do refunds take?", 3).evidence] == [human.item_id]


def test_resolving_twice_is_refused_and_nothing_changes(tmp_path):
    rag, review_id = two_policies(tmp_path)
    rag.resolve(review_id, "new", by="ana")
    log = rag.kb.ledger.audit_log()
    with pytest.raises(ReviewError, match="already resolved by ana"):
        rag.resolve(review_id, "old", by="bob")
    assert rag.kb.ledger.audit_log() == log
    with pytest.raises(ReviewError, match="no review 99"):
        rag.resolve(99, "new", by="bob")


def _race(path: str, keep: str, barrier, results) -> None:
    ledger = Ledger(Path(path))
    barrier.wait()
    try:
        ledger.resolve(1, keep, by=f"proc-{keep}")
        results.put(("won", keep))
    except ReviewError as exc:
        results.put(("refused", str(exc)))


def test_two_processes_resolving_at_once_exactly_one_wins(tmp_path):
    rag, review_id = two_policies(tmp_path)
    assert review_id == 1
    rag.close()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path / "kb" / "ledger.sqlite3"), keep, barrier, results)) for keep in ("new", "old")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert [o[0] for o in outcomes] == ["refused", "won"]
    assert "already resolved" in outcomes[0][1]
    ledger = Ledger(tmp_path / "kb" / "ledger.sqlite3")
    assert [e.action for e in ledger.audit_log()].count("resolved") == 1


def test_audit_log_is_append_only(tmp_path):
    rag, _ = two_policies(tmp_path)
    db = sqlite3.connect(tmp_path / "kb" / "ledger.sqlite3")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE audit SET actor='mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM audit")


def test_auto_policy_resolves_newer_supersedes_older_as_a_logged_decision(tmp_path):
    rag, review_id = two_policies(tmp_path, conflict_policy="auto", auto_resolve_confidence=0.85)
    review = rag.kb.ledger.review(review_id)
    assert review.state == "resolved" and review.resolved_by == "auto-policy" and review.resolution == "new"
    assert items_by_title(rag)["Refund policy 2024"].status is Status.SUPERSEDED
    assert rag.kb.ledger.audit_log()[-1].action == "auto-resolved"


def test_auto_policy_escalates_below_its_threshold(tmp_path):
    rag, review_id = two_policies(tmp_path, conflict_policy="auto", auto_resolve_confidence=0.95)
    assert rag.kb.ledger.review(review_id).state == "open"


def test_potentially_outdated_items_rank_below_valid_ones(tmp_path):
    from kb.knowledge_base import TimePolicy, aria_score

    now = 1_000_000.0
    fresh = {"status": "valid", "validated_at": now}
    policy = TimePolicy(outdated_weight=0.5, decay_per_day=0.01)
    assert aria_score(0.8, fresh, now, policy) == pytest.approx(0.8)
    assert aria_score(0.8, {**fresh, "status": "potentially_outdated"}, now, policy) == pytest.approx(0.4)
    assert aria_score(0.8, {**fresh, "status": "superseded"}, now, policy) == 0.0
    assert aria_score(0.8, {**fresh, "validated_at": now - 100 * 86400}, now, policy) == pytest.approx(0.8 * 2.718281828**-1, rel=1e-6)


def test_answer_relying_on_an_open_conflict_says_so_and_cites_both_sides(tmp_path):
    rag, review_id = two_policies(tmp_path, clarify_budget=0)
    rag.llm.script += [{"answer": "30 days", "sources": [1], "can_answer": True}]
    answer = rag.ask("How long do refunds take?")
    assert answer.plan_source == "warmup" and answer.conflicts == [review_id]
    assert any(f"#{review_id}" in c and "14 days" in c and "30 days" in c for c in answer.caveats)
    assert {c.title for c in answer.citations} == {"Refund policy 2024", "Refund policy 2025"}
    assert answer.confidence in ("moderate", "low")
    assert next(c for c in answer.self_check if "conflicting" in c.question).ok is False
    assert rag.kb.ledger.hits(review_id)[0][0] == "How long do refunds take?"


def test_as_of_answers_from_the_knowledge_valid_then(tmp_path):
    rag, review_id = two_policies(tmp_path)
    rag.resolve(review_id, "new", by="ana")
    rag.llm.script += [{"answer": "14 days", "sources": [1], "can_answer": True}]
    answer = rag.ask("How long do refunds take?", as_of=datetime(2024, 6, 1, tzinfo=timezone.utc))
    assert answer.answer == "14 days" and [c.title for c in answer.citations] == ["Refund policy 2024"]
    assert answer.as_of == datetime(2024, 6, 1, tzinfo=timezone.utc) and answer.conflicts == []


def test_low_confidence_queues_a_question_within_the_session_budget(tmp_path):
    rag = make(tmp_path, [], clarify_budget=1)
    rag.ingest([write(tmp_path / "a.md", "The office opens at nine.")])
    unsupported = {"answer": "Zorblax", "sources": [1], "can_answer": False}  # no date in the text: the model writes it
    rag.llm.script += [unsupported, unsupported]
    first = rag.ask("When does the office open?")
    assert first.confidence == "low" and any("queued for a person" in c for c in first.caveats)
    queued = rag.reviews()
    assert [r.kind for r in queued] == ["clarification"] and queued[0].thread_id is None
    second = rag.ask("When does the office open?")
    assert second.confidence == "low" and not any("queued" in c for c in second.caveats)  # budget spent
    assert len(rag.reviews()) == 1 and not rag.llm.script


def test_interactive_run_pauses_and_is_resumed_from_another_instance(tmp_path):
    store = MemoryStore()
    rag, review_id = two_policies(tmp_path)
    store.records = rag.kb.store.records  # share the vectors: a second "process" on the same kb
    rag.llm.script += [{"answer": "30 days", "sources": [1], "can_answer": True}]
    events = list(rag.stream("How long do refunds take?", interactive=True))
    pause = events[-1]
    assert pause.kind == "question" and pause.review_id == review_id and pause.options == ["new", "old", "both"]
    assert pause.thread_id and rag.kb.ledger.review(review_id).state == "open"
    rag.close()
    other = make(tmp_path, [{"answer": "30 days", "sources": [1]}], store=store)  # re-answers after the decision
    resumed = list(other.resume(review_id, keep="new", by="ana"))
    answer = resumed[-1].answer
    assert resumed[-1].kind == "done" and answer.answer == "30 days"
    assert other.kb.ledger.review(review_id).resolved_by == "ana"
    assert items_by_title(other)["Refund policy 2024"].status is Status.SUPERSEDED
    assert "Refund policy 2024" not in {c.title for c in answer.citations}
    assert any("asked a person (ana): keep new" in f for f in answer.fallbacks)


def test_a_persons_answer_becomes_knowledge_used_from_then_on(tmp_path):
    rag = make(tmp_path, [], clarify_budget=2)
    rag.ingest([write(tmp_path / "a.md", "The office opens at nine.")])
    unsupported = {"answer": "Zorblax", "sources": [1], "can_answer": False}
    plan = {"nodes": [{"id": 1, "question": "Who cleans the office?", "depends_on": []}]}
    rag.llm.script += [unsupported, plan]
    events = list(rag.stream("Who cleans the office?", interactive=True))
    assert events[-1].kind == "question" and events[-1].options == []
    rag.llm.script += [{"answer": "Sparkle Ltd", "sources": [1]}]
    answer = list(rag.resume(events[-1].review_id, text="Sparkle Ltd cleans the office every evening.", by="ana"))[-1].answer
    assert answer.answer == "Sparkle Ltd" and answer.citations[0].source == "ana"
    assert rag.kb.ledger.review(events[-1].review_id).state == "resolved"
    found = rag.kb.search("Who cleans the office?", 1).evidence[0]
    assert found.text == "Sparkle Ltd cleans the office every evening." and found.metadata["kind"] == "human"
    with pytest.raises(ReviewError, match="already answered"):
        list(rag.resume(events[-1].review_id, text="again"))


def test_a_non_interactive_ask_on_an_open_conflict_spends_no_question_budget(tmp_path):
    """Bug 2: the conflict is already in the queue; only a question actually raised may take from the budget."""
    rag, review_id = two_policies(tmp_path, clarify_budget=1)
    rag.llm.script += [{"answer": "30 days", "sources": [1], "can_answer": True}] * 3
    for _ in range(3):
        answer = rag.ask("How long do refunds take?")
        assert answer.conflicts == [review_id]
    assert rag._budget.left == 1  # untouched: nothing was asked or queued
    rag.ingest([write(tmp_path / "docs" / "office.md", "The office opens at nine.")])
    rag.llm.script += [{"answer": "Zorblax", "sources": [1], "can_answer": False}]  # no date in the text: the model writes it
    low = rag.ask("When does the office open?")
    assert low.confidence == "low" and any("queued for a person" in c for c in low.caveats)
    assert rag._budget.left == 0
