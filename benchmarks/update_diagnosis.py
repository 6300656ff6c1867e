"""Why an edited paragraph of ``bench_updates.py`` was or was not flagged: the judge's calls, recorded,
and the detection's signals re-run for a paragraph right after it arrived."""

from __future__ import annotations

import math
import time

from update_stream import Case, whole_word


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
