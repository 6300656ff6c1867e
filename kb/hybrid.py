"""Hybrid retrieval on top of the dense hits: the BM25 channel and the per-query mention graph.

``KnowledgeBase.search`` queries Chroma, then hands the hits here: the BM25 hits of the
ledger's FTS5 index are fused with them by reciprocal rank, and the mention graph
(``retrieval.mention_graph``) adds the passages that the best hits' entities are about.
A linked passage that was not among the dense candidates is scored with their lowest
similarity (an upper bound of its own) and read from the ledger; ``pool`` fetches more dense
hits only to know more linked passages' own similarity (a larger store query). What a query
may see (now, or as of a time) is decided by the ledger rows the index lookups join, as the
vector store's filter does. An expanded passage's ``metadata`` records the entity that
brought it in (``via_entity``) and the passage that mentions it (``via_item``, or
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
from retrieval.store import Hit


@dataclass(frozen=True)
class RetrievalPolicy:
    """Which channels retrieval uses beyond plain dense search (the settings of issue 10)."""

    entity_expansion: bool = True
    lexical_channel: bool = False
    expansion: ExpansionParams = field(default_factory=ExpansionParams)
    lexical_weight: float = 1.0  # weight of the BM25 ranking in the reciprocal-rank fusion (dense: 1)
    pool: int = 0  # dense hits fetched (when more than k x candidate_factor) only for their similarity to the question

    @property
    def plain(self) -> bool:
        return not (self.entity_expansion or self.lexical_channel)

    @classmethod
    def from_settings(cls, s: Any) -> RetrievalPolicy:
        return cls(
            entity_expansion=s.entity_expansion,
            lexical_channel=s.lexical_channel,
            lexical_weight=s.lexical_weight,
            pool=s.expansion_pool,
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
    hits: Sequence[Hit],
    k: int,
    *,
    base_size: int,
    ledger: Query,
    load: Callable[[Sequence[str]], dict[str, Evidence]],
    as_of: datetime | None,
    policy: RetrievalPolicy,
    score: Callable[[Hit], float],
) -> list[Evidence]:
    """The top ``k`` evidence for ``query`` from the dense ``hits`` and the channels ``policy`` turns on.

    ``hits`` are the dense pool (best first); the first ``base_size`` of them are the dense
    candidates, the rest only tell the similarity of passages the graph links in. A linked
    passage outside the pool is scored with the pool's lowest similarity (an upper bound of its
    own) and read from the ledger (``load``) if it makes the top ``k``.
    """
    scores = {h.id: score(h) for h in hits}
    dense = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    by_id = {h.id: h for h in hits}
    if policy.plain:
        return [evidence(by_id[i], s) for i, s in dense[:k]]
    lookup = LedgerLookup(ledger, Visibility(as_of))
    floor = min(scores.values(), default=0.0)
    base = dense[:base_size]
    lexical_rank: dict[str, int] = {}
    if policy.lexical_channel:
        lex = lookup.lexical(query, max(base_size, k))
        lexical_rank = {i: n for n, i in enumerate(lex, 1)}
        fused = lexical.fuse_scores(base, lex, lexical_weight=policy.lexical_weight)
        base = [(i, scores.get(i, floor)) for i, _ in fused[: max(base_size, k)]]
    if not policy.entity_expansion:
        ranking = [Ranked(i, s, s) for i, s in base]
    else:
        ranked = expand(query, base, lookup, lambda ids: {i: scores.get(i, floor) for i in ids}, policy.expansion)
        ranking = merge(base, ranked) if policy.lexical_channel else ranked
    top = ranking[:k]
    loaded = load([r.item_id for r in top if r.item_id not in by_id])
    out = []
    for r in top:
        extra = {"via_entity": r.via_entity, "via_item": r.via_item, "lexical_rank": lexical_rank.get(r.item_id)}
        if r.item_id in by_id:
            out.append(evidence(by_id[r.item_id], r.score, **extra))
        elif r.item_id in loaded:  # linked in from outside the dense pool
            e = loaded[r.item_id]
            out.append(
                e.model_copy(update={"score": r.score, "metadata": {**e.metadata, **{a: b for a, b in extra.items() if b is not None}}})
            )
    return out


def merge(base: Sequence[tuple[str, float]], ranking: Sequence[Ranked]) -> list[Ranked]:
    """Keep the fused (dense + BM25) order of the base hits; a linked passage goes just above the first base hit it outscores."""
    by_id = {r.item_id: r for r in ranking}
    out = [by_id[i] for i, _ in base if i in by_id]
    in_base = {i for i, _ in base}
    for r in sorted((r for r in ranking if r.item_id not in in_base), key=lambda r: (-r.score, r.item_id)):
        at = next((n for n, o in enumerate(out) if o.score < r.score), len(out))
        out.insert(at, r)
    return out
