"""Hybrid retrieval on top of the dense hits: the BM25 channel and the per-query mention graph.

``KnowledgeBase.search`` queries Chroma, then hands the hits here: the BM25 hits of the
ledger's FTS5 index are fused with them by reciprocal rank, and the mention graph
(``retrieval.mention_graph``) adds the passages that the best hits' entities are about.
Passages that were not among the dense hits are fetched from the vector store with their
similarity to the question (restricted to their documents and to what the query may see),
so every passage is scored the same way. An expanded passage's ``metadata`` records the
entity that brought it in (``via_entity``) and the passage that mentions it (``via_item``, or
"question"); a BM25 hit's records its BM25 rank (``lexical_rank``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from kb.entity_index import LedgerLookup, Query, Visibility
from kb.items import Evidence
from retrieval import lexical
from retrieval.mention_graph import ExpansionParams, Ranked, expand
from retrieval.store import Hit, VectorStore


@dataclass(frozen=True)
class RetrievalPolicy:
    """Which channels retrieval uses beyond plain dense search (the settings of issue 10)."""

    entity_expansion: bool = True
    lexical_channel: bool = False
    expansion: ExpansionParams = field(default_factory=ExpansionParams)
    lexical_weight: float = 1.0  # weight of the BM25 ranking in the reciprocal-rank fusion (dense: 1)

    @property
    def plain(self) -> bool:
        return not (self.entity_expansion or self.lexical_channel)

    @classmethod
    def from_settings(cls, s: Any) -> RetrievalPolicy:
        return cls(
            entity_expansion=s.entity_expansion,
            lexical_channel=s.lexical_channel,
            lexical_weight=s.lexical_weight,
            expansion=replace(
                ExpansionParams(),
                method=s.expansion_method,
                seeds=s.expansion_seeds,
                hops=s.expansion_hops,
                max_fanout=s.expansion_max_fanout,
                weight=s.expansion_weight,
            ),
        )


def evidence(hit: Hit, score: float, **extra: Any) -> Evidence:
    md = dict(hit.metadata)
    md.update({k: v for k, v in extra.items() if v is not None})
    return Evidence(
        chunk_id=hit.id,
        doc_id=str(md.get("doc_id", "")),
        title=str(md.get("title", "")),
        source=str(md.get("source", "")),
        text=hit.text,
        score=score,
        metadata=md,
    )


def rank(
    query: str,
    vector: Sequence[float],
    hits: Sequence[Hit],
    k: int,
    *,
    store: VectorStore,
    where: dict,
    ledger: Query,
    as_of: datetime | None,
    policy: RetrievalPolicy,
    score: Callable[[Hit], float],
) -> list[Evidence]:
    """The top ``k`` evidence for ``query`` from the dense ``hits`` and the channels ``policy`` turns on."""
    by_id = {h.id: h for h in hits}
    scores = {h.id: score(h) for h in hits}
    dense = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    if policy.plain:
        return [evidence(by_id[i], s) for i, s in dense[:k]]
    lookup = LedgerLookup(ledger, Visibility(as_of))
    pool = max(len(hits), k)

    def fetch(ids: Sequence[str]) -> None:
        """Hits (text, metadata, similarity) for items that were not dense hits; items the query may not see stay out."""
        missing = sorted(set(ids) - set(by_id))
        if not missing:
            return
        docs = sorted(set(lookup.docs_of(missing).values()))
        if docs:
            found = store.query(vector, len(missing) + 4 * len(docs), {"$and": [where, {"doc_id": {"$in": docs}}]})
            for h in found:
                if h.id not in by_id:
                    by_id[h.id], scores[h.id] = h, score(h)

    base = dense
    lexical_rank: dict[str, int] = {}
    if policy.lexical_channel:
        lex = lookup.lexical(query, pool)
        fetch(lex)
        lex = [i for i in lex if i in by_id]
        lexical_rank = {i: n for n, i in enumerate(lex, 1)}
        fused = lexical.fuse_scores(dense, lex, lexical_weight=policy.lexical_weight)
        base = [(i, scores[i]) for i, _ in fused[:pool]]
    if not policy.entity_expansion:
        return [evidence(by_id[i], s, lexical_rank=lexical_rank.get(i)) for i, s in base[:k]]

    def similarity(ids: Sequence[str]) -> dict[str, float]:
        fetch(ids)
        return {i: scores[i] for i in ids if i in scores}

    ranking = expand(query, base, lookup, similarity, policy.expansion)
    ranking = [r for r in ranking if r.item_id in by_id]
    ordered = merge(base, ranking) if policy.lexical_channel else ranking
    return [
        evidence(by_id[r.item_id], r.score, via_entity=r.via_entity, via_item=r.via_item, lexical_rank=lexical_rank.get(r.item_id))
        for r in ordered[:k]
    ]


def merge(base: Sequence[tuple[str, float]], ranking: Sequence[Ranked]) -> list[Ranked]:
    """Keep the fused (dense + BM25) order of the base hits; a linked passage goes just above the first base hit it outscores."""
    by_id = {r.item_id: r for r in ranking}
    out = [by_id[i] for i, _ in base if i in by_id]
    in_base = {i for i, _ in base}
    for r in sorted((r for r in ranking if r.item_id not in in_base), key=lambda r: (-r.score, r.item_id)):
        at = next((n for n, o in enumerate(out) if o.score < r.score), len(out))
        out.insert(at, r)
    return out
