"""Pure sub-question DAG logic: the plan model, validation, repair, scheduling and rendering."""

from graph.dag import (
    RepairReport,
    borrowed_names,
    degenerate_reason,
    example_names,
    is_followup_question,
    normalized,
    referenced_ids,
    render_mermaid,
    render_tree,
    repair_plan,
    substitute_answers,
    to_networkx,
    topological_generations,
    validate_plan,
)
from graph.plan import Plan, PlanNode, plan_json_schema

__all__ = [
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
