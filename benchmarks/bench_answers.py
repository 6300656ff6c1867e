"""Right answers from the shipped model: every variant on the shared dev data, with an ablation.

    .venv/bin/python benchmarks/bench_answers.py [--limit 50] [--variants dag,vanilla,...] [--report-only]

Each variant answers every question through the same harness as ``dagrag eval`` (one model,
one embedder, the same indexed corpus, a cold llama.cpp cache per question). Questions 1-25
of each set were looked at while the reader and planner were built ("tune"); 26-50 were not
("held out"): both halves are reported. Records go to benchmarks/out/ (not committed: they
quote the datasets); the report to benchmarks/REPORT_ANSWERS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.offline import go_offline  # noqa: E402

go_offline()

from agent.api import DagRAG  # noqa: E402
from agent.escalation import self_check  # noqa: E402
from agent.evaluation import metrics, runner  # noqa: E402
from agent.evaluation.datasets import load_questions  # noqa: E402
from agent.settings import Settings, load_settings  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "out"
REPORT = ROOT / "benchmarks" / "REPORT_ANSWERS.md"
TUNE = 25  # questions 1..TUNE were inspected while building; the rest are held out

# name: (harness method, settings overrides, what it shows)
VARIANTS: dict[str, tuple[str, dict, str]] = {
    "dag": ("dag", {}, "the default: rule planner, typed reader, the model breaks close calls"),
    "vanilla": ("vanilla", {}, "plain RAG: top-k, the model writes the answer"),
    "none": ("none", {}, "the model alone"),
    "dag-gold": ("dag-gold", {}, "the default executor on MuSiQue's gold decomposition"),
    "reader-only": ("dag", {"planner": "none"}, "ablation: no DAG (one retrieval, the typed reader)"),
    "dag-score": ("dag", {"reader": "score"}, "ablation: the reader with no LLM call at all"),
    "dag-llm-decides": ("dag", {"reader_llm_weight": 1.0}, "ablation: the model picks among the typed options"),
    "dag-json-pick": ("dag", {"reader_pick": "json"}, "ablation: the model breaks close calls with a JSON enum, not by likelihood"),
    "dag-no-tagger": ("dag", {"reader_tagger": "off"}, "ablation: the reader's patterns alone (no spaCy entities or noun phrases)"),
    "before": (
        "dag",
        {"planner": "llm", "reader": "free"},
        "ablation: the model plans and writes every answer (the agent before the reader)",
    ),
}
DEFAULT = ["dag", "vanilla", "none", "dag-gold", "reader-only", "dag-score", "dag-llm-decides", "dag-json-pick", "dag-no-tagger", "before"]
LOGICRAG = {"acc": 0.20, "f1": 0.027, "em": 0.0, "words": 23, "tokens": 1719}  # the measurement, not re-run here


def open_rag(name: str, shared: dict, overrides: dict) -> DagRAG:
    corpus = DATA / f"{name}_dev_corpus.json"
    probe = DagRAG(load_settings(clarify_budget=0))
    kb = runner.corpus_cache_dir(ROOT / ".dagrag-eval", corpus, probe)
    probe.close()
    rag = DagRAG(load_settings(kb_path=kb, clarify_budget=0, **overrides), llm=shared.get("llm"), embedder=shared.get("embedder"))
    if rag.kb.stats().chunks == 0:
        rag.kb.ingest_documents(runner.corpus_documents(corpus))
    shared.setdefault("embedder", rag.embedder)
    shared.setdefault("llm", rag.llm)
    return rag


def run(name: str, variants: list[str], limit: int, tag: str = "") -> list[dict]:
    path = OUT / f"answers_{name}{tag}.json"
    records = json.loads(path.read_text()) if path.exists() else []
    done = {(r["variant"], r["qid"]) for r in records}
    questions = load_questions(DATA / f"{name}_dev.json")[:limit]
    shared: dict = {}
    for variant in variants:
        method, overrides, _ = VARIANTS[variant]
        if method == "dag-gold" and not questions[0].gold_decomposition:
            continue
        rag = open_rag(name, shared, overrides)
        passages = runner.PassageMap(rag)
        for i, q in enumerate(questions):
            if (variant, q.qid) in done:
                continue
            answer = runner.answer_with(rag, method, q)
            ranked = passages.ranking(rag, q, runner.ranked_passages(answer)) if method != "none" else []
            rec = runner.record(variant, q, answer, lambda ids: [""] * len(ids), ranked, passages.gold(q))
            rec["index"], rec["words"] = i, len(rec["prediction"].split())
            rec["recall_scored"] = method != "none"  # records before this carry no real recall
            if method != "none":  # the same passages in the order the agent reads them (sub-questions' best first)
                by_evidence = passages.ranking(rag, q, runner.evidence_order(answer))
                gold = passages.gold(q)
                for k in (2, 5):
                    rec["metrics"][f"recall@{k}_evidence"] = metrics.recall_at_k(by_evidence, gold, k)
            records.append(rec)
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(records, indent=1))
            print(
                f"{name} {variant:16s} {i + 1:2d} acc={rec['metrics']['acc']:.0f} {rec['confidence'] or '-':8s} {rec['prediction'][:50]!r}",
                flush=True,
            )
        rag.close()
    return records


def confidence_of(rec: dict) -> str | None:
    """The confidence the shipped rule gives a record, from its recorded signals (records made
    before the rule's thresholds were set carry the signals it needs); "low" stays low."""
    sig, s = rec.get("signals") or {}, Settings()
    if not sig or rec.get("confidence") in (None, "low"):
        return rec.get("confidence")
    _, level = self_check(
        supported=True,
        typed=bool(sig.get("typed")),
        hops_typed=bool(sig.get("hops_typed", 1.0)),
        lead=sig.get("margin"),
        clear_lead=s.confidence_clear_lead,
        close_lead=s.confidence_close_lead,
        conflicts=0,
        stale=0,
        stale_days=s.stale_days,
    )
    return level


def row(recs: list[dict]) -> dict:
    n = len(recs)
    m = {k: sum(r["metrics"][k] for r in recs) / n for k in ("em", "f1", "acc")}
    prompt = sum(r["prompt_tokens"] for r in recs)
    totals = [r["timings"].get("total", 0.0) for r in recs]
    words = [r["words"] for r in recs]
    plans = [r["metrics"] for r in recs if "hops_match" in r["metrics"]]
    multi = [r for r in recs if r["llm_calls"] >= 2]
    multi_prompt = sum(r["prompt_tokens"] for r in multi)
    scored = [r["metrics"] for r in recs if r.get("recall_scored")]
    return {
        "n": n,
        **m,
        "words_p50": statistics.median(words),
        "words_max": max(words),
        "calls": sum(r["llm_calls"] for r in recs) / n,
        "tokens": (prompt + sum(r["completion_tokens"] for r in recs)) / n,
        "cached": sum(r["cached_prompt_tokens"] for r in recs) / prompt if prompt else 0.0,
        "multi": len(multi),
        "cached_multi": sum(r["cached_prompt_tokens"] for r in multi) / multi_prompt if multi_prompt else None,
        "r2": sum(m["recall@2"] for m in scored) / len(scored) if scored else None,
        "r5": sum(m["recall@5"] for m in scored) / len(scored) if scored else None,
        "r5e": _mean([m.get("recall@5_evidence") for m in scored]),
        "p50": metrics.percentile(totals, 50),
        "p95": metrics.percentile(totals, 95),
        "hops": sum(p["hops_match"] for p in plans) / len(plans) if plans else None,
        "shape": sum(p["structure_match"] for p in plans) / len(plans) if plans else None,
    }


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def fmt(v: float | None, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def report(results: dict[str, list[dict]], started: str, minutes: float) -> str:
    lines = [
        "# Answers from the shipped model (issue 11)",
        "",
        f"Generated by `benchmarks/bench_answers.py` on {started} "
        + (f"in {minutes:.0f} min" if minutes >= 1 else "from the saved per-question records")
        + " on a shared 2-core machine (other jobs running:",
        "seconds are noisy; token counts are not). Model: embedded SmolLM2-135M-Instruct Q4_1; embedder all-MiniLM-L6-v2.",
        "Every (variant, question) starts from a cold llama.cpp cache. `tune` = questions 1-25 (inspected while building the",
        "reader and the planner), `held out` = 26-50 (never inspected). Per-question records: benchmarks/out/ (not committed).",
        "",
        "| variant | what it is |",
        "|---|---|",
        *[f"| {v} | {VARIANTS[v][2]} |" for v in VARIANTS],
        "",
    ]
    for name, recs in results.items():
        variants = [v for v in VARIANTS if any(r["variant"] == v for r in recs)]
        lines += [
            f"## {name}",
            "",
            "| variant | n | EM | F1 | Acc | Acc tune | Acc held out | F1 held out | words p50 | words max | LLM calls | tokens | cached "
            "| cached, questions with ≥ 2 calls (n) | p50 s | p95 s | hops match | DAG match | R@2 | R@5 | R@5 held out "
            "| R@5, evidence order | R@5 held out, evidence order |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for v in variants:
            vr = [r for r in recs if r["variant"] == v]
            a, t, h = row(vr), [r for r in vr if r["index"] < TUNE], [r for r in vr if r["index"] >= TUNE]
            at, ah = (row(t) if t else None), (row(h) if h else None)
            lines.append(
                f"| {v} | {a['n']} | {fmt(a['em'])} | {fmt(a['f1'])} | {fmt(a['acc'])} | {fmt(at and at['acc'])} | "
                f"{fmt(ah and ah['acc'])} | {fmt(ah and ah['f1'])} | {a['words_p50']:.0f} | {a['words_max']} | {a['calls']:.2f} | "
                f"{a['tokens']:.0f} | {a['cached']:.0%} | {fmt(a['cached_multi'], 2)} ({a['multi']}) | "
                f"{a['p50']:.1f} | {a['p95']:.1f} | {fmt(a['hops'], 2)} | {fmt(a['shape'], 2)} | {fmt(a['r2'])} | {fmt(a['r5'])} | "
                f"{fmt(ah and ah['r5'])} | {fmt(a['r5e'])} | {fmt(ah and ah['r5e'])} |"
            )
        if name == "musique":
            lines.append(
                "| *official LogicRAG code, same model (from the issue; other 50 questions)* | 50 | "
                f"{LOGICRAG['em']:.3f} | {LOGICRAG['f1']:.3f} | "
                f"{LOGICRAG['acc']:.3f} | | | | {LOGICRAG['words']} | | | {LOGICRAG['tokens']} | | | | | 0 rounds | | | | | | |"
            )
        dag = [r for r in recs if r["variant"] == "dag"]
        if dag:
            lines += [
                "",
                "Confidence of `dag` (how often it is right at each level; thresholds set on the tune half):",
                "",
                "| confidence | n | Acc | Acc tune (n) | Acc held out (n) | share of right answers | share of wrong answers |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            for r in dag:
                r["confidence"] = confidence_of(r)
            right = [r for r in dag if r["metrics"]["acc"]]
            wrong = [r for r in dag if not r["metrics"]["acc"]]
            for level in ("high", "moderate", "low"):
                at = [r for r in dag if r["confidence"] == level]
                acc = sum(r["metrics"]["acc"] for r in at) / len(at) if at else None
                share_r = sum(1 for r in right if r["confidence"] == level) / len(right) if right else 0.0
                share_w = sum(1 for r in wrong if r["confidence"] == level) / len(wrong) if wrong else 0.0
                tune = [r["metrics"]["acc"] for r in at if r["index"] < TUNE]
                held = [r["metrics"]["acc"] for r in at if r["index"] >= TUNE]
                acc_t = f"{sum(tune) / len(tune):.3f} ({len(tune)})" if tune else "–"
                acc_h = f"{sum(held) / len(held):.3f} ({len(held)})" if held else "–"
                lines.append(f"| {level} | {len(at)} | {fmt(acc)} | {acc_t} | {acc_h} | {share_r:.0%} | {share_w:.0%} |")
            paths: dict[str, int] = {}
            for r in dag:
                paths[r["plan_source"]] = paths.get(r["plan_source"], 0) + 1
            lines += ["", "Paths taken by `dag`: " + ", ".join(f"{k} {v}" for k, v in sorted(paths.items(), key=lambda kv: -kv[1])) + "."]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--variants", default=",".join(DEFAULT))
    ap.add_argument("--sets", default="musique,hotpotqa")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--tag", default="", help="suffix of this run's records file (runs side by side write their own)")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} not found: the benchmark data lives in ../shared/data next to the repository")
    started, t0 = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), time.perf_counter()
    for name in [] if args.report_only else args.sets.split(","):
        run(name, args.variants.split(","), args.limit, args.tag)
    results = {
        name: [r for path in sorted(OUT.glob(f"answers_{name}*.json")) for r in json.loads(path.read_text())]
        for name in ("musique", "hotpotqa")
    }
    text = report(results, started, (time.perf_counter() - t0) / 60)
    analysis = REPORT.read_text().split("<!-- analysis -->", 1)[1] if REPORT.exists() and "<!-- analysis -->" in REPORT.read_text() else ""
    REPORT.write_text(text + "\n<!-- analysis -->" + analysis)
    print(text)


if __name__ == "__main__":
    main()
