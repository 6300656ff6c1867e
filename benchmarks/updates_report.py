"""The Markdown report of ``bench_updates.py`` (and the machine it ran on)."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from update_stream import BEFORE, NEW_FROM, OLD_FROM, RESOLVER

ROOT = Path(__file__).resolve().parents[1]


def _machine() -> str:
    try:
        from run_benchmarks import machine  # benchmarks/ is on sys.path when this file runs as a script
    except ImportError:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from run_benchmarks import machine
    return machine()


def summarize_qa(qa: list[dict]) -> dict:
    def mean(key: str, rows: list[dict]) -> float | None:
        return statistics.fmean(float(r[key]) for r in rows) if rows else None

    keys = [
        "retrieval_now_ok",
        "retrieval_before_ok",
        "context_now_has_new",
        "context_now_has_old",
        "context_before_has_old",
        "context_before_has_new",
        "acc_now_new",
        "acc_now_old",
        "acc_before_old",
        "acc_before_new",
    ]
    groups = {"all": qa, "detected": [r for r in qa if r["detected"]], "missed": [r for r in qa if not r["detected"]]}
    secs = [r["seconds_now"] for r in qa] + [r["seconds_before"] for r in qa]
    return {
        "n": {g: len(rows) for g, rows in groups.items()},
        **{g: {k: mean(k, rows) for k in keys} for g, rows in groups.items()},
        "seconds_per_answer": statistics.fmean(secs) if secs else 0.0,
    }


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def markdown(r: dict) -> str:
    c, d, st, res, qa = r["config"], r["detection"], r["stream"], r["resolution"], r["qa"]
    lines = [
        "## ARIA update stream on MuSiQue paragraphs (`benchmarks/bench_updates.py`)",
        "",
        f"{st['edits']} edited + {st['copies']} unedited-copy paragraphs (of {st['eligible']} eligible hops: {st['hops']} hops, "
        f"{st['answer_not_in_text']} answer not in paragraph, {st['duplicate_paragraph']} duplicate paragraph, {st['no_shape']} "
        "answer neither "
        f"number nor capitalised, {st['no_whole_word']} only inside a longer word, {st['no_replacement']} edit without a same-kind "
        "replacement). "
        f"Originals valid from {OLD_FROM:%Y-%m-%d} (ingested {'with' if c['detect_originals'] else 'without'} conflict detection), "
        f"edits and copies valid from {NEW_FROM:%Y-%m-%d}, interleaved, one document per ingest call. "
        f"Policy {c['conflict_policy']}, conflict_similarity {c['conflict_similarity']}, {c['conflict_candidates']} similar chunks "
        "per new chunk, "
        f"judge_llm {c.get('judge_llm', '?')}, judge_max_pairs {c['judge_max_pairs']}, "
        f"judge_min_confidence {c['judge_min_confidence']}, judge model {c['model']}, seed "
        f"{c['seed']}.",
        "",
        "### Detection",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| recall: edited paragraphs with a review linking them to their original | {d['detected']}/{d['edits']} = {d['recall']:.0%} |",
        "| … of which found by (judge / rule) | " + ", ".join(f"{k} {v}" for k, v in sorted(d["recall_by_detector"].items())) + " |",
        f"| false-flag rate: unedited copies in any review | {d['flagged_copies']}/{d['copies']} = {d['false_flag_rate']:.0%} |",
        f"| reviews opened by the stream | {d['reviews']} |",
        f"| judge calls (`IngestReport.judged_pairs`) / LLM completions incl. repairs | {d['judged_pairs']} / {d['judge_completions']} |",
        "| judge verdicts | " + ", ".join(f"{k} {v}" for k, v in sorted(d["judge_verdicts"].items())) + " |",
        f"| mean seconds per judge call | {d['judge_seconds_mean']:.2f} |",
        f"| stream ingest: seconds per paragraph (embed + detect + judge) | {d['seconds_per_paragraph']:.2f} "
        f"({d['stream_seconds']:.0f} s total; "
        f"edits {d['seconds_per_edit']:.2f}, copies {d['seconds_per_copy']:.2f}) |",
        f"| originals ingest: seconds per paragraph (no detection) | {d['originals_per_paragraph']:.3f} |",
        "",
        "Reviews by detector / relation and by what they link:",
        "",
        "| detector/relation | reviews |",
        "|---|---:|",
        *(f"| {k} | {v} |" for k, v in sorted(d["by_detector_relation"].items())),
        "",
        "| link | judge | rule |",
        "|---|---:|---:|",
        *(
            f"| {t} | {d['by_type_detector'].get(t + '|judge', 0)} | {d['by_type_detector'].get(t + '|rule', 0)} |"
            for t in sorted(d["by_type"])
        ),
        "",
        f"Resolution: {res['resolved_keep_new']} reviews whose new side is an edited paragraph resolved keep=new by `{RESOLVER}` "
        f"({', '.join(f'{k} {v}' for k, v in sorted(res['resolved_types'].items())) or 'none'}); {res['left_open']} left open "
        f"({', '.join(f'{k} {v}' for k, v in sorted(res['open_types'].items())) or 'none'}).",
        "",
        f"### Hop questions on edited paragraphs ({qa['n']['all']} questions: {qa['n']['detected']} detected edits, "
        f"{qa['n']['missed']} missed; "
        f"answers: {c['answer_mode']} RAG, top_k {c['top_k']}, {qa['seconds_per_answer']:.1f} s per answer)",
        "",
        "| measure | all | detected | missed |",
        "|---|---:|---:|---:|",
    ]
    rows = [
        ("top-1 now is the edited version", "retrieval_now_ok"),
        (f"top-1 as of {BEFORE:%Y-%m-%d} is the original", "retrieval_before_ok"),
        ("context now contains the edited version", "context_now_has_new"),
        ("context now still contains the original (stale)", "context_now_has_old"),
        (f"context as of {BEFORE:%Y-%m-%d} contains the original", "context_before_has_old"),
        (f"context as of {BEFORE:%Y-%m-%d} contains the edited version (leak)", "context_before_has_new"),
        ("answer now = NEW answer (string acc)", "acc_now_new"),
        ("answer now = OLD answer (stale)", "acc_now_old"),
        (f"answer as of {BEFORE:%Y-%m-%d} = OLD answer (string acc)", "acc_before_old"),
        (f"answer as of {BEFORE:%Y-%m-%d} = NEW answer (leak)", "acc_before_new"),
    ]
    lines += [f"| {label} | {_pct(qa['all'][k])} | {_pct(qa['detected'][k])} | {_pct(qa['missed'][k])} |" for label, k in rows]
    lines += ["", "### Missed edits, by cause", ""]
    if r["misses"]:
        lines += ["| cause | edits |", "|---|---:|", *(f"| {k} | {v} |" for k, v in sorted(r["misses"].items(), key=lambda kv: -kv[1])), ""]
        lines += [
            f"- `{e['doc']}` ({e['qid']} hop {e['hop']}): **{e['miss_category']}** — {e['miss_detail']}"
            + (
                f" (also flagged against {', '.join(e['also_flagged_against'])})"
                if e["also_flagged_against"] and "flagged instead" not in e["miss_detail"]
                else ""
            )
            for e in r["edits"]
            if not e["detected"]
        ]
    else:
        lines.append("none")
    flagged = [x for x in r["copies"] if x["flagged"]]
    lines += ["", "### Flagged unedited copies", ""]
    if flagged:
        lines += [
            f"- `{x['doc']}`: " + "; ".join(f"{v['type']} ({v['detector']}/{v['relation']} {v['confidence']:.2f})" for v in x["reviews"])
            for x in flagged
        ]
    else:
        lines.append("none")
    ip = r["in_place"]
    lines += [
        "",
        "### The same edits made in place (a changed file re-ingested under its own id; no review involved)",
        "",
        f"A second knowledge base: the {ip['paragraphs']} originals valid from {OLD_FROM:%Y-%m-%d}, then each edited text under its "
        f"original's doc id, valid from {NEW_FROM:%Y-%m-%d}: {ip['updated']} documents updated in {ip['seconds']:.1f} s, "
        f"{ip['chunks_embedded']} changed chunks embedded, {ip['chunks_expired']} replaced chunks kept as history; "
        f"store and ledger {'agree' if ip['store_matches_ledger'] else 'DISAGREE'}.",
        "",
        "| measure (hop question of each edited paragraph) | value |",
        "|---|---:|",
        f"| top-1 now is the new version | {_pct(ip['top1_now_ok'])} |",
        f"| top-1 as of {BEFORE:%Y-%m-%d} is the version before the edit | {_pct(ip['top1_before_ok'])} |",
        f"| context now holds a replaced chunk (stale) | {_pct(ip['context_now_stale'])} |",
        f"| context as of {BEFORE:%Y-%m-%d} holds a chunk added by the edit (leak) | {_pct(ip['context_before_leak'])} |",
    ]
    lines += ["", f"Wall time {r['wall_seconds'] / 60:.1f} min on {r.get('machine', '?')}."]
    return "\n".join(lines)
