"""The typed results dagrag hands back: evidence, citations, the solved DAG, the answer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from graph import Plan, render_mermaid, render_tree
from kb.items import Evidence

__all__ = ["Answer", "Citation", "Evidence", "LLMCall", "NodeResult", "SelfCheck", "StepEvent", "Usage", "follow"]

Stage = Literal["warmup", "plan", "node", "memory", "reflect", "final", "vanilla", "none"]
PlanSource = Literal["warmup", "rules", "llm", "repaired", "fallback", "gold", "vanilla", "none"]


class Citation(BaseModel):
    """A chunk the answer relies on."""

    chunk_id: str
    doc_id: str
    title: str
    source: str
    snippet: str
    via_entity: str | None = None  # retrieved through the mention graph: the entity that linked it (None: a dense hit)


class NodeResult(BaseModel):
    """One solved sub-question of the DAG."""

    id: int
    question: str  # as planned, may contain #k
    resolved_question: str  # with the answers of its dependencies filled in
    depends_on: list[int] = []
    answer: str = ""
    evidence_ids: list[str] = []
    round: int = 0


class LLMCall(BaseModel):
    stage: Stage
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    cached_tokens: int = 0  # prompt tokens llama.cpp reused from its cache
    options_scored: int = 0  # > 0: the model scored this many options after the prompt instead of writing a reply


class Usage(BaseModel):
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0

    @classmethod
    def of(cls, calls: list[LLMCall]) -> Usage:
        return cls(
            llm_calls=len(calls),
            prompt_tokens=sum(c.prompt_tokens for c in calls),
            completion_tokens=sum(c.completion_tokens for c in calls),
            cached_prompt_tokens=sum(c.cached_tokens for c in calls),
        )


class SelfCheck(BaseModel):
    """One reflective question of ARIA's self-dialogue and what the agent found."""

    question: str
    ok: bool
    detail: str


class Answer(BaseModel):
    """Everything about one answered question."""

    question: str
    answer: str
    citations: list[Citation] = []
    nodes: list[NodeResult] = []
    plan_source: PlanSource = "llm"
    fallbacks: list[str] = []  # every fallback or repair taken, in order
    retrieved_ids: list[str] = []  # all chunk ids retrieved, in retrieval order
    calls: list[LLMCall] = []
    usage: Usage = Usage()
    timings: dict[str, float] = {}  # seconds: llm, embed, retrieval, other, total
    as_of: datetime | None = None  # the world time the answer was asked for (None = now)
    confidence: Literal["high", "moderate", "low"] | None = None  # from the self-check
    self_check: list[SelfCheck] = []
    conflicts: list[int] = []  # open review items the answer relies on
    caveats: list[str] = []  # said with the answer: conflicts under review, low confidence
    signals: dict[str, float] = {}  # what the confidence rests on: typed, hops_typed, agrees (with plain RAG), margin

    @property
    def plan(self) -> Plan:
        return Plan.model_validate({"nodes": [{"id": n.id, "question": n.question, "depends_on": n.depends_on} for n in self.nodes]})

    def dag_tree(self) -> str:
        """The solved DAG as an indented text tree with each node's answer."""
        return render_tree(self.plan, {n.id: n.answer for n in self.nodes}) if self.nodes else ""

    def dag_mermaid(self) -> str:
        return render_mermaid(self.plan, {n.id: n.answer for n in self.nodes}) if self.nodes else ""


class StepEvent(BaseModel):
    """A progress event streamed while a question is being answered."""

    kind: Literal[
        "retrieving", "warmup", "planning", "planned", "node_start", "node_done", "reflecting", "answering", "checking", "question", "done"
    ]
    message: str
    review_id: int | None = None  # with "question": the review item the person's answer resolves
    thread_id: str | None = None  # with "question": the paused run, resumable later (also from another process)
    options: list[str] = []  # with "question" about a conflict: keep new / old / both
    node_id: int | None = None
    node_index: int | None = None
    node_total: int | None = None
    answer: Answer | None = None


def follow(events: Iterable[StepEvent], on_event: Callable[[StepEvent], None] | None = None) -> Answer | None:
    """Run a stream of progress events to its end, passing each to ``on_event``; the answer the last one carries."""
    answer = None
    for event in events:
        if on_event is not None:
            on_event(event)
        answer = event.answer or answer
    return answer
