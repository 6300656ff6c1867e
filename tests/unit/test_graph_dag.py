"""Unit tests for the pure graph package: plan model, schema, validation, repair, rendering."""

from __future__ import annotations

import networkx as nx
import pytest

import graph
from graph import (
    Plan,
    PlanNode,
    RepairReport,
    borrowed_names,
    degenerate_reason,
    example_names,
    is_followup_question,
    plan_json_schema,
    referenced_ids,
    render_mermaid,
    render_tree,
    repair_plan,
    substitute_answers,
    to_networkx,
    topological_generations,
    validate_plan,
)


def mk(*nodes: tuple[int, str, list[int]]) -> Plan:
    return Plan(nodes=[PlanNode(id=i, question=q, depends_on=d) for i, q, d in nodes])


def shape(plan: Plan) -> list[tuple[int, str, list[int]]]:
    return [(n.id, n.question, n.depends_on) for n in plan.nodes]


DIAMOND = mk(
    (1, "Which team owns the billing service?", []),
    (2, "Who manages #1?", [1]),
    (3, "Where is #1 based?", [1]),
    (4, "Does #2 work in #3?", [2, 3]),
)
ANSWERS = {1: "Payments team", 2: "Dana Kim", 3: "Berlin", 4: "yes"}


# --- package & model --------------------------------------------------------------------------


def test_package_exports_public_api() -> None:
    assert sorted(graph.__all__) == sorted(
        [
            "Plan",
            "PlanNode",
            "RepairReport",
            "borrowed_names",
            "degenerate_reason",
            "example_names",
            "is_followup_question",
            "normalized",
            "plan_json_schema",
            "referenced_ids",
            "render_mermaid",
            "render_tree",
            "repair_plan",
            "substitute_answers",
            "to_networkx",
            "topological_generations",
            "validate_plan",
        ]
    )
    assert all(hasattr(graph, name) for name in graph.__all__)


def test_plan_node_default_deps_not_shared() -> None:
    a, b = PlanNode(id=1, question="a?"), PlanNode(id=2, question="b?")
    a.depends_on.append(5)
    assert b.depends_on == []


def test_plan_node_lookup() -> None:
    assert DIAMOND.node(3).question == "Where is #1 based?"
    with pytest.raises(KeyError):
        DIAMOND.node(9)


def test_plan_node_lookup_returns_first_of_duplicates() -> None:
    assert mk((1, "first", []), (1, "second", [])).node(1).question == "first"


def test_plan_single() -> None:
    p = Plan.single("What is X?")
    assert shape(p) == [(1, "What is X?", [])]
    assert validate_plan(p) == []


def test_plan_parses_llm_json() -> None:
    p = Plan.model_validate_json('{"nodes":[{"id":1,"question":"A?","depends_on":[]},{"id":2,"question":"B #1?"}]}')
    assert shape(p) == [(1, "A?", []), (2, "B #1?", [])]


# --- JSON schema ------------------------------------------------------------------------------

ALLOWED_KEYWORDS = {
    "type",
    "properties",
    "required",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "additionalProperties",
}


def _keywords(schema: dict) -> set[str]:
    found = set(schema)
    for key, value in schema.items():
        if key == "properties":
            for sub in value.values():
                found |= _keywords(sub)
        elif isinstance(value, dict):
            found |= _keywords(value)
    return found


def test_plan_json_schema_shape() -> None:
    s = plan_json_schema(max_nodes=4, max_question_chars=120, max_deps=2)
    assert s["type"] == "object" and s["required"] == ["nodes"] and s["additionalProperties"] is False
    nodes = s["properties"]["nodes"]
    assert (nodes["type"], nodes["minItems"], nodes["maxItems"]) == ("array", 1, 4)
    item = nodes["items"]
    assert item["required"] == ["id", "question", "depends_on"] and item["additionalProperties"] is False
    assert list(item["properties"]) == ["id", "question", "depends_on"]
    assert item["properties"]["id"] == {"type": "integer", "minimum": 1, "maximum": 4}
    assert item["properties"]["question"] == {"type": "string", "minLength": 3, "maxLength": 120}
    deps = item["properties"]["depends_on"]
    assert deps == {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 4}, "maxItems": 2}


def test_plan_json_schema_defaults_and_keywords() -> None:
    s = plan_json_schema()
    assert s["properties"]["nodes"]["maxItems"] == 5
    assert s["properties"]["nodes"]["items"]["properties"]["question"]["maxLength"] == 200
    assert s["properties"]["nodes"]["items"]["properties"]["depends_on"]["maxItems"] == 4
    assert _keywords(s) <= ALLOWED_KEYWORDS


