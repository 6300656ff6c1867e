"""ARIA's update stream on real text: are edited facts flagged, resolved and answered by time?

    .venv/bin/python benchmarks/bench_updates.py [--limit 60] [--limit-questions 40] [--out benchmarks/out/updates.json]

Built from ../shared/data/musique_dev.json (read at run time, never copied into the repository):
every gold hop whose supporting paragraph contains the hop's answer becomes a paragraph of the
stream. The paragraphs are split (seeded) into an EDIT half, whose newer version replaces every
occurrence of the hop answer with another gold answer of the same shape (numbers for numbers,
capitalised names of about the same length for names), and a COPY half, whose newer version is
an unedited copy. A fresh knowledge base gets the originals (valid from 2020-01-01), then the
edits and copies interleaved (valid from 2024-01-01), one arriving document at a time, with the
product's conflict detection (similar chunks -> ``kb.conflicts.candidate_pairs`` -> LLM judge
backed by the value-change rule, policy "escalate").

Measured: recall (edited paragraphs with an open review linking them to their original),
false-flag rate (unedited copies in any review), reviews by detector and relation, judge calls,
seconds per paragraph; every miss is explained by re-checking similarity, pair ranking and the
judge's verdict. Reviews whose new side is an edited paragraph are then resolved (keep new) and
the hop questions are asked now and as of 2022-01-01 (top-1 retrieval and a plain-RAG answer).
Per-item results go to benchmarks/out/ (not committed: they quote the dataset).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.offline import go_offline  # noqa: E402

go_offline()

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MUSIQUE = DATA / "musique_dev.json"
OUT = ROOT / "benchmarks" / "out" / "updates.json"

OLD_FROM = datetime(2020, 1, 1, tzinfo=timezone.utc)
NEW_FROM = datetime(2024, 1, 1, tzinfo=timezone.utc)
BEFORE = datetime(2022, 1, 1, tzinfo=timezone.utc)  # "as of before the edit"
SEED = 13
RESOLVER = "benchmark"


# --- the stream ---------------------------------------------------------------------------
@dataclass
class Case:
    """One paragraph of the stream: its original, and its newer version (edited or copied)."""

    i: int  # index: doc ids orig/<i> and edit/<i> or copy/<i>
    role: str  # "edit" or "copy"
    qid: str
    hop: int  # 1-based hop in the question decomposition
    question: str  # the hop question with #k replaced by earlier hops' gold answers
    answer: str  # the hop's gold answer (in the original paragraph)
    title: str
    text: str  # original paragraph
    new_text: str  # edited version, or an unedited copy
    replacement: str | None = None  # the answer in the edited version
    occurrences: int = 0  # how many times the answer was replaced

    @property
    def new_doc(self) -> str:
        return f"{self.role}/{self.i}"

    @property
    def orig_doc(self) -> str:
        return f"orig/{self.i}"


@dataclass
class StreamInfo:
    hops: int = 0
    answer_not_in_text: int = 0
    duplicate_paragraph: int = 0
    no_shape: int = 0  # answer neither a number nor capitalised: no "same kind" replacement defined
    no_whole_word: int = 0  # answer occurs only inside a longer word
    no_replacement: int = 0  # edit hop without a same-kind candidate (dropped)
    eligible: int = 0
    edit_total: int = 0
    copy_total: int = 0
    shapes: dict = field(default_factory=dict)


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def shape(answer: str) -> tuple | None:
    """("number", digits, decimal) for pure numbers/years, ("name", words) for capitalised answers without digits, else None."""
    a = answer.strip()
    if _NUMBER.fullmatch(a):
        return ("number", len(re.sub(r"\D", "", a)), "." in a)
    if a[:1].isupper() and not re.search(r"\d", a):  # a date such as "February 4, 1948" is neither
        return ("name", len(a.split()))
    return None


def same_kind(a: tuple, b: tuple | None) -> bool:
    if b is None or a[0] != b[0]:
        return False
    return a[0] == "number" or abs(a[1] - b[1]) <= 1


def whole_word(answer: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(answer.strip()) + r"(?!\w)", re.IGNORECASE)


def resolve_question(text: str, answers: list[str]) -> str:
    """Replace #k (an earlier hop's answer) by that hop's gold answer."""

    def fill(m: re.Match[str]) -> str:
        k = int(m.group(1))
        return answers[k - 1] if 1 <= k <= len(answers) else m.group()

    return " ".join(re.sub(r"#(\d+)", fill, text).split())


