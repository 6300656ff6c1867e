"""Recall@k over distinct source passages (not titles), every method continued to k (issue 10)."""

from __future__ import annotations

import json

from agent.api import DagRAG
from agent.evaluation import runner
from agent.evaluation.datasets import load_questions
from agent.settings import Settings
from agent.types import Answer
from helpers import HashEmbedder, MemoryStore

CORPUS = [
    {"title": "Canon law", "text": "Church courts of the Church of England still decide some matters."},
    {"title": "Canon law", "text": "Other churches of the Anglican Communion keep their own canon law."},
    {"title": "Canon law", "text": "Canon law of the Catholic Church is codified."},
    {"title": "Harbor", "text": "A long passage about the harbor. " * 40},  # several chunks, one passage
    *({"title": f"Filler {n}", "text": f"Filler passage number {n} about weather."} for n in range(6)),
]
QUESTION = {
    "id": "q1",
    "question": "What term covers the church courts and the churches aligned with them?",
    "answer": "Anglican Communion",
    "paragraphs": [
        {"title": "Canon law", "paragraph_text": CORPUS[0]["text"], "is_supporting": True},
        {"title": "Canon law", "paragraph_text": CORPUS[1]["text"], "is_supporting": True},
        {"title": "Canon law", "paragraph_text": CORPUS[2]["text"], "is_supporting": False},
    ],
    "question_decomposition": [{"id": 1, "question": "Which church?", "answer": "x"}],
}


def setup(tmp_path):
    corpus, questions = tmp_path / "corpus.json", tmp_path / "q.json"
    corpus.write_text(json.dumps(CORPUS))
    questions.write_text(json.dumps([QUESTION]))
    rag = DagRAG(
        Settings(kb_path=tmp_path / "kb", chunk_chars=200, chunk_overlap=0), llm=None, embedder=HashEmbedder(), store=MemoryStore()
    )
    rag.kb.ingest_documents(runner.corpus_documents(corpus), detect_conflicts=False)
    return rag, load_questions(questions)[0]


def test_gold_is_the_supporting_passages_not_every_passage_with_their_title(tmp_path):
    rag, q = setup(tmp_path)
    assert q.gold_texts == (CORPUS[0]["text"], CORPUS[1]["text"])
    assert runner.PassageMap(rag).gold(q) == {"corpus.json#0", "corpus.json#1"}
    rag.close()


def test_recall_counts_passages_so_a_title_shared_with_a_wrong_passage_does_not_count(tmp_path):
    rag, q = setup(tmp_path)
    answer = Answer(question=q.question, answer="x")
    wrong_then_right = ["corpus.json#2", "corpus.json#5", "corpus.json#0", "corpus.json#6", "corpus.json#7", "corpus.json#1"]
    row = runner.score(answer, q, ["Canon law"], wrong_then_right, {"corpus.json#0", "corpus.json#1"})
    assert row["recall@2"] == 0.0 and row["recall@5"] == 0.5  # by title both would be 1.0
    rag.close()


def test_a_method_that_retrieved_fewer_than_k_passages_is_continued_to_k(tmp_path):
    rag, q = setup(tmp_path)
    passages = runner.PassageMap(rag)
    harbor = [i.item_id for i in rag.kb.ledger.items() if i.title == "Harbor"]
    assert len(harbor) >= 3
    ranked = passages.ranking(rag, q, harbor)  # three chunks of one passage: one passage, then plain retrieval to k
    assert ranked[0] == "corpus.json#3" and len(ranked) >= 5 and len(set(ranked)) == len(ranked)
    plain = passages.ranking(rag, q, [])
    assert plain[:5] == list(dict.fromkeys(e.doc_id for e in rag.kb.search(q.question, 15).evidence))[:5]
    rag.close()
