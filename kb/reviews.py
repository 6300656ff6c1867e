"""The human-review queue: conflicts and questions waiting for a person, and their resolutions.

A ``ReviewQueue`` works on a ``Ledger`` (composition): every change is one ledger
transaction that also writes the item status changes and the audit log, so a decision is
applied entirely or not at all, and of two racing resolutions exactly one wins.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic.dataclasses import dataclass

from kb.items import KnowledgeItem, Status, UTCDateTime, parse_time, utc_now
from retrieval.errors import DagragError

if TYPE_CHECKING:
    from kb.ledger import Ledger

KEEP_CHOICES = ("new", "old", "both", "edit")


class ReviewError(DagragError, ValueError):
    """A review cannot be resolved as asked (unknown, or already resolved)."""


@dataclass(frozen=True)
class Review:
    """An item in the human-review queue (a row of ``reviews``, validated: times are aware UTC)."""

    review_id: int
    kind: str
    state: str
    created_at: UTCDateTime
    question: str
    old_item: str | None = None
    new_item: str | None = None
    old_statement: str | None = None
    new_statement: str | None = None
    relation: str | None = None
    confidence: float | None = None
    reason: str | None = None
    detector: str | None = None
    thread_id: str | None = None
    resolution: str | None = None
    resolved_by: str | None = None
    resolved_at: UTCDateTime | None = None
    note: str | None = None
    result_item: str | None = None


def _review(row: sqlite3.Row) -> Review:
    return Review(**dict(row))


class ReviewQueue:
    """Open, list and resolve review items in a ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def open_conflict(
        self,
        old: KnowledgeItem,
        new: KnowledgeItem,
        *,
        old_statement: str,
        new_statement: str,
        relation: str,
        confidence: float,
        reason: str,
        detector: str,
        question: str,
        actor: str = "dagrag",
    ) -> int:
        """Queue a conflict; the older side becomes potentially outdated while it is open."""
        with self.ledger.transaction() as db:
            cur = db.execute(
                "INSERT INTO reviews(kind, state, created_at, old_item, new_item, old_statement, new_statement, relation, confidence, "
                "reason, detector, question) VALUES ('conflict','open',?,?,?,?,?,?,?,?,?,?)",
                (
                    utc_now().isoformat(),
                    old.item_id,
                    new.item_id,
                    old_statement,
                    new_statement,
                    relation,
                    confidence,
                    reason,
                    detector,
                    question,
                ),
            )
            review_id = int(cur.lastrowid)
            self.ledger.audit(
                db,
                actor,
                "flagged",
                review_id=review_id,
                item_id=new.item_id,
                old=old.item_id,
                relation=relation,
                confidence=confidence,
                reason=reason,
                detector=detector,
            )
            current = db.execute("SELECT status FROM items WHERE item_id=?", (old.item_id,)).fetchone()
            if current and current["status"] == Status.VALID.value:
                self.ledger.set_status(db, old.item_id, Status.POTENTIALLY_OUTDATED, actor, review_id=review_id)
        return review_id

    def open_clarification(self, question: str, *, items: list[str], thread_id: str | None = None, actor: str = "dagrag") -> int:
        """Queue ``question`` for a person; the same question already open and waiting on no run is not queued twice."""
        with self.ledger.transaction() as db:
            if thread_id is None:
                same = db.execute(
                    "SELECT review_id FROM reviews WHERE kind='clarification' AND state='open' AND question=? AND thread_id IS NULL",
                    (question,),
                ).fetchone()
                if same is not None:
                    return int(same[0])
            cur = db.execute(
                "INSERT INTO reviews(kind, state, created_at, question, thread_id, new_item) VALUES ('clarification','open',?,?,?,?)",
                (utc_now().isoformat(), question, thread_id, ",".join(items) or None),
            )
            review_id = int(cur.lastrowid)
            self.ledger.audit(db, actor, "asked", review_id=review_id, question=question, thread_id=thread_id)
        return review_id

    def attach_thread(self, review_id: int, thread_id: str | None, actor: str = "dagrag") -> None:
        """Remember the paused run waiting on this review (None: no run waits on it any more)."""
        with self.ledger.transaction() as db:
            db.execute("UPDATE reviews SET thread_id=? WHERE review_id=?", (thread_id, review_id))
            self.ledger.audit(db, actor, "paused" if thread_id else "unpaused", review_id=review_id, thread_id=thread_id)

    def reviews(self, state: str | None = "open") -> list[Review]:
        sql = "SELECT * FROM reviews" + (" WHERE state=?" if state else "") + " ORDER BY created_at, review_id"
        return [_review(r) for r in self.ledger.query(sql, (state,) if state else ())]

    def review(self, review_id: int) -> Review:
        rows = self.ledger.query("SELECT * FROM reviews WHERE review_id=?", (review_id,))
        if not rows:
            raise ReviewError(f"no review {review_id}: `dagrag review` lists the open ones")
        return _review(rows[0])

    def open_reviews_for(self, item_ids: list[str]) -> list[Review]:
        if not item_ids:
            return []
        marks = ",".join("?" * len(item_ids))
        rows = self.ledger.query(
            f"SELECT * FROM reviews WHERE state='open' AND kind='conflict' AND (old_item IN ({marks}) OR new_item IN ({marks})) "
            "ORDER BY review_id",
            [*item_ids, *item_ids],
        )
        return [_review(r) for r in rows]

    def record_hits(self, review_ids: list[int], question: str) -> None:
        if review_ids:
            with self.ledger.transaction() as db:
                db.executemany("INSERT INTO review_hits VALUES (?,?,?)", [(r, question, utc_now().isoformat()) for r in review_ids])

    def hits(self, review_id: int) -> list[tuple[str, datetime]]:
        rows = self.ledger.query("SELECT question, at FROM review_hits WHERE review_id=? ORDER BY at", (review_id,))
        return [(r["question"], parse_time(r["at"])) for r in rows]

    def resolve(
        self, review_id: int, keep: str, *, by: str, note: str | None = None, edited: KnowledgeItem | None = None, action: str = "resolved"
    ) -> Review:
        """Apply a person's decision atomically; exactly one of two racing resolutions wins.

        keep=new: the old side is superseded by the new; keep=old: the new side is superseded;
        both: both stay valid; edit: ``edited`` (a human item) supersedes both sides.
        """
        if keep not in KEEP_CHOICES:
            raise ReviewError(f"--keep must be one of {', '.join(KEEP_CHOICES)}")
        if keep == "edit" and edited is None:
            raise ReviewError("--keep edit needs --edit TEXT: the statement that replaces both sides")
        ledger = self.ledger
        with ledger.transaction() as db:
            row = db.execute("SELECT * FROM reviews WHERE review_id=?", (review_id,)).fetchone()
            if row is None:
                raise ReviewError(f"no review {review_id}: `dagrag review` lists the open ones")
            if row["state"] != "open":
                raise ReviewError(
                    f"review {review_id} was already resolved by {row['resolved_by']} at {row['resolved_at']} (keep {row['resolution']})"
                )
            now = utc_now()
            old, new = row["old_item"], row["new_item"]
            if row["kind"] == "conflict":
                new_from = db.execute("SELECT valid_from FROM items WHERE item_id=?", (new,)).fetchone()
                ends = parse_time(new_from["valid_from"]) if new_from else now
                if keep in ("new", "old"):
                    loser, winner = (old, new) if keep == "new" else (new, old)
                    ledger.set_status(
                        db, loser, Status.SUPERSEDED, by, review_id=review_id, superseded_by=winner, valid_to=ends, validated=True
                    )
                    ledger.set_status(db, winner, Status.VALID, by, review_id=review_id, validated=True)
                elif keep == "both":
                    for item in (old, new):
                        ledger.set_status(db, item, Status.VALID, by, review_id=review_id, validated=True)
                else:
                    assert edited is not None
                    ledger.insert_human_item(db, edited, by)
                    for item in (old, new):
                        ledger.set_status(
                            db,
                            item,
                            Status.SUPERSEDED,
                            by,
                            review_id=review_id,
                            superseded_by=edited.item_id,
                            valid_to=edited.valid_from,
                            validated=True,
                        )
            elif keep == "edit" and edited is not None:
                ledger.insert_human_item(db, edited, by)
            cur = db.execute(
                "UPDATE reviews SET state='resolved', resolution=?, resolved_by=?, resolved_at=?, note=?, result_item=? "
                "WHERE review_id=? AND state='open'",
                (keep, by, now.isoformat(), note, edited.item_id if edited else None, review_id),
            )
            if cur.rowcount != 1:  # pragma: no cover - BEGIN IMMEDIATE already serializes writers
                raise ReviewError(f"review {review_id} was resolved concurrently")
            ledger.audit(
                db, by, action, review_id=review_id, item_id=new, old=old, keep=keep, note=note, edited=edited.item_id if edited else None
            )
        return self.review(review_id)
