"""How a knowledge item is stored in the vector store and read back as evidence."""

from __future__ import annotations

from kb.items import Evidence, KnowledgeItem

OPEN_END = 253402300799.0  # 9999-12-31, Chroma metadata cannot hold None


def _evidence(item: KnowledgeItem) -> Evidence:
    return Evidence(
        chunk_id=item.item_id, doc_id=item.doc_id, title=item.title, source=item.source, text=item.text, metadata=_chroma_metadata(item)
    )


def _embed_text(item: KnowledgeItem) -> str:
    return f"{item.title}\n{item.text}" if item.title and item.title not in item.text[:200] else item.text


def _chroma_metadata(item: KnowledgeItem) -> dict:
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
