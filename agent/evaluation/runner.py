"""``dagrag eval``: run methods side by side on a benchmark and score them.

Every variant answers the same questions with the same model, retriever and top-k:

- ``dag``       the full agent (LLM planner);
- ``dag-gold``  the agent executing the gold decomposition (MuSiQue): the executor's upper bound;
- ``vanilla``   retrieve top-k for the question, answer once;
- ``none``      the model alone.

Results are written after every question, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agent.api import DagRAG
from agent.evaluation import metrics
from agent.evaluation.datasets import EvalQuestion, gold_edges, load_corpus
from agent.types import Answer
from graph import Plan
from kb.loaders import SourceDocument
from retrieval.errors import DagragError

VARIANTS = ("dag", "dag-gold", "vanilla", "none")
RECALL_KS = (2, 5)


class EvalError(DagragError, ValueError):
    """The evaluation cannot run as asked; the message says what to change."""


def variants_for(methods: Iterable[str], planners: Iterable[str]) -> list[str]:
    """``--method``/``--planner`` choices as variant names, in a stable order."""
    chosen: set[str] = set()
    for m in methods:
        if m not in ("dag", "vanilla", "none"):
            raise EvalError(f"unknown method '{m}': choose dag, vanilla or none")
        if m == "dag":
            for p in planners:
                if p not in ("llm", "gold"):
                    raise EvalError(f"unknown planner '{p}': choose llm or gold")
                chosen.add("dag" if p == "llm" else "dag-gold")
        else:
            chosen.add(m)
    return [v for v in VARIANTS if v in chosen]


def corpus_documents(corpus_path: Path) -> list[SourceDocument]:
    """A ``[{title, text}]`` corpus as documents with ids stable across runs."""
    name = Path(corpus_path).name
    return [
        SourceDocument(doc_id=f"{name}#{i}", source=f"{name}#{i}", title=p["title"], text=p["text"], metadata={})
        for i, p in enumerate(load_corpus(corpus_path))
    ]


def corpus_cache_dir(root: Path, corpus_path: Path, rag: DagRAG) -> Path:
    """Knowledge-base folder for a corpus, keyed by its content, the embedder and the chunking."""
    s = rag.settings
    digest = hashlib.sha256(Path(corpus_path).read_bytes())
    digest.update(f"{s.embed_model or 'default'}|{s.chunk_chars}|{s.chunk_overlap}".encode())
    return Path(root) / f"{Path(corpus_path).stem}-{digest.hexdigest()[:16]}"


def ranked_passages(answer: Answer) -> list[str]:
    """Chunk ids in the order a method retrieved them, for recall@k.

    For the DAG that is the warm-up hits (plain RAG's top-k, retrieved before planning and
    always in the final prompt), then the sub-questions' hits, rank by rank; so the DAG's
    recall@k can only add to plain RAG's. For the baselines: the retrieval order.
    """
    return list(dict.fromkeys(answer.retrieved_ids))


def evidence_order(answer: Answer) -> list[str]:
    """Chunk ids in the order the agent reads its final evidence (``agent.evidence.final_evidence``):
    each sub-question's best passage, then plain RAG's top-k, then the rest it retrieved."""
    firsts = [n.evidence_ids[0] for n in sorted(answer.nodes, key=lambda n: n.id) if n.evidence_ids]
    return list(dict.fromkeys([*firsts, *answer.retrieved_ids]))


def score(
    answer: Answer, question: EvalQuestion, titles: list[str], passages: list[str] | None = None, gold_passages: set[str] | None = None
) -> dict[str, float | None]:
    """Quality metrics of one prediction.

    Recall@k counts the first k distinct source passages (``passages``: the documents of the
    ranked chunks) against the supporting passages (``gold_passages``); without them (no
    corpus to map to) it falls back to ``titles``, the titles of ``ranked_passages``.
    """
    row: dict[str, float | None] = {
        "em": metrics.exact_match(answer.answer, question.answers),
        "f1": metrics.token_f1(answer.answer, question.answers),
        "acc": metrics.string_accuracy(answer.answer, question.answers),
    }
    if gold_passages:
        ranked, gold = list(dict.fromkeys(passages or [])), set(gold_passages)
    else:
        ranked, gold = list(dict.fromkeys(titles)), set(question.gold_titles)
    for k in RECALL_KS:
        row[f"recall@{k}"] = metrics.recall_at_k(ranked, gold, k) if ranked or gold else None
    if question.gold_decomposition and answer.plan_source not in ("vanilla", "none"):
        planned = [n for n in answer.nodes if n.round == 0]  # the plan itself, not nodes added by reflection
        pred_edges = [(d, n.id) for n in planned for d in n.depends_on]
        ids = {n.id: i for i, n in enumerate(sorted(planned, key=lambda n: n.id), 1)}
        cmp = metrics.compare_plans(
            [(ids[a], ids[b]) for a, b in pred_edges if a in ids and b in ids],
            len(ids),
            gold_edges(question.gold_decomposition),
            len(question.gold_decomposition),
        )
        row.update(
            hops_pred=float(cmp["hops_pred"]),
            hops_gold=float(cmp["hops_gold"]),
            hops_match=cmp["hops_match"],
            structure_match=cmp["structure_match"],
        )
    return row


def gold_plan(question: EvalQuestion) -> Plan:
    if not question.gold_decomposition:
        raise EvalError(f"question {question.qid} has no gold decomposition: --planner gold needs MuSiQue-style data")
    return Plan.model_validate(
        {
            "nodes": [
                {"id": n["id"], "question": as_question(n["question"]), "depends_on": n["depends_on"]} for n in question.gold_decomposition
            ]
        }
    )


def as_question(step: str) -> str:
    """MuSiQue writes some gold steps as Wikidata triples ("Hello Love >> performer"); ask them in English."""
    if ">>" not in step:
        return step
    subject, relation = (part.strip() for part in step.split(">>", 1))
    return f"What is the {relation} of {subject}?"


def answer_with(rag: DagRAG, variant: str, question: EvalQuestion) -> Answer:
    """One method's answer, from a cold LLM cache so that seconds compare fairly across methods."""
    rag.clear_llm_cache()
    if variant == "dag":
        return rag.ask(question.question)
    if variant == "dag-gold":
        events = list(rag.stream(question.question, plan=gold_plan(question)))
        return events[-1].answer
    if variant == "vanilla":
        return rag.ask_vanilla(question.question)
    return rag.ask_without_retrieval(question.question)


