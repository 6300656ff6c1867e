"""A mention graph built per query over the retrieved passages (LogicRAG-style: nothing corpus-wide).

The dense hits are the seeds. The entities a seed *mentions* pull in the passages that are
*about* those entities (their title or a heading names it), and those passages' mentions one
step further (``hops``), bounded in fan-out and size. The passages and entities form a small
networkx graph that is ranked together with the dense scores, either by

- ``bfs``: a passage reached through a link scores its own similarity to the question plus
  ``weight`` x the best (parent score x ``decay`` per hop x entity specificity) over its links;
- ``ppr``: personalised PageRank from the seeds (weighted by their dense scores) over the
  passage-entity graph, added to the dense score with ``weight``.

Pure: the entity index is read through ``EntityLookup`` (the knowledge base implements it over
the ledger, tests over dicts); the same inputs always give the same ranking (ties break on ids).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import networkx as nx

from retrieval.entities import query_entities

Method = Literal["bfs", "ppr"]


class EntityLookup(Protocol):
    """Read access to the entity index (already restricted to the items a query may see)."""

    def mentions_of(self, item_ids: Sequence[str]) -> Mapping[str, Sequence[str]]:
        """item id -> entity keys the item mentions."""
        ...

    def about(self, keys: Sequence[str]) -> Mapping[str, Sequence[str]]:
        """entity key -> ids of the items about it."""
        ...

    def mentioned_by(self, keys: Sequence[str], limit: int) -> Mapping[str, Sequence[str]]:
        """entity key -> ids of the items mentioning it, for the keys at most ``limit`` items mention."""
        ...

    def mention_counts(self, keys: Sequence[str]) -> Mapping[str, int]:
        """entity key -> how many items mention it (its document frequency)."""
        ...


@dataclass(frozen=True)
class ExpansionParams:
    method: Method = "bfs"
    # defaults tuned on questions 1-25 of the shared MuSiQue and HotpotQA dev sets (benchmarks/REPORT_RETRIEVAL.md)
    seeds: int = 5  # dense hits whose mentions are followed
    hops: int = 2  # link steps from a seed
    max_fanout: int = 8  # an entity that more items are about is ambiguous: not followed
    max_new: int = 10  # passages added per hop at most
    decay: float = 0.8  # link strength kept per hop
    weight: float = 2.0  # weight of the link (or PageRank) score added to a passage's own similarity
    query_links: bool = True  # entities the question names pull in the items about them
    comention: float = 0.5  # strength of a link through an entity both passages mention (about links: 1; 0: off)
    max_mention_fanout: int = 8  # an entity mentioned by more items is too common to link by
    reinforce: bool = True  # a seed linked from another seed gets the link's bonus too
    idf: float = 0.5  # a link through an entity many items mention is weaker: x (1 / (1 + ln mentions)) ** idf
    alpha: float = 0.5  # ppr: probability of continuing the walk


@dataclass(frozen=True)
class Ranked:
    """One passage of the fused ranking."""

    item_id: str
    score: float
    dense: float  # its own similarity to the question
    via_entity: str | None = None  # the entity that brought it in (None: a dense hit)
    via_item: str | None = None  # the passage (or "question") that mentions that entity
    hop: int = 0


@dataclass
class QueryGraph:
    """The per-query graph: passage nodes ``p:<id>``, entity nodes ``e:<key>``, and how each passage was reached."""

    graph: nx.Graph
    seeds: dict[str, float]  # seed id -> dense score
    reached: dict[str, tuple[float, str, str, int]] = field(default_factory=dict)  # id -> (link score, entity, from, hop)


def _specificity(fanout: int) -> float:
    """1 for an entity one item is about, less for one several are about."""
    return 1.0 / (1.0 + math.log(max(fanout, 1)))


def build(query: str, seeds: Sequence[tuple[str, float]], lookup: EntityLookup, params: ExpansionParams) -> QueryGraph:
    """Grow the query graph from the dense seeds (best first), following mentions to the items about them."""
    g = nx.Graph()
    seed_scores = {sid: float(score) for sid, score in list(seeds)[: params.seeds]}
    for sid in seed_scores:
        g.add_node(f"p:{sid}", kind="passage", seed=True)
    qg = QueryGraph(g, seed_scores)
    frontier: dict[str, float] = dict(seed_scores)
    if params.query_links:
        named = sorted(set(query_entities(query)))
        top = max(seed_scores.values(), default=1.0)
        frontier.update(_link(qg, {"question": named}, {"question": top}, lookup, params, hop=1, allow_seed=True))
    for hop in range(1, params.hops + 1):
        if not frontier:
            break
        mentioned = lookup.mentions_of(sorted(frontier))
        new = _link(qg, {i: list(mentioned.get(i, ())) for i in frontier}, frontier, lookup, params, hop)
        frontier = new
    return qg


def _link(
    qg: QueryGraph,
    mentions: Mapping[str, Sequence[str]],
    scores: Mapping[str, float],
    lookup: EntityLookup,
    params: ExpansionParams,
    hop: int,
    allow_seed: bool = False,
) -> dict[str, float]:
    """Add entity nodes and the items about them; returns the newly reached items with their link scores."""
    g = qg.graph
    keys = sorted({k for ks in mentions.values() for k in ks})
    if not keys:
        return {}
    about = lookup.about(keys)
    mentioned = lookup.mentioned_by(keys, params.max_mention_fanout) if params.comention > 0 else {}
    df = lookup.mention_counts(keys) if params.idf > 0 else {}
    offers: dict[str, tuple[float, str, str]] = {}
    for src in sorted(mentions, key=lambda s: (-scores.get(s, 0.0), s)):
        for key in sorted(set(mentions[src])):
            for kind, found, cap, weight in (
                ("about", about, params.max_fanout, 1.0),
                ("mentions", mentioned, params.max_mention_fanout, params.comention),
            ):
                targets = sorted(set(found.get(key, ())) - {src})
                if not targets or len(targets) > cap:
                    continue
                strength = (
                    weight
                    * scores.get(src, 0.0)
                    * (params.decay ** (hop - 1 if src == "question" else hop))
                    * _specificity(len(targets))
                    * _specificity(df.get(key, 1)) ** params.idf
                )
                if src != "question":
                    g.add_edge(f"p:{src}", f"e:{key}", kind="mentions")
                for t in targets:
                    g.add_edge(f"e:{key}", f"p:{t}", kind=kind)
                    g.nodes[f"p:{t}"].setdefault("kind", "passage")
                    g.nodes[f"e:{key}"]["kind"] = "entity"
                    if t in qg.seeds and not (allow_seed or params.reinforce):
                        continue
                    if t not in offers or strength > offers[t][0]:
                        offers[t] = (strength, key, src)
    new: dict[str, float] = {}
    fresh = sorted(((t, o) for t, o in offers.items() if t not in qg.seeds and t not in qg.reached), key=lambda kv: (-kv[1][0], kv[0]))
    allowed = {t for t, _ in fresh[: params.max_new]}
    for t, (strength, key, src) in sorted(offers.items()):
        if t not in allowed and (t not in qg.seeds and t not in qg.reached):
            continue
        known = qg.reached.get(t)
        if known is None or strength > known[0]:
            if known is None and t not in qg.seeds:
                new[t] = strength
            qg.reached[t] = (strength, key, src, hop)
    return new


def rank(qg: QueryGraph, dense: Mapping[str, float], params: ExpansionParams) -> list[Ranked]:
    """Fuse the graph with the dense scores; ``dense`` holds every graph passage's similarity to the question."""
    if params.method == "ppr":
        link = _ppr(qg, params)
    else:
        link = {i: r[0] for i, r in qg.reached.items()}
    ids = set(qg.seeds) | set(qg.reached) | set(dense)
    out = []
    for i in ids:
        own = float(dense.get(i, 0.0))
        bonus = link.get(i, 0.0)
        via = qg.reached.get(i)
        from_link = via is not None and i not in qg.seeds and (i not in dense or bonus > 0)
        out.append(
            Ranked(
                item_id=i,
                score=own + params.weight * bonus,
                dense=own,
                via_entity=via[1] if from_link and via else None,
                via_item=via[2] if from_link and via else None,
                hop=via[3] if from_link and via else 0,
            )
        )
    out.sort(key=lambda r: (-r.score, r.item_id))
    return out


