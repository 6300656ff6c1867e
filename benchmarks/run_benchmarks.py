"""dagrag benchmarks: quality, cost, speed and memory on ../shared/data, written to benchmarks/REPORT.md.

    .venv/bin/python benchmarks/run_benchmarks.py [--limit 20] [--skip-quality]

Quality and cost come from the same harness as ``dagrag eval``; speed figures are ratios
measured in the same run, so they compare like with like on whatever machine runs this.
Per-question results go to benchmarks/out/ (not committed: they quote the datasets).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.offline import go_offline  # noqa: E402

go_offline()

import psutil  # noqa: E402

from agent.api import DagRAG  # noqa: E402
from agent.evaluation import runner  # noqa: E402
from agent.evaluation.datasets import load_questions  # noqa: E402
from agent.settings import load_settings  # noqa: E402
from kb.knowledge_base import KnowledgeBase  # noqa: E402
from kb.records import embed_text  # noqa: E402
from retrieval.chunking import chunk_text  # noqa: E402
from retrieval.store import ChromaStore, Record  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "out"
REPORT = ROOT / "benchmarks" / "REPORT.md"


class PeakRSS:
    """Samples this process's resident memory in a thread; ``peak`` in MiB."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def __enter__(self) -> PeakRSS:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss / 2**20)
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss / 2**20)


def speed(rag: DagRAG, corpus: Path) -> dict:
    """Ingest throughput vs bare encode, and Chroma query latency at 1x and 10x the corpus."""
    docs = runner.corpus_documents(corpus)
    s = rag.settings
    texts = []
    for d in docs:  # exactly what ingest embeds
        from kb.items import KnowledgeItem, utc_now

        now = utc_now()
        texts += [
            embed_text(
                KnowledgeItem(
                    item_id="x",
                    doc_id=d.doc_id,
                    text=c.text,
                    title=d.title,
                    source=d.source,
                    added_at=now,
                    validated_at=now,
                    valid_from=now,
                )
            )
            for c in chunk_text(d.text, s.chunk_chars, s.chunk_overlap)
        ]
    model = rag.embedder._load()
    model.encode(texts[:64], batch_size=s.embed_batch_size)  # warm up
    bare = []
    ingest = []
    tmp = Path(tempfile.mkdtemp(prefix="dagrag-bench-"))
    with PeakRSS() as mem:
        for trial in range(2):
            t0 = time.perf_counter()
            model.encode(texts, batch_size=s.embed_batch_size, normalize_embeddings=True, show_progress_bar=False)
            bare.append(time.perf_counter() - t0)
            kb = KnowledgeBase(tmp / f"kb{trial}", rag.embedder, chunk_chars=s.chunk_chars, chunk_overlap=s.chunk_overlap)
            report = kb.ingest_documents(docs, detect_conflicts=False)
            ingest.append(report.seconds)
            assert report.chunks == len(texts), (report.chunks, len(texts))
    store: ChromaStore = kb.store  # type: ignore[assignment]
    queries = [rag.embedder.embed([d.title])[0] for d in random.Random(0).sample(docs, 50)]

    def p50(store: ChromaStore) -> float:
        times = []
        for q in queries:
            t0 = time.perf_counter()
            store.query(q, s.top_k)
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000

    p50_1x, n_1x = p50(store), store.count()
    # 10x: nine noisy copies of every real vector ("synthetic passages" near the real ones)
    rng = random.Random(1)
    base = store._collection.get(include=["embeddings"], limit=n_1x)["embeddings"]
    big = ChromaStore(tmp / "kb10x")
    records = []
    for copy in range(10):
        for i, v in enumerate(base):
            noisy = [x + rng.gauss(0, 0.02) for x in v] if copy else list(v)
            n = sum(x * x for x in noisy) ** 0.5
            records.append(Record(f"s{copy}-{i}", f"synthetic {copy}-{i}", [x / n for x in noisy], {"doc_id": f"s{i}"}))
    big.upsert(records)
    p50_10x = p50(big)
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "passages": len(texts),
        "bare_s": min(bare),
        "ingest_s": min(ingest),
        "ingest_ratio": min(bare) / min(ingest),
        "ingest_per_s": len(texts) / min(ingest),
        "bare_per_s": len(texts) / min(bare),
        "chroma_p50_ms_1x": p50_1x,
        "n_1x": n_1x,
        "chroma_p50_ms_10x": p50_10x,
        "n_10x": big.count(),
        "ingest_peak_rss_mib": mem.peak,
    }


