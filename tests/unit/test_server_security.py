"""`dagrag serve` safety: loopback by default, a token off loopback, DNS-rebinding Host checks, CSRF
protection on every state-changing request, and the upload limit. Each check must refuse."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="dagrag serve needs fastapi: pip install -e .")
from fastapi.testclient import TestClient  # noqa: E402

from agent.server import security  # noqa: E402
from agent.server.app import create_app  # noqa: E402
from server_fakes import QUESTION, refund_rag  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_dagrag_env")
BASE = "http://127.0.0.1:8321"


@pytest.fixture
def rag(tmp_path):
    rag = refund_rag(tmp_path)
    yield rag
    rag.close()


def csrf(client) -> str:
    return client.get("/api/csrf").json()["csrf_token"]


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("example.com", False),
        ("localhost.evil.com", False),
    ],
)
def test_loopback_detection(host, loopback):
    assert security.is_loopback(host) is loopback


def test_listening_off_loopback_needs_a_token(rag):
    with pytest.raises(security.SecurityConfigError, match="--token"):
        create_app(rag, host="0.0.0.0", mcp=False)
    security.check_bind("0.0.0.0", "s3cret")  # with one it may
    security.check_bind("127.0.0.1", None)


def test_a_foreign_host_header_is_refused_on_loopback(rag):
    with TestClient(create_app(rag, mcp=False), base_url="http://attacker.example:8321") as c:
        r = c.get("/api/reviews")
        assert r.status_code == 421 and "loopback" in r.json()["error"]
    with TestClient(create_app(rag, mcp=False), base_url="http://localhost:8321") as c:
        assert c.get("/api/reviews").status_code == 200


def test_state_changing_requests_need_the_csrf_token(rag):
    with TestClient(create_app(rag, mcp=False), base_url=BASE) as c:
        for method, path, body in [
            ("post", "/api/reviews/1/resolve", {"keep": "new"}),
            ("post", "/api/ask", {"question": QUESTION}),
            ("post", "/api/ingest", {"paths": ["/etc"]}),
        ]:
            r = getattr(c, method)(path, json=body)
            assert r.status_code == 403 and "CSRF" in r.json()["error"], path
            r = getattr(c, method)(path, json=body, headers={"X-CSRF-Token": "guessed"})
            assert r.status_code == 403, path
        assert c.delete("/api/documents", params={"doc": "x"}).status_code == 403
        assert rag.reviews()[0].state == "open" and len(rag.kb.documents()) == 2  # nothing changed
        assert c.post("/api/reviews/1/resolve", json={"keep": "new", "by": "ana"}, headers={"X-CSRF-Token": csrf(c)}).status_code == 200


def test_a_cross_site_form_is_refused_even_with_a_stolen_field(rag):
    with TestClient(create_app(rag, mcp=False), base_url=BASE) as c:
        token = csrf(c)
        form = {"keep": "new", "by": "mallory", "csrf_token": token}
        r = c.post("/reviews/1/resolve", data=form, headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403 and "cross-site" in r.json()["error"]
        r = c.post("/reviews/1/resolve", data=form, headers={"Origin": "null"})
        assert r.status_code == 403
        r = c.post("/reviews/1/resolve", data={"keep": "new", "by": "mallory"})  # same site, no token
        assert r.status_code == 403
        assert rag.reviews()[0].state == "open"
        r = c.post("/reviews/1/resolve", data=form, headers={"Origin": BASE, "Sec-Fetch-Site": "same-origin"}, follow_redirects=False)
        assert r.status_code == 303 and rag.reviews() == []


def test_the_mcp_endpoint_refuses_cross_site_requests(rag):
    with TestClient(create_app(rag), base_url=BASE) as c:
        r = c.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Origin": "https://evil.example", "Accept": "application/json, text/event-stream"},
        )
        assert r.status_code == 403


def test_with_a_token_every_request_needs_it(rag):
    app = create_app(rag, host="0.0.0.0", token="s3cret", mcp=False)
    with TestClient(app, base_url="http://10.0.0.5:8321") as c:  # off loopback any Host is fine, the token decides
        assert c.get("/api/reviews").status_code == 401
        assert c.get("/api/reviews", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/reviews", headers={"Accept": "text/html"}, follow_redirects=False).headers["location"] == "/login"
        assert c.get("/docs").status_code == 401 and c.get("/openapi.json").status_code == 401
        ok = {"Authorization": "Bearer s3cret"}
        assert c.get("/api/reviews", headers=ok).status_code == 200
        token = c.get("/api/csrf", headers=ok).json()["csrf_token"]
        r = c.post("/api/reviews/1/resolve", json={"keep": "new", "by": "ana"}, headers={"X-CSRF-Token": token})
        assert r.status_code == 401 and rag.reviews()[0].state == "open"  # the CSRF token alone is not enough
        assert c.get("/login").status_code == 200 and c.get("/static/app.css").status_code == 200
        assert c.post("/login", data={"token": "nope"}).status_code == 401
        r = c.post("/login", data={"token": "s3cret"}, follow_redirects=False)
        assert (
            r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
        )
        assert c.get("/api/reviews").status_code == 200  # the cookie now


def test_request_bodies_over_the_limit_are_refused_from_their_length(tmp_path):
    rag = refund_rag(tmp_path, upload_max_mb=0.01)
    try:
        with TestClient(create_app(rag, mcp=False), base_url=BASE) as c:
            r = c.post("/api/documents/upload", files=[("files", ("big.md", b"x" * 500_000))], headers={"X-CSRF-Token": csrf(c)})
            assert r.status_code == 413 and "limit" in r.json()["error"]
            assert not (rag.settings.kb_path / "uploads").exists()
    finally:
        rag.close()


def test_check_request_is_pure_and_orders_its_checks():
    base = dict(path="/api/x", cookies={}, loopback_only=True, token=None, csrf_token="t")
    assert security.check_request(method="GET", headers={"host": "127.0.0.1:1"}, **base).allowed
    assert security.check_request(method="POST", headers={"host": "evil:1", "x-csrf-token": "t"}, **base).status == 421
    assert security.check_request(method="POST", headers={"host": "127.0.0.1:1"}, **base).status == 403
    assert security.check_request(method="POST", headers={"host": "127.0.0.1:1"}, form_csrf="t", **base).allowed
    cross = {"host": "127.0.0.1:1", "x-csrf-token": "t", "origin": "http://127.0.0.1:2"}
    assert security.check_request(method="POST", headers=cross, **base).status == 403  # another port is another origin
