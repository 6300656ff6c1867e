"""Property tests: repair_plan turns any plan into a runnable one; substitution is well-behaved."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph import (
    Plan,
    PlanNode,
    referenced_ids,
    render_mermaid,
    render_tree,
    repair_plan,
    substitute_answers,
    topological_generations,
    validate_plan,
)

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ids = st.integers(min_value=-3, max_value=14)
words = st.sampled_from(["Who", "who", "manages", "the", "team", "?", ".", " ", "  ", "\n", "#", "##", "a", "b", ";", '"'])
refs = st.integers(min_value=-1, max_value=14).map(lambda k: f"#{k}") | st.sampled_from(["#03", "#1a", "#12"])
questions = st.lists(words | refs | st.text(max_size=4), max_size=7).map("".join)
node_dicts = st.fixed_dictionaries({"id": ids, "question": questions, "depends_on": st.lists(ids, max_size=5)})
plans = st.lists(node_dicts, max_size=12).map(lambda ns: Plan.model_validate({"nodes": ns}))


def _assert_runnable(plan: Plan, max_nodes: int) -> None:
    assert validate_plan(plan) == []
    n = len(plan.nodes)
    assert 1 <= n <= max_nodes
    assert [x.id for x in plan.nodes] == list(range(1, n + 1))
    assert all(d < x.id for x in plan.nodes for d in x.depends_on)
    generations = topological_generations(plan)
    assert sorted(i for g in generations for i in g) == list(range(1, n + 1))


@SETTINGS
@given(plan=plans, max_nodes=st.integers(min_value=1, max_value=6))
def test_repair_always_yields_runnable_plan(plan: Plan, max_nodes: int) -> None:
    report = repair_plan(plan, max_nodes=max_nodes, fallback_question="q?")
    _assert_runnable(report.plan, max_nodes)
    if report.repairs == []:
        assert report.plan == plan


@SETTINGS
@given(plan=plans, max_nodes=st.integers(min_value=1, max_value=6))
def test_repair_is_idempotent(plan: Plan, max_nodes: int) -> None:
    once = repair_plan(plan, max_nodes=max_nodes, fallback_question="q?").plan
    twice = repair_plan(once, max_nodes=max_nodes)
    assert twice.repairs == [] and twice.plan == once


@SETTINGS
@given(plan=plans)
def test_repair_never_mutates_input_and_renders(plan: Plan) -> None:
    before = plan.model_dump()
    fixed = repair_plan(plan, fallback_question="q?").plan
    assert plan.model_dump() == before
    tree = render_tree(fixed)
    assert len(tree.splitlines()) == len(fixed.nodes)  # each node shown exactly once
    assert render_mermaid(fixed).count(" --> ") == sum(len(n.depends_on) for n in fixed.nodes)


@st.composite
def valid_plans(draw: st.DrawFn) -> Plan:
    """Plans already numbered 1..n in topological order, citing only their dependencies."""
    nodes = []
    for i in range(1, draw(st.integers(min_value=1, max_value=6)) + 1):
        deps = draw(st.lists(st.integers(min_value=1, max_value=i - 1), unique=True, max_size=3)) if i > 1 else []
        cited = " ".join(f"#{d}" for d in deps if draw(st.booleans()))
        nodes.append(PlanNode(id=i, question=f"sub-question {i} about {cited}".strip() + "?", depends_on=deps))
    return Plan(nodes=nodes)


@SETTINGS
@given(plan=valid_plans())
def test_valid_plans_pass_through_unchanged(plan: Plan) -> None:
    assert validate_plan(plan) == []
    report = repair_plan(plan, max_nodes=6)
    assert report.repairs == [] and report.plan == plan


letters = st.text(alphabet="abcXYZ ", min_size=1, max_size=6)


@SETTINGS
@given(text=questions, answers=st.dictionaries(st.integers(min_value=0, max_value=14), letters, max_size=6))
def test_substitution_resolves_answered_citations(text: str, answers: dict[int, str]) -> None:
    # An unanswered citation glued to an answer ("#0#12" -> "#0X") stops being one, hence <=.
    assert referenced_ids(substitute_answers(text, answers)) <= referenced_ids(text) - set(answers)
    assert referenced_ids(substitute_answers(text, {k: "x" for k in referenced_ids(text)})) == set()
    assert substitute_answers(text, {}) == text
