"""Pure functions the console renders from: statement differences between two sides of a
review, the DAG laid out in ranks, a document's timeline. No I/O, no web framework."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from kb.conflicts import MIN_OVERLAP, signals, statements

__all__ = ["Segment", "StatementDiff", "differing_statements", "highlight", "dag_layout", "TimelineEvent", "document_timeline"]


@dataclass(frozen=True)
class Segment:
    """A piece of a statement; ``changed`` pieces are values the other side does not have."""

    text: str
    changed: bool = False


@dataclass(frozen=True)
class StatementDiff:
    """One statement that differs between the older and the newer side.

    Paired statements (the same sentence with something changed) have both sides; a
    statement only one side makes has the other side empty.
    """

    old: list[Segment]
    new: list[Segment]
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    triggered: bool = False  # the pair the detector flagged

    @property
    def kind(self) -> str:
        return "changed" if self.old and self.new else "only older" if self.old else "only newer"


def highlight(text: str, values: tuple[str, ...] | list[str]) -> list[Segment]:
    """``text`` split into segments, each occurrence of a value in ``values`` marked changed (longest first)."""
    wanted = sorted({v for v in values if v.strip()}, key=len, reverse=True)
    if not wanted:
        return [Segment(text)] if text else []
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(v)}(?!\w)" for v in wanted))
    out: list[Segment] = []
    cursor = 0
    for m in pattern.finditer(text):
        if m.start() > cursor:
            out.append(Segment(text[cursor : m.start()]))
        out.append(Segment(m.group(), True))
        cursor = m.end()
    if cursor < len(text):
        out.append(Segment(text[cursor:]))
    return out


def _plain(s: str) -> str:
    return " ".join(s.lower().split())


def differing_statements(old_text: str, new_text: str, trigger: tuple[str | None, str | None] = (None, None)) -> list[StatementDiff]:
    """Every statement that differs between two texts, not only the pair a detector flagged.

    Statements both texts make are left out. Each remaining statement of the newer text is
    paired with the most similar remaining statement of the older one (overlap at least
    ``MIN_OVERLAP``, each used once, best pairs first) and its changed values highlighted;
    statements left unpaired are listed as said by one side only. Newer-text order.
    """
    olds, news = statements(old_text), statements(new_text)
    said_old, said_new = {_plain(s) for s in olds}, {_plain(s) for s in news}
    olds = [s for s in dict.fromkeys(olds) if _plain(s) not in said_new]
    news = [s for s in dict.fromkeys(news) if _plain(s) not in said_old]
    scored = sorted(
        ((signals(o, n), i, j) for i, o in enumerate(olds) for j, n in enumerate(news)), key=lambda p: (-p[0].overlap, p[2], p[1])
    )
    used_old: set[int] = set()
    pair_of: dict[int, tuple[int, object]] = {}
    for sig, i, j in scored:
        if sig.overlap < MIN_OVERLAP or i in used_old or j in pair_of:
            continue
        used_old.add(i)
        pair_of[j] = (i, sig)
    t_old, t_new = (_plain(trigger[0]) if trigger[0] else None), (_plain(trigger[1]) if trigger[1] else None)
    out: list[StatementDiff] = []
    for j, n in enumerate(news):
        if j in pair_of:
            i, sig = pair_of[j]
            o = olds[i]
            out.append(
                StatementDiff(
                    highlight(o, sig.removed),
                    highlight(n, sig.added),
                    sig.removed,
                    sig.added,  # type: ignore[attr-defined]
                    triggered=(_plain(o), _plain(n)) == (t_old, t_new),
                )
            )
        else:
            out.append(StatementDiff([], [Segment(n, True)], (), (n,)))
    out += [StatementDiff([Segment(o, True)], [], (o,), ()) for i, o in enumerate(olds) if i not in used_old]
    return out


# the DAG ---------------------------------------------------------------------------
def dag_layout(nodes: list[dict], *, width: int = 220, height: int = 64, gap_x: int = 40, gap_y: int = 56) -> dict:
    """Boxes and edges for drawing a DAG top-down: a node's rank is one more than its deepest dependency.

    ``nodes`` are dicts with ``id`` and ``depends_on`` (NodeResult dumps); unknown or cyclic
    dependencies are ignored. Returns ``{"width", "height", "boxes": [{id, x, y, w, h}], "edges": [{x1, y1, x2, y2}]}``.
    """
    ids = [n["id"] for n in nodes]
    deps = {n["id"]: [d for d in n.get("depends_on", []) if d in ids and d != n["id"]] for n in nodes}
    rank: dict[int, int] = {}

    def depth(i: int, seen: frozenset) -> int:
        if i in rank:
            return rank[i]
        parents = [d for d in deps[i] if d not in seen]
        rank[i] = 0 if not parents else 1 + max(depth(d, seen | {i}) for d in parents)
        return rank[i]

    for i in ids:
        depth(i, frozenset())
    rows: dict[int, list[int]] = {}
    for i in ids:
        rows.setdefault(rank[i], []).append(i)
    widest = max((len(r) for r in rows.values()), default=0)
    total_w = max(1, widest) * (width + gap_x) - gap_x if ids else 0
    pos: dict[int, tuple[int, int]] = {}
    boxes = []
    for r, row in sorted(rows.items()):
        offset = (total_w - (len(row) * (width + gap_x) - gap_x)) // 2
        for k, i in enumerate(row):
            x, y = offset + k * (width + gap_x), r * (height + gap_y)
            pos[i] = (x, y)
            boxes.append({"id": i, "x": x, "y": y, "w": width, "h": height})
    edges = [
        {"from": d, "to": i, "x1": pos[d][0] + width // 2, "y1": pos[d][1] + height, "x2": pos[i][0] + width // 2, "y2": pos[i][1]}
        for i in ids
        for d in deps[i]
        if rank[d] < rank[i]
    ]
    return {
        "width": total_w,
        "height": (max(rows, default=-1) + 1) * (height + gap_y) - gap_y if ids else 0,
        "boxes": boxes,
        "edges": edges,
    }


# a document's history ---------------------------------------------------------------
@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    what: str  # "version", "expired", or an audit action ("flagged", "status", "resolved", ...)
    text: str
    review_id: int | None = None
    item_ids: list[str] = field(default_factory=list)


def document_timeline(items: list, audit: list) -> list[TimelineEvent]:
    """A document's versions, expiries and review decisions in time order.

    ``items``: the document's KnowledgeItems (all versions); ``audit``: AuditEntries. A
    version is the set of chunks first stored at one ingest time; expiries are grouped by
    the ingest that replaced them; audit entries about the document's items are kept,
    except the per-chunk "expired" entries the grouped expiry already says.
    """
    events: list[TimelineEvent] = []
    by_added: dict[datetime, list] = {}
    by_expired: dict[datetime, list] = {}
    for it in items:
        by_added.setdefault(it.added_at, []).append(it)
        if it.expired_at:
            by_expired.setdefault(it.expired_at, []).append(it)
    for n, (at, group) in enumerate(sorted(by_added.items()), 1):
        valid_from = min(i.valid_from for i in group)
        events.append(
            TimelineEvent(
                at,
                "version",
                f"version {n}: {len(group)} new passage(s), valid from {valid_from:%Y-%m-%d}",
                item_ids=[i.item_id for i in group],
            )
        )
    for at, group in sorted(by_expired.items()):
        ends = min((i.valid_to for i in group if i.valid_to), default=None)
        events.append(
            TimelineEvent(
                at,
                "expired",
                f"{len(group)} passage(s) of an earlier version expired"
                + (f" (valid until {ends:%Y-%m-%d})" if ends else "")
                + "; kept as history",
                item_ids=[i.item_id for i in group],
            )
        )
    ids = {i.item_id for i in items}
    for e in audit:
        if e.action == "expired":
            continue
        touched = {x for x in (e.item_id, e.detail.get("old"), e.detail.get("edited")) if x}
        if touched & ids:
            events.append(TimelineEvent(e.at, e.action, _audit_text(e), e.review_id, sorted(touched & ids)))
    order = {"version": 0, "expired": 1}
    return sorted(events, key=lambda ev: (ev.at, order.get(ev.what, 2)))


def _audit_text(e) -> str:
    d = e.detail
    if e.action == "status":
        return f"{e.actor}: {d.get('before')} → {d.get('after')}"
    if e.action in ("resolved", "auto-resolved"):
        return f"{e.actor} resolved review #{e.review_id}: keep {d.get('keep')}" + (f" — {d['note']}" if d.get("note") else "")
    if e.action == "flagged":
        return f"flagged by {e.actor}: {d.get('relation')} (confidence {float(d.get('confidence') or 0):.2f}) — {d.get('reason', '')}"
    return f"{e.action} by {e.actor}"
