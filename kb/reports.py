"""What the knowledge base hands back: an ingest's report, a retrieval, the statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kb.entity_index import IndexSize
from kb.items import Evidence


@dataclass
class IngestReport:
    """What one ingest did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    chunks: int = 0  # chunks embedded and stored (a changed document's unchanged chunks are kept, not counted)
    expired: int = 0  # chunks of replaced versions: superseded, kept as history
    seconds: float = 0.0
    embed_seconds: float = 0.0
    reviews: list[int] = field(default_factory=list)  # conflicts flagged (review ids)
    auto_resolved: list[int] = field(default_factory=list)
    judged_pairs: int = 0  # statement pairs put to the judge (the LLM, backed by the rule), at most judge_max_per_ingest
    rule_judged_pairs: int = 0  # pairs beyond that budget, decided by the rule judge alone

    @property
    def passages_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Retrieval:
    """Evidence for one query and where the time went."""

    evidence: list[Evidence]
    embed_seconds: float
    search_seconds: float
    graph_seconds: float = 0.0  # of search_seconds: the BM25 channel and the mention graph after the dense query


@dataclass(frozen=True)
class KBStats:
    path: Path
    documents: int
    chunks: int
    vectors: int
    by_status: dict[str, int]
    embedder: str
    expired: int = 0  # chunks of earlier versions of changed documents (superseded, kept for "as of")
    entity_index: IndexSize | None = None  # items indexed, distinct entities, about / mention rows
