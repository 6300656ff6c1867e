"""ARIA's timeline on the real stack: every step a new ``dagrag`` process on the same kb.

Two refund policies that disagree (14 days in 2024, 30 days from 2025) are ingested; the
conflict is flagged at ingest (by the LLM judge or, backing it up, the value-change rule),
reported by ``ask``, resolved once by a person, after which the 2024 policy is history:
excluded from answers now, still found ``--as-of`` 2024. Then an interactive run pauses on
the open conflict in one process and a person answers it from another.

With the 135M model the answer *text* may be wrong, so it is never asserted; what is
asserted holds whatever the model says: both policy files are the only chunks in the kb
and ``--top-k 2`` retrieves just them, every answer cites at least one retrieved chunk, and
the self-check adds both sides of an open conflict to the citations.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kb.ledger import Ledger

pytestmark = pytest.mark.integration

DAGRAG = Path(sys.executable).with_name("dagrag")
TIMEOUT_S = 300
QUESTION = "How many days does a refund take?"

NEUTRAL = "Customers send refund requests to the support desk by email. Store credit may be used in every branch."
POLICY_2024 = f"---\ntitle: Refund policy 2024\ndate: 2024-01-01\n---\nRefunds are processed within 14 days of the request. {NEUTRAL}\n"
POLICY_2025 = f"---\ntitle: Refund policy 2025\ndate: 2025-03-01\n---\nRefunds are processed within 30 days of the request. {NEUTRAL}\n"

STREAM_SCRIPT = """
import json, sys
from agent import DagRAG
rag = DagRAG.open(kb_path=sys.argv[1], top_k=2)
last = None
for event in rag.stream(sys.argv[2], interactive=True):
    last = event
rag.close()
print(json.dumps({"kind": last.kind, "review_id": last.review_id, "thread_id": last.thread_id, "options": last.options}))
"""


def explain(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"


@dataclass
class Story:
    workdir: Path
    kb: Path
    docs: Path
    env: dict[str, str]
    done: set[str] = field(default_factory=set)

    def call(self, argv: list[str], label: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(argv, cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=TIMEOUT_S)
        if proc.stderr.strip():  # shown with -rP, or when the test fails
            print(f"--- stderr of `{label}` ---\n{proc.stderr[-4000:]}")
        net_log = Path(self.env["DAGRAG_TEST_NET_LOG"])
        attempts = net_log.read_text() if net_log.exists() else ""
        assert not attempts, f"`{label}` tried the network:\n{attempts}"
        return proc

    def dagrag(self, *args: str, kb: Path | None = None) -> subprocess.CompletedProcess:
        """The real console command in a new process, on this story's kb (or ``kb``)."""
        return self.call([str(DAGRAG), *args, "--kb", str(kb or self.kb)], "dagrag " + " ".join(args[:2]))

    def ask_json(self, *extra: str, kb: Path | None = None) -> dict:
        proc = self.dagrag("ask", QUESTION, "--json", "--top-k", "2", "--max-rounds", "0", *extra, kb=kb)
        assert proc.returncode == 0, explain(proc)
        return json.loads(proc.stdout)

    def write(self, name: str, text: str) -> Path:
        path = self.docs / name
        path.write_text(text, encoding="utf-8")
        return path

    def ledger(self, kb: Path | None = None) -> Ledger:
        return Ledger((kb or self.kb) / "ledger.sqlite3")

    def items_by_title(self, kb: Path | None = None) -> dict:
        ledger = self.ledger(kb)
        try:
            return {i.title: i for i in ledger.items()}
        finally:
            ledger.close()

    def require(self, *steps: str) -> None:
        missing = [s for s in steps if s not in self.done]
        if missing:
            pytest.skip(f"an earlier step of the story did not complete: {', '.join(missing)}")


@pytest.fixture(scope="module")
def story(tmp_path_factory, subprocess_env) -> Story:
    assert DAGRAG.is_file(), f"console command {DAGRAG} not installed: pip install -e ."
    root = tmp_path_factory.mktemp("timeline")
    (root / "work").mkdir()
    (root / "docs").mkdir()
    return Story(workdir=root / "work", kb=root / "kb", docs=root / "docs", env=dict(subprocess_env))


def sources(answer: dict) -> set[str]:
    return {c["source"] for c in answer["citations"]}


