"""Evidence and citations: formatting passages for prompts, checking answers against them. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agent import prompts
from agent.types import Citation, Evidence, NodeResult

UNKNOWN = {"unknown", "not known", "none", "n/a", "no answer", "not mentioned", "not stated", ""}


def format_evidence(evidence: list[Evidence], max_chars: int) -> str:
    """Passages numbered from 1, quoted as data; quotes inside titles are neutralised."""
    if not evidence:
        return prompts.NO_PASSAGES
    return "\n".join(
        prompts.PASSAGE.format(n=i, title=e.title.replace('"', "'"), text=_defuse(clip(e.text, max_chars)))
        for i, e in enumerate(evidence, 1)
    )


_TAG = re.compile(r"<(\s*/?\s*passage)", re.IGNORECASE)


def _defuse(text: str) -> str:
    """A document cannot open or close a <passage> tag of its own."""
    return _TAG.sub(r"&lt;\1", text)


def clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1].rsplit(" ", 1)[0] + "…"


def is_unknown(answer: str) -> bool:
    """An empty or "don't know" answer; any script and bare numbers count as answers."""
    return " ".join(re.sub(r"[^\w/ ]", " ", answer.lower()).split()) in UNKNOWN


def citation_of(e: Evidence) -> Citation:
    """The citation of one passage (with the entity that brought it in, if a link did)."""
    return Citation(
        chunk_id=e.chunk_id,
        doc_id=e.doc_id,
        title=e.title,
        source=e.source,
        snippet=clip(e.text, 200),
        via_entity=e.metadata.get("via_entity"),
    )


def cite(evidence: list[Evidence], numbers: list[int]) -> list[Citation]:
    """The passages numbered ``numbers`` (from 1, as in the prompt), each once; out-of-range numbers are ignored."""
    return [citation_of(evidence[n - 1]) for n in dict.fromkeys(numbers) if 1 <= n <= len(evidence)]


def grounded(answer: str, evidence: list[Evidence]) -> bool:
    """True when every content word of ``answer`` occurs in the evidence text."""
    words = [w for w in re.findall(r"\w+", answer.lower()) if len(w) > 2 or w.isdigit()]
    text = " ".join(e.text.lower() for e in evidence)
    return bool(words) and all(w in text for w in words)


def supported_citations(
    answer: str, evidence: list[Evidence], numbers: list[int], results: dict[int, NodeResult]
) -> tuple[list[Citation], str | None]:
    """The passages the model cited, checked: when they are invalid, or miss an answer that
    other passages contain, cite those instead and say so."""
    cited = cite(evidence, numbers)
    if not evidence:
        return cited, None
    if not cited:
        return infer_citations(answer, evidence, results), "no valid citation in the reply; cited the evidence that supports the answer"
    cited_text = [e for e in evidence if e.chunk_id in {c.chunk_id for c in cited}]
    if grounded(answer, evidence) and not grounded(answer, cited_text):
        return infer_citations(answer, evidence, results), "cited passages did not contain the answer; cited the ones that do"
    return cited, None


def infer_citations(answer: str, evidence: list[Evidence], results: dict[int, NodeResult]) -> list[Citation]:
    """Chunks that contain the answer, else the first chunk of each solved node, else the top chunk."""
    numbers = [i for i, e in enumerate(evidence, 1) if not is_unknown(answer) and grounded(answer, [e])]
    if not numbers:
        wanted = [r.evidence_ids[0] for r in results.values() if r.evidence_ids and not is_unknown(r.answer)]
        numbers = [i for i, e in enumerate(evidence, 1) if e.chunk_id in wanted]
    return cite(evidence, numbers[:3] or [1])


def rerank_by_overlap(query: str, evidence: list[Evidence], keep: int) -> list[Evidence]:
    """The ``keep`` passages that hold most of the query's content words (dense order breaks ties).

    A sub-question with an earlier hop's answer filled in ("Who manages Payments team?") is
    short and exact; among a wider dense shortlist, the passage that says both the relation and
    the entity is the one to read.
    """
    from agent.questions import content_words

    words = set(content_words(query))
    if not words:
        return evidence[:keep]

    def overlap(e: Evidence) -> int:
        text = e.text.lower()
        return sum(1 for w in words if w in text)

    ranked = sorted(enumerate(evidence), key=lambda pair: (-overlap(pair[1]), pair[0]))
    return [e for _, e in ranked[:keep]]


def unique(evidence: list[Evidence]) -> list[Evidence]:
    """Each passage once, first occurrence first."""
    return list({e.chunk_id: e for e in evidence}.values())


def same_answer(a: str, b: str) -> bool:
    """Two answers name the same thing (normalised equality, or one contains the other)."""
    from agent.evaluation.metrics import normalize_answer

    x, y = normalize_answer(a), normalize_answer(b)
    return bool(x) and bool(y) and not is_unknown(a) and (x == y or (len(x) > 3 and (x in y or y in x)))


def final_evidence(state: Mapping[str, Any], limit: int) -> list[Evidence]:
    """A person's statements, each node's best chunk, then the warm-up (plain RAG) chunks."""
    human = state.get("human_evidence", [])
    dropped = set(state.get("dropped_ids", []))
    chosen = {e.chunk_id: e for e in state.get("warmup_evidence", [])}
    pool = state.get("evidence", {})
    for r in sorted(state.get("results", {}).values(), key=lambda r: r.id):
        for cid in r.evidence_ids[:1]:
            if cid in pool:
                chosen.setdefault(cid, pool[cid])
    node_first = [c for c in chosen if c not in {e.chunk_id for e in state.get("warmup_evidence", [])}]
    ordered = [c for c in node_first + [e.chunk_id for e in state.get("warmup_evidence", [])] if c not in dropped]
    return human + [chosen[c] for c in ordered][: max(limit, len(node_first))]
