"""The JSON API of `dagrag serve` on a DagRAG with a passage-reading fake LLM: ask (plain and
streamed), retrieve, documents, uploads, reviews with every differing statement, resolutions
(exactly one of two racing reviewers wins), history."""

from __future__ import annotations

import json
import threading

import pytest

fastapi = pytest.importorskip("fastapi", reason="dagrag serve needs fastapi: pip install -e .")
from fastapi.testclient import TestClient  # noqa: E402

from agent.server.app import create_app  # noqa: E402
from server_fakes import NEW, QUESTION, refund_rag  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_dagrag_env")
BASE = "http://127.0.0.1:8321"


@pytest.fixture
def rag(tmp_path):
    rag = refund_rag(tmp_path, upload_max_mb=0.01)
    yield rag
    rag.close()


@pytest.fixture
def client(rag):
    with TestClient(create_app(rag, mcp=False), base_url=BASE) as c:
        c.headers["X-CSRF-Token"] = c.get("/api/csrf").json()["csrf_token"]
        yield c


def sse(text: str) -> list[tuple[str, dict]]:
    out = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_ask_answers_with_citations_the_dag_and_its_layout(client):
    r = client.post("/api/ask", json={"question": QUESTION})
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["answer"] in ("14 days", "30 days") and a["citations"]  # both policies are valid until a person decides
    assert [n["id"] for n in a["nodes"]] == [1, 2] and a["nodes"][1]["depends_on"] == [1]
    assert {(e["from"], e["to"]) for e in a["dag"]["edges"]} == {(1, 2)}
    assert a["conflicts"] == [1] and any("#1" in c for c in a["caveats"])  # it relies on the open review


def test_ask_as_of_answers_from_what_was_valid_then(client):
    client.post("/api/reviews/1/resolve", json={"keep": "new", "by": "ana"})
    a = client.post("/api/ask", json={"question": QUESTION, "as_of": "2024-06-01"}).json()
    assert a["answer"] == "14 days" and a["as_of"].startswith("2024-06-01")
    assert {c["title"] for c in a["citations"]} == {"Refund policy 2024"}


def test_stream_sends_progress_events_then_the_answer_with_its_html(client):
    r = client.post("/api/ask/stream", json={"question": QUESTION})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse(r.text)
    kinds = [d.get("kind") for name, d in events if name == "step"]
    assert {"planning", "node_start", "node_done", "answering"} <= set(kinds)
    node_steps = [d for name, d in events if name == "step" and d["kind"] == "node_done"]
    assert [(d["node_index"], d["node_total"]) for d in node_steps] == [(1, 2), (2, 2)]
    name, done = events[-1]
    assert name == "done" and done["answer"].endswith("days") and done["nodes"][1]["question"].startswith("How many days")
    assert "<svg" in done["html"] and done["answer"] in done["html"] and "Refund policy" in done["html"]


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"question": "   "}, 400, "empty"),
        ({"question": QUESTION, "as_of": "last tuesday"}, 400, "YYYY-MM-DD"),
        ({}, 400, "question"),
    ],
)
def test_bad_questions_are_one_line_errors(client, body, status, words):
    for path in ("/api/ask", "/api/ask/stream"):
        r = client.post(path, json=body)
        assert r.status_code == status and words in r.json()["error"], r.text


def test_retrieve_ranks_the_outdated_side_lower_and_as_of_finds_it(client):
    now = client.post("/api/retrieve", json={"query": "refunds processed days", "k": 2}).json()
    assert [e["title"] for e in now] == ["Refund policy 2025", "Refund policy 2024"]
    assert now[1]["metadata"]["status"] == "potentially_outdated"
    client.post("/api/reviews/1/resolve", json={"keep": "new", "by": "ana"})
    assert [e["title"] for e in client.post("/api/retrieve", json={"query": "refunds processed days"}).json()] == ["Refund policy 2025"]
    then = client.post("/api/retrieve", json={"query": "refunds", "as_of": "2024-06-01"}).json()
    assert [e["title"] for e in then] == ["Refund policy 2024"]


def test_review_detail_has_both_sides_every_difference_and_hits(client):
    client.post("/api/ask", json={"question": QUESTION})
    queue = client.get("/api/reviews").json()
    assert [(r["review_id"], r["kind"], r["state"]) for r in queue] == [(1, "conflict", "open")]
    d = client.get("/api/reviews/1").json()
    assert [(s["side"], s["title"], s["status"]) for s in d["sides"]] == [
        ("older", "Refund policy 2024", "potentially_outdated"),
        ("newer", "Refund policy 2025", "valid"),
    ]
    assert [(x["removed"], x["added"], x["triggered"]) for x in d["differences"]] == [(["14"], ["30"], True)]
    assert d["hits"][0]["question"] == QUESTION and d["audit"][0]["action"] == "flagged"
    assert client.get("/api/reviews/99").status_code == 404