def quality(name: str, questions: Path, corpus: Path, variants: list[str], limit: int, settings) -> tuple[dict, float, list[dict]]:
    probe = DagRAG(settings)
    kb = runner.corpus_cache_dir(OUT / "kb", corpus, probe)
    rag = DagRAG(settings.with_overrides(kb_path=kb))
    rag.kb.ingest_documents(runner.corpus_documents(corpus), detect_conflicts=False)
    qs = load_questions(questions, limit)
    config = {
        "questions": questions.name,
        "corpus": kb.name,
        "model": "embedded",
        "top_k": settings.top_k,
        "max_rounds": settings.max_rounds,
        "node_top_k": settings.node_top_k,
        "max_nodes": settings.max_nodes,
    }
    results = runner.open_results(OUT / f"{name}.json", config)
    done = [0]

    def tick(rec: dict) -> None:
        done[0] += 1
        print(f"  {name} {done[0]}: {rec['variant']:8s} {rec['timings']['total']:5.1f}s f1={rec['metrics']['f1']:.2f}", flush=True)

    with PeakRSS() as mem:
        runner.run(rag, qs, variants, results, tick)
    rag.close()
    peak_file = OUT / f"{name}_rss.json"
    if done[0]:  # answered something in this run: its peak memory is a measurement
        peak_file.write_text(json.dumps({"peak_rss_mib": mem.peak}))
    elif peak_file.exists():  # everything resumed from earlier records: report that run's peak
        mem.peak = json.loads(peak_file.read_text())["peak_rss_mib"]
    return runner.summarize(results.records), mem.peak, results.records


def machine() -> str:
    import llama_cpp

    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM; Python {platform.python_version()}, "
        f"llama-cpp-python {llama_cpp.__version__}"
    )


QUALITY_COLS = [
    ("EM", "em"),
    ("F1", "f1"),
    ("Acc", "acc"),
    ("R@2", "recall@2"),
    ("R@5", "recall@5"),
    ("hops match", "hops_match"),
    ("DAG match", "structure_match"),
    ("fallback", "fallback_rate"),
]
COST_COLS = [
    ("LLM calls", "llm_calls", "{:.2f}"),
    ("prompt tok", "prompt_tokens", "{:.0f}"),
    ("completion tok", "completion_tokens", "{:.0f}"),
    ("tokens vs vanilla", "_ratio", "{:.2f}x"),
    ("p50 s", "p50_s", "{:.1f}"),
    ("p95 s", "p95_s", "{:.1f}"),
    ("LLM", "share_llm", "{:.0%}"),
    ("embed", "share_embed", "{:.1%}"),
    ("retrieval", "share_retrieval", "{:.1%}"),
    ("other", "share_other", "{:.1%}"),
]


