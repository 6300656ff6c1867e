"""The eval harness's recall@2/@5 on the real knowledge base, without the LLM (issue 10).

``dagrag eval``'s supporting-passage recall does not depend on the model's answers for
``vanilla``: it is ``KnowledgeBase.search(question, top_k)`` mapped to source passages by
``runner.PassageMap`` (continued to k by plain retrieval) and scored by ``runner.score``.
This script runs exactly those functions on a knowledge base holding the shared corpus
(real Chroma, ledger and entity index; the MiniLM vectors cached by bench_retrieval.py, so
nothing is re-embedded), with the retrieval channels off (plain dense RAG, the baseline)
and on (the defaults). It also runs the gold decomposition's sub-questions with the gold
intermediate answers filled in (an oracle executor: the LLM's answers decide the real
``dag-gold`` run's sub-questions, so this is its retrieval with perfect answers).

    .venv/bin/python benchmarks/bench_retrieval_kb.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_retrieval as B  # noqa: E402

from agent.api import DagRAG  # noqa: E402
from agent.evaluation import runner  # noqa: E402
from agent.evaluation.datasets import load_questions  # noqa: E402
from agent.settings import Settings, embed_model_path, load_settings  # noqa: E402
from agent.types import Answer  # noqa: E402
from kb.hybrid import RetrievalPolicy  # noqa: E402
from retrieval.embedder import SentenceTransformerEmbedder  # noqa: E402


class CachedThenModel(B._Vectors):
    """Cached MiniLM vectors for the corpus and the questions; the model itself for anything else (sub-questions)."""

    def __init__(self, table, model: SentenceTransformerEmbedder) -> None:
        super().__init__(table)
        self.model = model

    def embed(self, texts):
        missing = [t for t in texts if t not in self.table]
        if missing:
            self.table.update({t: B.np.array(v, dtype=B.np.float32) for t, v in zip(missing, self.model.embed(missing))})
        return [self.table[t].tolist() for t in texts]


def open_rag(name: str, folder: Path) -> tuple[DagRAG, list]:
    col = B.load(name)
    table = {B._embed_text(t, x): v for t, x, v in zip(col.chunk_title, col.chunk_text, col.vectors)}
    table.update({q: v for q, v in zip(col.questions, col.qvectors)})
    emb = CachedThenModel(table, SentenceTransformerEmbedder(embed_model_path(load_settings())))
    rag = DagRAG(Settings(kb_path=folder / name, detect_conflicts=False), embedder=emb)
    corpus = B.DATA / f"{name}_dev_corpus.json"
    rag.kb.ingest_documents(runner.corpus_documents(corpus), detect_conflicts=False)
    return rag, load_questions(B.DATA / f"{name}_dev.json")


def oracle_gold_ids(rag: DagRAG, q) -> list[str]:
    """Chunk ids the gold decomposition retrieves, node by node, with the gold answers of earlier nodes filled in."""
    answers = {n["id"]: n["answer"] for n in q.gold_decomposition}
    ids: list[str] = []
    for n in q.gold_decomposition:
        text = re.sub(r"#(\d+)", lambda m: answers.get(int(m.group(1)), m.group(0)), n["question"])
        ids += [e.chunk_id for e in rag.kb.search(text, rag.settings.node_top_k).evidence]
    return ids


def measure(rag: DagRAG, questions: list, policy: RetrievalPolicy, gold_planner: bool) -> dict:
    rag.kb.retrieval = policy
    passages = runner.PassageMap(rag)
    rows: dict[str, list[float]] = {}
    for q in questions:
        ids = [e.chunk_id for e in rag.kb.search(q.question, rag.settings.top_k).evidence]
        ranked = passages.ranking(rag, q, ids)
        row = runner.score(Answer(question=q.question, answer=""), q, [], ranked, passages.gold(q))
        rows.setdefault("vanilla R@2", []).append(row["recall@2"])
        rows.setdefault("vanilla R@5", []).append(row["recall@5"])
        if gold_planner and q.gold_decomposition:
            ranked = passages.ranking(rag, q, oracle_gold_ids(rag, q))
            row = runner.score(Answer(question=q.question, answer=""), q, [], ranked, passages.gold(q))
            rows.setdefault("gold-oracle R@2", []).append(row["recall@2"])
            rows.setdefault("gold-oracle R@5", []).append(row["recall@5"])
    out = {}
    for key, vals in rows.items():
        out[key] = {"all 50": statistics.mean(vals), "tune 1-25": statistics.mean(vals[:25]), "held out 26-50": statistics.mean(vals[25:])}
    out["per_question_vanilla_R@5"] = rows["vanilla R@5"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dagrag-bench-kb-"))
    results = {}
    for name in ("musique", "hotpotqa"):
        rag, questions = open_rag(name, folder)
        for label, policy in (
            ("plain dense (channels off)", RetrievalPolicy(entity_expansion=False, lexical_channel=False)),
            ("defaults (mention graph)", RetrievalPolicy.from_settings(rag.settings)),
            ("mention graph + BM25", RetrievalPolicy.from_settings(rag.settings.with_overrides(lexical_channel=True))),
        ):
            r = measure(rag, questions, policy, gold_planner=name == "musique")
            results[f"{name}|{label}"] = r
            for key, parts in r.items():
                if isinstance(parts, dict):
                    print(f"{name:9} {label:28} {key:16} " + "  ".join(f"{p} {v:.3f}" for p, v in parts.items()), flush=True)
        rag.close()
    shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
