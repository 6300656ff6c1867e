"""Hand-checked cases for agent.evaluation.metrics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.evaluation.metrics import (
    compare_plans,
    exact_match,
    normalize_answer,
    percentile,
    recall_at_k,
    string_accuracy,
    summarize,
    token_f1,
)


def test_normalize_answer() -> None:
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("Theory of a thing") == "theory of thing"  # "the" only as a word


def test_exact_match() -> None:
    assert exact_match("The Eiffel Tower", ["Eiffel tower"]) == 1.0
    assert exact_match("Eiffel Tower in Paris", ["Eiffel tower"]) == 0.0
    assert exact_match("Stanley Hall", ["G. Stanley Hall", "Stanley Hall"]) == 1.0  # alias
    assert exact_match("anything", []) == 0.0


def test_token_f1() -> None:
    assert token_f1("Barack Obama was president", ["Barack Obama"]) == pytest.approx(2 / 3)
    assert token_f1("Barack Obama", ["Barack Obama"]) == 1.0
    assert token_f1("Michelle", ["Barack Obama"]) == 0.0
    # max over aliases
    assert token_f1("Obama", ["Barack Hussein Obama", "Obama"]) == 1.0
    assert token_f1("Obama", ["Barack Hussein Obama"]) == pytest.approx(0.5)
    assert token_f1("x", []) == 0.0


def test_token_f1_yes_no_rule() -> None:
    assert token_f1("yes", ["no"]) == 0.0
    assert token_f1("Yes.", ["yes"]) == 1.0
    # "no" shares the token with the gold, but the yes/no rule forces 0
    assert token_f1("no", ["no way"]) == 0.0
    assert token_f1("yes it is", ["yes"]) == 0.0


def test_string_accuracy() -> None:
    assert string_accuracy("I think it was G. Stanley Hall.", ["G. Stanley Hall"]) == 1.0
    assert string_accuracy("It was Hall.", ["G. Stanley Hall", "Stanley Hall"]) == 0.0
    assert string_accuracy("Stanley Hall, I believe", ["G. Stanley Hall", "Stanley Hall"]) == 1.0
    # a gold that normalises to "" must not match everything
    assert string_accuracy("whatever", ["The", "!"]) == 0.0


def test_recall_at_k() -> None:
    retrieved = ["a", "a", "b", "c", "d"]
    assert recall_at_k(retrieved, {"b", "d"}, 2) == pytest.approx(0.5)  # distinct top-2: a, b
    assert recall_at_k(retrieved, {"b", "d"}, 3) == pytest.approx(0.5)
    assert recall_at_k(retrieved, {"b", "d"}, 4) == 1.0
    assert recall_at_k(retrieved, {"z"}, 10) == 0.0
    assert recall_at_k(retrieved, [], 5) is None
    with pytest.raises(ValueError):
        recall_at_k(retrieved, {"a"}, 0)


def test_percentile_known_values() -> None:
    assert percentile([1, 2, 3, 4], 50) == pytest.approx(2.5)
    assert percentile([10, 0], 90) == pytest.approx(9.0)
    assert percentile([7], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60),
    st.floats(0, 100),
)
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-9, abs=1e-6)


def test_summarize() -> None:
    rows = [{"em": 1.0, "recall": None}, {"em": 0.0, "recall": 0.5}, {"em": 0.5, "recall": 1.0}]
    assert summarize(rows) == {"em": pytest.approx(0.5), "recall": pytest.approx(0.75)}
    assert summarize([{"r": None}]) == {}
    assert summarize([]) == {}


def test_compare_plans_chain_vs_chain() -> None:
    out = compare_plans([(1, 2), (2, 3)], 3, [(2, 3), (1, 2)], 3)
    assert out == {"hops_pred": 3, "hops_gold": 3, "hops_match": 1.0, "structure_match": 1.0}
    # relabelled chain 3 -> 1 -> 2 is still a chain
    assert compare_plans([(3, 1), (1, 2)], 3, [(1, 2), (2, 3)], 3)["structure_match"] == 1.0


def test_compare_plans_chain_vs_fan_in() -> None:
    out = compare_plans([(1, 2), (2, 3)], 3, [(1, 3), (2, 3)], 3)
    assert out["hops_match"] == 1.0
    assert out["structure_match"] == 0.0
    # edge direction matters: fan-out is not fan-in
    assert compare_plans([(3, 1), (3, 2)], 3, [(1, 3), (2, 3)], 3)["structure_match"] == 0.0


def test_compare_plans_different_hops() -> None:
    out = compare_plans([(1, 2)], 2, [(1, 2), (2, 3)], 3)
    assert out == {"hops_pred": 2, "hops_gold": 3, "hops_match": 0.0, "structure_match": 0.0}
    # isolated nodes count: two independent questions are not one edge
    assert compare_plans([], 2, [(1, 2)], 2)["structure_match"] == 0.0
    with pytest.raises(ValueError):
        compare_plans([(1, 4)], 3, [], 3)
