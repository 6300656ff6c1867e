"""Knowledge items as records: a person's statement as an item, an item as the vector store's record and as evidence."""

from __future__ import annotations

from datetime import datetime

from kb.items import Evidence, KnowledgeItem, utc_now
from retrieval.chunking import content_hash

OPEN_END = 253402300799.0  # 9999-12-31, Chroma metadata cannot hold None


def as_evidence(item: KnowledgeItem) -> Evidence:
    """An item as retrieval evidence (its vector-store metadata included)."""
    return Evidence(
        chunk_id=item.item_id, doc_id=item.doc_id, title=item.title, source=item.source, text=item.text, metadata=chroma_metadata(item)
    )


def embed_text(item: KnowledgeItem) -> str:
    """The text an item is embedded as: its title first, unless the text already opens with it."""
    return f"{item.title}\n{item.text}" if item.title and item.title not in item.text[:200] else item.text


def chroma_metadata(item: KnowledgeItem) -> dict:
    """The item's fields the vector store filters on (status, validity, document)."""
    return {
        "doc_id": item.doc_id,
        "source": item.source,
        "title": item.title,
        "position": item.position,
        "kind": item.kind,
        "status": item.status.value,
        "added_at": item.added_at.timestamp(),
        "validated_at": item.validated_at.timestamp(),
        "valid_from": item.valid_from.timestamp(),
        "valid_to": item.valid_to.timestamp() if item.valid_to else OPEN_END,
        "ingested_at": item.added_at.isoformat(),
    }


def human_item(text: str, by: str, valid_from: datetime | None = None) -> KnowledgeItem:
    """A person's statement as a knowledge item, valid from ``valid_from`` (aware) or now."""
    text = " ".join(text.split())
    if not text:
        raise ValueError("the statement is empty")
    now = utc_now()
    item_id = content_hash("human", by, text, now.isoformat())
    return KnowledgeItem(
        item_id=item_id,
        doc_id=f"human:{item_id}",
        text=text,
        title=f"statement by {by}",
        source=by,
        kind="human",
        added_at=now,
        validated_at=now,
        valid_from=valid_from or now,
    )
