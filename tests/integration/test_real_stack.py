"""The Python API on the real stack: llama.cpp with the embedded GGUF, sentence-transformers, Chroma on disk.

The default model is tiny, so no test checks that an answer is right: they check what must
hold with any model (ids that exist, counts that agree, complete records, events in order).
Budget: one full DAG question, one plain-RAG call and one short oracle-plan run.
"""

from __future__ import annotations

import io
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import get_args

import pytest
from rich.console import Console

from agent import DagRAG, render
from agent.demo import demo_docs, demo_questions
from agent.settings import load_settings
from agent.types import Answer, PlanSource
from graph import Plan

pytestmark = pytest.mark.integration

QUESTIONS = [q["question"] for q in demo_questions()]
DEMO_FILES = sorted(p for p in demo_docs().iterdir() if p.is_file())
AGENT_STAGES = {"warmup", "plan", "node", "memory", "reflect", "final"}
AGENT_PLAN_SOURCES = {"warmup", "rules", "llm", "repaired", "fallback"}  # what ask() may report (not gold/vanilla/none)


@pytest.fixture(scope="module")
def answer(rag: DagRAG) -> Answer:
    """The one full DAG question of this module."""
    return rag.ask(QUESTIONS[0])


def kb_ids(rag: DagRAG) -> tuple[set[str], set[str]]:
    """(ids in the Chroma collection, item ids in the ledger)."""
    return rag.kb.store.ids(), rag.kb.ledger.item_ids()


# ingest ---------------------------------------------------------------------------
def test_demo_ingest_fills_chroma_and_ledger_alike(demo_kb):
    rag, report = demo_kb.rag, demo_kb.report
    assert report.failed == [] and report.updated == [] and report.unchanged == []
    assert len(DEMO_FILES) == 6
    assert sorted(report.added) == [p.resolve().as_posix() for p in DEMO_FILES]
    assert report.chunks > 0 and report.embed_seconds > 0
    chroma_ids, ledger_ids = kb_ids(rag)
    assert rag.kb.store.count() == len(rag.kb.ledger.items()) == len(chroma_ids) == report.chunks
    assert chroma_ids == ledger_ids, "every Chroma id must be in the ledger and vice versa"
    stats = rag.kb.stats()
    assert (stats.documents, stats.chunks, stats.vectors) == (6, report.chunks, report.chunks)
    assert sum(d.n_chunks for d in rag.kb.documents()) == report.chunks
    assert (demo_kb.path / "chroma").is_dir() and (demo_kb.path / "ledger.sqlite3").is_file()


def test_reingesting_unchanged_files_does_nothing(demo_kb):
    rag = demo_kb.rag
    before = kb_ids(rag)
    again = rag.ingest([demo_docs()])
    assert len(again.unchanged) == 6 and sorted(again.unchanged) == sorted(demo_kb.report.added)
    assert again.added == [] and again.updated == [] and again.failed == [] and again.chunks == 0
    assert kb_ids(rag) == before


# the DAG agent ----------------------------------------------------------------------
def test_answer_is_complete_and_cites_real_chunks(rag, answer):
    assert answer.question == QUESTIONS[0]
    assert answer.answer.strip()
    assert answer.citations, "ask() must always cite at least one retrieved chunk"
    chroma_ids, ledger_ids = kb_ids(rag)
    items = {i.item_id: i for i in rag.kb.ledger.items([c.chunk_id for c in answer.citations])}
    for c in answer.citations:
        assert c.chunk_id in chroma_ids and c.chunk_id in ledger_ids
        item = items[c.chunk_id]
        assert c.title == item.title and c.doc_id == item.doc_id and c.source == item.source
        assert Path(c.source).is_file() and Path(c.source).parent == demo_docs().resolve()
        assert c.snippet.strip()
    assert len(set(answer.retrieved_ids)) == len(answer.retrieved_ids) and set(answer.retrieved_ids) <= chroma_ids
    assert {c.chunk_id for c in answer.citations} <= set(answer.retrieved_ids)


def test_answer_usage_and_timings_add_up(answer):
    calls = answer.calls  # the reader calls the model only for close calls: there may be none
    assert answer.usage.llm_calls == len(calls)
    assert {c.stage for c in calls} <= AGENT_STAGES
    assert answer.usage.prompt_tokens == sum(c.prompt_tokens for c in calls)
    assert answer.usage.completion_tokens == sum(c.completion_tokens for c in calls)
    assert all(c.prompt_tokens > 0 and c.seconds > 0 and (c.completion_tokens > 0 or c.options_scored >= 2) for c in calls)
    t = answer.timings
    assert {"llm", "embed", "retrieval", "other", "total"} <= t.keys()
    assert all(v >= 0 for v in t.values())
    assert t["total"] >= t["llm"] and t["embed"] > 0
    assert t["llm"] == pytest.approx(sum(c.seconds for c in calls))
    assert t["total"] == pytest.approx(t["llm"] + t["embed"] + t["retrieval"] + t["other"], abs=1e-6)


