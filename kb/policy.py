"""ARIA's use of time: the retrieval score and what to do about conflicts, made from settings in one place."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from kb.items import Status


@dataclass(frozen=True)
class TimePolicy:
    """Retrieval weights and conflict handling."""

    outdated_weight: float = 0.5  # status weight of potentially outdated items (valid 1, superseded 0)
    decay_per_day: float = 0.001  # exp(-rate * days since last validated)
    candidate_factor: int = 4  # Chroma candidates fetched per result kept
    conflict_similarity: float = 0.55  # cosine similarity for a chunk of another document to be compared
    conflict_candidates: int = 3  # similar chunks compared per new chunk
    judge_max_pairs: int = 3  # LLM judge calls per new document
    judge_max_per_ingest: int = 30  # LLM judge calls per ingest in all; further pairs get the rule judge alone
    policy: Literal["escalate", "auto"] = "escalate"
    auto_confidence: float = 0.95  # "auto": newer supersedes older at or above this confidence

    @classmethod
    def from_settings(cls, settings: Any, *, llm_judge: bool = True) -> TimePolicy:
        """The policy a settings object (``agent.settings.Settings``) asks for; without ``llm_judge`` the rules judge every pair."""
        return cls(
            outdated_weight=settings.outdated_weight,
            decay_per_day=settings.decay_per_day,
            candidate_factor=settings.candidate_factor,
            conflict_similarity=settings.conflict_similarity,
            judge_max_pairs=settings.judge_max_pairs if llm_judge else 0,
            judge_max_per_ingest=settings.judge_max_per_ingest,
            policy=settings.conflict_policy,
            auto_confidence=settings.auto_resolve_confidence,
        )


def aria_score(similarity: float, metadata: dict, now: float, policy: TimePolicy) -> float:
    """ARIA retrieval score: status weight x exp(-rate x days since validation) x similarity."""
    status = metadata.get("status", Status.VALID.value)
    weight = {Status.VALID.value: 1.0, Status.POTENTIALLY_OUTDATED.value: policy.outdated_weight}.get(str(status), 0.0)
    days = max(0.0, (now - float(metadata.get("validated_at", now))) / 86400)
    return weight * math.exp(-policy.decay_per_day * days) * similarity
