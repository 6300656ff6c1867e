"""Readers for benchmark question files (MuSiQue, HotpotQA, generic) and passage corpora."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_REF = re.compile(r"#(\d+)")


@dataclass(frozen=True)
class EvalQuestion:
    """One benchmark question with its gold answers, evidence titles and gold query DAG."""

    qid: str
    question: str
    answers: list[str]  # gold answer first, then aliases
    gold_titles: list[str]  # titles of the supporting passages ([] when unknown)
    gold_decomposition: list[dict]  # [{"id", "question", "answer", "depends_on"}] (MuSiQue only)
    kind: str  # "musique", "hotpotqa" or "generic"
    gold_texts: tuple[str, ...] = ()  # texts of the supporting passages where titles repeat (MuSiQue); () = titles identify them


def _read_list(path: Path, what: str) -> list[dict[str, Any]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise ValueError(f"{path}: expected a JSON list of {what} objects")
    return data


def _text(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: {key!r} must be a non-empty string")
    return value


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _decomposition(steps: list[dict[str, Any]], where: str) -> list[dict]:
    """MuSiQue question_decomposition -> nodes 1..n; "#k" references become depends_on."""
    nodes = []
    for i, step in enumerate(steps, start=1):
        text = _text(step, "question", f"{where} step {i}")
        deps = sorted({int(k) for k in _REF.findall(text)})
        if any(not 1 <= d < i for d in deps):
            raise ValueError(f"{where} step {i}: reference to a later or missing step in {text!r}")
        nodes.append({"id": i, "question": text, "answer": str(step.get("answer", "")), "depends_on": deps})
    return nodes


def _parse(item: dict[str, Any], index: int, path: Path) -> EvalQuestion:
    where = f"{path} item {index}"
    question, answer = _text(item, "question", where), _text(item, "answer", where)
    aliases = item.get("answer_aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise ValueError(f"{where}: 'answer_aliases' must be a list of strings")
    answers = _dedupe([answer, *aliases])
    if "question_decomposition" in item and "paragraphs" in item:
        titles = [p["title"] for p in item["paragraphs"] if p.get("is_supporting")]
        return EvalQuestion(
            qid=str(item.get("id", index)),
            question=question,
            answers=answers,
            gold_titles=_dedupe(titles),
            gold_decomposition=_decomposition(item["question_decomposition"], where),
            kind="musique",
            gold_texts=tuple(str(p.get("paragraph_text", "")) for p in item["paragraphs"] if p.get("is_supporting")),
        )
    if "supporting_facts" in item:
        return EvalQuestion(
            qid=str(item.get("_id", item.get("id", index))),
            question=question,
            answers=answers,
            gold_titles=_dedupe([fact[0] for fact in item["supporting_facts"]]),
            gold_decomposition=[],
            kind="hotpotqa",
        )
    return EvalQuestion(str(item.get("id", index)), question, answers, [], [], "generic")


def load_questions(path: Path, limit: int | None = None) -> list[EvalQuestion]:
    """Load up to `limit` questions from a MuSiQue, HotpotQA or generic [{question, answer}] file."""
    items = _read_list(path, "question")
    if limit is not None:
        items = items[: max(limit, 0)]
    return [_parse(item, i, Path(path)) for i, item in enumerate(items)]


def load_corpus(path: Path) -> list[dict]:
    """Load a passage corpus [{"title", "text"}]; ValueError on any other shape."""
    passages = []
    for i, item in enumerate(_read_list(path, "passage")):
        title, text = item.get("title"), item.get("text")
        if not isinstance(title, str) or not isinstance(text, str):
            raise ValueError(f"{path} item {i}: 'title' and 'text' must be strings")
        passages.append({"title": title, "text": text})
    return passages


def gold_edges(decomposition: list[dict]) -> list[tuple[int, int]]:
    """(dependency, node) edges of a gold decomposition."""
    return [(dep, node["id"]) for node in decomposition for dep in node["depends_on"]]