def test_answer_dag_and_fallbacks_are_well_formed(rag, answer):
    assert answer.plan_source in AGENT_PLAN_SOURCES and set(get_args(PlanSource)) >= AGENT_PLAN_SOURCES
    assert isinstance(answer.fallbacks, list) and all(isinstance(f, str) and f for f in answer.fallbacks)
    out = Console(width=120, record=True, file=io.StringIO())
    out.print(render.full(answer))
    assert Answer.model_validate_json(answer.model_dump_json()) == answer
    if answer.plan_source == "warmup":  # answered from the warm-up evidence: no plan, no sub-questions, no later stage
        assert answer.nodes == [] and answer.dag_tree() == "" and answer.dag_mermaid() == ""
        assert not {c.stage for c in answer.calls} & {"plan", "node", "reflect", "final"}
        assert "answered from the warm-up evidence" in out.export_text()
    else:
        assert_dag_well_formed(rag, answer)
        assert "DAG" in out.export_text()


def assert_dag_well_formed(rag: DagRAG, answer: Answer) -> None:
    assert answer.nodes, f"plan_source {answer.plan_source!r} means a plan was executed"
    if "single-node plan answered by the warm-up (plain RAG)" in answer.fallbacks:
        # a degenerate plan falls back to plain RAG: the warm-up answer is the final one, no final call
        assert answer.plan_source == "fallback" and len(answer.nodes) == 1
        assert answer.nodes[0].answer == answer.answer and not any(c.stage == "final" for c in answer.calls)
    elif any(f.startswith("the last sub-question found no typed answer") for f in answer.fallbacks):
        assert answer.citations or answer.answer == "unknown"  # the question was read over all the evidence
    else:
        # the last sub-question's typed answer is the final answer: no final call
        assert answer.answer == answer.nodes[-1].answer and not any(c.stage == "final" for c in answer.calls)
    chroma_ids = rag.kb.store.ids()
    ids = [n.id for n in answer.nodes]
    assert len(set(ids)) == len(ids)
    for n in answer.nodes:
        assert n.resolved_question.strip() and n.question.strip()
        assert set(n.depends_on) <= set(ids) - {n.id}
        assert n.evidence_ids and set(n.evidence_ids) <= chroma_ids and set(n.evidence_ids) <= set(answer.retrieved_ids)
    tree = answer.dag_tree()
    assert tree and all(f"[{i}]" in tree for i in ids)
    assert answer.dag_mermaid().startswith("flowchart")


def test_vanilla_is_one_retrieval_and_one_answer(rag):
    v = rag.ask_vanilla(QUESTIONS[0])
    assert v.plan_source == "vanilla" and v.nodes == [] and v.answer.strip()
    # one call, plus at most the single JSON-repair attempt ask_structured allows
    assert v.usage.llm_calls == len(v.calls) and 1 <= len(v.calls) <= 2
    assert {c.stage for c in v.calls} == {"vanilla"}
    chroma_ids = rag.kb.store.ids()
    assert len(v.retrieved_ids) == min(rag.settings.top_k, len(chroma_ids))
    assert set(v.retrieved_ids) <= chroma_ids
    assert v.citations and {c.chunk_id for c in v.citations} <= set(v.retrieved_ids)
    assert v.timings["total"] >= v.timings["llm"] > 0


# streaming --------------------------------------------------------------------------
def test_stream_yields_progress_then_one_final_event(rag, demo_kb):
    """An oracle one-node plan without reflection keeps this to two or so LLM calls."""
    question = QUESTIONS[2]
    sibling = DagRAG(rag.settings.with_overrides(max_rounds=0), llm=rag.llm, embedder=rag.embedder)
    try:
        events = []
        for event in sibling.stream(question, plan=Plan.single(question)):
            events.append(event)
    finally:
        sibling.close()
    *progress, last = events
    assert progress, "expected progress events before the final one"
    assert all(e.kind != "done" and e.answer is None and e.message for e in progress)
    assert last.kind == "done" and last.answer is not None and last.message == last.answer.answer
    kinds = [e.kind for e in progress]
    assert kinds[0] == "retrieving" and "node_start" in kinds and "node_done" in kinds
    assert kinds.index("node_start") < kinds.index("node_done") < kinds.index("answering")
    a = last.answer
    assert a.plan_source == "gold" and [n.id for n in a.nodes] == [1] and a.nodes[0].resolved_question == question
    assert a.citations and {c.stage for c in a.calls} <= {"node", "final"}  # no warm-up, planning or reflection
    assert a.usage.llm_calls == len(a.calls)  # the reader calls the model only for close calls
    # closing the sibling released only its own Chroma handle
    assert rag.kb.store.count() == demo_kb.report.chunks


