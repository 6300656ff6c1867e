"""How well the reader's ranking puts the gold answer first, and whether fitted weights do better.

    python benchmarks/bench_ranking.py            # top-1 of the shipped and fitted weights on the tune half
    python benchmarks/bench_ranking.py --heldout  # and on the held-out half (do this once, at the end)

Each training item is one reading: a question, the passages retrieved for it (the same search
the warm-up runs) and the gold answer. The items are the tune halves (questions 1-25) of
MuSiQue and HotpotQA, and the gold sub-questions of those MuSiQue questions, with earlier hops'
gold answers put in. Questions the reader does not rank (yes/no, choices) and readings whose
candidates miss the gold answer teach nothing and are left out.

The fitted model is a softmax over a reading's candidates of (scale x weighted signals); the weights
are pulled towards the hand-set ones (an L2 penalty, its strength chosen by grouped
cross-validation on the tune half), so a signal moves only as far as the data asks.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_answers  # noqa: E402

from agent.evaluation.datasets import load_questions  # noqa: E402
from agent.evaluation.metrics import normalize_answer  # noqa: E402
from agent.questions import classify  # noqa: E402
from agent.ranking import FEATURES, WEIGHTS, rank_with_features  # noqa: E402
from agent.reader import extract_candidates  # noqa: E402
from agent.reading import cosine_similarity  # noqa: E402

TUNE = range(0, 25)
HELD_OUT = range(25, 50)
LAMBDAS = (0.3, 1.0, 3.0, 10.0, 30.0)


@dataclass
class Reading:
    group: str  # the dev question it comes from (cross-validation keeps a question's readings together)
    source: str
    features: np.ndarray  # candidates x features
    gold: np.ndarray  # candidates: 1 where the candidate is the gold answer


def readings(name: str, indexes: range, with_hops: bool) -> list[tuple[str, str, str, list[str], list[str]]]:
    """(group, source, question, gold answers, earlier answers) of the dev questions ``indexes`` (and their
    gold hops, with the answers of the earlier hops they cite put in)."""
    out = []
    for i, q in enumerate(load_questions(bench_answers.DATA / f"{name}_dev.json")):
        if i not in indexes:
            continue
        out.append((q.qid, f"{name} question", q.question, q.answers, []))
        answers: dict[int, str] = {}
        for node in q.gold_decomposition if with_hops else []:
            text, earlier = node["question"], []
            for k, answer in answers.items():
                if f"#{k}" in text:
                    text, earlier = text.replace(f"#{k}", answer), [*earlier, answer]
            answers[node["id"]] = node["answer"]
            if "#" not in text:
                out.append((q.qid, f"{name} gold hop", text, [node["answer"]], earlier))
    return out


def is_gold(text: str, golds: list[str]) -> bool:
    t = normalize_answer(text)
    return any(g == t or (g in t and len(t) < len(g) + 15) for g in golds)


def featurize(name: str, items: list[tuple[str, str, str, list[str], list[str]]], weights) -> list[Reading]:
    rag = bench_answers.open_rag(name, {}, {})
    similarity = cosine_similarity(rag.embedder.embed)
    out = []
    for group, source, question, answers, earlier in items:
        qtype = classify(question)
        if qtype.kind in ("yesno", "choice") or not qtype.recognised:
            continue
        evidence = rag.kb.search(question, rag.settings.top_k).evidence
        tags = rag.tagger([e.text for e in evidence]) if rag.tagger else None
        ranked = rank_with_features(
            question,
            qtype,
            extract_candidates(evidence, qtype, tags),
            lambda sents, q=question: similarity(q, sents),
            [e.title for e in evidence],
            weights,
        )
        golds = [normalize_answer(a) for a in answers]
        known = {normalize_answer(t) for t in earlier}  # as the reader does: an earlier answer is not this one's
        ranked = [r for r in ranked if normalize_answer(r.scored.text) not in known]
        gold = np.array([1.0 if is_gold(r.scored.text, golds) else 0.0 for r in ranked])
        if len(ranked) >= 2 and gold.any():
            out.append(Reading(group, source, np.array([[r.features[f] for f in FEATURES] for r in ranked]), gold))
    rag.close()
    return out


def loss(params: np.ndarray, data: list[Reading], prior: np.ndarray, lam: float) -> tuple[float, np.ndarray]:
    """Negative log-likelihood of the gold candidates (softmax of scale x score) plus the pull to ``prior``."""
    scale, w = params[0], params[1:]
    total, grad = 0.0, np.zeros_like(params)
    for r in data:
        s = r.features @ w
        z = scale * s
        p = np.exp(z - z.max())
        p /= p.sum()
        pg = p * r.gold
        mass = pg.sum()
        total -= np.log(mass + 1e-12)
        q = pg / (mass + 1e-12)  # posterior over the gold candidates
        diff = q - p
        grad[0] -= diff @ s
        grad[1:] -= scale * (diff @ r.features)
    total += lam * np.sum((w - prior) ** 2)
    grad[1:] += 2 * lam * (w - prior)
    return total, grad


def fit(data: list[Reading], lam: float) -> np.ndarray:
    prior = np.array([WEIGHTS[f] for f in FEATURES])
    start = np.concatenate([[10.0], prior])
    bounds = [(0.1, 200.0)] + [(None, None)] * len(prior)
    result = minimize(loss, start, args=(data, prior, lam), jac=True, method="L-BFGS-B", bounds=bounds)
    return result.x[1:]


def top1(data: list[Reading], w: np.ndarray) -> float:
    return float(np.mean([r.gold[int(np.argmax(r.features @ w))] for r in data])) if data else 0.0


def cross_validate(data: list[Reading], lam: float, folds: int = 5) -> float:
    groups = sorted({r.group for r in data})
    hits = []
    for k in range(folds):
        held = set(groups[k::folds])
        w = fit([r for r in data if r.group not in held], lam)
        test = [r for r in data if r.group in held]
        hits += [r.gold[int(np.argmax(r.features @ w))] for r in test]
    return float(np.mean(hits))


def table_row(label: str, data: list[Reading], columns: list[np.ndarray]) -> str:
    return f"| {label} | {len(data)} | " + " | ".join(f"{top1(data, w):.3f}" for w in columns) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heldout", action="store_true", help="also report top-1 on the held-out halves (once, at the end)")
    args = parser.parse_args()
    if not bench_answers.DATA.exists():
        sys.exit(f"dev data not found at {bench_answers.DATA}: nothing to train on")
    vector = {"shipped": np.array([WEIGHTS[f] for f in FEATURES])}
    tune = {name: featurize(name, readings(name, TUNE, name == "musique"), WEIGHTS) for name in ("musique", "hotpotqa")}
    data = [r for rows in tune.values() for r in rows]
    scores = {lam: cross_validate(data, lam) for lam in LAMBDAS}
    lam = max(scores, key=lambda k: (scores[k], k))
    vector["fitted"] = fit(data, lam)
    cv = ", ".join(f"{k}: {v:.3f}" for k, v in scores.items())
    print(f"{len(data)} tune readings; fitted weights' 5-fold cross-validated top-1 by L2 strength: {cv} (chosen {lam})")
    print("fitted WEIGHTS = {" + ", ".join(f'"{f}": {v:.3f}' for f, v in zip(FEATURES, vector["fitted"], strict=True)) + "}")
    print("\n| readings (gold among the candidates) | n | top-1 shipped weights | top-1 fitted (fit on all tune) |")
    print("|---|---|---|---|")
    parts = [("tune", tune)]
    if args.heldout:
        parts.append(("held out", {name: featurize(name, readings(name, HELD_OUT, name == "musique"), WEIGHTS) for name in tune}))
    for part, by_name in parts:
        for rows in by_name.values():
            for source in sorted({r.source for r in rows}):
                print(table_row(f"{part}: {source}", [r for r in rows if r.source == source], list(vector.values())))


if __name__ == "__main__":
    main()
