"""Knowledge items: chunks (and human statements) with their ARIA time fields.

Every datetime that enters the knowledge base is made timezone-aware UTC here (``as_utc``,
and the ``UTCDateTime`` type of the models' fields): a naive value is taken as UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class Status(str, Enum):
    """ARIA validity of an item."""

    VALID = "valid"
    POTENTIALLY_OUTDATED = "potentially_outdated"
    SUPERSEDED = "superseded"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (a naive one is taken as UTC)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def parse_time(value: str) -> datetime:
    """An ISO date or datetime as an aware UTC datetime (naive values are taken as UTC)."""
    return as_utc(datetime.fromisoformat(value))


def _to_utc(value: object) -> object:
    if isinstance(value, str):
        return parse_time(value)
    return as_utc(value) if isinstance(value, datetime) else value


UTCDateTime = Annotated[datetime, BeforeValidator(_to_utc)]
"""A datetime field that is always aware UTC: ISO strings (from the ledger) and naive values are converted."""


class KnowledgeItem(BaseModel):
    """One retrievable unit of knowledge and when it was known to be true."""

    item_id: str
    doc_id: str
    text: str
    title: str
    source: str  # document path, or the reviewer's name for human knowledge
    position: int = 0
    kind: str = "chunk"  # "chunk" or "human"
    added_at: UTCDateTime
    validated_at: UTCDateTime
    status: Status = Status.VALID
    superseded_by: str | None = None
    valid_from: UTCDateTime  # world time: from the document's date, else ingest time
    valid_to: UTCDateTime | None = None
    expired_at: UTCDateTime | None = None  # system time: when a changed document replaced the version it belongs to


class DocumentRecord(BaseModel):
    """A document as the ledger knows it."""

    model_config = ConfigDict(extra="ignore")  # ledger rows carry state columns the record does not need

    doc_id: str
    source: str
    title: str
    content_hash: str
    n_chunks: int
    ingested_at: UTCDateTime
    valid_from: UTCDateTime


class Evidence(BaseModel):
    """A retrieved chunk, as put in front of the LLM and cited."""

    chunk_id: str
    doc_id: str
    title: str
    source: str
    text: str
    score: float = 0.0
    metadata: dict[str, Any] = Field(default_factory=dict)
