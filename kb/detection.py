"""Which statement pairs of a batch of new chunks are worth judging as conflicts.

Pure functions over vectors and texts (the knowledge base does the I/O): the chunks of
other documents similar to each new chunk come from one batched query of the vector store
plus one matrix product within the batch (not a query per chunk); their sentences are
paired only when both are about the same subject (``kb.conflicts.same_subject``); the
pairs are ranked by their cheap signals and the LLM judge gets the best ones, at most
``judge_max_pairs`` per new document and ``judge_max_per_ingest`` in all. The pairs beyond
that budget are decided by the rule judge alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kb.conflicts import candidate_pairs
from kb.items import KnowledgeItem
from retrieval.store import Hit

STATEMENT_PAIRS_PER_CHUNK_PAIR = 2  # statement pairs kept from one pair of similar chunks


@dataclass(frozen=True)
class Known:
    """A chunk a new one is compared with: already in the knowledge base, or another new one of the batch."""

    item_id: str
    doc_id: str
    title: str
    text: str
    similarity: float


@dataclass(frozen=True)
class Candidate:
    """A statement of a new chunk against one of a similar chunk, with the score that ranks it for the judge."""

    score: float
    known: Known
    new: KnowledgeItem
    old_statement: str
    new_statement: str


def known_from_hit(hit: Hit) -> Known:
    return Known(hit.id, str(hit.metadata.get("doc_id", "")), str(hit.metadata.get("title", "")), hit.text, hit.score)


def within_batch(items: Sequence[KnowledgeItem], vectors: Sequence[Sequence[float]], k: int, threshold: float) -> list[list[Known]]:
    """For each new chunk, the ``k`` most similar new chunks of other documents (cosine >= ``threshold``), earlier ones only.

    One matrix product; each unordered pair appears once (under the later chunk), as a pair with
    a chunk already stored would.
    """
    if len(items) < 2 or k <= 0:
        return [[] for _ in items]
    m = np.asarray(vectors, dtype=np.float32)
    m = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    sims = m @ m.T
    docs = np.asarray([i.doc_id for i in items])
    sims[docs[:, None] == docs[None, :]] = -np.inf  # the same document (and the chunk itself)
    sims[np.triu_indices(len(items))] = -np.inf  # earlier chunks only: each pair once
    out: list[list[Known]] = []
    for row in sims:
        best = [j for j in np.argsort(-row)[:k] if row[j] >= threshold]
        out.append([Known(items[j].item_id, items[j].doc_id, items[j].title, items[j].text, float(row[j])) for j in best])
    return out


def candidates(items: Sequence[KnowledgeItem], neighbours: Sequence[Sequence[Known]], threshold: float) -> list[Candidate]:
    """Statement pairs about the same subject between each new chunk and its similar chunks, best first."""
    found = []
    for item, near in zip(items, neighbours):
        for known in near:
            if known.similarity < threshold or known.doc_id == item.doc_id:
                continue
            pairs = candidate_pairs(known.text, item.text, limit=STATEMENT_PAIRS_PER_CHUNK_PAIR, titles=(known.title, item.title))
            found += [Candidate(sig.score, known, item, old_s, new_s) for old_s, new_s, sig in pairs]
    found.sort(key=lambda c: -c.score)
    return found


def to_judge(
    found: Sequence[Candidate], known_reviews: set[tuple[str, str]], *, per_document: int, budget: int
) -> tuple[list[Candidate], list[Candidate]]:
    """(for the LLM judge, for the rule judge alone): one statement pair per pair of chunks, the best first.

    A pair of chunks already under review (either way round) is skipped. The LLM judge gets
    at most ``per_document`` pairs per new document and ``budget`` in all; the rest of the
    pairs go to the rule judge, which costs nothing.
    """
    llm: list[Candidate] = []
    rule: list[Candidate] = []
    seen: set[frozenset[str]] = set()
    per_doc: dict[str, int] = {}
    for c in found:
        pair = frozenset((c.known.item_id, c.new.item_id))
        if pair in seen or (c.known.item_id, c.new.item_id) in known_reviews or (c.new.item_id, c.known.item_id) in known_reviews:
            continue
        seen.add(pair)
        if len(llm) < budget and per_doc.get(c.new.doc_id, 0) < per_document:
            per_doc[c.new.doc_id] = per_doc.get(c.new.doc_id, 0) + 1
            llm.append(c)
        else:
            rule.append(c)
    return llm, rule


def conflict_pair(
    old_item: KnowledgeItem, new_item: KnowledgeItem, old_s: str, new_s: str
) -> tuple[KnowledgeItem, KnowledgeItem, str, str, str]:
    """The two sides of a conflict, the older first, and the question a reviewer is asked."""
    newer_first = (old_item.valid_from, old_item.added_at) > (new_item.valid_from, new_item.added_at)
    older, newer, o_s, n_s = (new_item, old_item, new_s, old_s) if newer_first else (old_item, new_item, old_s, new_s)
    question = (
        f'Does "{n_s}" ({newer.title}, {newer.valid_from:%Y-%m-%d}) replace "{o_s}" ({older.title}, '
        f"{older.valid_from:%Y-%m-%d}), or is it a narrow exception so that both hold?"
    )
    return older, newer, o_s, n_s, question