@pytest.mark.timeout(900)
def test_1_ingest_flags_the_conflict(story: Story):
    old = story.write("policy_2024.md", POLICY_2024)
    proc = story.dagrag("ingest", str(old))
    assert proc.returncode == 0 and "1 added" in proc.stdout, explain(proc)
    new = story.write("policy_2025.md", POLICY_2025)
    proc = story.dagrag("ingest", str(new))
    assert proc.returncode == 0 and "1 added" in proc.stdout, explain(proc)

    listed = story.dagrag("review")
    assert listed.returncode == 0, explain(listed)
    assert "conflict" in listed.stdout and "open" in listed.stdout, explain(listed)
    assert "Refund policy 2025" in listed.stdout, explain(listed)  # the question names both sides
    ledger = story.ledger()
    try:
        reviews = ledger.reviews("open")
    finally:
        ledger.close()
    assert [(r.review_id, r.kind) for r in reviews] == [(1, "conflict")], reviews
    review = reviews[0]
    items = story.items_by_title()
    assert review.old_item == items["Refund policy 2024"].item_id and review.new_item == items["Refund policy 2025"].item_id
    assert "14 days" in review.old_statement and "30 days" in review.new_statement, review
    assert review.detector in ("judge", "rule"), review
    print(f"conflict flagged by the {review.detector}: {review.relation}, confidence {review.confidence:.2f}: {review.reason}")

    shown = story.dagrag("review", "show", "1")
    assert shown.returncode == 0, explain(shown)
    out = shown.stdout
    for expected in (
        "Review #1",
        "conflict",
        "open",
        "older:",
        "newer:",
        "Refund policy 2024",
        "Refund policy 2025",
        str(old.resolve()),
        str(new.resolve()),
        "valid from 2024-01-01",
        "valid from 2025-03-01",
        "14 days",
        "30 days",
        f"judge ({review.detector}): {review.relation}",
        "potentially_outdated",
    ):
        assert expected in out, f"{expected!r} missing from `dagrag review show 1`:\n{explain(shown)}"
    sides = out[out.index("older:") :]  # the question above names both sides too
    assert sides.index("14 days") < sides.index("newer:") < sides.index("30 days"), out
    story.done.add("ingest")


@pytest.mark.timeout(900)
def test_2_ask_reports_the_open_conflict(story: Story):
    story.require("ingest")
    answer = story.ask_json()
    print(f"answer with the conflict open: {answer['answer']!r} ({answer['plan_source']}, confidence {answer['confidence']})")
    old, new = (str((story.docs / n).resolve()) for n in ("policy_2024.md", "policy_2025.md"))
    assert answer["conflicts"] == [1], answer
    assert any("#1" in c and "14 days" in c and "30 days" in c for c in answer["caveats"]), answer["caveats"]
    assert {old, new} <= sources(answer), answer["citations"]  # both sides of the open conflict are cited
    assert answer["confidence"] in ("moderate", "low")  # a conflicting indicator costs confidence
    assert answer["as_of"] is None

    shown = story.dagrag("review", "show", "1")
    assert shown.returncode == 0, explain(shown)
    assert "questions that hit it (1)" in shown.stdout and QUESTION in shown.stdout, explain(shown)

    old_item = story.items_by_title()["Refund policy 2024"].item_id
    history = story.dagrag("kb", "history", old_item[:10])
    assert history.returncode == 0, explain(history)
    assert "status potentially_outdated" in history.stdout, explain(history)
    assert "flagged by dagrag (review #1)" in history.stdout, explain(history)
    assert "valid → potentially_outdated" in history.stdout, explain(history)
    story.done.add("ask")


