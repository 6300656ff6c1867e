"""Standard QA and retrieval metrics (SQuAD/HotpotQA, LogicRAG). Pure functions, no I/O."""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

import networkx as nx

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPECIAL = frozenset({"yes", "no", "noanswer"})


def normalize_answer(s: str) -> str:
    """SQuAD/HotpotQA normalisation: lower case, drop punctuation and articles, collapse spaces."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer, else 0.0."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def _f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction), normalize_answer(gold)
    if (pred in _SPECIAL or ref in _SPECIAL) and pred != ref:
        return 0.0
    pred_toks, ref_toks = pred.split(), ref.split()
    same = sum((Counter(pred_toks) & Counter(ref_toks)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_toks), same / len(ref_toks)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """HotpotQA token F1, maximised over the gold answer and its aliases."""
    return max((_f1(prediction, g) for g in golds), default=0.0)


def string_accuracy(prediction: str, golds: Sequence[str]) -> float:
    """LogicRAG string accuracy: 1.0 if a non-empty normalised gold is a substring of the prediction."""
    pred = normalize_answer(prediction)
    return float(any((g := normalize_answer(gold)) and g in pred for gold in golds))


def recall_at_k(retrieved_ids: Sequence[str], gold_ids: Collection[str], k: int) -> float | None:
    """Fraction of gold ids among the first k distinct retrieved ids; None when there is no gold."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    gold = set(gold_ids)
    if not gold:
        return None
    top = list(dict.fromkeys(retrieved_ids))[:k]
    return len(gold.intersection(top)) / len(gold)


def percentile(values: Sequence[float], q: float) -> float:
    """q-th percentile (0-100) with linear interpolation, as numpy.percentile's default."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within [0, 100], got {q}")
    xs = sorted(float(v) for v in values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarize(rows: Sequence[Mapping[str, float | None]]) -> dict[str, float]:
    """Mean of each key over the rows, ignoring None; keys that are always None are left out."""
    seen: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            bucket = seen.setdefault(key, [])
            if value is not None:
                bucket.append(float(value))
    return {key: sum(vals) / len(vals) for key, vals in seen.items() if vals}


def _dag(edges: list[tuple[int, int]], n: int) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(range(1, n + 1))
    for a, b in edges:
        if not (1 <= a <= n and 1 <= b <= n):
            raise ValueError(f"edge {(a, b)} outside nodes 1..{n}")
        graph.add_edge(a, b)
    return graph


def compare_plans(pred_edges: list[tuple[int, int]], pred_n: int, gold_edges: list[tuple[int, int]], gold_n: int) -> dict:
    """Compare a predicted sub-question DAG with a gold decomposition (hop count and shape)."""
    same_shape = nx.is_isomorphic(_dag(pred_edges, pred_n), _dag(gold_edges, gold_n))
    return {
        "hops_pred": pred_n,
        "hops_gold": gold_n,
        "hops_match": float(pred_n == gold_n),
        "structure_match": float(same_shape),
    }
