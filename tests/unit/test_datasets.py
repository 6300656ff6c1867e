"""Tests for agent.evaluation.datasets on tiny made-up fixtures and, when present, the real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.evaluation.datasets import EvalQuestion, gold_edges, load_corpus, load_questions

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _write(tmp_path: Path, data: object, name: str = "q.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _para(idx: int, title: str, supporting: bool) -> dict:
    return {"idx": idx, "title": title, "paragraph_text": f"Text about {title}.", "is_supporting": supporting}


MUSIQUE_ITEM = {
    "id": "3hop2__1_2_3",
    "question": "Is the river of Fooville longer than the river of Barton?",
    "answer": "Blue River",
    "answer_aliases": ["the Blue", "Blue River"],
    "answerable": True,
    "paragraphs": [_para(0, "Fooville", True), _para(1, "Noise", False), _para(2, "Barton", True), _para(3, "Fooville", True)],
    "question_decomposition": [
        {"id": 11, "question": "Which river flows through Fooville?", "answer": "Blue River", "paragraph_support_idx": 0},
        {"id": 22, "question": "Which river flows through Barton?", "answer": "Red River", "paragraph_support_idx": 2},
        {"id": 33, "question": "Which is longer, #2 or #1 ?", "answer": "Blue River", "paragraph_support_idx": 0},
    ],
}


def test_musique_shape(tmp_path: Path) -> None:
    [q] = load_questions(_write(tmp_path, [MUSIQUE_ITEM]))
    assert q.kind == "musique"
    assert q.qid == "3hop2__1_2_3"
    assert q.answers == ["Blue River", "the Blue"]  # gold first, duplicate alias dropped
    assert q.gold_titles == ["Fooville", "Barton"]  # supporting only, distinct, in order
    assert [n["id"] for n in q.gold_decomposition] == [1, 2, 3]
    assert [n["depends_on"] for n in q.gold_decomposition] == [[], [], [1, 2]]
    assert q.gold_decomposition[2]["question"] == "Which is longer, #2 or #1 ?"  # references kept
    assert gold_edges(q.gold_decomposition) == [(1, 3), (2, 3)]


def test_musique_chain_and_bad_reference(tmp_path: Path) -> None:
    item = dict(
        MUSIQUE_ITEM,
        question_decomposition=[
            {"id": 5, "question": "Who founded Acme?", "answer": "Ann"},
            {"id": 6, "question": "Where was #1 born?", "answer": "Zed"},
            {"id": 7, "question": "What is the population of #2?", "answer": "9"},
        ],
    )
    [q] = load_questions(_write(tmp_path, [item]))
    assert gold_edges(q.gold_decomposition) == [(1, 2), (2, 3)]
    bad = dict(MUSIQUE_ITEM, question_decomposition=[{"id": 1, "question": "Where is #2?", "answer": "x"}])
    with pytest.raises(ValueError, match="reference"):
        load_questions(_write(tmp_path, [bad], "bad.json"))


def test_hotpotqa_shape(tmp_path: Path) -> None:
    item = {
        "_id": "abc123",
        "question": "Which band did the drummer of Quux join?",
        "answer": "The Widgets",
        "type": "bridge",
        "level": "easy",
        "supporting_facts": [["Quux", 0], ["Quux", 2], ["The Widgets", 1]],
        "context": [["Quux", ["Quux is a band.", "Its drummer left."]], ["The Widgets", ["A group."]]],
    }
    [q] = load_questions(_write(tmp_path, [item]))
    assert q == EvalQuestion("abc123", item["question"], ["The Widgets"], ["Quux", "The Widgets"], [], "hotpotqa")


def test_generic_shape_ids_and_limit(tmp_path: Path) -> None:
    data = [
        {"question": "Who runs the bakery?", "answer": "Mo", "answer_aliases": ["Mohamed"]},
        {"question": "Where is the bakery?", "answer": "Elm Street", "id": "q-7"},
        {"question": "When does it open?", "answer": "8am"},
    ]
    path = _write(tmp_path, data)
    qs = load_questions(path)
    assert [q.qid for q in qs] == ["0", "q-7", "2"]
    assert qs[0].answers == ["Mo", "Mohamed"]
    assert all(q.kind == "generic" and q.gold_titles == [] and q.gold_decomposition == [] for q in qs)
    assert [q.qid for q in load_questions(path, limit=2)] == ["0", "q-7"]


@pytest.mark.parametrize(
    "data",
    [{"question": "q", "answer": "a"}, ["not an object"], [{"question": "q"}], [{"answer": "a"}], [{"question": "", "answer": "a"}]],
)
def test_load_questions_rejects_bad_shapes(tmp_path: Path, data: object) -> None:
    with pytest.raises(ValueError):
        load_questions(_write(tmp_path, data))


def test_load_corpus(tmp_path: Path) -> None:
    path = _write(tmp_path, [{"title": "A", "text": "alpha", "extra": 1}, {"title": "B", "text": "beta"}])
    assert load_corpus(path) == [{"title": "A", "text": "alpha"}, {"title": "B", "text": "beta"}]
    for bad in ({"title": "A", "text": "x"}, [{"title": "A"}], [{"title": 3, "text": "x"}]):
        with pytest.raises(ValueError):
            load_corpus(_write(tmp_path, bad, "bad.json"))


def test_real_benchmark_files() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"../shared/data not found: {SHARED}")
    musique = load_questions(SHARED / "musique_dev.json")
    hotpot = load_questions(SHARED / "hotpotqa_dev.json")
    assert len(musique) == 50 and len(hotpot) == 50
    assert {q.kind for q in musique} == {"musique"} and {q.kind for q in hotpot} == {"hotpotqa"}
    assert all(len(q.gold_decomposition) >= 2 and q.gold_titles for q in musique)
    assert all(gold_edges(q.gold_decomposition) for q in musique)
    assert all(len(q.gold_titles) == 2 for q in hotpot)
    for questions, corpus_file in ((musique, "musique_dev_corpus.json"), (hotpot, "hotpotqa_dev_corpus.json")):
        titles = {p["title"] for p in load_corpus(SHARED / corpus_file)}
        missing = [t for q in questions for t in q.gold_titles if t not in titles]
        assert not missing, missing
    assert len(load_questions(SHARED / "musique_dev.json", limit=5)) == 5
