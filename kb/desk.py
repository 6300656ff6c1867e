"""The review desk: the agent's side of a knowledge base's review queue.

The self-check and the person in the loop (``agent.escalation``) look up open conflicts
for the items an answer cites, count each question that ran into one, queue a question for
a person, and turn a person's answer into knowledge. Everything here goes through the
ledger's ``ReviewQueue`` and the knowledge base, so a decision changes ledger and vector
store together, as resolving from the console does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kb.items import Evidence
from kb.reviews import Review

if TYPE_CHECKING:
    from kb.knowledge_base import KnowledgeBase


class ReviewDesk:
    """Reviews for the agent, on one knowledge base."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.queue = kb.ledger.queue

    def open_conflicts(self, item_ids: list[str]) -> list[Review]:
        """Open conflicts either side of which is among ``item_ids``."""
        return self.queue.open_reviews_for(item_ids)

    def evidence_for(self, item_ids: list[str]) -> list[Evidence]:
        return self.kb.evidence_for(item_ids)

    def record_hits(self, review_ids: list[int], question: str) -> None:
        """Remember that ``question`` ran into these reviews (the console shows how often each one matters)."""
        self.queue.record_hits(review_ids, question)

    def queue_question(self, question: str, item_ids: list[str], thread_id: str | None) -> int:
        """Queue a question for a person about the answer resting on ``item_ids``; returns its review id."""
        return self.queue.open_clarification(question, items=item_ids, thread_id=thread_id)

    def attach_thread(self, review_id: int, thread_id: str) -> None:
        """Remember the paused run waiting on this review, so it can be resumed from the queue."""
        self.queue.attach_thread(review_id, thread_id)

    def review(self, review_id: int) -> Review:
        return self.queue.review(review_id)

    def resolve(self, review_id: int, keep: str, *, by: str, note: str | None = None, edit: str | None = None) -> Review:
        return self.kb.resolve(review_id, keep, by=by, note=note, edit=edit)

    def answer_question(self, review_id: int | None, text: str, by: str) -> Evidence:
        """A person's answer: a knowledge item from them; it also resolves the question's review."""
        if review_id:
            item_id = self.kb.resolve(review_id, "edit", by=by, edit=text).result_item
        else:
            item_id = self.kb.add_statement(text, by=by).item_id
        return self.kb.evidence_for([item_id or ""])[0]