def table(summary: dict, cols: list, vanilla_tokens: float | None = None) -> str:
    lines = ["| method | n | " + " | ".join(c[0] for c in cols) + " |", "|---|---:|" + "---:|" * len(cols)]
    for v, row in summary.items():
        cells = []
        for col in cols:
            key, fmt = col[1], (col[2] if len(col) > 2 else "{:.3f}")
            value = row["tokens"] / vanilla_tokens if key == "_ratio" and vanilla_tokens else row.get(key)
            cells.append(fmt.format(value) if value is not None else "–")
        lines.append(f"| {v} | {row['n']:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=20, help="questions per dataset (max 50)")
    ap.add_argument("--skip-quality", action="store_true", help="speed and memory only")
    ap.add_argument("--reuse-speed", action="store_true", help="take speed figures from the last run (benchmarks/out/speed.json)")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"benchmark data not found at {DATA}: it lives in ../shared/data next to the repository")
    OUT.mkdir(parents=True, exist_ok=True)
    settings = load_settings(kb_path=OUT / "kb" / "speed", clarify_budget=0)
    started = datetime.now(timezone.utc)
    rag = DagRAG(settings)
    speed_file = OUT / "speed.json"
    if args.reuse_speed and speed_file.exists():
        sp = json.loads(speed_file.read_text())
    else:
        print("speed: ingest vs bare encode, Chroma latency …", flush=True)
        sp = speed(rag, DATA / "musique_dev_corpus.json")
        speed_file.write_text(json.dumps(sp, indent=1))
    print(sp, flush=True)
    sections = []
    overheads, cached_shares, answer_peaks = [], [], []
    if not args.skip_quality:
        plan = [("musique", ["dag", "dag-gold", "vanilla", "none"]), ("hotpotqa", ["dag", "vanilla", "none"])]
        for name, variants in plan:
            print(f"quality: {name} …", flush=True)
            summary, peak, _ = quality(name, DATA / f"{name}_dev.json", DATA / f"{name}_dev_corpus.json", variants, args.limit, settings)
            answer_peaks.append(peak)
            vt = summary.get("vanilla", {}).get("tokens")
            sections.append(
                f"### {name} ({args.limit} questions)\n\nQuality\n\n{table(summary, QUALITY_COLS)}\n\n"
                f"Cost and time split (share of wall time)\n\n{table(summary, COST_COLS, vt)}\n"
            )
            for v in ("dag", "dag-gold"):
                if v in summary:
                    overheads.append(summary[v]["share_other"])
                    cached_shares.append(summary[v]["prompt_cached_share"])
    took = (datetime.now(timezone.utc) - started).total_seconds() / 60
    speed_table = "\n".join(
        [
            "| measure | value | target |",
            "|---|---:|---|",
            f"| ingest throughput / bare `encode` (same {sp['passages']} passages, batch {settings.embed_batch_size}) | "
            f"{sp['ingest_ratio']:.2f} ({sp['ingest_per_s']:.0f} vs {sp['bare_per_s']:.0f} passages/s) | ≥ 0.9 |",
            f"| orchestration overhead (share of dag wall time outside LLM, embedding, retrieval) | {max(overheads):.2%} (worst "
            "variant) | < 5% |"
            if overheads
            else "| orchestration overhead | not measured (--skip-quality) | < 5% |",
            f"| Chroma query p50 at {sp['n_1x']} passages | {sp['chroma_p50_ms_1x']:.2f} ms | |",
            f"| Chroma query p50 at {sp['n_10x']} passages (10x, synthetic) | {sp['chroma_p50_ms_10x']:.2f} ms | |",
            f"| llama.cpp prompt reuse in dag questions (prompt tokens served from cache / sent) | {min(cached_shares):.0%} to "
            f"{max(cached_shares):.0%} | |"
            if cached_shares
            else "| prompt reuse | not measured | |",
            f"| peak RSS while ingesting (embedder + Chroma) | {sp['ingest_peak_rss_mib']:.0f} MiB | |",
            f"| peak RSS while answering (+ llama.cpp model) | {max(answer_peaks):.0f} MiB | |"
            if answer_peaks
            else "| peak RSS answering | not measured | |",
        ]
    )
    REPORT.write_text(
        f"# dagrag benchmark report\n\nGenerated by `benchmarks/run_benchmarks.py --limit {args.limit}` on {started:%Y-%m-%d %H:%M} UTC "
        f"in {took:.0f} min.\n\nMachine: {machine()}.\nModels: embedded SmolLM2-135M-Instruct Q4_1 (llama.cpp), all-MiniLM-L6-v2.\n"
        f"Settings: top_k={settings.top_k}, node_top_k={settings.node_top_k}, max_nodes={settings.max_nodes}, "
        f"max_rounds={settings.max_rounds}, "
        f"chunk_chars={settings.chunk_chars}.\n\n## Speed and memory\n\n{speed_table}\n\n## Quality and cost\n\n"
        + "\n".join(sections)
        + "\n<!-- analysis -->\n"
    )
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
