"""ARIA's self-check and the person in the loop: confidence from support signals, conflicts, the review desk.

``self_check`` is pure: it turns what the run found (is the answer a span of a cited
passage, of the type asked, corroborated by a second reading; open conflicts; stale items)
into ARIA's self-dialogue and a confidence level. Never the model's opinion of itself.
``check`` and ``ask_person`` are the thin LangGraph nodes around it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.evidence import citation_of, grounded, is_unknown
from agent.types import Evidence, SelfCheck
from kb.desk import ReviewDesk

if TYPE_CHECKING:
    from agent.state import AgentState, Context

Confidence = Literal["high", "moderate", "low"]
# ReviewDesk (kb.desk) is named here too: the type of the workflow Context's desk
__all__ = ["Budget", "PersonQuestion", "PersonReply", "ReviewDesk", "ask_person", "check", "self_check"]


class PersonQuestion(TypedDict):
    """What a paused run asks a person (the interrupt payload)."""

    question: str
    review_id: int
    options: list[str]  # "new", "old", "both" for a conflict; empty for a free answer


class PersonReply(TypedDict, total=False):
    """A person's reply that resumes a paused run."""

    keep: Literal["new", "old", "both"] | None
    text: str | None
    by: str | None


@dataclass
class Budget:
    """Questions the agent may still raise for a person in this session (shared by threads)."""

    left: int
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def take(self) -> bool:
        with self._lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


SELF_CHECK_QUESTIONS = (
    "Is every claim supported by the cited evidence?",
    "Is the answer the kind of thing the question asks for?",
    "Did every sub-question find an answer of the kind it asks for?",
    "Does the answer clearly lead the other candidates in the evidence?",
    "Are there conflicting indicators (knowledge under review)?",
    "Are the items used valid and recently validated?",
)


def self_check(
    *,
    supported: bool,
    typed: bool,
    hops_typed: bool,
    lead: float | None,
    clear_lead: float,
    close_lead: float,
    conflicts: int,
    stale: int,
    stale_days: int,
) -> tuple[list[SelfCheck], Confidence]:
    """ARIA's self-dialogue from support signals, and the confidence it warrants.

    ``lead`` is how far the answer's score leads the runner-up candidate's (0 when the model
    overruled the ranking; None when the model wrote the answer and there was nothing to rank).
    high: a typed span of a cited passage, every hop typed, a lead of at least ``clear_lead``, no
    open conflict or stale item; low: unsupported, not what the question asks for, a hop that
    found nothing of its kind, or a near tie (lead below ``close_lead``);
    else moderate. (The thresholds were set on the tune half of the dev data: see
    benchmarks/REPORT_ANSWERS.md.)
    """
    q = SELF_CHECK_QUESTIONS
    clear = lead is not None and lead >= clear_lead
    checks = [
        SelfCheck(
            question=q[0],
            ok=supported,
            detail="the cited passages contain the answer" if supported else "no cited passage contains the answer",
        ),
        SelfCheck(question=q[1], ok=typed, detail="yes" if typed else "the answer is not of the type the question asks for"),
        SelfCheck(question=q[2], ok=hops_typed, detail="yes" if hops_typed else "a sub-question found nothing of its kind"),
        SelfCheck(question=q[3], ok=clear, detail=_lead_detail(lead, clear)),
        SelfCheck(question=q[4], ok=not conflicts, detail=f"{conflicts} open conflict(s)" if conflicts else "none"),
        SelfCheck(
            question=q[5], ok=not stale, detail=f"{stale} cited item(s) outdated or not validated for {stale_days} days" if stale else "yes"
        ),
    ]
    if not supported or not typed or not hops_typed or (lead is not None and lead < close_lead):
        return checks, "low"
    return checks, "high" if all(c.ok for c in checks) else "moderate"


def _lead_detail(lead: float | None, clear: bool) -> str:
    if lead is None:
        return "no candidates to compare (none found, or the model wrote the answer)"
    if lead == 0.0:
        return "no: another candidate scores as high, or the model picked against the ranking"
    return f"it leads the next candidate by {lead:.2f}" + ("" if clear else ", not by a clear margin")


def _emit(runtime: Runtime, kind: str, message: str) -> None:
    from agent.types import StepEvent

    runtime.stream_writer(StepEvent(kind=kind, message=message))


