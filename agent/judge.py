"""The LLM judge: how does a newer statement relate to an older one?

One schema-constrained call (plus one repair attempt through ``ask_structured``) per pair
of statements that ``kb.detection`` sends to the LLM (at most ``judge_max_pairs`` per document
and ``judge_max_per_ingest`` per ingest; the rule judge decides the rest). The prompts are
in ``agent.prompts``.

Reply format, chosen for small models (SmolLM2-135M): ``relation`` comes first so the
decision is not derailed by a long reason; ``confidence`` is an integer 0-100 (small models
write percentages more reliably than fractions), converted to 0..1 and clamped, because
llama-cpp-python's grammar ignores ``minimum``/``maximum``; ``reason`` is last and short.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from agent import prompts
from agent.llm import LLM, Completion, ask_structured
from kb.conflicts import ConflictJudge, Finding, with_rule_fallback

Relation = Literal["contradicts", "supersedes", "updates", "consistent", "unrelated"]
RELATIONS: tuple[str, ...] = ("contradicts", "supersedes", "updates", "consistent", "unrelated")
CONFLICT_RELATIONS = frozenset({"contradicts", "supersedes", "updates"})
REASON_CHARS = 160

JUDGE_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "relation": {"type": "string", "enum": list(RELATIONS)},
        "confidence": {"type": "integer", "minimum": 0, "maximum": 100},
        "reason": {"type": "string", "maxLength": REASON_CHARS},
    },
    "required": ["relation", "confidence", "reason"],
    "additionalProperties": False,
}


class Judgement(BaseModel):
    """The judge's verdict on statement B (newer) against statement A (older)."""

    relation: Relation
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str = Field(max_length=REASON_CHARS)


class _Reply(BaseModel):
    """What the model writes; lenient about confidence (any number) and reason length."""

    relation: Relation
    confidence: float
    reason: str = ""

    def judgement(self) -> Judgement:
        percent = self.confidence * 100 if 0 < self.confidence < 1 else self.confidence  # 0.8 means 80
        reason = " ".join(self.reason.split())
        reason = reason if len(reason) <= REASON_CHARS else reason[: REASON_CHARS - 1] + "…"
        return Judgement(relation=self.relation, confidence=min(100.0, max(0.0, percent)) / 100, reason=reason)


_TAG = re.compile(r"<(\s*/?\s*statement)", re.IGNORECASE)


def _quote(text: str) -> str:
    """Neutralise anything that could open or close a <statement> tag."""
    return _TAG.sub(r"&lt;\1", text.strip())


def judge_messages(old: str, new: str, old_date: str | None = None, new_date: str | None = None) -> list[dict[str, str]]:
    """System prompt (definitions + examples) and a user turn quoting A (old) and B (new) as data.

    Dates are shown as given; which one is newer is decided by comparing them as strings,
    so pass ISO dates (``2024-03-01`` or full ISO timestamps).
    """
    quoted = [
        prompts.JUDGE_STATEMENT.format(label=label, date=f' date="{_quote(d)}"' if d else "", text=_quote(t))
        for label, t, d in (("A", old, old_date), ("B", new, new_date))
    ]
    order = ""
    if old_date and new_date:
        order = (
            prompts.JUDGE_SAME_DATE
            if old_date == new_date
            else prompts.JUDGE_ORDER.format(newer="B", older="A")
            if new_date > old_date
            else prompts.JUDGE_ORDER.format(newer="A", older="B")
        )
    user = prompts.JUDGE_USER.format(statements="\n".join(quoted), order=order)
    return [{"role": "system", "content": prompts.JUDGE_SYSTEM}, {"role": "user", "content": user}]


def judge(
    llm: LLM, old: str, new: str, old_date: str | None = None, new_date: str | None = None, max_tokens: int = 96
) -> tuple[Judgement | None, list[Completion], str | None]:
    """Ask ``llm`` how ``new`` relates to ``old``: (judgement or None, completions, error)."""
    result = ask_structured(llm, judge_messages(old, new, old_date, new_date), _Reply, JUDGE_SCHEMA, max_tokens)
    if result.value is None:
        return None, result.completions, result.error
    assert isinstance(result.value, _Reply)
    return result.value.judgement(), result.completions, None


def conflict_judge(llm: Callable[[], LLM], min_confidence: float) -> ConflictJudge:
    """The judge ingest uses (``kb.conflicts.ConflictJudge``): the LLM judge, backed by the rule judge.

    ``llm`` is called only when a pair is judged, so ingesting without conflicts never loads the model.
    """

    def llm_finding(old: str, new: str, old_from: datetime, new_from: datetime) -> Finding | None:
        verdict, _, _ = judge(llm(), old, new, f"{old_from:%Y-%m-%d}", f"{new_from:%Y-%m-%d}")
        if verdict is None or verdict.relation not in CONFLICT_RELATIONS:
            return None
        return Finding(verdict.relation, verdict.confidence, verdict.reason, "judge")

    return with_rule_fallback(llm_finding, min_confidence)
