"""The conflict judge on SICK: does ``agent.judge`` spot contradictions?

    .venv/bin/python benchmarks/bench_judge.py [--limit 40] [--out benchmarks/out/judge.json]

Reads ../shared/data/sick_dev.tsv (300 human-labelled pairs, 100 CONTRADICTION) and judges
each pair (A as the stored statement, B as the new one) with the configured GGUF (default:
the embedded SmolLM2-135M). CONTRADICTION vs the rest is scored for three predictors:
``contradicts`` only, any conflict relation, and ``contradicts`` OR the deterministic
``kb.conflicts.rule_relation``; the rule and the negation signal alone are scored too (no LLM).
Per-pair predictions (ids and labels, no SICK text) go to benchmarks/out/ (not committed).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.judge import CONFLICT_RELATIONS, judge  # noqa: E402
from kb.conflicts import rule_relation, signals  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SICK = DATA / "sick_dev.tsv"
OUT = ROOT / "benchmarks" / "out" / "judge.json"
POSITIVE = "CONTRADICTION"

Row = dict
VARIANTS: dict[str, Callable[[Row], bool]] = {
    "judge: contradicts": lambda r: r["relation"] == "contradicts",
    "judge: contradicts/supersedes/updates": lambda r: r["relation"] in CONFLICT_RELATIONS,
    "judge contradicts OR rule_relation": lambda r: r["relation"] == "contradicts" or r["rule"] is not None,
    "rule_relation only (no LLM)": lambda r: r["rule"] is not None,
    "signals.negation_differs only (no LLM)": lambda r: r["negation_differs"],
}


def load_pairs(path: Path, limit: int | None) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[:limit] if limit else rows


def scores(rows: list[Row], predict: Callable[[Row], bool]) -> dict[str, float]:
    """Precision, recall and F1 of CONTRADICTION vs the rest, and accuracy."""
    tp = sum(predict(r) and r["label"] == POSITIVE for r in rows)
    fp = sum(predict(r) and r["label"] != POSITIVE for r in rows)
    fn = sum(not predict(r) and r["label"] == POSITIVE for r in rows)
    p = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * rec / (p + rec) if p + rec else 0.0
    acc = sum(predict(r) == (r["label"] == POSITIVE) for r in rows) / len(rows) if rows else 0.0
    return {"precision": p, "recall": rec, "f1": f1, "accuracy": acc, "predicted": tp + fp}


def run(limit: int | None = None, out: Path = OUT) -> dict | None:
    """Judge the pairs, print a markdown table, write per-pair rows; None when the data is absent."""
    if not SICK.exists():
        print(f"skipped: {SICK} not found (the SICK pairs live in ../shared/data next to the repository)")
        return None
    from agent.llm import LlamaCppLLM
    from agent.settings import llm_model_path, load_settings

    pairs = load_pairs(SICK, limit)
    llm = LlamaCppLLM(llm_model_path(load_settings()), n_ctx=2048)
    rows: list[Row] = []
    for i, pair in enumerate(pairs, 1):
        a, b = pair["sentence_A"], pair["sentence_B"]
        start = time.perf_counter()
        got, completions, error = judge(llm, a, b)
        seconds = time.perf_counter() - start
        sig = signals(a, b)
        rows.append(
            {
                "pair_id": pair["pair_ID"],
                "label": pair["label"],
                "relation": got.relation if got else None,
                "confidence": got.confidence if got else None,
                "error": error,
                "calls": len(completions),
                "completion_tokens": sum(c.completion_tokens for c in completions),
                "seconds": round(seconds, 3),
                "rule": rule_relation(sig),
                "score": sig.score,
                "value_change": sig.value_change,
                "negation_differs": sig.negation_differs,
            }
        )
        if i % 10 == 0 or i == len(pairs):
            print(f"{i}/{len(pairs)} pairs judged", file=sys.stderr, flush=True)
    for r in rows:
        r["predictions"] = {name: predict(r) for name, predict in VARIANTS.items()}

    seconds = [r["seconds"] for r in rows]
    result = {
        "model": llm.name,
        "pairs": len(rows),
        "positives": sum(r["label"] == POSITIVE for r in rows),
        "unparseable": sum(r["relation"] is None for r in rows),
        "repaired": sum(r["calls"] > 1 and r["relation"] is not None for r in rows),
        "seconds_per_pair_mean": statistics.fmean(seconds) if seconds else 0.0,
        "seconds_per_pair_p50": statistics.median(seconds) if seconds else 0.0,
        "relations": dict(Counter(r["relation"] or "unparseable" for r in rows).most_common()),
        "variants": {name: scores(rows, predict) for name, predict in VARIANTS.items()},
    }
    print(markdown(result))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**result, "rows": rows}, indent=1), encoding="utf-8")
    print(f"\nper-pair predictions: {out}")
    return result


def markdown(result: dict) -> str:
    lines = [
        f"SICK contradiction detection, {result['pairs']} pairs ({result['positives']} CONTRADICTION), model {result['model']}",
        "",
        "| predictor | precision | recall | F1 | accuracy | predicted positive |",
        "|---|---|---|---|---|---|",
        *(
            f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['accuracy']:.3f} | {s['predicted']} |"
            for name, s in result["variants"].items()
        ),
        "",
        f"unparseable: {result['unparseable']} (fixed by the repair attempt: {result['repaired']}); "
        f"seconds per pair: mean {result['seconds_per_pair_mean']:.2f}, p50 {result['seconds_per_pair_p50']:.2f}",
        "relations: " + ", ".join(f"{k} {v}" for k, v in result["relations"].items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="judge only the first N pairs (default: all 300)")
    parser.add_argument("--out", type=Path, default=OUT, help="per-pair predictions as JSON")
    args = parser.parse_args(argv)
    run(args.limit, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
