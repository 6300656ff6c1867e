"""The web console in a real browser (Debian's /usr/bin/chromium driven by Playwright for Python).

The story a reviewer lives: upload two refund policies that disagree, see the conflict counted in
the navigation, ask and watch the DAG stream in, open the review, resolve it in one click, see the
audit entry, ask again and get the answer without the caveat (and the old policy "as of" 2024).
The embedder and Chroma are real; the LLM is the passage-reading fake of tests/server_fakes.py
(the console is under test here, not the 135M model). Screenshots of every page go to a temporary
folder (or $SCREENSHOTS_DIR) for a person to look at.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs Playwright for Python: pip install -e '.[test]'")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (scripts/install.sh does, as root)", allow_module_level=True)
pytest.importorskip("fastapi", reason="dagrag serve needs fastapi: pip install -e .")

from agent.api import DagRAG  # noqa: E402
from agent.server.app import create_app  # noqa: E402
from agent.settings import Settings  # noqa: E402
from server_fakes import NEW, OLD, QUESTION, ReaderLLM, ThreadServer, dag_settings, write  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_dagrag_env")]
TIMEOUT_MS = 60_000


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def server(tmp_path):
    rag = DagRAG(Settings(kb_path=tmp_path / "kb", **dag_settings()), llm=ReaderLLM())
    rag.kb, rag.embedder  # noqa: B018 - load the real embedder and Chroma before the browser starts
    with ThreadServer(create_app(rag)) as srv:
        yield srv, rag
    rag.close()


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield b
        b.close()


def test_review_story_in_a_real_browser(server, browser, tmp_path, shots):
    srv, rag = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    expect = sync_api.expect

    # 1. upload the 2024 policy, then the 2025 one: the progress bar runs, the page reloads with the summary
    page.goto(srv.url + "/documents")
    for name, text in (("refunds-2024.md", OLD), ("refunds-2025.md", NEW)):
        page.set_input_files("#files", str(write(tmp_path / "upload" / name, text)))
        with page.expect_navigation(url=re.compile(r"/documents\?msg="), timeout=TIMEOUT_MS):
            page.click("#upload-form button[type=submit]")
        expect(page.locator("p.flash[role=status]")).to_contain_text("1 added")
    expect(page.locator("p.flash[role=status]")).to_contain_text("1 conflict(s) flagged for review")
    expect(page.locator("#open-count")).to_have_text("1")
    expect(page.locator("table.docs")).to_contain_text("Refund policy 2024")
    expect(page.locator("table.docs")).to_contain_text("potentially_outdated")
    page.screenshot(path=str(shots / "documents.png"), full_page=True)

    # 2. ask, from the keyboard; the progress and the DAG's nodes stream in, then the answer
    page.goto(srv.url + "/ask")
    page.fill("#question", QUESTION)
    page.keyboard.press("Tab")  # the "as of" date
    page.keyboard.press("Tab")  # the Ask button
    page.keyboard.press("Enter")
    expect(page.locator("#progress")).to_contain_text("node 1 of 2")
    expect(page.locator("#live-nodes li.done")).to_have_count(2)
    answer = page.locator("#answer")
    expect(answer.locator(".answer-text")).to_contain_text("30 days")
    expect(answer.locator(".caveat")).to_contain_text("#1")
    expect(answer.locator("svg.dag g.node")).to_have_count(2)
    expect(answer.locator("svg.dag line.edge")).to_have_count(1)
    page.screenshot(path=str(shots / "ask.png"), full_page=True)

    # 3. a numbered citation opens the cited passage
    with page.expect_navigation():
        answer.locator("a.cite").first.click()
    expect(page.locator("blockquote.passage")).to_contain_text("Refunds are processed within")
    page.go_back()

    # 4. the review: both sides next to each other, the changed values marked; one click resolves it
    page.goto(srv.url + "/reviews")
    page.click("a[href='/reviews/1']")
    expect(page.locator(".side-older")).to_contain_text("Refund policy 2024")
    expect(page.locator(".side-newer")).to_contain_text("Refund policy 2025")
    expect(page.locator(".side-older mark")).to_have_text(["14"])
    expect(page.locator(".side-newer mark")).to_have_text(["30"])
    page.fill("#by", "ana")
    page.fill("#note", "the 2025 policy replaces the 2024 one")
    page.press("#note", "Enter")  # Enter in a text field decides nothing
    page.wait_for_timeout(500)
    assert rag.reviews()[0].state == "open" and page.url.endswith("/reviews/1")
    page.screenshot(path=str(shots / "review.png"), full_page=True)
    page.click("button[name=keep][value=new]")
    expect(page.locator("#resolution")).to_contain_text("Resolved by ana")
    expect(page.locator("#audit")).to_contain_text("resolved by ana")
    expect(page.locator("#open-count")).to_have_text("0")
    page.screenshot(path=str(shots / "review-resolved.png"), full_page=True)
    assert rag.reviews() == [] and rag.reviews(None)[0].resolved_by == "ana"

    # 5. ask again: no caveat now; and as of mid-2024 the old policy answers
    page.goto(srv.url + "/ask")
    page.fill("#question", QUESTION)
    page.click("#ask-button")
    expect(page.locator("#answer .answer-text")).to_contain_text("30 days")
    expect(page.locator("#answer .caveat")).to_have_count(0)
    page.fill("#as_of", "2024-06-01")
    page.click("#ask-button")
    expect(page.locator("#answer .answer-text")).to_contain_text("14 days")
    expect(page.locator("#answer")).to_contain_text("as of 2024-06-01")

    # 6. the document's history, and the review page on a phone
    page.goto(srv.url + "/documents")
    page.click("text=Refund policy 2024")
    expect(page.locator("#timeline")).to_contain_text("resolved")
    page.screenshot(path=str(shots / "history.png"), full_page=True)
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.goto(srv.url + "/reviews/1")
    expect(phone.locator("#resolution")).to_be_visible()
    phone.screenshot(path=str(shots / "review-phone.png"), full_page=True)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the review page scrolls sideways on a phone ({width}px)"
    assert errors == [], errors
    assert {p.name for p in shots.iterdir()} >= {"documents.png", "ask.png", "review.png", "review-resolved.png", "history.png"}
