"""The ``dagrag chat`` REPL driven through a prompt_toolkit pipe, with a scripted LLM."""

from __future__ import annotations

import re

import pytest

from agent.api import DagRAG
from agent.settings import Settings
from helpers import FakeLLM, HashEmbedder, MemoryStore, chat, plan_reply, write_company_docs

Q = "Who manages the team that owns the billing service?"
SCRIPT = [
    {"can_answer": False, "answer": "unknown", "sources": []},
    plan_reply((1, "Which team owns the billing service?", []), (2, "Who manages #1?", [1])),
    {"answer": "Payments team"},
    {"answer": "Dana Kim"},
    {"enough": True, "new_questions": []},
    {"answer": "Dana Kim", "sources": [1]},
]


pytestmark = pytest.mark.usefixtures("no_dagrag_env")


@pytest.fixture
def rag_and_llm(tmp_path):
    docs = write_company_docs(tmp_path / "docs")
    llm = FakeLLM(list(SCRIPT))
    rag = DagRAG(Settings(kb_path=tmp_path / "kb", planner="llm", reader="free"), llm=llm, embedder=HashEmbedder(), store=MemoryStore())
    assert len(rag.ingest([docs]).added) == 3
    yield rag, llm
    rag.close()


def test_commands_question_and_end_of_input(rag_and_llm):
    rag, llm = rag_and_llm
    text = chat(rag, "/help\n", "/sources\n", "/graph\n", f"{Q}\n", "/sources\n", "/graph\n", "/graph mermaid\n", "/bogus\n")
    # the banner, then /help
    assert text.startswith("dagrag chat")
    for command in ("/sources", "/graph", "/help", "/quit"):
        assert command in text
    before, after = text.split("Dana Kim", 1)
    # /sources and /graph before any answer
    assert before.count("no answer yet") == 2
    # the question was answered with the whole scripted run
    assert len(llm.calls) == len(SCRIPT) and llm.script == []
    assert Q in text  # the answer panel's title
    # /sources after the answer: the cited title and its snippet
    assert "Sources" in after and re.search(r"\[\d\] Managers  ", after) and "Dana Kim manages the Payments team." in after
    # /graph: the DAG with substituted questions and answers
    assert "[1] Which team owns the billing service?" in after
    assert "[2] Who manages Payments team?" in after and "→ Payments team" in after
    # /graph mermaid
    assert "flowchart TD" in after and "Which team owns the billing service?<br/>→ Payments team" in after
    assert "unknown command /bogus" in after
    assert text.rstrip().endswith("bye")
    assert "no answer yet" not in after


def test_quit_stops_before_later_lines_are_read(rag_and_llm):
    rag, llm = rag_and_llm
    text = chat(rag, "/quit\n", f"{Q}\n", "/help\n")
    assert llm.calls == []
    assert text.rstrip().endswith("bye") and "/sources" not in text


def test_empty_lines_are_ignored_and_bad_questions_reported(rag_and_llm):
    rag, llm = rag_and_llm
    text = chat(rag, "\n", "   \n", "x" * 4001 + "\n", "/exit\n")
    assert llm.calls == []
    assert "4,000" in text and text.rstrip().endswith("bye")
