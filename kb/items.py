"""Knowledge items: chunks (and later human statements) with their ARIA time fields."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum

from typing import Any

from pydantic import BaseModel, Field


class Status(str, Enum):
    """ARIA validity of an item."""

    VALID = "valid"
    POTENTIALLY_OUTDATED = "potentially_outdated"
    SUPERSEDED = "superseded"


class KnowledgeItem(BaseModel):
    """One retrievable unit of knowledge and when it was known to be true."""

    item_id: str
    doc_id: str
    text: str
    title: str
    source: str  # document path, or the reviewer's name for human knowledge
    position: int = 0
    kind: str = "chunk"  # "chunk" or "human"
    added_at: datetime
    validated_at: datetime
    status: Status = Status.VALID
    superseded_by: str | None = None
    valid_from: datetime  # world time: from the document's date, else ingest time
    valid_to: datetime | None = None
    expired_at: datetime | None = None  # system time: when a changed document replaced the version it belongs to


class DocumentRecord(BaseModel):
    """A document as the ledger knows it."""

    doc_id: str
    source: str
    title: str
    content_hash: str
    n_chunks: int
    ingested_at: datetime
    valid_from: datetime


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def parse_time(value: str) -> datetime:
    """An ISO date or datetime as an aware UTC datetime (naive values are taken as UTC)."""
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


class Evidence(BaseModel):
    """A retrieved chunk, as put in front of the LLM and cited."""

    chunk_id: str
    doc_id: str
    title: str
    source: str
    text: str
    score: float = 0.0
    metadata: dict[str, Any] = Field(default_factory=dict)
