"""Property-based tests: metrics on arbitrary text, and the planner path on arbitrary LLM JSON."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import outputs
from agent.evaluation import metrics
from agent.llm import ask_structured
from graph import Plan, repair_plan, topological_generations, validate_plan
from helpers import FakeLLM

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(pred=texts, golds=st.lists(texts, min_size=1, max_size=3))
def test_answer_metrics_are_bounded_and_ordered(pred, golds):
    em, f1, acc = metrics.exact_match(pred, golds), metrics.token_f1(pred, golds), metrics.string_accuracy(pred, golds)
    assert all(0.0 <= m <= 1.0 for m in (em, f1, acc))
    assert em <= f1 or not metrics.normalize_answer(pred)  # an exact match is a perfect F1 (when anything is left to compare)
    if em == 1.0 and metrics.normalize_answer(pred):
        assert acc == 1.0


@given(gold=texts.filter(lambda t: metrics.normalize_answer(t) != ""))
def test_a_prediction_equal_to_the_gold_scores_one(gold):
    assert metrics.exact_match(gold, [gold]) == metrics.token_f1(gold, [gold]) == metrics.string_accuracy(gold, [gold]) == 1.0


@given(
    ids=st.lists(st.sampled_from("abcdefgh"), max_size=12),
    gold=st.sets(st.sampled_from("abcdefgh"), min_size=1, max_size=4),
    k=st.integers(min_value=1, max_value=10),
)
def test_recall_at_k_is_a_share_and_grows_with_k(ids, gold, k):
    r, r_next = metrics.recall_at_k(ids, gold, k), metrics.recall_at_k(ids, gold, k + 1)
    assert 0.0 <= r <= r_next <= 1.0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 12) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["nodes", "id", "question", "depends_on", "x"]), inner, max_size=4)
    ),
    max_leaves=25,
)
replies = st.one_of(json_values.map(json.dumps), st.text(max_size=60))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(first=replies, second=replies)
def test_any_llm_reply_gives_a_valid_plan_or_a_recorded_error(first, second):
    """Whatever the model writes, the planner path ends in a valid DAG or a clear error, never a crash."""
    llm = FakeLLM([first, second])
    result = ask_structured(llm, [{"role": "user", "content": "q"}], Plan, outputs.plan_schema(5), 64)
    if result.value is None:
        assert result.error and len(result.completions) == 2
        return
    fixed = repair_plan(result.value, max_nodes=5, fallback_question="What is the question?")
    assert validate_plan(fixed.plan) == []
    assert 1 <= len(fixed.plan.nodes) <= 5
    assert sorted(i for rank in topological_generations(fixed.plan) for i in rank) == [n.id for n in fixed.plan.nodes]
