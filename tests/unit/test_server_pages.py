"""The console's server-rendered pages work without JavaScript: ask, the review queue with one-click
actions, a review's sides and differences, documents, history, passages, errors."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("fastapi", reason="dagrag serve needs fastapi: pip install -e .")
from fastapi.testclient import TestClient  # noqa: E402

from agent.server.app import create_app  # noqa: E402
from server_fakes import QUESTION, refund_rag  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_dagrag_env")
HTML = {"Accept": "text/html"}


@pytest.fixture
def rag(tmp_path):
    rag = refund_rag(tmp_path)
    yield rag
    rag.close()


@pytest.fixture
def client(rag):
    with TestClient(create_app(rag, mcp=False), base_url="http://127.0.0.1:8321", headers=HTML) as c:
        yield c


def form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_every_page_links_the_others_and_counts_open_reviews(client):
    html = client.get("/ask").text
    assert 'href="/reviews"' in html and 'href="/documents"' in html
    assert re.search(r'id="open-count"[^>]*>1<', html)
    assert client.get("/", follow_redirects=False).headers["location"] == "/ask"
    for path in ("/static/app.css", "/static/app.js"):  # served here: no CDN
        assert client.get(path).status_code == 200
    assert "http" not in re.sub(r'href="/docs"', "", "".join(re.findall(r'(?:src|href)="([^"]+)"', html)))


def test_ask_without_javascript_shows_the_answer_citations_and_dag(client):
    page = client.get("/ask").text
    html = client.post("/ask", data={"question": QUESTION, "as_of": "", "csrf_token": form_token(page)}).text
    body = text(html)
    assert re.search(r"(14|30) days \[1\]", body) and "Refund policy 2025" in body and "review" in body
    assert "<svg" in html and "Which refund policy applies?" in body and "How many days does" in body
    cited = re.findall(r'class="cite" href="(/passages/[^"]+)"', html)
    assert cited and "Refunds are processed within" in text(client.get(cited[0]).text)


def test_a_bad_question_shows_one_error_on_the_page(client):
    page = client.get("/ask").text
    r = client.post("/ask", data={"question": " ", "csrf_token": form_token(page)})
    assert r.status_code == 400 and "the question is empty" in text(r.text)


def test_review_page_shows_both_sides_marked_differences_and_the_judge(client):
    html = client.get("/reviews/1").text
    body = text(html)
    assert "Older: Refund policy 2024" in body and "Newer: Refund policy 2025" in body
    assert "<mark>14</mark>" in html and "<mark>30</mark>" in html
    assert "potentially_outdated" in body and "updates" in body and "confidence 0.90" in body
    assert body.count("Keep new") == 1 and "Replace both" in body


def test_one_click_from_the_queue_resolves_and_the_audit_trail_shows_it(client, rag):
    queue = client.get("/reviews").text
    assert "Keep new" in text(queue)
    r = client.post("/reviews/1/resolve", data={"keep": "new", "by": "ana", "csrf_token": form_token(queue)})
    assert r.status_code == 200  # followed the redirect to the review
    body = text(r.text)
    assert "Resolved by ana" in body and "keep new" in body and "resolved by ana" in body.lower()
    assert rag.reviews() == [] and re.search(r'id="open-count"[^>]*>0<', r.text)
    again = client.post("/reviews/1/resolve", data={"keep": "old", "by": "bo", "csrf_token": form_token(queue)})
    assert again.status_code == 409 and "already resolved by ana" in text(again.text)


def test_documents_page_and_a_documents_timeline(client, rag):
    html = client.get("/documents").text
    assert "Refund policy 2024" in text(html) and 'type="file"' in html and "potentially_outdated" in html
    doc = rag.kb.documents()[0].doc_id
    page = client.get("/documents/view", params={"doc": doc}).text
    assert "version 1" in text(page) and 'id="timeline"' in page


def test_adding_a_path_and_removing_a_document_without_javascript(client, rag, tmp_path):
    (tmp_path / "more.md").write_text("The office opens at nine.", encoding="utf-8")
    page = client.get("/documents").text
    r = client.post("/documents/ingest", data={"path": str(tmp_path / "more.md"), "csrf_token": form_token(page)})
    assert "1 added" in text(r.text) and len(rag.kb.documents()) == 3
    r = client.post("/documents/remove", data={"doc": str((tmp_path / "more.md").resolve()), "csrf_token": form_token(page)})
    assert "removed 1 document" in text(r.text) and len(rag.kb.documents()) == 2


def test_unknown_things_are_a_readable_404_page(client):
    r = client.get("/reviews/42")
    assert r.status_code == 404 and "no review 42" in text(r.text) and "<html" in r.text
    assert client.get("/passages/nope").status_code == 404
    assert client.get("/documents/view", params={"doc": "nope"}).status_code == 404


def test_a_queued_question_is_answered_on_its_page(client, rag):
    review_id = rag.desk.queue_question("Who cleans the office?", [], None)
    page = client.get(f"/reviews/{review_id}").text
    assert "Your answer" in text(page) and "Keep new" not in text(page)
    r = client.post(
        f"/reviews/{review_id}/answer", data={"text": "Sparkle Ltd cleans the office.", "by": "ana", "csrf_token": form_token(page)}
    )
    assert r.status_code == 200 and "your statement is now knowledge" in text(r.text) and "Resolved by ana" in text(r.text)
    empty = client.post(f"/reviews/{review_id}/answer", data={"text": "", "by": "bo", "csrf_token": form_token(page)})
    assert empty.status_code == 409


def test_the_api_documentation_is_served_here_from_the_openapi_schema(client):
    html = client.get("/docs").text
    assert "/api/ask/stream" in html and "/api/reviews/{review_id}/resolve" in html and "409" in html
    assert "&#34;keep&#34;" in html and "#/components/schemas/ResolveRequest" not in html  # body schemas shown, resolved
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', html)  # nothing from another host (no CDN)
