"""The plan data model: a DAG of sub-questions, and the JSON schema the planner LLM must follow."""

from __future__ import annotations

from collections.abc import Collection

from pydantic import BaseModel


class PlanNode(BaseModel):
    """One sub-question. It may cite the answer of node ``k`` as ``#k``."""

    id: int
    question: str
    depends_on: list[int] = []  # ids of nodes whose answers this one needs


class Plan(BaseModel):
    """A list of sub-questions with dependencies (see :mod:`graph.dag` for checks and repair)."""

    nodes: list[PlanNode]
    # a question asked in parts ("What does X own, and who leads it?"): the nodes whose answers,
    # together, answer it; empty: the sink's answer does
    parts: list[int] = []

    def node(self, node_id: int) -> PlanNode:
        """The first node with this id; ``KeyError`` if there is none."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def last_sink(self, solved: Collection[int]) -> int | None:
        """The solved node nothing else depends on (the last one, if several); None for plans of one node."""
        if len(self.nodes) < 2:
            return None
        needed = {d for n in self.nodes for d in n.depends_on}
        sinks = [n.id for n in self.nodes if n.id not in needed and n.id in solved]
        return max(sinks) if sinks else None

    def solved_parts(self, solved: Collection[int]) -> list[int]:
        """The nodes that answer each part of a question asked in parts, once all are solved (else none)."""
        return list(self.parts) if len(self.parts) > 1 and all(i in solved for i in self.parts) else []

    @classmethod
    def single(cls, question: str) -> Plan:
        """A one-node plan that asks the question itself (plain RAG)."""
        return cls(nodes=[PlanNode(id=1, question=question)])


def plan_json_schema(max_nodes: int = 5, max_question_chars: int = 200, max_deps: int = 4) -> dict:
    """JSON schema of a plan, restricted to keywords llama.cpp's schema-to-grammar converter handles."""
    if max_nodes < 1 or max_question_chars < 3 or max_deps < 0:
        raise ValueError("need max_nodes >= 1, max_question_chars >= 3 and max_deps >= 0")
    node_id = {"type": "integer", "minimum": 1, "maximum": max_nodes}
    node = {
        "type": "object",
        "properties": {
            "id": node_id,
            "question": {"type": "string", "minLength": 3, "maxLength": max_question_chars},
            "depends_on": {"type": "array", "items": dict(node_id), "maxItems": max_deps},
        },
        "required": ["id", "question", "depends_on"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"nodes": {"type": "array", "items": node, "minItems": 1, "maxItems": max_nodes}},
        "required": ["nodes"],
        "additionalProperties": False,
    }