def test_resolve_records_who_and_changes_the_next_answer(client):
    r = client.post("/api/reviews/1/resolve", json={"keep": "old", "by": "ana", "note": "the 2025 draft was never adopted"})
    assert r.status_code == 200 and r.json()["review"]["resolved_by"] == "ana" and r.json()["review"]["resolution"] == "old"
    a = client.post("/api/ask", json={"question": QUESTION}).json()
    assert a["answer"] == "14 days" and a["conflicts"] == [] and not a["caveats"]
    audit = client.get("/api/reviews/1").json()["audit"]
    assert audit[-1]["action"] == "resolved" and audit[-1]["actor"] == "ana" and audit[-1]["detail"]["note"].startswith("the 2025")
    assert client.get("/api/reviews?state=open").json() == []


def test_the_second_resolution_is_refused_with_409_and_says_who(client):
    assert client.post("/api/reviews/1/resolve", json={"keep": "new", "by": "ana"}).status_code == 200
    r = client.post("/api/reviews/1/resolve", json={"keep": "old", "by": "bo"})
    assert r.status_code == 409 and "already resolved by ana" in r.json()["error"]
    assert client.get("/api/reviews/1").json()["resolution"] == "new"


def test_two_reviewers_racing_exactly_one_wins(client):
    barrier, results = threading.Barrier(2), {}

    def reviewer(name: str, keep: str) -> None:
        barrier.wait()
        results[name] = client.post("/api/reviews/1/resolve", json={"keep": keep, "by": name})

    threads = [threading.Thread(target=reviewer, args=a) for a in (("ana", "new"), ("bo", "old"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(r.status_code for r in results.values())
    assert codes == [200, 409], {k: r.text for k, r in results.items()}
    winner = next(k for k, r in results.items() if r.status_code == 200)
    loser = next(r for r in results.values() if r.status_code == 409)
    assert f"already resolved by {winner}" in loser.json()["error"]
    review = client.get("/api/reviews/1").json()
    assert review["resolved_by"] == winner and [e["action"] for e in review["audit"]].count("resolved") == 1


def test_edit_replaces_both_sides_with_a_statement_from_the_reviewer(client):
    assert client.post("/api/reviews/1/resolve", json={"keep": "edit", "by": "ana"}).status_code == 400
    r = client.post("/api/reviews/1/resolve", json={"keep": "edit", "by": "ana", "edit": "Refunds are processed within 21 days."})
    assert r.status_code == 200 and r.json()["review"]["result_item"]
    assert client.post("/api/ask", json={"question": QUESTION}).json()["answer"] == "21 days"


def test_documents_history_upload_and_remove(client, tmp_path):
    docs = client.get("/api/documents").json()
    assert sorted(d["title"] for d in docs) == ["Refund policy 2024", "Refund policy 2025"]
    assert all(d["versions"] == 1 for d in docs)
    r = client.post("/api/documents/upload?wait=true", files=[("files", ("refunds-2025.md", NEW.replace("30 days", "35 days").encode()))])
    assert r.status_code == 200 and len(r.json()["added"]) == 1  # an upload is its own document (in the kb's uploads folder)
    uploaded = next(d for d in client.get("/api/documents").json() if "/uploads/" in d["source"])
    r = client.post("/api/documents/upload?wait=true", files=[("files", ("refunds-2025.md", NEW.replace("30 days", "40 days").encode()))])
    assert r.json()["updated"] == [uploaded["doc_id"]]
    hist = client.get("/api/documents/history", params={"doc": uploaded["doc_id"]}).json()
    whats = [e["what"] for e in hist["timeline"]]
    assert whats.count("version") == 2 and whats.index("version") < whats.index("expired")
    assert client.delete("/api/documents", params={"doc": uploaded["doc_id"]}).json()["removed"] == [uploaded["doc_id"]]
    assert client.delete("/api/documents", params={"doc": uploaded["doc_id"]}).status_code == 404


def test_uploads_use_the_ingest_loaders_and_errors(client, rag):
    r = client.post("/api/documents/upload?wait=true", files=[("files", ("notes.exe", b"MZ\x90\x00binary"))])
    assert r.status_code == 200 and r.json()["failed"] and "unsupported file type" in r.json()["failed"][0][1]
    assert not (rag.settings.kb_path / "uploads" / "notes.exe").exists()  # a refused upload is not kept


def test_uploads_over_the_limit_are_refused_before_reading(client):
    r = client.post("/api/documents/upload?wait=true", files=[("files", ("big.md", b"x" * 200_000))])
    assert r.status_code == 413 and "limit" in r.json()["error"]


def test_ingest_job_reports_progress_until_done(client, tmp_path):
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "office.md").write_text("The office opens at nine.", encoding="utf-8")
    job = client.post("/api/ingest", json={"paths": [str(tmp_path / "more")], "wait": False}).json()
    for _ in range(200):
        state = client.get(f"/api/jobs/{job['job_id']}").json()
        if state["state"] != "running":
            break
        threading.Event().wait(0.05)
    assert state["state"] == "done" and len(state["added"]) == 1 and state["done"] == state["total"] == 1
    r = client.post("/api/ingest", json={"paths": [str(tmp_path / "missing")]})
    assert r.status_code == 400 and "not found" in r.json()["error"]


def test_openapi_lists_the_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/api/ask",
        "/api/ask/stream",
        "/api/retrieve",
        "/api/ingest",
        "/api/documents",
        "/api/reviews",
        "/api/reviews/{review_id}/resolve",
        "/api/documents/history",
    } <= set(paths)
    assert "400" in paths["/api/ask"]["post"]["responses"] and '"422"' not in json.dumps(paths)  # what bad input really gets
    assert client.get("/docs").status_code == 200


def test_a_paused_run_resumes_when_its_conflict_is_resolved_from_the_console(tmp_path):
    rag = refund_rag(tmp_path, clarify_budget=1)  # a `dagrag chat` session may ask a person once
    with TestClient(create_app(rag, mcp=False), base_url=BASE) as client:
        client.headers["X-CSRF-Token"] = client.get("/api/csrf").json()["csrf_token"]
        _resume_from_the_console(rag, client)
    rag.close()


def _resume_from_the_console(rag, client):
    events = list(rag.stream(QUESTION, interactive=True))
    pause = events[-1]
    assert pause.kind == "question" and pause.review_id == 1 and pause.thread_id
    queue = client.get("/api/reviews").json()
    assert queue[0]["thread_id"] == pause.thread_id
    r = client.post("/api/reviews/1/resolve", json={"keep": "new", "by": "ana", "note": "2025 applies"})
    assert r.status_code == 200, r.text
    resumed = r.json()["answer"]
    assert resumed["answer"] == "30 days" and any("asked a person (ana)" in f for f in resumed["fallbacks"])
    assert "Refund policy 2024" not in {c["title"] for c in resumed["citations"]}
    assert client.get("/api/reviews/1").json()["note"] == "2025 applies"


def test_a_question_queued_for_a_person_is_answered_once_and_becomes_knowledge(rag, client):
    review_id = rag.desk.queue_question("Who cleans the office?", [], None)
    r = client.post(f"/api/reviews/{review_id}/answer", json={"text": "Sparkle Ltd cleans the office every evening.", "by": "ana"})
    assert r.status_code == 200 and r.json()["review"]["state"] == "resolved" and r.json()["review"]["resolved_by"] == "ana"
    found = client.post("/api/retrieve", json={"query": "Who cleans the office?", "k": 1}).json()[0]
    assert found["text"] == "Sparkle Ltd cleans the office every evening." and found["source"] == "ana"
    again = client.post(f"/api/reviews/{review_id}/answer", json={"text": "Someone else.", "by": "bo"})
    assert again.status_code == 409 and "already resolved by ana" in again.json()["error"]
    assert client.post("/api/reviews/1/answer", json={"by": "bo"}).status_code == 400  # a conflict needs keep


def test_an_upload_cannot_name_a_path_outside_the_uploads_folder(client, rag):
    r = client.post("/api/documents/upload?wait=true", files=[("files", ("../../escape.md", b"Parking costs five euros per hour."))])
    assert r.status_code == 200 and len(r.json()["added"]) == 1
    assert (rag.settings.kb_path / "uploads" / "escape.md").is_file()
    assert not (rag.settings.kb_path.parent / "escape.md").exists() and not (rag.settings.kb_path / "escape.md").exists()


def test_a_review_whose_older_document_was_removed_still_shows_its_newer_side(client, rag):
    old_doc = next(d.doc_id for d in rag.kb.documents() if d.title == "Refund policy 2024")
    assert client.delete("/api/documents", params={"doc": old_doc}).status_code == 200
    d = client.get("/api/reviews/1").json()
    assert [(s["side"], s["title"]) for s in d["sides"]] == [("newer", "Refund policy 2025")] and d["differences"] == []
    assert client.get("/reviews/1", headers={"Accept": "text/html"}).status_code == 200
