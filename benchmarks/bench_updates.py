"""ARIA's update stream on real text: are edited facts flagged, resolved and answered by time?

    .venv/bin/python benchmarks/bench_updates.py [--limit 60] [--limit-questions 40] [--out benchmarks/out/updates.json]

Built from ../shared/data/musique_dev.json (read at run time, never copied into the repository):
every gold hop whose supporting paragraph contains the hop's answer becomes a paragraph of the
stream. The paragraphs are split (seeded) into an EDIT half, whose newer version replaces every
occurrence of the hop answer with another gold answer of the same shape (numbers for numbers,
capitalised names of about the same length for names), and a COPY half, whose newer version is
an unedited copy. A fresh knowledge base gets the originals (valid from 2020-01-01), then the
edits and copies interleaved (valid from 2024-01-01), one arriving document at a time, with the
product's conflict detection (similar chunks -> ``kb.conflicts.candidate_pairs`` -> LLM judge
backed by the value-change rule, policy "escalate").

Measured: recall (edited paragraphs with an open review linking them to their original),
false-flag rate (unedited copies in any review), reviews by detector and relation, judge calls,
seconds per paragraph; every miss is explained by re-checking similarity, pair ranking and the
judge's verdict. Reviews whose new side is an edited paragraph are then resolved (keep new) and
the hop questions are asked now and as of 2022-01-01 (top-1 retrieval and a plain-RAG answer).
Per-item results go to benchmarks/out/ (not committed: they quote the dataset).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.offline import go_offline  # noqa: E402

go_offline()

sys.path.insert(0, str(ROOT / "benchmarks"))
from update_diagnosis import JudgeLog, diagnose, explain_miss  # noqa: E402
from update_stream import BEFORE, NEW_FROM, OLD_FROM, RESOLVER, SEED, Case, build_stream  # noqa: E402
from updates_report import _machine, markdown, summarize_qa  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MUSIQUE = DATA / "musique_dev.json"
OUT = ROOT / "benchmarks" / "out" / "updates.json"


# --- answering -------------------------------------------------------------------------------
def plain_answer(rag, question: str, as_of: datetime | None) -> tuple[str, list[str], float]:
    """Plain RAG (``DagRAG.ask_vanilla``) with an ``as_of``: top-k retrieval, one warm-up call."""
    t0 = time.perf_counter()
    a = rag.ask_vanilla(question, as_of=as_of)
    return a.answer, a.retrieved_ids, time.perf_counter() - t0


def dag_answer(rag, question: str, as_of: datetime | None) -> tuple[str, list[str], float]:
    t0 = time.perf_counter()
    a = rag.ask(question, as_of=as_of)
    return a.answer, a.retrieved_ids, time.perf_counter() - t0


def edits_in_place(rag, edits: list[Case], doc) -> dict:
    """A second knowledge base: the originals, then each edited text under the original's own doc id.

    No review is involved: the new version replaces the current one, the replaced chunks stay
    as history. Measures, for every edited paragraph's hop question, whether top-1 retrieval is
    the edited version now and the original as of 2022, and whether either context mixes versions.
    """
    from agent.api import DagRAG

    with DagRAG(
        rag.settings.with_overrides(kb_path=rag.settings.kb_path.parent / "kb-in-place", detect_conflicts=False), embedder=rag.embedder
    ) as other:
        kb = other.kb
        kb.ingest_documents([doc(c, "orig") for c in edits], valid_from=OLD_FROM)
        before = {c.orig_doc: kb.ledger.current_items(c.orig_doc) for c in edits}
        t0 = time.perf_counter()
        report = kb.ingest_documents([replace(doc(c, "new"), doc_id=c.orig_doc) for c in edits], valid_from=NEW_FROM)
        seconds = time.perf_counter() - t0
        rows = []
        for c in edits:
            now = kb.ledger.current_items(c.orig_doc)
            ctx_now = kb.search(c.question, rag.settings.top_k).evidence
            ctx_then = kb.search(c.question, rag.settings.top_k, as_of=BEFORE).evidence
            history = {i.item_id for i in kb.ledger.items() if i.doc_id == c.orig_doc and i.expired_at is not None}
            rows.append(
                {
                    "doc": c.orig_doc,
                    "expired": len(history),
                    "top1_now_ok": bool(ctx_now) and ctx_now[0].chunk_id in now,
                    "top1_before_ok": bool(ctx_then) and ctx_then[0].chunk_id in before[c.orig_doc],
                    "context_now_stale": any(e.chunk_id in history for e in ctx_now),
                    "context_before_leak": any(e.chunk_id in now - before[c.orig_doc] for e in ctx_then),
                }
            )
        consistent = kb.store.ids() == kb.ledger.item_ids() and kb.ledger.unsynced() == []
    n = len(rows) or 1
    return {
        "paragraphs": len(rows),
        "updated": len(report.updated),
        "chunks_embedded": report.chunks,
        "chunks_expired": report.expired,
        "seconds": seconds,
        "store_matches_ledger": consistent,
        **{k: sum(r[k] for r in rows) / n for k in ("top1_now_ok", "top1_before_ok", "context_now_stale", "context_before_leak")},
        "rows": rows,
    }


# --- the run ---------------------------------------------------------------------------------
def run(
    limit: int = 60,
    limit_questions: int = 40,
    out: Path = OUT,
    answer_mode: str = "plain",
    detect_originals: bool = False,
    seed: int = SEED,
    keep_kb: bool = False,
) -> dict | None:
    if not MUSIQUE.exists():
        print(f"skipped: {MUSIQUE} not found (the MuSiQue questions live in ../shared/data next to the repository)")
        return None
    from agent.api import DagRAG
    from agent.evaluation.metrics import string_accuracy
    from agent.settings import load_settings
    from kb.loaders import SourceDocument

    started = time.perf_counter()
    questions = json.loads(MUSIQUE.read_text(encoding="utf-8"))
    edits, copies, info = build_stream(questions, seed)
    edits, copies = edits[:limit], copies[:limit]
    for n, c in enumerate(edits + copies):
        c.i = n
    tmp = Path(tempfile.mkdtemp(prefix="dagrag-updates-"))
    settings = load_settings(kb_path=tmp / "kb", conflict_policy="escalate", clarify_budget=0)
    rag = DagRAG(settings)
    kb = rag.kb
    log = JudgeLog()
    log.install(rag)
    try:

        def doc(case: Case, which: str) -> SourceDocument:
            text = case.text if which == "orig" else case.new_text
            doc_id = case.orig_doc if which == "orig" else case.new_doc
            return SourceDocument(doc_id, f"musique:{case.qid}#{case.hop}", case.title, text)

        # 1. the originals, valid from 2020
        print(f"ingesting {len(edits) + len(copies)} originals …", file=sys.stderr, flush=True)
        rag.embedder.embed(["warm up"])
        log.current = "originals"
        orig_report = kb.ingest_documents([doc(c, "orig") for c in edits + copies], valid_from=OLD_FROM, detect_conflicts=detect_originals)
        base_reviews = {r.review_id for r in kb.ledger.reviews(None)}

        # 2. the update stream, valid from 2024: edits and copies interleaved, one arriving document at a time
        stream = [c for pair in itertools.zip_longest(edits, copies) for c in pair if c is not None]
        diagnostics: dict[int, dict] = {}
        arrivals = []
        t_stream = 0.0
        judged_pairs = 0
        _ = rag.llm  # load the model outside the timed stream
        for n, case in enumerate(stream, 1):
            known = {(r.old_item, r.new_item) for r in kb.ledger.reviews(None)}
            log.current = case.new_doc
            t0 = time.perf_counter()
            report = kb.ingest_documents([doc(case, "new")], valid_from=NEW_FROM)
            took = time.perf_counter() - t0
            t_stream += took
            judged_pairs += report.judged_pairs
            arrivals.append(
                {
                    "doc": case.new_doc,
                    "seconds": round(took, 3),
                    "judged_pairs": report.judged_pairs,
                    "reviews": report.reviews,
                    "chunks": report.chunks,
                }
            )
            if case.role == "edit":
                diagnostics[case.i] = diagnose(rag, case, log.for_doc(case.new_doc), known)
            print(f"\r{n}/{len(stream)} arrived ({t_stream:.0f}s, {judged_pairs} judged)", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)

        # 3. what was flagged
        item_doc = {i.item_id: i.doc_id for i in kb.ledger.items()}
        reviews = [r for r in kb.ledger.reviews(None) if r.kind == "conflict" and r.review_id not in base_reviews]

        def pair_type(r) -> str:
            old, new = item_doc.get(r.old_item or "", "?"), item_doc.get(r.new_item or "", "?")
            for role in ("edit", "copy"):
                for a, b in ((new, old), (old, new)):
                    if a.startswith(role + "/"):
                        if b == "orig/" + a.split("/")[1]:
                            return f"{role} vs own original"
                        return f"{role} vs other ({b.split('/')[0]})"
            return "other"

        review_rows = [
            {
                "review_id": r.review_id,
                "old_doc": item_doc.get(r.old_item or ""),
                "new_doc": item_doc.get(r.new_item or ""),
                "type": pair_type(r),
                "detector": r.detector,
                "relation": r.relation,
                "confidence": r.confidence,
                "old_statement": r.old_statement,
                "new_statement": r.new_statement,
                "reason": r.reason,
            }
            for r in reviews
        ]
        per_edit, per_copy = [], []
        for case in edits:
            linked = [x for x in review_rows if {x["old_doc"], x["new_doc"]} == {case.orig_doc, case.new_doc}]
            elsewhere = sorted(
                {
                    (x["old_doc"] if x["new_doc"] == case.new_doc else x["new_doc"])
                    for x in review_rows
                    if case.new_doc in (x["old_doc"], x["new_doc"]) and x not in linked
                }
            )
            row = {
                "doc": case.new_doc,
                "qid": case.qid,
                "hop": case.hop,
                "answer": case.answer,
                "replacement": case.replacement,
                "occurrences": case.occurrences,
                "detected": bool(linked),
                "reviews": [x["review_id"] for x in linked],
                "detectors": sorted({x["detector"] for x in linked}),
                "also_flagged_against": elsewhere,
            }
            if not linked:
                row["miss_category"], row["miss_detail"] = explain_miss(case, diagnostics[case.i], elsewhere, settings, not rag.llm_judges)
            row["diagnosis"] = diagnostics[case.i]
            per_edit.append(row)
        for case in copies:
            involved = [x for x in review_rows if case.new_doc in (x["old_doc"], x["new_doc"])]
            per_copy.append(
                {
                    "doc": case.new_doc,
                    "qid": case.qid,
                    "hop": case.hop,
                    "flagged": bool(involved),
                    "reviews": [
                        {
                            k: x[k]
                            for k in (
                                "review_id",
                                "type",
                                "detector",
                                "relation",
                                "confidence",
                                "old_doc",
                                "new_doc",
                                "old_statement",
                                "new_statement",
                            )
                        }
                        for x in involved
                    ],
                }
            )

        # 4. resolve what an edit brought in (keep new); leave the rest open
        resolved, left_open = [], []
        for x in review_rows:
            if (x["new_doc"] or "").startswith("edit/"):
                rag.resolve(x["review_id"], "new", by=RESOLVER, note="benchmark: the edited paragraph is the newer truth")
                resolved.append(x["review_id"])
            else:
                left_open.append(x["review_id"])

        # 5. the hop questions, now and as of 2022
        asker = dag_answer if answer_mode == "dag" else plain_answer
        qa = []
        for n, case in enumerate(edits[:limit_questions], 1):
            now_top = kb.search(case.question, 1).evidence
            past_top = kb.search(case.question, 1, as_of=BEFORE).evidence
            ans_now, ids_now, s_now = asker(rag, case.question, None)
            ans_past, ids_past, s_past = asker(rag, case.question, BEFORE)
            docs_now = [item_doc.get(i, "?") for i in ids_now]
            docs_past = [item_doc.get(i, "?") for i in ids_past]
            qa.append(
                {
                    "doc": case.new_doc,
                    "qid": case.qid,
                    "hop": case.hop,
                    "question": case.question,
                    "old_answer": case.answer,
                    "new_answer": case.replacement,
                    "detected": per_edit[edits.index(case)]["detected"],
                    "top1_now": now_top[0].doc_id if now_top else None,
                    "top1_before": past_top[0].doc_id if past_top else None,
                    "retrieval_now_ok": bool(now_top) and now_top[0].doc_id == case.new_doc,
                    "retrieval_before_ok": bool(past_top) and past_top[0].doc_id == case.orig_doc,
                    "context_now_has_new": case.new_doc in docs_now,
                    "context_now_has_old": case.orig_doc in docs_now,
                    "context_before_has_old": case.orig_doc in docs_past,
                    "context_before_has_new": case.new_doc in docs_past,
                    "answer_now": ans_now,
                    "answer_before": ans_past,
                    "seconds_now": round(s_now, 2),
                    "seconds_before": round(s_past, 2),
                    "acc_now_new": string_accuracy(ans_now, [case.replacement]),
                    "acc_now_old": string_accuracy(ans_now, [case.answer]),
                    "acc_before_old": string_accuracy(ans_past, [case.answer]),
                    "acc_before_new": string_accuracy(ans_past, [case.replacement]),
                }
            )
            print(f"\r{n}/{min(limit_questions, len(edits))} hop questions asked", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        open_after = len(kb.ledger.reviews("open"))

        # 6. the same edits made in place: each edited text re-ingested under its original's id (a file changed on disk)
        in_place = edits_in_place(rag, edits, doc)
    finally:
        log.uninstall()
        rag.close()
        if keep_kb:
            print(f"knowledge base kept at {tmp / 'kb'}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    n_edit, n_copy = len(per_edit), len(per_copy)
    detected = sum(r["detected"] for r in per_edit)
    flagged = sum(r["flagged"] for r in per_copy)
    n_stream = len(stream)
    judge_calls = log.calls[:]
    judge_seconds = [c["seconds"] for c in judge_calls if c["doc"] != "originals"]
    result = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {
            "limit": limit,
            "limit_questions": limit_questions,
            "answer_mode": answer_mode,
            "seed": seed,
            "detect_originals": detect_originals,
            "conflict_policy": settings.conflict_policy,
            "conflict_similarity": settings.conflict_similarity,
            "conflict_candidates": kb.time_policy.conflict_candidates,
            "judge_max_pairs": kb.time_policy.judge_max_pairs,  # 0 when the LLM does not judge (judge_llm)
            "judge_llm": f"{settings.judge_llm} ({'LLM judge backed by the rules' if rag.llm_judges else 'the rules alone'})",
            "judge_min_confidence": settings.judge_min_confidence,
            "top_k": settings.top_k,
            "chunk_chars": settings.chunk_chars,
            "model": getattr(rag.llm, "name", "?"),
        },
        "stream": asdict(info) | {"edits": n_edit, "copies": n_copy},
        "detection": {
            "recall": detected / n_edit if n_edit else 0.0,
            "detected": detected,
            "edits": n_edit,
            "recall_by_detector": dict(Counter(d for r in per_edit if r["detected"] for d in r["detectors"])),
            "false_flag_rate": flagged / n_copy if n_copy else 0.0,
            "flagged_copies": flagged,
            "copies": n_copy,
            "reviews": len(review_rows),
            "by_detector_relation": dict(Counter(f"{x['detector']}/{x['relation']}" for x in review_rows)),
            "by_type": dict(Counter(x["type"] for x in review_rows)),
            "by_type_detector": dict(Counter(f"{x['type']}|{x['detector']}" for x in review_rows)),
            "judged_pairs": judged_pairs,
            "judge_completions": sum(c["completions"] for c in judge_calls if c["doc"] != "originals"),
            "judge_verdicts": dict(Counter(c["relation"] or "unusable" for c in judge_calls if c["doc"] != "originals")),
            "judge_seconds_mean": statistics.fmean(judge_seconds) if judge_seconds else 0.0,
            "stream_seconds": t_stream,
            "seconds_per_paragraph": t_stream / n_stream if n_stream else 0.0,
            "seconds_per_edit": statistics.fmean(a["seconds"] for a in arrivals if a["doc"].startswith("edit/")) if n_edit else 0.0,
            "seconds_per_copy": statistics.fmean(a["seconds"] for a in arrivals if a["doc"].startswith("copy/")) if n_copy else 0.0,
            "originals_seconds": orig_report.seconds,
            "originals_per_paragraph": orig_report.seconds / max(1, len(edits) + len(copies)),
            "originals_judged_pairs": orig_report.judged_pairs,
        },
        "resolution": {
            "resolved_keep_new": len(resolved),
            "left_open": len(left_open),
            "open_after": open_after,
            "resolved_types": dict(Counter(x["type"] for x in review_rows if x["review_id"] in resolved)),
            "open_types": dict(Counter(x["type"] for x in review_rows if x["review_id"] in left_open)),
        },
        "qa": summarize_qa(qa),
        "in_place": in_place,
        "misses": dict(Counter(r["miss_category"] for r in per_edit if not r["detected"])),
        "wall_seconds": time.perf_counter() - started,
        "machine": _machine(),
        "edits": per_edit,
        "copies": per_copy,
        "questions": qa,
        "review_rows": review_rows,
        "arrivals": arrivals,
        "judge_calls": judge_calls,
    }
    print(markdown(result))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    print(f"\nper-item results: {out}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=60, help="edited and unedited-copy paragraphs, each (default 60)")
    parser.add_argument("--limit-questions", type=int, default=40, help="hop questions asked on edited paragraphs (default 40)")
    parser.add_argument("--out", type=Path, default=OUT, help="per-item results as JSON")
    parser.add_argument(
        "--answer",
        choices=["plain", "dag"],
        default="plain",
        help="plain: one RAG call with as_of (default); dag: DagRAG.ask(q, as_of=...) (much slower)",
    )
    parser.add_argument("--detect-originals", action="store_true", help="also run conflict detection while ingesting the originals")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--keep-kb", action="store_true", help="keep the temporary knowledge base (its path is printed)")
    args = parser.parse_args(argv)
    run(args.limit, args.limit_questions, args.out, args.answer, args.detect_originals, args.seed, args.keep_kb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