def check(state: AgentState, runtime: Runtime[Context], config: RunnableConfig) -> dict:
    """Self-check the answer; cite both sides of an open conflict; ask or queue for a person when needed.

    A person is asked only in an interactive run (the next node pauses); a non-interactive run
    queues a low-confidence question. Either takes one from the session's question budget; an
    open conflict in a non-interactive run is already in the queue, so it takes nothing.
    """
    ctx, s, desk = runtime.context, runtime.context.settings, runtime.context.desk
    _emit(runtime, "checking", "checking the answer against the evidence and its history")
    answer, citations = state.get("answer", ""), list(state.get("citations", []))
    cited_ids = [c.chunk_id for c in citations]
    pool = {**state.get("evidence", {}), **{e.chunk_id: e for e in state.get("human_evidence", [])}}
    if desk is not None:
        pool.update({e.chunk_id: e for e in desk.evidence_for([c for c in cited_ids if c not in pool])})
    cited = [pool[c] for c in cited_ids if c in pool]
    conflicts = desk.open_conflicts(cited_ids) if desk is not None and ctx.as_of is None else []
    caveats: list[str] = []
    for r in conflicts:
        caveats.append(f'Relies on knowledge under review (#{r.review_id}, {r.relation}): "{r.old_statement}" versus "{r.new_statement}".')
        for e in desk.evidence_for([r.old_item, r.new_item]) if desk else []:
            if e.chunk_id not in {c.chunk_id for c in citations}:
                citations.append(citation_of(e))
    if desk is not None and conflicts:
        desk.record_hits([r.review_id for r in conflicts], state["question"])
    support = state.get("support", {})
    now = datetime.now(timezone.utc).timestamp()
    stale = [
        e
        for e in cited
        if e.metadata.get("status", "valid") != "valid" or now - float(e.metadata.get("validated_at", now)) > s.stale_days * 86400
    ]
    checks, confidence = self_check(
        # a yes/no verdict is no span: it is supported when the passages it was read from are cited
        supported=not is_unknown(answer) and (grounded(answer, cited) or (answer.lower() in ("yes", "no") and bool(cited))),
        typed=bool(support.get("typed", False)),
        hops_typed=bool(support.get("hops_typed", True)),
        lead=support.get("margin"),
        clear_lead=s.confidence_clear_lead,
        close_lead=s.confidence_close_lead,
        conflicts=len(conflicts),
        stale=len(stale),
        stale_days=s.stale_days,
    )
    update: dict = {
        "citations": citations,
        "confidence": confidence,
        "self_check": checks,
        "conflicts": [r.review_id for r in conflicts],
        "caveats": caveats,
        "person": None,
    }
    if desk is None or state.get("asked") or ctx.as_of is not None or not (conflicts or confidence == "low"):
        return update
    if conflicts and not ctx.interactive:
        return update  # already in the review queue; nothing to ask now
    if not ctx.budget.take():
        return update
    thread = config.get("configurable", {}).get("thread_id") if ctx.interactive else None
    if conflicts:
        review = conflicts[0]
        person = PersonQuestion(question=review.question, review_id=review.review_id, options=["new", "old", "both"])
        if thread:
            desk.attach_thread(review.review_id, thread)
    else:
        question = (
            f'I am not confident about "{state["question"]}" (my answer: {answer}). What is the right answer, or which document says it?'
        )
        review_id = desk.queue_question(question, cited_ids, thread)
        person = PersonQuestion(question=question, review_id=review_id, options=[])
        if not ctx.interactive:
            caveats.append(f"Low confidence: the question was queued for a person (review #{review_id}).")
    if ctx.interactive:
        update["person"] = person
    return update


def ask_person(state: AgentState, runtime: Runtime[Context]) -> dict:
    """Pause for a person (LangGraph interrupt); resume with their decision or statement.

    A decision (keep new/old/both) resolves the conflict; a statement becomes knowledge from
    that person, used from now on.
    """
    ctx, person = runtime.context, state["person"]
    assert person is not None and ctx.desk is not None
    reply: PersonReply = interrupt(person)
    desk = ctx.desk
    by = str(reply.get("by") or ctx.settings.reviewer)
    keep, text = reply.get("keep"), (reply.get("text") or "").strip()
    dropped: list[str] = []
    human: list[Evidence] = []
    review_id = int(person["review_id"])
    if keep in ("new", "old", "both") and person.get("options"):
        review = desk.review(review_id)
        if review.state == "open":  # someone may have resolved it from the queue meanwhile: theirs stands
            review = desk.resolve(review_id, keep, by=by, note=text or None)
        if review.resolution in ("new", "old"):
            dropped = [review.old_item if review.resolution == "new" else review.new_item]
    elif text:
        human.append(desk.answer_question(review_id, text, by))
    said = f"keep {keep}" if keep else text or "no answer"
    return {"asked": True, "person": None, "human_evidence": human, "dropped_ids": dropped, "fallbacks": [f"asked a person ({by}): {said}"]}