@pytest.mark.timeout(600)
def test_3_resolve_keep_new_once(story: Story):
    story.require("ingest")
    proc = story.dagrag("review", "resolve", "1", "--keep", "new", "--note", "2025 policy", "--by", "ana")
    assert proc.returncode == 0, explain(proc)
    assert "review #1 resolved by ana: keep new" in proc.stdout, explain(proc)

    again = story.dagrag("review", "resolve", "1", "--keep", "old", "--by", "bob")
    assert again.returncode == 2, explain(again)
    lines = [line for line in again.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "already resolved by ana" in lines[0], explain(again)
    assert again.stdout == "", explain(again)

    ledger = story.ledger()
    try:
        review = ledger.review(1)
        actions = [e.action for e in ledger.audit_log()]
    finally:
        ledger.close()
    assert (review.state, review.resolution, review.resolved_by, review.note) == ("resolved", "new", "ana", "2025 policy")
    assert actions.count("resolved") == 1, actions  # the refused second resolution changed nothing
    story.done.add("resolve")


@pytest.mark.timeout(900)
def test_4_superseded_policy_is_history_but_as_of_finds_it(story: Story):
    story.require("ingest", "resolve")
    items = story.items_by_title()
    old_item, new_item = items["Refund policy 2024"], items["Refund policy 2025"]
    assert old_item.status.value == "superseded" and old_item.superseded_by == new_item.item_id
    old, new = (str((story.docs / n).resolve()) for n in ("policy_2024.md", "policy_2025.md"))

    now = story.ask_json()
    print(f"answer now: {now['answer']!r}")
    assert now["conflicts"] == [] and not any("#1" in c for c in now["caveats"]), now
    assert old_item.item_id not in now["retrieved_ids"], now["retrieved_ids"]  # superseded: excluded now
    assert new_item.item_id in now["retrieved_ids"], now["retrieved_ids"]
    assert old not in sources(now) and new in sources(now), now["citations"]

    then = story.ask_json("--as-of", "2024-06-01")
    print(f"answer as of 2024-06-01: {then['answer']!r}")
    assert then["as_of"].startswith("2024-06-01"), then["as_of"]
    assert then["retrieved_ids"] == [old_item.item_id], then["retrieved_ids"]  # only what was valid then
    assert sources(then) == {old}, then["citations"]
    assert then["conflicts"] == [], then

    history = story.dagrag("kb", "history", old_item.item_id[:10])
    assert history.returncode == 0, explain(history)
    assert f"status superseded (superseded by {new_item.item_id})" in history.stdout, explain(history)
    assert "valid 2024-01-01 → 2025-03-01" in history.stdout, explain(history)
    assert "status by ana (review #1): potentially_outdated → superseded" in history.stdout, explain(history)


@pytest.mark.timeout(900)
def test_5_interrupt_answered_from_another_process(story: Story, tmp_path):
    kb = tmp_path / "kb"
    paths = [story.write("policy_2024.md", POLICY_2024), story.write("policy_2025.md", POLICY_2025)]
    proc = story.dagrag("ingest", *map(str, paths), kb=kb)
    assert proc.returncode == 0 and "2 added" in proc.stdout, explain(proc)
    ledger = Ledger(kb / "ledger.sqlite3")
    try:
        assert [(r.review_id, r.kind) for r in ledger.reviews("open")] == [(1, "conflict")]
    finally:
        ledger.close()

    paused = story.call([sys.executable, "-c", STREAM_SCRIPT, str(kb), QUESTION], "python: rag.stream(interactive=True)")
    assert paused.returncode == 0, explain(paused)
    event = json.loads(paused.stdout.strip().splitlines()[-1])
    assert event["kind"] == "question" and event["review_id"] == 1, event
    assert event["thread_id"] and event["options"] == ["new", "old", "both"], event
    ledger = Ledger(kb / "ledger.sqlite3")
    try:
        review = ledger.review(1)
    finally:
        ledger.close()
    assert review.state == "open" and review.thread_id == event["thread_id"], review

    answered = story.dagrag("review", "answer", "1", "--keep", "new", "--by", "bob", kb=kb)
    assert answered.returncode == 0, explain(answered)
    assert QUESTION in answered.stdout and "LLM calls" in answered.stdout, explain(answered)  # the answer panel
    assert "asked a person (bob): keep new" in answered.stdout, explain(answered)
    assert "Refund policy 2024" not in answered.stdout, explain(answered)  # the superseded side is not cited

    listed = story.dagrag("review", "--all", kb=kb)
    assert listed.returncode == 0, explain(listed)
    assert "resolved" in listed.stdout and "open" not in listed.stdout, explain(listed)

    ledger = Ledger(kb / "ledger.sqlite3")
    try:
        review = ledger.review(1)
        actions = [e.action for e in ledger.audit_log()]
        statuses = {i.title: i.status.value for i in ledger.items()}
    finally:
        ledger.close()
    assert (review.state, review.resolution, review.resolved_by) == ("resolved", "new", "bob"), review
    assert {"flagged", "paused", "resolved"} <= set(actions), actions
    assert actions.index("flagged") < actions.index("paused") < actions.index("resolved"), actions
    assert statuses == {"Refund policy 2024": "superseded", "Refund policy 2025": "valid"}, statuses


def test_6_a_file_edited_in_place_keeps_its_earlier_version_for_as_of(story: Story):
    """No second document and no review: the same file changed on disk and ingested again."""
    kb = story.workdir / "kb-in-place"
    path = story.write("handbook.md", POLICY_2024.replace("Refund policy 2024", "Handbook"))
    first = story.dagrag("ingest", str(path), kb=kb)
    assert first.returncode == 0 and "1 added" in first.stdout, explain(first)
    path.write_text(POLICY_2025.replace("Refund policy 2025", "Handbook"), encoding="utf-8")
    second = story.dagrag("ingest", str(path), kb=kb)
    assert second.returncode == 0 and "1 updated" in second.stdout, explain(second)
    assert "1 passages of earlier versions kept as history" in second.stdout, explain(second)
    ledger = story.ledger(kb)
    try:
        [old] = [i for i in ledger.items() if i.expired_at is not None]
        [new] = [i for i in ledger.items() if i.expired_at is None]
    finally:
        ledger.close()
    assert "14 days" in old.text and "30 days" in new.text and old.superseded_by == new.item_id

    now = story.ask_json(kb=kb)
    assert now["retrieved_ids"] == [new.item_id] and sources(now) == {str(path.resolve())}, now
    then = story.ask_json("--as-of", "2024-06-01", kb=kb)
    assert then["retrieved_ids"] == [old.item_id], then["retrieved_ids"]
    assert [c["chunk_id"] for c in then["citations"]] == [old.item_id], then["citations"]

    history = story.dagrag("kb", "history", old.item_id[:12], kb=kb)
    assert history.returncode == 0 and "valid 2024-01-01 → 2025-03-01" in history.stdout, explain(history)
    assert "expired by ingest: valid → superseded" in history.stdout, explain(history)