# edits --------------------------------------------------------------------------------
def test_changed_file_replaces_its_chunks_keeps_the_old_ones_for_as_of_and_remove_clears_all(rag, tmp_path):
    doc = tmp_path / "docs" / "teams.md"
    doc.parent.mkdir()
    shutil.copy(demo_docs() / "teams.md", doc)
    doc_id = doc.resolve().as_posix()
    edit = DagRAG(load_settings(kb_path=tmp_path / "kb"), embedder=rag.embedder)
    try:
        first = edit.ingest([doc], valid_from=datetime(2023, 1, 1, tzinfo=timezone.utc))
        assert first.added == [doc_id] and first.chunks > 0
        old_ids, old_ledger = kb_ids(edit)
        assert old_ids == old_ledger and len(old_ids) == first.chunks

        doc.write_text(
            "---\ntitle: Teams and ownership\n---\n\n# Teams and ownership (reorganised)\n\n"
            "After the reorganisation the Ledger guild owns the billing service and the refund service.\n"
            "The Lighthouse group owns the search service and the Quarry cluster.\n",
            encoding="utf-8",
        )
        second = edit.ingest([doc], valid_from=datetime(2025, 1, 1, tzinfo=timezone.utc))
        assert second.updated == [doc_id] and second.added == [] and second.unchanged == [] and second.chunks > 0
        assert second.expired == first.chunks, "every chunk changed, so the whole earlier version is history"
        all_ids, ledger_ids = kb_ids(edit)
        new_ids = {i.item_id for i in edit.kb.ledger.items() if i.expired_at is None}
        assert all_ids == ledger_ids == old_ids | new_ids and not (old_ids & new_ids) and len(new_ids) == second.chunks
        [record] = edit.kb.documents()
        assert record.doc_id == doc_id and record.n_chunks == second.chunks
        question = "Which group owns the search service after the reorganisation?"
        hit = edit.kb.search(question, 1).evidence[0]
        assert hit.chunk_id in new_ids and "Lighthouse" in hit.text
        then = edit.kb.search(question, 3, as_of=datetime(2024, 1, 1, tzinfo=timezone.utc)).evidence
        assert then and {e.chunk_id for e in then} <= old_ids, "as of 2024 the earlier version answers"

        assert edit.kb.remove(str(doc)) == [doc_id]
        assert edit.kb.store.count() == 0 and edit.kb.store.ids() == set()
        assert edit.kb.ledger.item_ids() == set() and edit.kb.documents() == []
        assert edit.kb.remove(str(doc)) == []
    finally:
        edit.close()


# persistence ----------------------------------------------------------------------------
def test_kb_survives_close_and_reopen(rag, tmp_path):
    path = tmp_path / "kb"
    query = "Which team owns the login service?"
    first = DagRAG(load_settings(kb_path=path), embedder=rag.embedder)
    first.ingest([demo_docs()])
    stats = first.kb.stats()
    top = [(e.chunk_id, e.score) for e in first.kb.search(query, 3).evidence]
    first.close()
    # close() must release Chroma (its client cache, keyed by the folder), so the reopen below really reads the files back
    from chromadb.api.shared_system_client import SharedSystemClient

    assert str(path / "chroma") not in SharedSystemClient._identifier_to_system

    second = DagRAG(load_settings(kb_path=path), embedder=rag.embedder)
    try:
        assert second.kb.stats() == stats and stats.documents == 6 and stats.vectors == stats.chunks > 0
        assert second.kb.store.ids() == second.kb.ledger.item_ids()
        again = [(e.chunk_id, e.score) for e in second.kb.search(query, 3).evidence]
        assert again[0][0] == top[0][0]
        assert [i for i, _ in again] == [i for i, _ in top]
        assert [s for _, s in again] == pytest.approx([s for _, s in top], abs=1e-4)
    finally:
        second.close()