@pytest.mark.parametrize("kwargs", [{"max_nodes": 0}, {"max_question_chars": 2}, {"max_deps": -1}])
def test_plan_json_schema_rejects_bad_limits(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        plan_json_schema(**kwargs)


# --- references & substitution -----------------------------------------------------------------


def test_referenced_ids() -> None:
    assert referenced_ids("Does #2 work in #13 or #2?") == {2, 13}
    assert referenced_ids("no refs # here, #x, #1a") == set()
    assert referenced_ids("#03.") == {3}


def test_substitute_answers_basic_and_missing() -> None:
    assert substitute_answers("Does #2 work in #3?", {2: "Dana Kim", 3: "Berlin"}) == "Does Dana Kim work in Berlin?"
    assert substitute_answers("Who manages #4?", {1: "x"}) == "Who manages #4?"


def test_substitute_answers_multi_digit_ids() -> None:
    answers = {1: "ONE", 12: "TWELVE"}
    assert substitute_answers("#12 and #1", answers) == "TWELVE and ONE"
    assert substitute_answers("#12", {1: "ONE"}) == "#12"


def test_substitute_answers_is_single_pass() -> None:
    assert substitute_answers("#1 then #2", {1: "see #2", 2: "B"}) == "see #2 then B"


def test_substitute_answers_needs_word_boundary() -> None:
    assert substitute_answers("#1a and #1_ and #1.", {1: "X"}) == "#1a and #1_ and X."


# --- to_networkx & generations ------------------------------------------------------------------


def test_to_networkx_edges_point_from_dependency() -> None:
    g = to_networkx(DIAMOND)
    assert isinstance(g, nx.DiGraph)
    assert sorted(g.edges) == [(1, 2), (1, 3), (2, 4), (3, 4)]
    assert g.nodes[2]["question"] == "Who manages #1?"


def test_to_networkx_skips_unknown_ids_and_keeps_first_duplicate() -> None:
    g = to_networkx(mk((1, "a?", [9]), (2, "b?", [1]), (2, "c?", [])))
    assert sorted(g.nodes) == [1, 2] and list(g.edges) == [(1, 2)]
    assert g.nodes[2]["question"] == "b?"


def test_topological_generations_diamond() -> None:
    assert topological_generations(DIAMOND) == [[1], [2, 3], [4]]


def test_topological_generations_sorts_ids_within_rank() -> None:
    assert topological_generations(mk((5, "e?", []), (2, "b?", []), (3, "c?", [5, 2]))) == [[2, 5], [3]]


@pytest.mark.parametrize("plan", [mk((1, "a?", [2]), (2, "b?", [1])), mk((1, "a?", [1]))])
def test_topological_generations_raises_on_cycle(plan: Plan) -> None:
    with pytest.raises(ValueError):
        topological_generations(plan)


# --- validation ---------------------------------------------------------------------------------


def test_validate_accepts_valid_plans() -> None:
    assert validate_plan(DIAMOND) == []
    assert validate_plan(mk((7, "b?", [3]), (3, "a?", []))) == []  # ids need not be 1..n
    # a citation of a transitive dependency is fine
    assert validate_plan(mk((1, "a?", []), (2, "b #1?", [1]), (3, "c #1 #2?", [2]))) == []


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        (Plan(nodes=[]), "plan has no nodes"),
        (mk((1, "a?", []), (1, "b?", [])), "duplicate node id 1"),
        (mk((1, "  ", [])), "node 1: empty sub-question"),
        (mk((1, " a? ", [])), "node 1: sub-question has surrounding whitespace"),
        (mk((1, "Who is X?", []), (2, "who is x", [])), "nodes 1 and 2 ask the same sub-question"),
        (mk((1, "a?", [1])), "node 1 depends on itself"),
        (mk((1, "a?", [9])), "node 1 depends on missing node 9"),
        (mk((1, "a?", []), (2, "b?", [1, 1])), "node 2 lists dependency 1 more than once"),
        (mk((1, "a?", [2]), (2, "b?", [1])), "dependency cycle 1 -> 2 -> 1"),
        (mk((1, "a #9?", [])), "node 1 cites #9, which does not exist"),
        (mk((1, "a #1?", [])), "node 1 cites itself (#1)"),
        (mk((1, "a?", []), (2, "b #1?", [])), "node 2 cites #1, which is not among its dependencies"),
    ],
)
def test_validate_reports_each_problem(plan: Plan, problem: str) -> None:
    assert problem in validate_plan(plan)


