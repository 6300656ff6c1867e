"""Supporting-passage recall of the retrieval channels, without any LLM (issue 10).

Embeds the shared corpora with the embedded MiniLM (chunked and titled exactly as the
knowledge base does), then scores, per question, recall@2 and recall@5 over the first k
*distinct source passages* (chunks mapped to their passage; gold = the supporting passages,
not their titles) for: dense only; dense + mention expansion (bfs / ppr); dense + BM25 fused by
reciprocal rank; and BM25 + expansion. Questions 1-25 of each set were used to tune, 26-50
are held out; both halves and all 50 are reported.

    .venv/bin/python benchmarks/bench_retrieval.py [--tune] [--json out.json]

Embeddings are cached in $TMPDIR/dagrag_bench_retrieval so reruns take seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kb.hybrid import merge  # noqa: E402
from retrieval import lexical  # noqa: E402
from retrieval.chunking import chunk_text  # noqa: E402
from retrieval.entities import extract  # noqa: E402
from retrieval.mention_graph import DictLookup, ExpansionParams, expand  # noqa: E402

DATA = Path(os.environ.get("DAGRAG_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CACHE = Path(tempfile.gettempdir()) / "dagrag_bench_retrieval"
POOL = 20  # dense candidates: k x candidate_factor in the knowledge base (k = 5)
SIM_POOL = 0  # dense hits fetched only for their similarity (RetrievalPolicy.pool; 0: the POOL candidates)
KS = (2, 5)


@dataclass
class Collection:
    name: str
    chunk_passage: list[int]  # chunk -> passage index
    chunk_title: list[str]
    chunk_text: list[str]
    vectors: np.ndarray  # chunks x dim, unit length
    questions: list[str]
    qvectors: np.ndarray
    gold: list[set[int]]  # supporting passage indices per question
    lookup: DictLookup
    fts: sqlite3.Connection


def _embed_text(title: str, text: str) -> str:
    return f"{title}\n{text}" if title and title not in text[:200] else text


def _gold(name: str, item: dict, corpus: list[dict]) -> set[int]:
    if name == "musique":
        wanted = {(p["title"], p["paragraph_text"]) for p in item["paragraphs"] if p["is_supporting"]}
        return {i for i, p in enumerate(corpus) if (p["title"], p["text"]) in wanted}
    titles = {t for t, _ in item["supporting_facts"]}
    return {i for i, p in enumerate(corpus) if p["title"] in titles}


def load(name: str, chunk_chars: int = 800, overlap: int = 120) -> Collection:
    corpus = json.loads((DATA / f"{name}_dev_corpus.json").read_text())
    items = json.loads((DATA / f"{name}_dev.json").read_text())
    cp, ct, cx = [], [], []
    for i, p in enumerate(corpus):
        for c in chunk_text(p["text"], chunk_chars, overlap):
            cp.append(i), ct.append(p["title"]), cx.append(c.text)
    questions = [q["question"] for q in items]
    key = hashlib.sha256(json.dumps([ct, cx, questions]).encode()).hexdigest()[:16]
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"{name}-{key}.npz"
    if cached.exists():
        data = np.load(cached)
        vectors, qvectors = data["c"], data["q"]
    else:
        from agent.settings import embed_model_path, load_settings
        from retrieval.embedder import SentenceTransformerEmbedder

        emb = SentenceTransformerEmbedder(embed_model_path(load_settings()))
        vectors = np.array(emb.embed([_embed_text(t, x) for t, x in zip(ct, cx)]), dtype=np.float32)
        qvectors = np.array(emb.embed(questions), dtype=np.float32)
        np.savez(cached, c=vectors, q=qvectors)
    mentions, about = {}, {}
    for n, (t, x) in enumerate(zip(ct, cx)):
        ents = extract(t, x)
        mentions[str(n)] = list(ents.mentions)
        for k in ents.about:
            about.setdefault(k, []).append(str(n))
    db = sqlite3.connect(":memory:")
    lexical.create_fts(db)
    lexical.index_rows(db, [(n, t, x) for n, (t, x) in enumerate(zip(ct, cx))])
    return Collection(
        name, cp, ct, cx, vectors, questions, qvectors, [_gold(name, q, corpus) for q in items], DictLookup(mentions, about), db
    )


def passages(col: Collection, chunk_ids: list[str]) -> list[int]:
    return list(dict.fromkeys(col.chunk_passage[int(c)] for c in chunk_ids))


def recall(ranked: list[int], gold: set[int], k: int) -> float:
    return len(gold & set(ranked[:k])) / len(gold)


@dataclass(frozen=True)
class Method:
    name: str
    lexical: bool = False
    expansion: ExpansionParams | None = None
    lexical_weight: float = 1.0


def retrieve(col: Collection, qi: int, m: Method, pool: int = POOL, via: dict | None = None) -> tuple[list[str], float]:
    """Ranked chunk ids for question ``qi`` and the seconds spent beyond the dense query (as ``kb.hybrid.rank`` does it)."""
    sims = col.vectors @ col.qvectors[qi]
    order = np.argsort(-sims, kind="stable")[: max(pool, SIM_POOL)]
    known = {str(i): float(sims[i]) for i in order}
    floor = min(known.values())  # a linked passage outside the dense pool: the pool's lowest similarity
    base = [(str(i), float(sims[i])) for i in order[:pool]]
    t0 = time.perf_counter()
    if m.lexical:
        lex = [str(h[0]) for h in lexical.search(col.fts, col.questions[qi], pool)]
        fused = lexical.fuse_scores(base, lex, lexical_weight=m.lexical_weight)
        base = [(i, known.get(i, floor)) for i, _ in fused[:pool]]
    if m.expansion is None:
        ranked = [i for i, _ in base]
    else:
        ranking = expand(col.questions[qi], base, col.lookup, lambda ids: {i: known.get(i, floor) for i in ids}, m.expansion)
        ranked = [r.item_id for r in (merge(base, ranking) if m.lexical else ranking)]
        if via is not None:
            via.update({r.item_id: r.via_entity for r in ranking if r.via_entity})
    return ranked, time.perf_counter() - t0


def evaluate(col: Collection, m: Method, rows: range) -> dict:
    out = {f"R@{k}": [] for k in KS}
    secs = []
    for qi in rows:
        ranked, s = retrieve(col, qi, m)
        ps = passages(col, ranked)
        for k in KS:
            out[f"R@{k}"].append(recall(ps, col.gold[qi], k))
        secs.append(s)
    res = {k: statistics.mean(v) for k, v in out.items()}
    res["ms_p50"] = 1000 * statistics.median(secs)
    res["per_q"] = out
    return res


BFS = ExpansionParams(method="bfs")  # the defaults: tuned with --tune on questions 1-25
PPR = ExpansionParams(method="ppr", seeds=3, max_fanout=4, decay=0.5, weight=0.8, comention=1.0, idf=1.0)  # --tune's best PageRank


def methods(bfs: ExpansionParams = BFS, ppr: ExpansionParams = PPR) -> list[Method]:
    return [
        Method("dense"),
        Method("dense+bfs", expansion=bfs),
        Method("dense+ppr", expansion=ppr),
        Method("dense+bm25", lexical=True),
        Method("dense+bm25+bfs", lexical=True, expansion=bfs),
        Method("dense+bm25+ppr", lexical=True, expansion=ppr),
    ]


SPACE = {
    "seeds": (3, 5, 8),
    "hops": (1, 2),
    "decay": (0.3, 0.5, 0.8),
    "max_fanout": (2, 4, 8),
    "comention": (0.0, 0.25, 0.5, 1.0),
    "max_mention_fanout": (4, 8, 16),
    "reinforce": (False, True),
    "query_links": (False, True),
    "idf": (0.0, 0.5, 1.0, 2.0, 3.0),
}
WEIGHTS = {"bfs": (0.2, 0.4, 0.6, 1.0, 1.5, 2.0, 3.0), "ppr": (0.05, 0.1, 0.2, 0.4, 0.8, 1.5)}


def objective(cols: list[Collection], m: Method, rows: range) -> float:
    res = [evaluate(c, m, rows) for c in cols]
    return statistics.mean(r["R@5"] + 0.5 * r["R@2"] for r in res)


def tune(cols: list[Collection], rows: range, method: str, lexical_on: bool = False, rounds: int = 2) -> ExpansionParams:
    """Coordinate descent over ``SPACE`` on ``rows`` (questions 1-25 of each set): mean of R@5 + R@2/2 over the sets."""
    best = ExpansionParams(method=method)
    space = {**SPACE, "weight": WEIGHTS[method]}
    score = objective(cols, Method(method, lexical=lexical_on, expansion=best), rows)
    for _ in range(rounds):
        changed = False
        for name, values in space.items():
            for v in values:
                cand = replace(best, **{name: v})
                if cand == best:
                    continue
                sc = objective(cols, Method(method, lexical=lexical_on, expansion=cand), rows)
                if sc > score + 1e-9:
                    best, score, changed = cand, sc, True
        if not changed:
            break
    print(f"tuned {method}{' +bm25' if lexical_on else ''}: {best} objective {score:.3f}", flush=True)
    return best


def losses(col: Collection, m: Method, k: int = 2) -> list[str]:
    """Questions where a supporting passage in plain dense retrieval's top ``k`` is not in ``m``'s top ``k``, and what took its place."""
    out = []
    for qi in range(len(col.questions)):
        dense = passages(col, retrieve(col, qi, Method("dense"))[0])
        linked: dict[str, str] = {}
        ranked_chunks = retrieve(col, qi, m, via=linked)[0]
        ranked = passages(col, ranked_chunks)
        lost = [p for p in dense[:k] if p in col.gold[qi] and p not in ranked[:k]]
        if not lost:
            continue
        via = {col.chunk_passage[int(i)]: e for i, e in linked.items()}
        took = [f"{_title(col, p)}{' (gold)' if p in col.gold[qi] else ''}{' via ' + repr(via[p]) if p in via else ''}" for p in ranked[:k]]
        now = {p: ranked.index(p) + 1 for p in lost}
        out.append(f"q{qi + 1}: lost {', '.join(f'{_title(col, p)!r} (now rank {now[p]})' for p in lost)}; top {k}: {'; '.join(took)}")
    return out


def _title(col: Collection, passage: int) -> str:
    return col.chunk_title[col.chunk_passage.index(passage)]


# cost ---------------------------------------------------------------------------------------
class _Vectors:
    """An embedder returning precomputed vectors by text (the cached MiniLM ones): the 10x collection needs no model time."""

    name = "cached all-MiniLM-L6-v2"

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed(self, texts):
        return [self.table[t].tolist() if t in self.table else self._other(t) for t in texts]

    @staticmethod
    def _other(text: str) -> list[float]:  # a chunk cut differently in a copy (rare): a random unit vector
        v = np.random.default_rng(int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)).normal(size=384)
        return (v / np.linalg.norm(v)).tolist()


def _copy(text: str, c: int) -> str:
    """Copy ``c`` of a text: the lower-case letters of every capitalised word of 4+ letters shifted by ``c``, so each copy
    has its own entities and links while its length, and so its chunking, stays the same."""
    import re

    def shift(m: re.Match) -> str:
        w = m.group(0)
        return w[0] + "".join(chr((ord(ch) - 97 + c) % 26 + 97) if "a" <= ch <= "z" else ch for ch in w[1:])

    return re.sub(r"\b[A-Z][a-z]{3,}\w*", shift, text) if c else text


def cost(name: str = "musique", copies: int = 10, queries: int = 50) -> dict:
    """p50 time the hybrid channels add per retrieval at 1x and ``copies``x, index size, and ingest throughput."""
    from kb import entity_index
    from kb.knowledge_base import KnowledgeBase, RetrievalPolicy
    from kb.loaders import SourceDocument

    col = load(name)
    corpus = json.loads((DATA / f"{name}_dev_corpus.json").read_text())
    rng = np.random.default_rng(1)
    out: dict = {}
    for scale in (1, copies):
        table: dict[str, np.ndarray] = {}
        docs = []
        for c in range(scale):
            for i, p in enumerate(corpus):
                title, text = _copy(p["title"], c), _copy(p["text"], c)
                docs.append(SourceDocument(doc_id=f"{c}-{i}", source=f"{name}#{c}-{i}", title=title, text=text, metadata={}))
        for n, (t, x) in enumerate(zip(col.chunk_title, col.chunk_text)):
            for c in range(scale):
                v = col.vectors[n] if c == 0 else col.vectors[n] + rng.normal(0, 0.02, col.vectors.shape[1]).astype(np.float32)
                table[_embed_text(_copy(t, c), _copy(x, c))] = v / np.linalg.norm(v)
        for q, v in zip(col.questions, col.qvectors):
            table[q] = v
        folder = Path(tempfile.mkdtemp(prefix="dagrag-bench-retrieval-"))
        kb = KnowledgeBase(folder, _Vectors(table), retrieval=RetrievalPolicy(entity_expansion=False))
        t0 = time.perf_counter()
        report = kb.ingest_documents(docs, detect_conflicts=False)
        ingest_s = time.perf_counter() - t0
        size = entity_index.size(kb.ledger.query)
        row = {
            "chunks": report.chunks,
            "ingest_s_without_encode": ingest_s,
            "index": size.__dict__,
            "ledger_mib": sum(f.stat().st_size for f in folder.glob("ledger.sqlite3*")) / 2**20,
        }
        policies = {
            "dense": RetrievalPolicy(entity_expansion=False),
            "bfs": RetrievalPolicy(expansion=BFS),
            "ppr": RetrievalPolicy(expansion=PPR),
            "bm25": RetrievalPolicy(entity_expansion=False, lexical_channel=True),
            "bm25+bfs": RetrievalPolicy(lexical_channel=True, expansion=BFS),
        }
        times: dict[str, dict[str, list[float]]] = {label: {"graph": [], "search": []} for label in policies}
        for q in col.questions[:queries]:
            for label, policy in policies.items():  # interleaved, best of 3: the machine's load drifts less in between
                kb.retrieval = policy
                runs = [kb.search(q, 4) for _ in range(3)]
                times[label]["graph"].append(min(r.graph_seconds for r in runs) * 1000)
                times[label]["search"].append(min(r.search_seconds for r in runs) * 1000)
        base = statistics.median(times["dense"]["search"])
        for label, t in times.items():
            row[label] = {
                "graph_p50_ms": statistics.median(t["graph"]),
                "graph_p95_ms": float(np.percentile(t["graph"], 95)),
                "search_p50_ms": statistics.median(t["search"]),
                "added_p50_ms": statistics.median(t["search"]) - base,
            }
        kb.close()
        shutil.rmtree(folder, ignore_errors=True)
        out[f"{scale}x"] = row
        print(f"{scale}x: {json.dumps(row)}", flush=True)
    return out


def ingest_ratio(name: str = "musique") -> dict:
    """Ingest (chunk, embed, ledger with the entity index, Chroma) vs a bare encode of the same texts, on the real model."""
    from agent.settings import embed_model_path, load_settings
    from kb.knowledge_base import KnowledgeBase
    from kb.loaders import SourceDocument
    from retrieval.embedder import SentenceTransformerEmbedder

    col = load(name)
    corpus = json.loads((DATA / f"{name}_dev_corpus.json").read_text())
    docs = [
        SourceDocument(doc_id=str(i), source=f"{name}#{i}", title=p["title"], text=p["text"], metadata={}) for i, p in enumerate(corpus)
    ]
    emb = SentenceTransformerEmbedder(embed_model_path(load_settings()))
    texts = [_embed_text(t, x) for t, x in zip(col.chunk_title, col.chunk_text)]
    emb.embed(texts[:64])
    bare, ingest = [], []
    for _ in range(2):
        t0 = time.perf_counter()
        emb.embed(texts)
        bare.append(time.perf_counter() - t0)
        folder = Path(tempfile.mkdtemp(prefix="dagrag-bench-ingest-"))
        kb = KnowledgeBase(folder, emb)
        ingest.append(kb.ingest_documents(docs, detect_conflicts=False).seconds)
        kb.close()
        shutil.rmtree(folder, ignore_errors=True)
    res = {"chunks": len(texts), "bare_s": min(bare), "ingest_s": min(ingest), "ratio": min(bare) / min(ingest)}
    print(f"ingest: {json.dumps(res)}", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tune", action="store_true", help="tune the expansion on questions 1-25 first")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--cost", action="store_true", help="also measure added latency at 1x and 10x, index size and ingest throughput")
    ap.add_argument("--only-cost", action="store_true", help="only the cost measurements")
    args = ap.parse_args()
    if args.only_cost:
        cost(), ingest_ratio()
        return
    if not DATA.is_dir():
        sys.exit(f"shared data not found at {DATA}: set DAGRAG_SHARED_DATA")
    cols = [load("musique"), load("hotpotqa")]
    bfs, ppr = (tune(cols, range(25), "bfs"), tune(cols, range(25), "ppr")) if args.tune else (BFS, PPR)
    results = {}
    for col in cols:
        for m in methods(bfs, ppr):
            for part, rows in (("tune 1-25", range(25)), ("held out 26-50", range(25, 50)), ("all 50", range(50))):
                r = evaluate(col, m, rows)
                results[(col.name, m.name, part)] = r
                print(f"{col.name:9} {m.name:16} {part:15} R@2 {r['R@2']:.3f} R@5 {r['R@5']:.3f} +{r['ms_p50']:.2f} ms", flush=True)
    for col in cols:
        for line in losses(col, Method("dense+bfs", expansion=bfs)):
            print(f"{col.name} dense+bfs R@2 loss: {line}", flush=True)
    if args.cost:
        results[("cost",)] = cost()  # type: ignore[index]
        results[("ingest",)] = ingest_ratio()  # type: ignore[index]
    if args.json:
        args.json.write_text(json.dumps({"|".join(k): {a: b for a, b in v.items()} for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