def record(
    variant: str,
    question: EvalQuestion,
    answer: Answer,
    titles_of: Callable[[list[str]], list[str]],
    passages: list[str] | None = None,
    gold_passages: set[str] | None = None,
) -> dict:
    ranked = ranked_passages(answer)
    titles = titles_of(ranked)
    return {
        "variant": variant,
        "qid": question.qid,
        "question": question.question,
        "gold": question.answers,
        "prediction": answer.answer,
        "plan_source": answer.plan_source,
        "fallbacks": answer.fallbacks,
        "confidence": answer.confidence,
        "signals": answer.signals,
        "dag": [
            {"id": n.id, "question": n.question, "depends_on": n.depends_on, "answer": n.answer, "round": n.round} for n in answer.nodes
        ],
        "retrieved_ids": ranked,
        "retrieved_titles": titles,
        "llm_calls": answer.usage.llm_calls,
        "prompt_tokens": answer.usage.prompt_tokens,
        "completion_tokens": answer.usage.completion_tokens,
        "cached_prompt_tokens": answer.usage.cached_prompt_tokens,
        "timings": answer.timings,
        "metrics": score(answer, question, titles, passages, gold_passages),
        **({"recall_passages": passages} if passages is not None else {}),
    }


@dataclass
class Results:
    """The records of a run and where they are saved."""

    config: dict
    records: list[dict] = field(default_factory=list)
    path: Path | None = None

    def done(self) -> set[tuple[str, str]]:
        return {(r["variant"], r["qid"]) for r in self.records}

    def save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"config": self.config, "records": self.records, "summary": summarize(self.records)}, indent=1))
        os.replace(tmp, self.path)


def open_results(path: Path | None, config: dict) -> Results:
    """Load earlier results to resume, refusing a file made with other settings."""
    if path is None or not Path(path).exists():
        return Results(config, [], Path(path) if path else None)
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EvalError(f"cannot resume from {path}: {exc}; delete it or choose another --out") from None
    if data.get("config") != config:
        changed = sorted(k for k in config.keys() | data.get("config", {}).keys() if config.get(k) != data.get("config", {}).get(k))
        raise EvalError(f"{path} holds results made with other settings ({', '.join(changed)}); choose another --out or delete it")
    return Results(config, data.get("records", []), Path(path))