def test_validate_reports_three_cycle() -> None:
    problems = validate_plan(mk((1, "a?", [3]), (2, "b?", [1]), (3, "c?", [2])))
    assert len(problems) == 1 and problems[0].startswith("dependency cycle ")
    assert sorted(problems[0].removeprefix("dependency cycle ").split(" -> ")[:3]) == ["1", "2", "3"]


# --- repair -------------------------------------------------------------------------------------


def test_repair_valid_plan_unchanged() -> None:
    report = repair_plan(DIAMOND)
    assert isinstance(report, RepairReport)
    assert report.repairs == [] and report.plan == DIAMOND


def test_repair_does_not_mutate_input() -> None:
    plan = mk((2, " b #1 ", [2, 9]), (1, "a?", [2]))
    before = plan.model_dump()
    repair_plan(plan)
    assert plan.model_dump() == before


def test_repair_dangling_edge() -> None:
    r = repair_plan(mk((1, "a?", []), (2, "b?", [1, 9])))
    assert shape(r.plan) == [(1, "a?", []), (2, "b?", [1])]
    assert r.repairs == ["dropped edge 9 -> 2: node 9 does not exist"]


def test_repair_self_loop() -> None:
    r = repair_plan(mk((1, "a?", [1]), (2, "b?", [1])))
    assert shape(r.plan) == [(1, "a?", []), (2, "b?", [1])]
    assert r.repairs == ["dropped self-loop on node 1"]


def test_repair_repeated_edge() -> None:
    r = repair_plan(mk((1, "a?", []), (2, "b?", [1, 1])))
    assert shape(r.plan) == [(1, "a?", []), (2, "b?", [1])]
    assert r.repairs == ["dropped repeated edge 1 -> 2"]


def test_repair_two_cycle_drops_back_edge() -> None:
    r = repair_plan(mk((1, "a?", [2]), (2, "b?", [1])))
    assert shape(r.plan) == [(1, "a?", []), (2, "b?", [1])]
    assert r.repairs == ["broke cycle 1 -> 2 -> 1 by dropping edge 2 -> 1"]


def test_repair_three_cycle_drops_back_edge() -> None:
    r = repair_plan(mk((1, "a?", [3]), (2, "b?", [1]), (3, "c?", [2])))
    assert shape(r.plan) == [(1, "a?", []), (2, "b?", [1]), (3, "c?", [2])]
    assert len(r.repairs) == 1
    assert r.repairs[0].startswith("broke cycle ") and r.repairs[0].endswith("by dropping edge 3 -> 1")


def test_repair_cycle_prefers_edge_no_citation_needs() -> None:
    # 2 -> 1 is the back edge, but node 1 cites #2; dropping 1 -> 2 keeps the citation valid.
    r = repair_plan(mk((1, "Who manages #2?", [2]), (2, "Which team owns billing?", [1])))
    assert shape(r.plan) == [(1, "Which team owns billing?", []), (2, "Who manages #1?", [1])]
    assert r.repairs[0] == "broke cycle 1 -> 2 -> 1 by dropping edge 1 -> 2"
    assert r.repairs[1] == "renumbered ids (2->1, 1->2)"


def test_repair_cycle_of_citations_inlines_dropped_question() -> None:
    r = repair_plan(mk((1, "What team does #2 lead?", []), (2, "Who manages #1?", [])))
    assert validate_plan(r.plan) == []
    assert shape(r.plan) == [(1, 'What team does the answer to "Who manages it?" lead?', []), (2, "Who manages #1?", [1])]
    assert "node 1: replaced #2 by the text of node 2, which it does not depend on" in r.repairs
    assert any(x.startswith("broke cycle") for x in r.repairs)


def test_repair_duplicate_ids_keeps_first() -> None:
    r = repair_plan(mk((1, "a?", []), (1, "b?", []), (2, "c #1?", [1])))
    assert shape(r.plan) == [(1, "a?", []), (2, "c #1?", [1])]
    assert r.repairs == ["dropped node 1: duplicate id (kept the first)"]