def build_stream(questions: list[dict], seed: int = SEED) -> tuple[list[Case], list[Case], StreamInfo]:
    info = StreamInfo()
    pool = sorted({h["answer"].strip() for q in questions for h in q["question_decomposition"] if h["answer"].strip()})
    seen: set[tuple[str, str]] = set()
    eligible: list[dict] = []
    for q in questions:
        answers = [h["answer"].strip() for h in q["question_decomposition"]]
        for n, h in enumerate(q["question_decomposition"], 1):
            info.hops += 1
            para = q["paragraphs"][h["paragraph_support_idx"]]
            answer, text = h["answer"].strip(), para["paragraph_text"]
            if not answer or answer.lower() not in text.lower():
                info.answer_not_in_text += 1
                continue
            key = (para["title"], text)
            if key in seen:
                info.duplicate_paragraph += 1
                continue
            seen.add(key)
            if shape(answer) is None:
                info.no_shape += 1
                continue
            if not whole_word(answer).search(text):
                info.no_whole_word += 1
                continue
            eligible.append(
                {
                    "qid": q["id"],
                    "hop": n,
                    "question": resolve_question(h["question"], answers[: n - 1]),
                    "answer": answer,
                    "title": para["title"],
                    "text": text,
                }
            )
    info.eligible = len(eligible)
    order = list(range(len(eligible)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    edits, copies = [], []
    for rank, idx in enumerate(order):
        e = eligible[idx]
        if rank < half:
            rng = random.Random(f"{seed}:{e['qid']}:{e['hop']}")
            replacement = pick_replacement(e["answer"], e["text"], pool, rng)
            if replacement is None:
                info.no_replacement += 1
                continue
            new_text, count = whole_word(e["answer"]).subn(lambda _m, r=replacement: r, e["text"])
            edits.append(Case(0, "edit", new_text=new_text, replacement=replacement, occurrences=count, **e))
        else:
            copies.append(Case(0, "copy", new_text=e["text"], **e))
    info.edit_total, info.copy_total = len(edits), len(copies)
    info.shapes = dict(Counter(f"{shape(c.answer)[0]}" for c in edits + copies))  # type: ignore[index]
    return edits, copies, info


def pick_replacement(answer: str, text: str, pool: list[str], rng: random.Random) -> str | None:
    """Another gold answer of the same shape that is not in the paragraph and not a variant of ``answer``."""
    kind = shape(answer)
    assert kind is not None
    low, lowtext = answer.lower(), text.lower()
    cands = [
        c
        for c in pool
        if same_kind(kind, shape(c)) and c.lower() != low and c.lower() not in lowtext and low not in c.lower() and c.lower() not in low
    ]
    if kind[0] == "number":  # years for years, integers for integers, where possible
        closer = [c for c in cands if shape(c) == kind]
        cands = closer or cands
    return rng.choice(cands) if cands else None


# --- instrumentation -----------------------------------------------------------------------
class JudgeLog:
    """Records every judge call during ingest: the statements, the LLM verdict, the Finding."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.calls: list[dict] = []
        self._verdicts: list[tuple] = []
        self._restore: list = []

    def install(self, rag) -> None:
        import agent.judge as api  # conflict_judge() calls agent.judge.judge for every pair

        real_judge = api.judge

        def recording_judge(llm, old, new, *args, **kwargs):
            verdict, completions, error = real_judge(llm, old, new, *args, **kwargs)
            self._verdicts.append((verdict, len(completions), error))
            return verdict, completions, error

        api.judge = recording_judge
        self._restore.append(lambda: setattr(api, "judge", real_judge))
        kb = rag.kb
        inner = kb.judge

        def recording(old, new, old_from, new_from):
            n, t0 = len(self._verdicts), time.perf_counter()
            finding = inner(old, new, old_from, new_from)
            verdict, completions, error = self._verdicts[n] if len(self._verdicts) > n else (None, 0, "judge not called")
            self.calls.append(
                {
                    "doc": self.current,
                    "old": old,
                    "new": new,
                    "seconds": round(time.perf_counter() - t0, 3),
                    "relation": verdict.relation if verdict else None,
                    "confidence": verdict.confidence if verdict else None,
                    "error": error,
                    "completions": completions,
                    "finding": finding.relation if finding else None,
                    "detector": finding.detector if finding else None,
                }
            )
            return finding

        kb.judge = recording

    def uninstall(self) -> None:
        for undo in self._restore:
            undo()

    def for_doc(self, doc: str) -> list[dict]:
        return [c for c in self.calls if c["doc"] == doc]


def cosine(a, b) -> float:
    return sum(x * y for x, y in zip(a, b)) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)) or 1.0)


def doc_items(kb, doc_id: str):
    rows = kb.ledger._db.execute("SELECT item_id FROM items WHERE doc_id=? ORDER BY position", (doc_id,)).fetchall()
    return kb.ledger.items([r["item_id"] for r in rows]) if rows else []


def diagnose(rag, case: Case, calls: list[dict], known: set[tuple[str, str]]) -> dict:
    """Re-run the detection's signals for an edited paragraph right after it arrived (same store state)."""
    from kb.conflicts import candidate_pairs, rule_relation, signals, statements
    from kb.items import Status
    from kb.records import embed_text

    kb, tp = rag.kb, rag.kb.time_policy
    new_items = sorted(doc_items(kb, case.new_doc), key=lambda i: i.position)
    old_items = sorted(doc_items(kb, case.orig_doc), key=lambda i: i.position)
    vecs = rag.embedder.embed([embed_text(i) for i in new_items + old_items])
    new_vecs, old_vecs = vecs[: len(new_items)], vecs[len(new_items) :]
    old_ids = {i.item_id for i in old_items}
    out: dict = {"chunks_new": len(new_items), "chunks_orig": len(old_items), "items": []}
    pairs = []  # exactly as KnowledgeBase._detect_conflicts builds them
    for item, vec in zip(new_items, new_vecs):
        where = {"$and": [{"doc_id": {"$ne": item.doc_id}}, {"status": {"$ne": Status.SUPERSEDED.value}}]}
        hits = kb.store.query(vec, tp.conflict_candidates, where)
        wide = kb.store.query(vec, 50, where)
        rank = {h.id: n for n, h in enumerate(wide, 1)}
        entry = {
            "item": item.item_id,
            "hits": [{"doc": h.metadata.get("doc_id"), "score": round(h.score, 4)} for h in hits],
            "orig": [
                {"item": o.item_id, "similarity": round(cosine(vec, ov), 4), "rank": rank.get(o.item_id)}
                for o, ov in zip(old_items, old_vecs)
            ],
        }
        out["items"].append(entry)
        for hit in hits:
            if hit.score < tp.conflict_similarity:
                continue
            for old_s, new_s, sig in candidate_pairs(hit.text, item.text, limit=2):
                pairs.append((sig.score, hit.id, item.item_id, old_s, new_s, str(hit.metadata.get("doc_id"))))
    pairs.sort(key=lambda p: -p[0])
    budget, judged = [], set()
    for score, old_id, new_id, _old_s, _new_s, doc in pairs:
        if len(judged) >= tp.judge_max_pairs:
            break
        if (old_id, new_id) in judged or (old_id, new_id) in known:
            continue
        judged.add((old_id, new_id))
        budget.append({"doc": doc, "score": score, "orig": old_id in old_ids})
    out["pairs"] = [{"doc": p[5], "score": p[0], "orig": p[1] in old_ids} for p in pairs]
    out["budget"] = budget

    # the changed statement pair(s): an original sentence with the answer, and its edited version
    pat = whole_word(case.answer)
    old_sents = [x for o in old_items for x in statements(o.text)]
    new_sents = [x for n in new_items for x in statements(n.text)]
    changed = [(o, n) for o in old_sents if pat.search(o) for n in new_sents if n == pat.sub(lambda _m: case.replacement, o)]
    if not changed:  # sentence splitting moved with the edit: fall back to the most overlapping pair
        cands = [(o, n) for o in old_sents if pat.search(o) for n in new_sents if case.replacement.lower() in n.lower()]
        changed = sorted(cands, key=lambda p: -signals(*p).overlap)[:1]
    out["changed_pairs"] = []
    for o, n in changed:
        sig = signals(o, n)
        in_top2 = any(
            (o, n) == (po, pn) for oi in old_items for ni in new_items for po, pn, _ in candidate_pairs(oi.text, ni.text, limit=2)
        )
        out["changed_pairs"].append(
            {
                "old": o,
                "new": n,
                "score": sig.score,
                "overlap": round(sig.overlap, 3),
                "value_change": sig.value_change,
                "rule": rule_relation(sig),
                "removed": list(sig.removed),
                "added": list(sig.added),
                "in_chunk_top2": in_top2,
                "rank": next((k for k, p in enumerate(pairs, 1) if (p[3], p[4]) == (o, n)), None),
            }
        )
    out["judged"] = [{k: c[k] for k in ("old", "new", "relation", "confidence", "error", "finding", "detector")} for c in calls]
    out["judged_orig"] = [c for c in out["judged"] if any(c["old"] in o.text for o in old_items)]
    return out


RULE_NOTE = "rule silent"


def explain_miss(case: Case, d: dict, links_elsewhere: list[str], s, rules_alone: bool = False) -> tuple[str, str]:
    """(category, detail) for an edited paragraph that got no review linking it to its original."""
    best = max((o for e in d["items"] for o in e["orig"]), key=lambda o: o["similarity"], default=None)
    if best is None:
        return "original has no chunks", ""
    hit_orig = any(h["doc"] == case.orig_doc for e in d["items"] for h in e["hits"])
    if best["similarity"] < s.conflict_similarity:
        return "similarity below conflict_similarity", f"best cosine {best['similarity']:.3f} < {s.conflict_similarity}"
    if not hit_orig:
        compared = max(len(e["hits"]) for e in d["items"])
        return "original not among the most similar chunks", (
            f"rank {best['rank']} (only the top {compared} compared), cosine {best['similarity']:.3f}; "
            f"compared: {', '.join(h['doc'] for e in d['items'] for h in e['hits'])}"
        )
    orig_pairs = [p for p in d["pairs"] if p["orig"]]
    if not orig_pairs:
        return "no statement pair passed candidate_pairs", "every sentence pair identical or overlap < 0.2"
    ch = d["changed_pairs"]
    judged_changed = [c for c in d["judged_orig"] if any((c["old"], c["new"]) == (p["old"], p["new"]) for p in ch)]
    if not ch:
        return "changed sentence not found", "the edit did not produce a comparable sentence pair"
    if judged_changed:
        c = judged_changed[0]
        sig = ch[0]
        why_rule = "value_change false: " + (
            f"removed {sig['removed']} added {sig['added']}" if sig["removed"] or sig["added"] else "no items changed"
        )
        if c["relation"] is None:
            return "judge output unusable, rule silent", f"{c['error']}; {why_rule}"
        if c["relation"] in ("contradicts", "supersedes", "updates"):
            return "judge confidence below judge_min_confidence, rule silent", f"{c['relation']} {c['confidence']:.2f}; {why_rule}"
        return f"judge said {c['relation']}, rule silent", f"confidence {c['confidence']:.2f}; {why_rule}"
    if rules_alone:  # no LLM judge (judge_llm): the rule judge decided every pair
        sig = ch[0]
        return "rule silent (rules alone)", "value_change false: " + (
            f"removed {sig['removed']} added {sig['added']}" if sig["removed"] or sig["added"] else "no items changed"
        )
    others = ", ".join(f"{b['doc']}({b['score']:.2f})" for b in d["budget"]) or "nothing"
    elsewhere = f"; flagged instead against {', '.join(links_elsewhere)}" if links_elsewhere else ""
    if not any(p["in_chunk_top2"] for p in ch):
        judged_o = "; ".join(f"{c['relation']}" for c in d["judged_orig"]) or "none judged"
        return "changed pair not in its chunk's top-2 candidate pairs", (
            f"changed pair score {ch[0]['score']:.2f}; other pairs of the original judged: {judged_o}; budget went to {others}{elsewhere}"
        )
    return "changed pair outranked for the judge budget", (
        f"changed pair rank {ch[0]['rank']} of {len(d['pairs'])}, score {ch[0]['score']:.2f}, "
        f"budget {s.judge_max_pairs} went to {others}{elsewhere}"
    )


# --- answering -------------------------------------------------------------------------------
def plain_answer(rag, question: str, as_of: datetime | None) -> tuple[str, list[str], float]:
    """Plain RAG (``DagRAG.ask_vanilla``) with an ``as_of``: top-k retrieval, one warm-up call."""
    t0 = time.perf_counter()
    a = rag.ask_vanilla(question, as_of=as_of)
    return a.answer, a.retrieved_ids, time.perf_counter() - t0


def dag_answer(rag, question: str, as_of: datetime | None) -> tuple[str, list[str], float]:
    t0 = time.perf_counter()
    a = rag.ask(question, as_of=as_of)
    return a.answer, a.retrieved_ids, time.perf_counter() - t0


def edits_in_place(rag, edits: list[Case], doc) -> dict:
    """A second knowledge base: the originals, then each edited text under the original's own doc id.

    No review is involved: the new version replaces the current one, the replaced chunks stay
    as history. Measures, for every edited paragraph's hop question, whether top-1 retrieval is
    the edited version now and the original as of 2022, and whether either context mixes versions.
    """
    from agent.api import DagRAG

    with DagRAG(
        rag.settings.with_overrides(kb_path=rag.settings.kb_path.parent / "kb-in-place", detect_conflicts=False), embedder=rag.embedder
    ) as other:
        kb = other.kb
        kb.ingest_documents([doc(c, "orig") for c in edits], valid_from=OLD_FROM)
        before = {c.orig_doc: kb.ledger.current_items(c.orig_doc) for c in edits}
        t0 = time.perf_counter()
        report = kb.ingest_documents([replace(doc(c, "new"), doc_id=c.orig_doc) for c in edits], valid_from=NEW_FROM)
        seconds = time.perf_counter() - t0
        rows = []
        for c in edits:
            now = kb.ledger.current_items(c.orig_doc)
            ctx_now = kb.search(c.question, rag.settings.top_k).evidence
            ctx_then = kb.search(c.question, rag.settings.top_k, as_of=BEFORE).evidence
            history = {i.item_id for i in kb.ledger.items() if i.doc_id == c.orig_doc and i.expired_at is not None}
            rows.append(
                {
                    "doc": c.orig_doc,
                    "expired": len(history),
                    "top1_now_ok": bool(ctx_now) and ctx_now[0].chunk_id in now,
                    "top1_before_ok": bool(ctx_then) and ctx_then[0].chunk_id in before[c.orig_doc],
                    "context_now_stale": any(e.chunk_id in history for e in ctx_now),
                    "context_before_leak": any(e.chunk_id in now - before[c.orig_doc] for e in ctx_then),
                }
            )
        consistent = kb.store.ids() == kb.ledger.item_ids() and kb.ledger.unsynced() == []
    n = len(rows) or 1
    return {
        "paragraphs": len(rows),
        "updated": len(report.updated),
        "chunks_embedded": report.chunks,
        "chunks_expired": report.expired,
        "seconds": seconds,
        "store_matches_ledger": consistent,
        **{k: sum(r[k] for r in rows) / n for k in ("top1_now_ok", "top1_before_ok", "context_now_stale", "context_before_leak")},
        "rows": rows,
    }


# --- the run ---------------------------------------------------------------------------------
def run(
    limit: int = 60,
    limit_questions: int = 40,
    out: Path = OUT,
    answer_mode: str = "plain",
    detect_originals: bool = False,
    seed: int = SEED,
    keep_kb: bool = False,
) -> dict | None:
    if not MUSIQUE.exists():
        print(f"skipped: {MUSIQUE} not found (the MuSiQue questions live in ../shared/data next to the repository)")
        return None
    from agent.api import DagRAG
    from agent.evaluation.metrics import string_accuracy
    from agent.settings import load_settings
    from kb.loaders import SourceDocument

    started = time.perf_counter()
    questions = json.loads(MUSIQUE.read_text(encoding="utf-8"))
    edits, copies, info = build_stream(questions, seed)
    edits, copies = edits[:limit], copies[:limit]
    for n, c in enumerate(edits + copies):
        c.i = n
    tmp = Path(tempfile.mkdtemp(prefix="dagrag-updates-"))
    settings = load_settings(kb_path=tmp / "kb", conflict_policy="escalate", clarify_budget=0)
    rag = DagRAG(settings)
    kb = rag.kb
    log = JudgeLog()
    log.install(rag)
    try:

        def doc(case: Case, which: str) -> SourceDocument:
            text = case.text if which == "orig" else case.new_text
            doc_id = case.orig_doc if which == "orig" else case.new_doc
            return SourceDocument(doc_id, f"musique:{case.qid}#{case.hop}", case.title, text)

        # 1. the originals, valid from 2020
        print(f"ingesting {len(edits) + len(copies)} originals …", file=sys.stderr, flush=True)
        rag.embedder.embed(["warm up"])
        log.current = "originals"
        orig_report = kb.ingest_documents([doc(c, "orig") for c in edits + copies], valid_from=OLD_FROM, detect_conflicts=detect_originals)
        base_reviews = {r.review_id for r in kb.ledger.reviews(None)}

        # 2. the update stream, valid from 2024: edits and copies interleaved, one arriving document at a time
        stream = [c for pair in itertools.zip_longest(edits, copies) for c in pair if c is not None]
        diagnostics: dict[int, dict] = {}
        arrivals = []
        t_stream = 0.0
        judged_pairs = 0
        _ = rag.llm  # load the model outside the timed stream
        for n, case in enumerate(stream, 1):
            known = {(r.old_item, r.new_item) for r in kb.ledger.reviews(None)}
            log.current = case.new_doc
            t0 = time.perf_counter()
            report = kb.ingest_documents([doc(case, "new")], valid_from=NEW_FROM)
            took = time.perf_counter() - t0
            t_stream += took
            judged_pairs += report.judged_pairs
            arrivals.append(
                {
                    "doc": case.new_doc,
                    "seconds": round(took, 3),
                    "judged_pairs": report.judged_pairs,
                    "reviews": report.reviews,
                    "chunks": report.chunks,
                }
            )
            if case.role == "edit":
                diagnostics[case.i] = diagnose(rag, case, log.for_doc(case.new_doc), known)
            print(f"\r{n}/{len(stream)} arrived ({t_stream:.0f}s, {judged_pairs} judged)", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)

        # 3. what was flagged
        item_doc = {i.item_id: i.doc_id for i in kb.ledger.items()}
        reviews = [r for r in kb.ledger.reviews(None) if r.kind == "conflict" and r.review_id not in base_reviews]

        def pair_type(r) -> str:
            old, new = item_doc.get(r.old_item or "", "?"), item_doc.get(r.new_item or "", "?")
            for role in ("edit", "copy"):
                for a, b in ((new, old), (old, new)):
                    if a.startswith(role + "/"):
                        if b == "orig/" + a.split("/")[1]:
                            return f"{role} vs own original"
                        return f"{role} vs other ({b.split('/')[0]})"
            return "other"

        review_rows = [
            {
                "review_id": r.review_id,
                "old_doc": item_doc.get(r.old_item or ""),
                "new_doc": item_doc.get(r.new_item or ""),
                "type": pair_type(r),
                "detector": r.detector,
                "relation": r.relation,
                "confidence": r.confidence,
                "old_statement": r.old_statement,
                "new_statement": r.new_statement,
                "reason": r.reason,
            }
            for r in reviews
        ]
        per_edit, per_copy = [], []
        for case in edits:
            linked = [x for x in review_rows if {x["old_doc"], x["new_doc"]} == {case.orig_doc, case.new_doc}]
            elsewhere = sorted(
                {
                    (x["old_doc"] if x["new_doc"] == case.new_doc else x["new_doc"])
                    for x in review_rows
                    if case.new_doc in (x["old_doc"], x["new_doc"]) and x not in linked
                }
            )
            row = {
                "doc": case.new_doc,
                "qid": case.qid,
                "hop": case.hop,
                "answer": case.answer,
                "replacement": case.replacement,
                "occurrences": case.occurrences,
                "detected": bool(linked),
                "reviews": [x["review_id"] for x in linked],
                "detectors": sorted({x["detector"] for x in linked}),
                "also_flagged_against": elsewhere,
            }
            if not linked:
                row["miss_category"], row["miss_detail"] = explain_miss(case, diagnostics[case.i], elsewhere, settings, not rag.llm_judges)
            row["diagnosis"] = diagnostics[case.i]
            per_edit.append(row)
        for case in copies:
            involved = [x for x in review_rows if case.new_doc in (x["old_doc"], x["new_doc"])]
            per_copy.append(
                {
                    "doc": case.new_doc,
                    "qid": case.qid,
                    "hop": case.hop,
                    "flagged": bool(involved),
                    "reviews": [
                        {
                            k: x[k]
                            for k in (
                                "review_id",
                                "type",
                                "detector",
                                "relation",
                                "confidence",
                                "old_doc",
                                "new_doc",
                                "old_statement",
                                "new_statement",
                            )
                        }
                        for x in involved
                    ],
                }
            )

        # 4. resolve what an edit brought in (keep new); leave the rest open
        resolved, left_open = [], []
        for x in review_rows:
            if (x["new_doc"] or "").startswith("edit/"):
                rag.resolve(x["review_id"], "new", by=RESOLVER, note="benchmark: the edited paragraph is the newer truth")
                resolved.append(x["review_id"])
            else:
                left_open.append(x["review_id"])

        # 5. the hop questions, now and as of 2022
        asker = dag_answer if answer_mode == "dag" else plain_answer
        qa = []
        for n, case in enumerate(edits[:limit_questions], 1):
            now_top = kb.search(case.question, 1).evidence
            past_top = kb.search(case.question, 1, as_of=BEFORE).evidence
            ans_now, ids_now, s_now = asker(rag, case.question, None)
            ans_past, ids_past, s_past = asker(rag, case.question, BEFORE)
            docs_now = [item_doc.get(i, "?") for i in ids_now]
            docs_past = [item_doc.get(i, "?") for i in ids_past]
            qa.append(
                {
                    "doc": case.new_doc,
                    "qid": case.qid,
                    "hop": case.hop,
                    "question": case.question,
                    "old_answer": case.answer,
                    "new_answer": case.replacement,
                    "detected": per_edit[edits.index(case)]["detected"],
                    "top1_now": now_top[0].doc_id if now_top else None,
                    "top1_before": past_top[0].doc_id if past_top else None,
                    "retrieval_now_ok": bool(now_top) and now_top[0].doc_id == case.new_doc,
                    "retrieval_before_ok": bool(past_top) and past_top[0].doc_id == case.orig_doc,
                    "context_now_has_new": case.new_doc in docs_now,
                    "context_now_has_old": case.orig_doc in docs_now,
                    "context_before_has_old": case.orig_doc in docs_past,
                    "context_before_has_new": case.new_doc in docs_past,
                    "answer_now": ans_now,
                    "answer_before": ans_past,
                    "seconds_now": round(s_now, 2),
                    "seconds_before": round(s_past, 2),
                    "acc_now_new": string_accuracy(ans_now, [case.replacement]),
                    "acc_now_old": string_accuracy(ans_now, [case.answer]),
                    "acc_before_old": string_accuracy(ans_past, [case.answer]),
                    "acc_before_new": string_accuracy(ans_past, [case.replacement]),
                }
            )
            print(f"\r{n}/{min(limit_questions, len(edits))} hop questions asked", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        open_after = len(kb.ledger.reviews("open"))

        # 6. the same edits made in place: each edited text re-ingested under its original's id (a file changed on disk)
        in_place = edits_in_place(rag, edits, doc)
    finally:
        log.uninstall()
        rag.close()
        if keep_kb:
            print(f"knowledge base kept at {tmp / 'kb'}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    n_edit, n_copy = len(per_edit), len(per_copy)
    detected = sum(r["detected"] for r in per_edit)
    flagged = sum(r["flagged"] for r in per_copy)
    n_stream = len(stream)
    judge_calls = log.calls[:]
    judge_seconds = [c["seconds"] for c in judge_calls if c["doc"] != "originals"]
    result = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {
            "limit": limit,
            "limit_questions": limit_questions,
            "answer_mode": answer_mode,
            "seed": seed,
            "detect_originals": detect_originals,
            "conflict_policy": settings.conflict_policy,
            "conflict_similarity": settings.conflict_similarity,
            "conflict_candidates": kb.time_policy.conflict_candidates,
            "judge_max_pairs": kb.time_policy.judge_max_pairs,  # 0 when the LLM does not judge (judge_llm)
            "judge_llm": f"{settings.judge_llm} ({'LLM judge backed by the rules' if rag.llm_judges else 'the rules alone'})",
            "judge_min_confidence": settings.judge_min_confidence,
            "top_k": settings.top_k,
            "chunk_chars": settings.chunk_chars,
            "model": getattr(rag.llm, "name", "?"),
        },
        "stream": asdict(info) | {"edits": n_edit, "copies": n_copy},
        "detection": {
            "recall": detected / n_edit if n_edit else 0.0,
            "detected": detected,
            "edits": n_edit,
            "recall_by_detector": dict(Counter(d for r in per_edit if r["detected"] for d in r["detectors"])),
            "false_flag_rate": flagged / n_copy if n_copy else 0.0,
            "flagged_copies": flagged,
            "copies": n_copy,
            "reviews": len(review_rows),
            "by_detector_relation": dict(Counter(f"{x['detector']}/{x['relation']}" for x in review_rows)),
            "by_type": dict(Counter(x["type"] for x in review_rows)),
            "by_type_detector": dict(Counter(f"{x['type']}|{x['detector']}" for x in review_rows)),
            "judged_pairs": judged_pairs,
            "judge_completions": sum(c["completions"] for c in judge_calls if c["doc"] != "originals"),
            "judge_verdicts": dict(Counter(c["relation"] or "unusable" for c in judge_calls if c["doc"] != "originals")),
            "judge_seconds_mean": statistics.fmean(judge_seconds) if judge_seconds else 0.0,
            "stream_seconds": t_stream,
            "seconds_per_paragraph": t_stream / n_stream if n_stream else 0.0,
            "seconds_per_edit": statistics.fmean(a["seconds"] for a in arrivals if a["doc"].startswith("edit/")) if n_edit else 0.0,
            "seconds_per_copy": statistics.fmean(a["seconds"] for a in arrivals if a["doc"].startswith("copy/")) if n_copy else 0.0,
            "originals_seconds": orig_report.seconds,
            "originals_per_paragraph": orig_report.seconds / max(1, len(edits) + len(copies)),
            "originals_judged_pairs": orig_report.judged_pairs,
        },
        "resolution": {
            "resolved_keep_new": len(resolved),
            "left_open": len(left_open),
            "open_after": open_after,
            "resolved_types": dict(Counter(x["type"] for x in review_rows if x["review_id"] in resolved)),
            "open_types": dict(Counter(x["type"] for x in review_rows if x["review_id"] in left_open)),
        },
        "qa": summarize_qa(qa),
        "in_place": in_place,
        "misses": dict(Counter(r["miss_category"] for r in per_edit if not r["detected"])),
        "wall_seconds": time.perf_counter() - started,
        "machine": _machine(),
        "edits": per_edit,
        "copies": per_copy,
        "questions": qa,
        "review_rows": review_rows,
        "arrivals": arrivals,
        "judge_calls": judge_calls,
    }
    print(markdown(result))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    print(f"\nper-item results: {out}")
    return result


def _machine() -> str:
    try:
        from run_benchmarks import machine  # benchmarks/ is on sys.path when this file runs as a script
    except ImportError:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from run_benchmarks import machine
    return machine()


def summarize_qa(qa: list[dict]) -> dict:
    def mean(key: str, rows: list[dict]) -> float | None:
        return statistics.fmean(float(r[key]) for r in rows) if rows else None

    keys = [
        "retrieval_now_ok",
        "retrieval_before_ok",
        "context_now_has_new",
        "context_now_has_old",
        "context_before_has_old",
        "context_before_has_new",
        "acc_now_new",
        "acc_now_old",
        "acc_before_old",
        "acc_before_new",
    ]
    groups = {"all": qa, "detected": [r for r in qa if r["detected"]], "missed": [r for r in qa if not r["detected"]]}
    secs = [r["seconds_now"] for r in qa] + [r["seconds_before"] for r in qa]
    return {
        "n": {g: len(rows) for g, rows in groups.items()},
        **{g: {k: mean(k, rows) for k in keys} for g, rows in groups.items()},
        "seconds_per_answer": statistics.fmean(secs) if secs else 0.0,
    }


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def markdown(r: dict) -> str:
    c, d, st, res, qa = r["config"], r["detection"], r["stream"], r["resolution"], r["qa"]
    lines = [
        "## ARIA update stream on MuSiQue paragraphs (`benchmarks/bench_updates.py`)",
        "",
        f"{st['edits']} edited + {st['copies']} unedited-copy paragraphs (of {st['eligible']} eligible hops: {st['hops']} hops, "
        f"{st['answer_not_in_text']} answer not in paragraph, {st['duplicate_paragraph']} duplicate paragraph, {st['no_shape']} "
        "answer neither "
        f"number nor capitalised, {st['no_whole_word']} only inside a longer word, {st['no_replacement']} edit without a same-kind "
        "replacement). "
        f"Originals valid from {OLD_FROM:%Y-%m-%d} (ingested {'with' if c['detect_originals'] else 'without'} conflict detection), "
        f"edits and copies valid from {NEW_FROM:%Y-%m-%d}, interleaved, one document per ingest call. "
        f"Policy {c['conflict_policy']}, conflict_similarity {c['conflict_similarity']}, {c['conflict_candidates']} similar chunks "
        "per new chunk, "
        f"judge_llm {c.get('judge_llm', '?')}, judge_max_pairs {c['judge_max_pairs']}, "
        f"judge_min_confidence {c['judge_min_confidence']}, judge model {c['model']}, seed "
        f"{c['seed']}.",
        "",
        "### Detection",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| recall: edited paragraphs with a review linking them to their original | {d['detected']}/{d['edits']} = {d['recall']:.0%} |",
        "| … of which found by (judge / rule) | " + ", ".join(f"{k} {v}" for k, v in sorted(d["recall_by_detector"].items())) + " |",
        f"| false-flag rate: unedited copies in any review | {d['flagged_copies']}/{d['copies']} = {d['false_flag_rate']:.0%} |",
        f"| reviews opened by the stream | {d['reviews']} |",
        f"| judge calls (`IngestReport.judged_pairs`) / LLM completions incl. repairs | {d['judged_pairs']} / {d['judge_completions']} |",
        "| judge verdicts | " + ", ".join(f"{k} {v}" for k, v in sorted(d["judge_verdicts"].items())) + " |",
        f"| mean seconds per judge call | {d['judge_seconds_mean']:.2f} |",
        f"| stream ingest: seconds per paragraph (embed + detect + judge) | {d['seconds_per_paragraph']:.2f} "
        f"({d['stream_seconds']:.0f} s total; "
        f"edits {d['seconds_per_edit']:.2f}, copies {d['seconds_per_copy']:.2f}) |",
        f"| originals ingest: seconds per paragraph (no detection) | {d['originals_per_paragraph']:.3f} |",
        "",
        "Reviews by detector / relation and by what they link:",
        "",
        "| detector/relation | reviews |",
        "|---|---:|",
        *(f"| {k} | {v} |" for k, v in sorted(d["by_detector_relation"].items())),
        "",
        "| link | judge | rule |",
        "|---|---:|---:|",
        *(
            f"| {t} | {d['by_type_detector'].get(t + '|judge', 0)} | {d['by_type_detector'].get(t + '|rule', 0)} |"
            for t in sorted(d["by_type"])
        ),
        "",
        f"Resolution: {res['resolved_keep_new']} reviews whose new side is an edited paragraph resolved keep=new by `{RESOLVER}` "
        f"({', '.join(f'{k} {v}' for k, v in sorted(res['resolved_types'].items())) or 'none'}); {res['left_open']} left open "
        f"({', '.join(f'{k} {v}' for k, v in sorted(res['open_types'].items())) or 'none'}).",
        "",
        f"### Hop questions on edited paragraphs ({qa['n']['all']} questions: {qa['n']['detected']} detected edits, "
        f"{qa['n']['missed']} missed; "
        f"answers: {c['answer_mode']} RAG, top_k {c['top_k']}, {qa['seconds_per_answer']:.1f} s per answer)",
        "",
        "| measure | all | detected | missed |",
        "|---|---:|---:|---:|",
    ]
    rows = [
        ("top-1 now is the edited version", "retrieval_now_ok"),
        (f"top-1 as of {BEFORE:%Y-%m-%d} is the original", "retrieval_before_ok"),
        ("context now contains the edited version", "context_now_has_new"),
        ("context now still contains the original (stale)", "context_now_has_old"),
        (f"context as of {BEFORE:%Y-%m-%d} contains the original", "context_before_has_old"),
        (f"context as of {BEFORE:%Y-%m-%d} contains the edited version (leak)", "context_before_has_new"),
        ("answer now = NEW answer (string acc)", "acc_now_new"),
        ("answer now = OLD answer (stale)", "acc_now_old"),
        (f"answer as of {BEFORE:%Y-%m-%d} = OLD answer (string acc)", "acc_before_old"),
        (f"answer as of {BEFORE:%Y-%m-%d} = NEW answer (leak)", "acc_before_new"),
    ]
    lines += [f"| {label} | {_pct(qa['all'][k])} | {_pct(qa['detected'][k])} | {_pct(qa['missed'][k])} |" for label, k in rows]
    lines += ["", "### Missed edits, by cause", ""]
    if r["misses"]:
        lines += ["| cause | edits |", "|---|---:|", *(f"| {k} | {v} |" for k, v in sorted(r["misses"].items(), key=lambda kv: -kv[1])), ""]
        lines += [
            f"- `{e['doc']}` ({e['qid']} hop {e['hop']}): **{e['miss_category']}** — {e['miss_detail']}"
            + (
                f" (also flagged against {', '.join(e['also_flagged_against'])})"
                if e["also_flagged_against"] and "flagged instead" not in e["miss_detail"]
                else ""
            )
            for e in r["edits"]
            if not e["detected"]
        ]
    else:
        lines.append("none")
    flagged = [x for x in r["copies"] if x["flagged"]]
    lines += ["", "### Flagged unedited copies", ""]
    if flagged:
        lines += [
            f"- `{x['doc']}`: " + "; ".join(f"{v['type']} ({v['detector']}/{v['relation']} {v['confidence']:.2f})" for v in x["reviews"])
            for x in flagged
        ]
    else:
        lines.append("none")
    ip = r["in_place"]
    lines += [
        "",
        "### The same edits made in place (a changed file re-ingested under its own id; no review involved)",
        "",
        f"A second knowledge base: the {ip['paragraphs']} originals valid from {OLD_FROM:%Y-%m-%d}, then each edited text under its "
        f"original's doc id, valid from {NEW_FROM:%Y-%m-%d}: {ip['updated']} documents updated in {ip['seconds']:.1f} s, "
        f"{ip['chunks_embedded']} changed chunks embedded, {ip['chunks_expired']} replaced chunks kept as history; "
        f"store and ledger {'agree' if ip['store_matches_ledger'] else 'DISAGREE'}.",
        "",
        "| measure (hop question of each edited paragraph) | value |",
        "|---|---:|",
        f"| top-1 now is the new version | {_pct(ip['top1_now_ok'])} |",
        f"| top-1 as of {BEFORE:%Y-%m-%d} is the version before the edit | {_pct(ip['top1_before_ok'])} |",
        f"| context now holds a replaced chunk (stale) | {_pct(ip['context_now_stale'])} |",
        f"| context as of {BEFORE:%Y-%m-%d} holds a chunk added by the edit (leak) | {_pct(ip['context_before_leak'])} |",
    ]
    lines += ["", f"Wall time {r['wall_seconds'] / 60:.1f} min on {r.get('machine', '?')}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=60, help="edited and unedited-copy paragraphs, each (default 60)")
    parser.add_argument("--limit-questions", type=int, default=40, help="hop questions asked on edited paragraphs (default 40)")
    parser.add_argument("--out", type=Path, default=OUT, help="per-item results as JSON")
    parser.add_argument(
        "--answer",
        choices=["plain", "dag"],
        default="plain",
        help="plain: one RAG call with as_of (default); dag: DagRAG.ask(q, as_of=...) (much slower)",
    )
    parser.add_argument("--detect-originals", action="store_true", help="also run conflict detection while ingesting the originals")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--keep-kb", action="store_true", help="keep the temporary knowledge base (its path is printed)")
    args = parser.parse_args(argv)
    run(args.limit, args.limit_questions, args.out, args.answer, args.detect_originals, args.seed, args.keep_kb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
