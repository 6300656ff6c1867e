"""The DagRAG Python API end to end with fakes: ingest, ask, stream, baselines, question cleaning."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from agent import prompts
from agent.api import MAX_QUESTION_CHARS, DagRAG, QuestionError, clean_question
from agent.settings import Settings
from agent.types import Answer, StepEvent
from graph import Plan
from helpers import FakeLLM, HashEmbedder, MemoryStore, plan_reply, write_company_docs

Q = "Who manages the team that owns the billing service?"
NOT_ENOUGH = {"can_answer": False, "answer": "unknown", "sources": []}
ENOUGH = {"enough": True, "new_questions": []}
TWO_HOPS = plan_reply((1, "Which team owns the billing service?", []), (2, "Who manages #1?", [1]))


def full_script() -> list:
    return [NOT_ENOUGH, TWO_HOPS, {"answer": "Payments team"}, {"answer": "Dana Kim"}, ENOUGH, {"answer": "Dana Kim", "sources": [1]}]


pytestmark = pytest.mark.usefixtures("no_dagrag_env")

OPENED: list[DagRAG] = []  # every DagRAG a test made here, closed after it


@pytest.fixture(autouse=True)
def _close_opened() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


@pytest.fixture
def docs(tmp_path):
    return write_company_docs(tmp_path / "docs")


def make_rag(tmp_path, docs, script, **settings) -> tuple[DagRAG, FakeLLM, HashEmbedder]:
    llm, embedder = FakeLLM(list(script)), HashEmbedder()
    settings = {"planner": "llm", "reader": "free", **settings}  # the scripts below are written for the model-writes-it path
    rag = DagRAG(Settings(kb_path=tmp_path / "kb", **settings), llm=llm, embedder=embedder, store=MemoryStore())
    OPENED.append(rag)
    report = rag.ingest([docs])
    assert len(report.added) == 3 and report.failed == []
    return rag, llm, embedder


def test_ingest_records_three_documents_in_the_ledger_and_store(tmp_path, docs):
    rag, llm, _ = make_rag(tmp_path, docs, [])
    stats = rag.kb.stats()
    assert stats.documents == 3 and stats.chunks == stats.vectors == 3
    assert sorted(d.title for d in rag.kb.documents()) == ["Managers", "Offices", "Teams"]
    assert llm.calls == []  # ingesting never touches the LLM
    again = rag.ingest([docs])
    assert len(again.unchanged) == 3 and again.added == []
    rag.close()


def test_ask_returns_an_answer_citing_chunks_in_the_ledger(tmp_path, docs):
    rag, llm, _ = make_rag(tmp_path, docs, full_script())
    answer = rag.ask(Q)
    assert isinstance(answer, Answer)
    assert answer.answer == "Dana Kim" and answer.question == Q
    assert answer.plan_source == "llm" and len(answer.nodes) == 2
    assert answer.citations
    known = rag.kb.ledger.item_ids()
    assert {c.chunk_id for c in answer.citations} <= known
    assert set(answer.retrieved_ids) <= known and answer.retrieved_ids
    assert len(llm.calls) == 6 == answer.usage.llm_calls
    rag.close()


def test_stream_yields_step_events_ending_with_done(tmp_path, docs):
    rag, _, _ = make_rag(tmp_path, docs, full_script())
    events = list(rag.stream(Q))
    assert all(isinstance(e, StepEvent) for e in events)
    assert events[-1].kind == "done" and isinstance(events[-1].answer, Answer)
    assert events[-1].answer.answer == "Dana Kim" and events[-1].message == "Dana Kim"
    assert all(e.answer is None for e in events[:-1])
    kinds = [e.kind for e in events]
    assert kinds.count("done") == 1
    assert {"retrieving", "planning", "node_start", "node_done", "answering"} <= set(kinds)
    rag.close()


def test_ask_vanilla_makes_one_call_and_retrieves_top_k(tmp_path, docs):
    reply = {"can_answer": True, "answer": "Dana Kim", "sources": [1]}
    rag, llm, _ = make_rag(tmp_path, docs, [reply], top_k=2)
    answer = rag.ask_vanilla(Q)
    assert len(llm.calls) == 1 and answer.usage.llm_calls == 1
    assert answer.plan_source == "vanilla" and [c.stage for c in answer.calls] == ["vanilla"]
    assert len(answer.retrieved_ids) == 2 and set(answer.retrieved_ids) <= rag.kb.ledger.item_ids()
    assert answer.answer == "Dana Kim" and answer.nodes == []
    assert answer.citations and {c.chunk_id for c in answer.citations} <= set(answer.retrieved_ids)
    assert any("Dana Kim" in c.snippet for c in answer.citations)
    assert Q in llm.prompt(0)
    rag.close()


def test_ask_vanilla_with_unusable_reply_records_a_fallback(tmp_path, docs):
    rag, llm, _ = make_rag(tmp_path, docs, ["nope", "nope again"], top_k=2)
    answer = rag.ask_vanilla(Q)
    assert answer.answer == "unknown" and len(llm.calls) == 2
    assert any(f.startswith("answer unusable") for f in answer.fallbacks)
    rag.close()


def test_ask_without_retrieval_makes_one_call_and_no_retrieval(tmp_path, docs):
    rag, llm, embedder = make_rag(tmp_path, docs, [{"answer": "no idea"}])
    embedded = len(embedder.texts)
    answer = rag.ask_without_retrieval(Q)
    assert len(llm.calls) == 1 and answer.usage.llm_calls == 1
    assert answer.plan_source == "none" and answer.answer == "no idea"
    assert answer.retrieved_ids == [] and answer.citations == []
    assert len(embedder.texts) == embedded  # the question was never embedded
    assert "<passage" not in llm.prompt(0) and Q in llm.prompt(0)
    rag.close()


@pytest.mark.parametrize("question", ["", "   ", "\n\t  \r\n", "\x00\x01"])
def test_clean_question_refuses_empty(question):
    with pytest.raises(QuestionError) as exc:
        clean_question(question)
    assert "empty" in str(exc.value)


def test_clean_question_removes_control_characters_and_collapses_space():
    assert clean_question("  Who\x00 owns\x07billing?\x1b[31m \n") == "Who owns billing? [31m"
    assert clean_question("a\tb\nc") == "a b c"
    assert "\x7f" not in clean_question("del\x7fete")


def test_clean_question_length_limit():
    assert len(clean_question("x" * MAX_QUESTION_CHARS)) == MAX_QUESTION_CHARS
    with pytest.raises(QuestionError) as exc:
        clean_question("x" * (MAX_QUESTION_CHARS + 1))
    assert "4,000" in str(exc.value)


def test_api_methods_clean_the_question(tmp_path, docs):
    rag, llm, _ = make_rag(tmp_path, docs, [])
    for call in (rag.ask, rag.ask_vanilla, rag.ask_without_retrieval, lambda q: list(rag.stream(q))):
        with pytest.raises(QuestionError):
            call(" \x00 ")
    assert llm.calls == []
    rag.close()


def test_answer_json_round_trips(tmp_path, docs):
    rag, _, _ = make_rag(tmp_path, docs, full_script())
    answer = rag.ask(Q)
    again = Answer.model_validate_json(answer.model_dump_json())
    assert again == answer
    assert again.dag_tree() == answer.dag_tree() and "Dana Kim" in again.dag_tree()
    rag.close()


def test_stream_with_a_given_plan_skips_the_plan_call(tmp_path, docs):
    gold = Plan.model_validate(TWO_HOPS)
    rag, llm, _ = make_rag(tmp_path, docs, [{"answer": "Payments team"}, {"answer": "Dana Kim"}, {"answer": "Dana Kim", "sources": [1]}])
    events = list(rag.stream(Q, plan=gold))
    answer = events[-1].answer
    assert answer.plan_source == "gold" and answer.answer == "Dana Kim"
    assert [c.stage for c in answer.calls] == ["node", "node", "final"] and len(llm.calls) == 3
    planner_system = prompts.PLAN_SYSTEM
    assert all(m[0]["content"] != planner_system for m, _ in llm.calls)
    assert all("nodes" not in (schema or {}).get("properties", {}) for _, schema in llm.calls)  # no plan schema
    assert "planning" not in [e.kind for e in events]
    assert [n.question for n in answer.nodes] == ["Which team owns the billing service?", "Who manages #1?"]
    assert answer.nodes[1].resolved_question == "Who manages Payments team?"
    rag.close()


def test_context_manager_closes_the_ledger(tmp_path, docs):
    rag, _, _ = make_rag(tmp_path, docs, [])
    with rag as same:
        assert same is rag
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        rag.kb.ledger.documents()