def test_repair_merges_duplicate_questions_and_redirects() -> None:
    r = repair_plan(
        mk(
            (1, "Which team owns billing?", []),
            (2, "which team owns  BILLING", []),
            (3, "Who manages #2?", [2]),
        )
    )
    assert shape(r.plan) == [(1, "Which team owns billing?", []), (2, "Who manages #1?", [1])]
    assert r.repairs == ["merged node 2 into node 1 (same sub-question)", "renumbered ids (3->2)"]


def test_repair_merge_cascades_after_redirect() -> None:
    r = repair_plan(mk((1, "A?", []), (2, "a", []), (3, "B of #1", [1]), (4, "B of #2", [2])))
    assert shape(r.plan) == [(1, "A?", []), (2, "B of #1", [1])]
    assert r.repairs[:2] == ["merged node 2 into node 1 (same sub-question)", "merged node 4 into node 3 (same sub-question)"]


def test_repair_merged_node_keeps_union_of_dependencies() -> None:
    r = repair_plan(mk((1, "a?", []), (2, "b?", []), (3, "c?", [1]), (4, "C", [2])))
    assert shape(r.plan) == [(1, "a?", []), (2, "b?", []), (3, "c?", [1, 2])]


def test_repair_drops_empty_and_strips_whitespace() -> None:
    r = repair_plan(mk((1, "  a?\n", []), (2, "   ", []), (3, "b?", [1])))
    assert shape(r.plan) == [(1, "a?", []), (2, "b?", [1])]
    assert r.repairs == ["stripped whitespace from sub-question 1", "dropped empty sub-question 2", "renumbered ids (3->2)"]


def test_repair_citation_adds_dependency() -> None:
    r = repair_plan(mk((1, "a?", []), (2, "Who manages #1?", [])))
    assert shape(r.plan) == [(1, "a?", []), (2, "Who manages #1?", [1])]
    assert r.repairs == ["added edge 1 -> 2: node 2 cites #1"]


def test_repair_citation_of_missing_or_self_loses_hash() -> None:
    r = repair_plan(mk((1, "What is issue #12?", []), (2, "Is #2 #1?", [1])))
    assert shape(r.plan) == [(1, "What is issue 12?", []), (2, "Is 2 #1?", [1])]
    assert r.repairs == ["node 1: #12 cites no node; removed the '#'", "node 2: #2 cites itself; removed the '#'"]


def test_repair_caps_keeping_last_sink_chain() -> None:
    plan = mk(*[(i, f"q{i}?", []) for i in range(1, 5)], (5, "q5 #1?", [1]), (6, "final #5?", [5]))
    r = repair_plan(plan, max_nodes=3)
    # the last sink (6) with its chain 1 -> 5 -> 6 is kept, renumbered 1, 2, 3
    assert shape(r.plan) == [(1, "q1?", []), (2, "q5 #1?", [1]), (3, "final #2?", [2])]
    assert r.repairs == ["capped plan at 3 nodes (dropped 2, 3, 4)", "renumbered ids (5->2, 6->3)"]


def test_repair_caps_long_chain_to_prefix() -> None:
    plan = mk((1, "q1?", []), *[(i, f"q{i} #{i - 1}?", [i - 1]) for i in range(2, 8)])
    r = repair_plan(plan, max_nodes=5)
    assert [n.id for n in r.plan.nodes] == [1, 2, 3, 4, 5]
    assert r.plan.node(5).question == "q5 #4?"
    assert r.repairs == ["capped plan at 5 nodes (dropped 6, 7)"]


def test_repair_renumbers_and_rewrites_citations() -> None:
    r = repair_plan(mk((30, "c #10 #20?", [10, 20]), (10, "a?", []), (20, "b #10?", [10])))
    assert shape(r.plan) == [(1, "a?", []), (2, "b #1?", [1]), (3, "c #1 #2?", [1, 2])]
    assert r.repairs == ["renumbered ids (10->1, 20->2, 30->3)"]


def test_repair_renumbering_does_not_confuse_multi_digit_ids() -> None:
    r = repair_plan(mk((12, "a?", []), (1, "b #12?", [12]), (2, "c #1 #12?", [1])))
    assert shape(r.plan) == [(1, "a?", []), (2, "b #1?", [1]), (3, "c #2 #1?", [2])]
    assert r.repairs == ["renumbered ids (12->1, 1->2, 2->3)"]


def test_repair_reorders_when_ids_already_match() -> None:
    r = repair_plan(mk((2, "b?", []), (1, "a?", [])))
    assert shape(r.plan) == [(1, "a?", []), (2, "b?", [])]
    assert r.repairs == ["reordered nodes topologically"]


