"""The real `dagrag serve` command with the real stack (llama.cpp, sentence-transformers, Chroma): the API a
script or the console uses, end to end, and the refusals that keep it safe."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

pytest.importorskip("fastapi", reason="dagrag serve needs fastapi: pip install -e .")

from helpers import finish_dagrag, start_dagrag  # noqa: E402
from server_fakes import NEW, OLD  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_dagrag_env")]
START_TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    port = free_port()
    started = start_dagrag(tmp_path, "serve", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if started[1].poll() is not None:
            pytest.fail(f"dagrag serve exited: {finish_dagrag(started, 10)}")
        try:
            if httpx.get(url + "/api/stats", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            started[1].kill()
            pytest.fail(f"dagrag serve did not answer within {START_TIMEOUT_S}s")
        time.sleep(0.5)
    csrf = httpx.get(url + "/api/csrf").json()["csrf_token"]
    with httpx.Client(base_url=url, headers={"X-CSRF-Token": csrf}, timeout=300) as client:
        yield client
    started[1].terminate()
    done = finish_dagrag(started, 30)
    assert "Traceback" not in done.err, done.err


def test_the_api_end_to_end_on_the_real_stack(served):
    c = served
    for name, text in (("refunds-2024.md", OLD), ("refunds-2025.md", NEW)):
        r = c.post("/api/documents/upload?wait=true", files=[("files", (name, text.encode()))])
        assert r.status_code == 200 and len(r.json()["added"]) == 1, r.text
    reviews = c.get("/api/reviews").json()
    assert len(reviews) == 1 and reviews[0]["kind"] == "conflict"  # the judge, or the value-change rule behind it
    rid = reviews[0]["review_id"]
    detail = c.get(f"/api/reviews/{rid}").json()
    assert {s["title"] for s in detail["sides"]} == {"Refund policy 2024", "Refund policy 2025"}
    assert any("14" in x["removed"] and "30" in x["added"] for x in detail["differences"])

    r = c.post("/api/ask/stream", json={"question": "How long do refunds take?"})
    assert r.status_code == 200
    names = [line[7:] for line in r.text.splitlines() if line.startswith("event: ")]
    assert names[0] == "step" and names[-1] == "done" and "error" not in names
    found = c.post("/api/retrieve", json={"query": "refund processing time", "k": 2}).json()
    assert {f["title"] for f in found} == {"Refund policy 2024", "Refund policy 2025"}

    assert c.post(f"/api/reviews/{rid}/resolve", json={"keep": "new", "by": "ana"}).status_code == 200
    again = c.post(f"/api/reviews/{rid}/resolve", json={"keep": "old", "by": "bo"})
    assert again.status_code == 409 and "already resolved by ana" in again.json()["error"]
    answer = c.post("/api/ask", json={"question": "How long do refunds take?"}).json()
    assert answer["conflicts"] == [] and "Refund policy 2024" not in {x["title"] for x in answer["citations"]}
    then = c.post("/api/retrieve", json={"query": "refund processing time", "as_of": "2024-06-01"}).json()
    assert [f["title"] for f in then] == ["Refund policy 2024"]

    forged = httpx.post(str(c.base_url) + f"/api/reviews/{rid}/resolve", json={"keep": "old", "by": "mallory"})
    assert forged.status_code == 403  # no CSRF token
    assert c.get("/", headers={"Host": "dagrag.attacker.example"}).status_code == 421


def test_listening_off_loopback_without_a_token_is_a_one_line_error(tmp_path):
    done = finish_dagrag(start_dagrag(tmp_path, "serve", "--host", "0.0.0.0", "--port", str(free_port())), 60)
    assert "needs a token" in done.one_error_line()


def test_a_port_in_use_is_a_one_line_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        done = finish_dagrag(start_dagrag(tmp_path, "serve", "--port", str(s.getsockname()[1])), 60)
    assert "--port" in done.one_error_line()
