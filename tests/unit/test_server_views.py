"""Pure functions behind the console: every differing statement of a review, highlighting,
the DAG layout and a document's timeline."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from agent.server.views import dag_layout, differing_statements, document_timeline, highlight
from kb.items import KnowledgeItem, Status

OLD_POLICY = (
    "Travel policy. Hotel stays are reimbursed up to 150 euros per night. Expense claims must be filed within 30 days. "
    "Economy class is required for flights under six hours."
)
NEW_POLICY = (
    "Travel policy. Hotel stays are reimbursed up to 180 euros per night. Expense claims must be filed within 45 days. "
    "Economy class is required for flights under six hours. Taxis need a receipt."
)


def test_every_changed_statement_is_listed_not_only_the_flagged_pair():
    diffs = differing_statements(
        OLD_POLICY,
        NEW_POLICY,
        ("Hotel stays are reimbursed up to 150 euros per night.", "Hotel stays are reimbursed up to 180 euros per night."),
    )
    changed = [d for d in diffs if d.kind == "changed"]
    assert [(d.removed, d.added) for d in changed] == [(("150",), ("180",)), (("30",), ("45",))]
    assert [d.triggered for d in changed] == [True, False]  # the filing deadline is shown although it was not the flagged pair
    only_new = [d for d in diffs if d.kind == "only newer"]
    assert [("".join(s.text for s in d.new)) for d in only_new] == ["Taxis need a receipt."]
    assert not any("Economy" in "".join(s.text for s in d.old + d.new) for d in diffs)  # said by both: not a difference


def test_changed_values_are_marked_in_each_side():
    d = differing_statements(OLD_POLICY, NEW_POLICY)[0]
    assert [s.text for s in d.old if s.changed] == ["150"] and [s.text for s in d.new if s.changed] == ["180"]
    assert "".join(s.text for s in d.new) == "Hotel stays are reimbursed up to 180 euros per night."


def test_identical_texts_have_no_differences_and_unrelated_statements_are_not_paired():
    assert differing_statements(OLD_POLICY, OLD_POLICY) == []
    diffs = differing_statements("The office opens at nine every day.", "Parking costs five euros per hour downtown.")
    assert sorted(d.kind for d in diffs) == ["only newer", "only older"]


def test_highlight_marks_whole_words_only_and_keeps_the_text():
    parts = highlight("Refunds take 30 days, not 300 days.", ["30"])
    assert "".join(p.text for p in parts) == "Refunds take 30 days, not 300 days."
    assert [p.text for p in parts if p.changed] == ["30"]
    assert highlight("abc", []) == [highlight("abc", [])[0]] and not highlight("abc", [])[0].changed


def test_dag_layout_puts_each_node_below_its_deepest_dependency():
    nodes = [{"id": 1, "depends_on": []}, {"id": 2, "depends_on": []}, {"id": 3, "depends_on": [1, 2]}, {"id": 4, "depends_on": [3, 1]}]
    layout = dag_layout(nodes, width=100, height=40, gap_x=20, gap_y=30)
    y = {b["id"]: b["y"] for b in layout["boxes"]}
    assert y[1] == y[2] == 0 and y[3] == 70 and y[4] == 140
    assert {(e["from"], e["to"]) for e in layout["edges"]} == {(1, 3), (2, 3), (3, 4), (1, 4)}
    assert layout["width"] == 220 and layout["height"] == 180
    for e in layout["edges"]:  # edges run from the bottom of the parent to the top of the child
        parent = next(b for b in layout["boxes"] if b["id"] == e["from"])
        assert e["y1"] == parent["y"] + 40


def test_dag_layout_survives_cycles_unknown_and_self_dependencies():
    layout = dag_layout([{"id": 1, "depends_on": [2, 1, 9]}, {"id": 2, "depends_on": [1]}])
    assert len(layout["boxes"]) == 2 and len(layout["edges"]) == 1
    assert dag_layout([]) == {"width": 0, "height": 0, "boxes": [], "edges": []}


def _item(item_id: str, added: datetime, **kw) -> KnowledgeItem:
    return KnowledgeItem(
        item_id=item_id,
        doc_id="/d/policy.md",
        text="t",
        title="Policy",
        source="/d/policy.md",
        added_at=added,
        validated_at=added,
        valid_from=kw.pop("valid_from", added),
        **kw,
    )


def test_document_timeline_shows_versions_expiries_and_resolutions_in_order():
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    t1, t2 = t0 + timedelta(days=3), t0 + timedelta(days=5)
    items = [_item("a", t0, status=Status.SUPERSEDED, expired_at=t1, valid_to=t1), _item("b", t0), _item("c", t1)]
    audit = [
        SimpleNamespace(at=t1, action="expired", actor="ingest", review_id=None, item_id="a", detail={}),
        SimpleNamespace(
            at=t2, action="resolved", actor="ana", review_id=4, item_id="zz", detail={"old": "b", "keep": "new", "note": "2025"}
        ),
        SimpleNamespace(at=t2, action="status", actor="ana", review_id=4, item_id="other-doc", detail={}),
    ]
    events = document_timeline(items, audit)
    assert [e.what for e in events] == ["version", "version", "expired", "resolved"]
    assert "2 new passage(s)" in events[0].text and "1 new passage(s)" in events[1].text
    assert "1 passage(s) of an earlier version expired" in events[2].text
    assert events[3].review_id == 4 and "ana resolved review #4: keep new — 2025" == events[3].text