def test_repair_empty_plan_without_fallback_raises() -> None:
    with pytest.raises(ValueError):
        repair_plan(Plan(nodes=[]))
    with pytest.raises(ValueError):
        repair_plan(mk((1, " ", [])), fallback_question="   ")


def test_repair_empty_plan_with_fallback() -> None:
    r = repair_plan(Plan(nodes=[]), fallback_question=" What is X? ")
    assert shape(r.plan) == [(1, "What is X?", [])]
    assert r.repairs == ["no usable nodes; replaced by the question itself"]
    r = repair_plan(mk((3, "", [1])), fallback_question="Q?")
    assert r.repairs == ["dropped empty sub-question 3", "no usable nodes; replaced by the question itself"]


def test_repair_fallback_question_with_hash_is_made_valid() -> None:
    r = repair_plan(Plan(nodes=[]), fallback_question="Status of ticket #42?")
    assert validate_plan(r.plan) == [] and r.plan.nodes[0].question == "Status of ticket 42?"


def test_repair_rejects_bad_max_nodes() -> None:
    with pytest.raises(ValueError):
        repair_plan(DIAMOND, max_nodes=0)


def test_repair_messy_plan_becomes_valid() -> None:
    plan = mk(
        (7, "  What is #9? ", [7, 9]),
        (3, "who manages #7", []),
        (3, "dup", []),
        (5, "", []),
        (8, "Who manages #7?", [3]),
        (2, "x #8", [3]),
        (1, "circ #2", []),
    )
    r = repair_plan(plan, max_nodes=3)
    assert validate_plan(r.plan) == []
    assert [n.id for n in r.plan.nodes] == [1, 2, 3]
    assert "merged node 8 into node 3 (same sub-question)" in r.repairs
    assert r.repairs[-1].startswith("renumbered ids")


# --- degenerate plans ---------------------------------------------------------------------------

Q = "Who manages the team that owns the billing service?"


@pytest.mark.parametrize(
    ("plan", "reason"),
    [
        (Plan(nodes=[]), "plan has no sub-questions"),
        (mk((1, Q, [])), "the only sub-question repeats the question"),
        (mk((1, "who manages the team that owns the billing service", [])), "the only sub-question repeats the question"),
        (mk((1, Q, []), (2, Q.upper(), [1])), "every sub-question repeats the question"),
        (mk((1, "What is X?", []), (2, "what is x", [])), "all sub-questions are the same"),
        (mk((1, "Which team owns billing?", []), (2, "?", [1])), "sub-question 2 is empty or too short"),
        (mk((1, "  ab ", [])), "sub-question 1 is empty or too short"),
        (mk((1, "Which team owns the billing service?", [])), "a single sub-question does not decompose the question"),
        (
            mk(
                (1, "Who is the CEO of the team that owns the billing service?", []),
                (2, "Who manages the team owning the billing service?", []),
            ),
            "every sub-question restates the question and none builds on another",
        ),
        (mk((1, Q, []), (2, "Which team owns the billing service?", [])), "a sub-question repeats the question and none builds on another"),
    ],
)
def test_degenerate_reason_detects(plan: Plan, reason: str) -> None:
    assert degenerate_reason(plan, Q) == reason


@pytest.mark.parametrize(
    "plan",
    [
        DIAMOND,
        mk((1, "Which team owns the billing service?", []), (2, Q.replace("the team that owns the billing service", "#1"), [1])),
        mk((1, "Which team owns the billing service?", []), (2, Q, [1])),  # the question itself, built on a sub-answer
    ],
)
def test_degenerate_reason_accepts_useful_plans(plan: Plan) -> None:
    assert degenerate_reason(plan, Q) is None


NAMES = example_names(
    [
        "Were the founders of Acme and Globex born in the same city?",
        "Who founded Acme?",
        "Where was #1 born?",
        "Who is the spouse of the director of Titanic?",
    ]
)


def test_example_names_are_the_capitalised_words_that_do_not_start_a_sentence() -> None:
    assert NAMES == {"acme", "globex", "titanic"}
    assert example_names(["Who wrote Dracula? Where did #1 study? In Dublin."]) == {"dracula", "dublin"}  # Who, Where, In start sentences


