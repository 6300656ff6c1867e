"""The agent's typed state and what a run needs besides it (the graph is wired in ``agent.workflow``)."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Protocol, TypedDict

from agent.escalation import Budget, PersonQuestion, ReviewDesk
from agent.llm import LLM
from agent.reading import Reading, Similarity, read
from agent.settings import Settings
from agent.tagger import Tagger
from agent.types import Citation, Evidence, LLMCall, NodeResult, SelfCheck
from graph import Plan
from kb.knowledge_base import Retrieval


class Retriever(Protocol):
    def search(self, query: str, k: int, *, as_of: datetime | None = None) -> Retrieval: ...


@dataclass(frozen=True)
class Context:
    """What a run needs besides its state."""

    llm: LLM
    retriever: Retriever
    settings: Settings
    desk: ReviewDesk | None = None
    as_of: datetime | None = None
    interactive: bool = False  # may pause with interrupt() to ask a person
    budget: Budget = field(default_factory=lambda: Budget(0))
    similarity: Similarity | None = None  # sentence similarity for the reader (the embedder's cosine)
    tagger: Tagger | None = None  # entities and noun phrases for the reader's candidates

    def read(self, question: str, evidence: list[Evidence], **options) -> Reading:
        """The reader (``agent.reading.read``) with this run's model, settings, similarity and tagger."""
        return read(question, evidence, llm=self.llm, settings=self.settings, similarity=self.similarity, tagger=self.tagger, **options)


def _merge(left: dict, right: dict) -> dict:
    return {**left, **right}


def add_times(left: dict[str, float], right: dict[str, float]) -> dict[str, float]:
    return {k: left.get(k, 0.0) + right.get(k, 0.0) for k in left.keys() | right.keys()}


class AgentState(TypedDict, total=False):
    question: str
    warmup_evidence: list[Evidence]
    warmup_answer: str  # the plain-RAG answer from the warm-up call, kept as a fallback
    warmup_citations: list[Citation]
    plan: Plan
    plan_source: str
    pending: list[int]  # planned node ids not solved yet
    results: Annotated[dict[int, NodeResult], _merge]
    evidence: Annotated[dict[str, Evidence], _merge]  # every chunk seen, by id
    retrieved_ids: Annotated[list[str], operator.add]
    memory: str
    round: int
    answer: str
    citations: list[Citation]
    fallbacks: Annotated[list[str], operator.add]
    calls: Annotated[list[LLMCall], operator.add]
    timings: Annotated[dict[str, float], add_times]
    done: bool
    confidence: str
    self_check: list[SelfCheck]
    conflicts: list[int]
    caveats: list[str]
    person: PersonQuestion | None  # when a person must be asked
    support: dict[str, float]  # signals for the self-check: typed, agrees (with plain RAG), margin, hops_typed
    asked: bool  # a person was asked already in this run
    human_evidence: list[Evidence]  # statements a person gave during this run
    dropped_ids: list[str]  # items a person's resolution superseded during this run