def _ppr(qg: QueryGraph, params: ExpansionParams) -> dict[str, float]:
    """Personalised PageRank from the seeds over the passage-entity graph, scaled so the best passage scores 1."""
    g = qg.graph
    personal = {f"p:{s}": max(v, 0.0) for s, v in qg.seeds.items() if f"p:{s}" in g}
    for i, (strength, _key, src, _hop) in qg.reached.items():
        if src == "question" and f"p:{i}" in g:
            personal[f"p:{i}"] = personal.get(f"p:{i}", 0.0) + strength
    if g.number_of_edges() == 0 or not any(personal.values()):
        return {}
    pr = nx.pagerank(g, alpha=params.alpha, personalization=personal, max_iter=100, tol=1e-8)
    passages = {n[2:]: v for n, v in pr.items() if n.startswith("p:")}
    top = max(passages.values(), default=0.0)
    return {i: v / top for i, v in passages.items()} if top > 0 else {}


def expand(
    query: str,
    seeds: Sequence[tuple[str, float]],
    lookup: EntityLookup,
    similarity: Callable[[Sequence[str]], Mapping[str, float]],
    params: ExpansionParams,
) -> list[Ranked]:
    """Seeds (dense hits, best first) -> the fused ranking of seeds and linked passages.

    ``similarity`` gives the question's similarity to passages that were not dense hits.
    """
    qg = build(query, seeds, lookup, params)
    dense = {sid: float(s) for sid, s in seeds}
    missing = sorted(set(qg.reached) - set(dense))
    if missing:
        dense.update({k: float(v) for k, v in similarity(missing).items()})
    return rank(qg, dense, params)


class DictLookup:
    """An ``EntityLookup`` over in-memory maps (tests and benchmarks)."""

    def __init__(self, mentions: Mapping[str, Sequence[str]], about: Mapping[str, Sequence[str]]) -> None:
        self._mentions = mentions
        self._about = about
        self._mentioned: dict[str, list[str]] | None = None

    def mentions_of(self, item_ids: Sequence[str]) -> dict[str, list[str]]:
        return {i: list(self._mentions.get(i, ())) for i in item_ids}

    def about(self, keys: Sequence[str]) -> dict[str, list[str]]:
        return {k: list(self._about[k]) for k in keys if k in self._about}

    def mention_counts(self, keys: Sequence[str]) -> dict[str, int]:
        self.mentioned_by([], 0)
        assert self._mentioned is not None
        return {k: len(self._mentioned[k]) for k in keys if k in self._mentioned}

    def mentioned_by(self, keys: Sequence[str], limit: int) -> dict[str, list[str]]:
        if self._mentioned is None:
            self._mentioned = {}
            for item in sorted(self._mentions):
                for k in self._mentions[item]:
                    self._mentioned.setdefault(k, []).append(item)
        return {k: list(self._mentioned[k]) for k in keys if 0 < len(self._mentioned.get(k, ())) <= limit}