def test_a_plan_that_copies_the_prompts_example_is_degenerate() -> None:
    copied = mk((1, "Who founded Midway?", []), (2, "Who founded Globex?", []), (3, "Where was #1 born?", [1]))
    assert (
        degenerate_reason(copied, "Who founded Midway and where was the founder born?", NAMES)
        == "sub-question 2 copies the prompt's example (globex)"
    )
    own = mk((1, "Who founded Acme?", []), (2, "Where was #1 born?", [1]))  # the user really asks about Acme
    assert degenerate_reason(own, "Where was the founder of Acme born?", NAMES) is None
    assert degenerate_reason(copied, "Who founded Midway and where was the founder born?") is None  # no names given: not checked


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("Where was Hans Edler born?", True),
        ("When was #1 founded?", True),
        ("enough", False),
        ("who", False),
        ("David Jones", False),
        ("Who founded Globex?", False),  # the prompt's example
        (Q, False),
        (Q.lower().rstrip("?"), False),
    ],
)
def test_is_followup_question(text: str, ok: bool) -> None:
    assert is_followup_question(text, Q, NAMES) is ok
    assert borrowed_names(text, Q, NAMES) == (["globex"] if "Globex" in text else [])


# --- rendering ----------------------------------------------------------------------------------


def test_render_tree_diamond_with_answers() -> None:
    assert render_tree(DIAMOND, ANSWERS) == (
        "[1] Which team owns the billing service? -> Payments team\n"
        "├─ [2] Who manages #1? -> Dana Kim\n"
        "└─ [3] Where is #1 based? -> Berlin\n"
        "   └─ [4] Does #2 work in #3? (also needs [2]) -> yes"
    )


def test_render_tree_without_answers_and_partial_answers() -> None:
    assert render_tree(DIAMOND) == (
        "[1] Which team owns the billing service?\n"
        "├─ [2] Who manages #1?\n"
        "└─ [3] Where is #1 based?\n"
        "   └─ [4] Does #2 work in #3? (also needs [2])"
    )
    assert render_tree(DIAMOND, {1: "Payments\nteam"}).splitlines()[:2] == [
        "[1] Which team owns the billing service? -> Payments team",
        "├─ [2] Who manages #1?",
    ]


def test_render_tree_forest_and_deep_chain() -> None:
    plan = mk((1, "a?", []), (2, "b?", []), (3, "c?", [1]), (4, "d?", [3]), (5, "e?", [1]))
    assert render_tree(plan) == ("[1] a?\n├─ [3] c?\n│  └─ [4] d?\n└─ [5] e?\n[2] b?")


def test_render_tree_survives_cycles() -> None:
    out = render_tree(mk((1, "a?", [2]), (2, "b?", [1])))
    assert out == "[1] a?\n└─ [2] b?"


def test_render_mermaid_diamond() -> None:
    assert render_mermaid(DIAMOND) == (
        "flowchart TD\n"
        '    n1["1. Which team owns the billing service?"]\n'
        '    n2["2. Who manages #1?"]\n'
        '    n3["3. Where is #1 based?"]\n'
        '    n4["4. Does #2 work in #3?"]\n'
        "    n1 --> n2\n"
        "    n1 --> n3\n"
        "    n2 --> n4\n"
        "    n3 --> n4"
    )


def test_render_mermaid_with_answers() -> None:
    lines = render_mermaid(DIAMOND, ANSWERS).splitlines()
    assert lines[1] == '    n1["1. Which team owns the billing service?<br/>→ Payments team"]'
    assert lines[4] == '    n4["4. Does #2 work in #3?<br/>→ yes"]'


def test_render_mermaid_escapes() -> None:
    out = render_mermaid(mk((1, 'What is "X" <b>?', []), (2, "Is #1; ok?", [1])), {2: 'say "hi"'})
    assert '    n1["1. What is #quot;X#quot; #lt;b#gt;?"]' in out.splitlines()
    assert '    n2["2. Is #35;1; ok?<br/>→ say #quot;hi#quot;"]' in out.splitlines()


def test_the_answering_nodes_of_a_plan():
    chain = Plan(nodes=[PlanNode(id=1, question="a?"), PlanNode(id=2, question="b #1?", depends_on=[1])])
    assert chain.last_sink({1, 2}) == 2 and chain.last_sink({1}) is None and Plan.single("q?").last_sink({1}) is None
    two_parts = Plan(nodes=[PlanNode(id=1, question="a?"), PlanNode(id=2, question="b?")], parts=[1, 2])
    assert two_parts.solved_parts({1, 2}) == [1, 2] and two_parts.solved_parts({1}) == [] and chain.solved_parts({1, 2}) == []