def run(
    rag: DagRAG,
    questions: list[EvalQuestion],
    variants: list[str],
    results: Results,
    on_record: Callable[[dict], None] | None = None,
) -> Results:
    """Answer every (variant, question) not yet in ``results``; save after each one."""
    done = results.done()
    titles_cache: dict[str, str] = {}

    def titles_of(ids: list[str]) -> list[str]:
        missing = [i for i in ids if i not in titles_cache]
        titles_cache.update({it.item_id: it.title for it in rag.kb.ledger.items(missing)})
        return [titles_cache.get(i, "") for i in ids]

    passages = PassageMap(rag)
    for q in questions:
        for v in variants:
            if (v, q.qid) in done:
                continue
            answer = answer_with(rag, v, q)
            ranked = passages.ranking(rag, q, ranked_passages(answer)) if v != "none" else []
            rec = record(v, q, answer, titles_of, ranked, passages.gold(q))
            results.records.append(rec)
            results.save()
            if on_record:
                on_record(rec)
    return results


def _prefix(text: str) -> str:
    return " ".join(text.split())[:80]


class PassageMap:
    """Chunks mapped to their source passage (document), and the supporting passages of a question, for recall@k."""

    def __init__(self, rag: DagRAG) -> None:
        items = rag.kb.ledger.items()
        self.doc_of = {i.item_id: i.doc_id for i in items}
        first = {i.doc_id: _prefix(i.text) for i in sorted(items, key=lambda i: -i.position)}  # position 0 wins
        self.by_title: dict[str, list[tuple[str, str]]] = {}
        for d in rag.kb.ledger.documents():
            self.by_title.setdefault(d.title, []).append((d.doc_id, first.get(d.doc_id, "")))

    def gold(self, question: EvalQuestion) -> set[str]:
        """Documents holding the supporting passages (by title, and by text where a question gives it)."""
        texts = {_prefix(t) for t in question.gold_texts}
        return {doc for t in question.gold_titles for doc, head in self.by_title.get(t, []) if not texts or head in texts}

    def ranking(self, rag: DagRAG, question: EvalQuestion, chunk_ids: list[str]) -> list[str]:
        """Distinct passages in retrieval order; a method that retrieved fewer than k is continued to k by plain retrieval."""
        ranked = list(dict.fromkeys(self.doc_of[i] for i in chunk_ids if i in self.doc_of))
        want = max(RECALL_KS)
        if len(ranked) < want:
            extra = rag.kb.search(question.question, 3 * want).evidence
            ranked = list(dict.fromkeys(ranked + [e.doc_id for e in extra]))
        return ranked


def summarize(records: list[dict]) -> dict[str, dict[str, float]]:
    """Mean metrics, cost and p50/p95 wall time per variant."""
    out: dict[str, dict[str, float]] = {}
    for v in VARIANTS:
        rows = [r for r in records if r["variant"] == v]
        if not rows:
            continue
        summary = metrics.summarize([r["metrics"] for r in rows])
        totals = [r["timings"].get("total", 0.0) for r in rows]
        time_sum = {k: sum(r["timings"].get(k, 0.0) for r in rows) for k in ("llm", "embed", "retrieval", "other", "total")}
        prompt = sum(r["prompt_tokens"] for r in rows)
        summary.update(
            n=float(len(rows)),
            llm_calls=sum(r["llm_calls"] for r in rows) / len(rows),
            prompt_tokens=prompt / len(rows),
            completion_tokens=sum(r["completion_tokens"] for r in rows) / len(rows),
            tokens=(prompt + sum(r["completion_tokens"] for r in rows)) / len(rows),
            prompt_cached_share=(sum(r.get("cached_prompt_tokens", 0) for r in rows) / prompt) if prompt else 0.0,
            p50_s=metrics.percentile(totals, 50),
            p95_s=metrics.percentile(totals, 95),
            fallback_rate=sum(1 for r in rows if r["plan_source"] == "fallback") / len(rows),
            **{
                f"share_{k}": (time_sum[k] / time_sum["total"] if time_sum["total"] else 0.0)
                for k in ("llm", "embed", "retrieval", "other")
            },
        )
        out[v] = summary
    return out
