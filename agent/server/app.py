"""The FastAPI app of ``dagrag serve``: the console pages, the JSON API, the MCP endpoint, and
the middleware that applies ``security`` (token, loopback Host, CSRF) and the upload limit."""

from __future__ import annotations

import contextlib
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from agent.api import DagRAG
from agent.server import security
from agent.server.service import USER_ERRORS, Console, ServiceError, user_error

HERE = Path(__file__).resolve().parent
BODY_SLACK = 64 * 1024  # multipart framing and form fields on top of the upload limit
_MULTIPART_CSRF = re.compile(rb'name="csrf_token"\r\n\r\n([^\r\n]{1,200})\r\n')


def create_app(rag: DagRAG, *, host: str = "127.0.0.1", token: str | None = None, mcp: bool = True) -> FastAPI:
    """The whole server around one DagRAG. ``host`` is where it listens (loopback: Host headers are checked)."""
    security.check_bind(host, token)
    console = Console(rag)
    mcp_server = None
    if mcp:
        from agent.server.mcp_tools import build_mcp

        mcp_server = build_mcp(console)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with contextlib.AsyncExitStack() as stack:
            if mcp_server is not None:
                await stack.enter_async_context(mcp_server.session_manager.run())
            yield

    app = FastAPI(
        docs_url=None,  # /docs is rendered by pages.py: Swagger UI would load its scripts from a CDN
        redoc_url=None,
        title="dagrag",
        version="0.1.0",
        lifespan=lifespan,
        description="Ask questions about your documents, review conflicting knowledge, manage documents. "
        "State-changing requests need the X-CSRF-Token header (GET /api/csrf) and, when the server has a token, "
        "'Authorization: Bearer TOKEN'.",
    )
    app.state.console = console
    app.state.csrf_token = secrets.token_urlsafe(32)
    app.state.token = token
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    from agent.server import api, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    app.state.render_answer = pages.render_answer
    app.openapi = _with_our_errors(app.openapi)
    if mcp_server is not None:
        app.router.routes.extend(_mcp_routes(mcp_server))

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError):
        return _error(request, exc.status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", []) if p != "body")
        return _error(
            request, 400, f"{where}: {first.get('msg', 'invalid request')}" if where else str(first.get("msg", "invalid request"))
        )

    async def library_error(request: Request, exc: Exception):
        err = user_error(exc)
        assert err is not None
        return _error(request, err.status, str(err))

    for kind in USER_ERRORS:  # a bug is not among them: it stays a 500 with its traceback in the log
        app.add_exception_handler(kind, library_error)

    return Guard(app, loopback_only=security.is_loopback(host), token=token, max_body=console.max_upload_bytes + BODY_SLACK)


def _with_our_errors(openapi):
    """The schema says what this server answers to bad input: 400 with a one-line error (not FastAPI's 422)."""

    def schema() -> dict:
        spec = openapi()  # built once and cached by FastAPI; editing it here is idempotent
        for ops in spec.get("paths", {}).values():
            for op in ops.values():
                responses = op.get("responses", {})
                if responses.pop("422", None) is not None:
                    responses["400"] = {"description": 'bad input: {"error": "one line that says what to fix"}'}
        return spec

    return schema


def _mcp_routes(mcp_server: Any) -> list:
    """The MCP server's streamable HTTP route(s), served at /mcp inside this app."""
    mcp_server.settings.streamable_http_path = "/mcp"
    return list(mcp_server.streamable_http_app().routes)


def _error(request: Request, status: int, message: str):
    if request.url.path.startswith("/api") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": message}, status_code=status)
    from agent.server.pages import error_page

    return error_page(request, status, message)


class Guard:
    """ASGI middleware: ``security.check_request`` on every HTTP request, and the body size limit.

    A form without the X-CSRF-Token header is read here (at most ``max_body`` bytes) to find
    its ``csrf_token`` field, then handed on unchanged.
    """

    def __init__(self, app: FastAPI, *, loopback_only: bool, token: str | None, max_body: int) -> None:
        self.app, self.loopback_only, self.token, self.max_body = app, loopback_only, token, max_body
        self.state = app.state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        cookies = _cookies(headers.get("cookie", ""))
        method, path = scope["method"], scope["path"]
        length = headers.get("content-length")
        if method not in security.SAFE_METHODS and length and length.isdigit() and int(length) > self.max_body:
            return await _send_json(
                scope,
                receive,
                send,
                413,
                f"request body of {int(length) / 1e6:.1f} MB is over the upload limit "
                f"of {(self.max_body - BODY_SLACK) / 1e6:.1f} MB (DAGRAG_UPLOAD_MAX_MB)",
            )
        form_csrf, body = None, None
        needs_form = (
            method not in security.SAFE_METHODS
            and security.CSRF_HEADER not in headers
            and headers.get("content-type", "").split(";")[0].strip() in ("application/x-www-form-urlencoded", "multipart/form-data")
        )
        if needs_form:
            body = await _read_body(receive, self.max_body)
            if body is None:
                return await _send_json(scope, receive, send, 413, "request body over the upload limit")
            form_csrf = _form_csrf(body, headers.get("content-type", ""))
        verdict = security.check_request(
            method=method,
            path=path,
            headers=headers,
            cookies=cookies,
            loopback_only=self.loopback_only,
            token=self.token,
            csrf_token=self.state.csrf_token,
            form_csrf=form_csrf,
        )
        if not verdict.allowed:
            if "text/html" in headers.get("accept", "") and verdict.status == 401 and method in security.SAFE_METHODS:
                return await _redirect(scope, receive, send, "/login")
            return await _send_json(scope, receive, send, verdict.status, verdict.reason)
        if body is not None:
            receive = _replay(body, receive)
        await self.app(scope, receive, send)


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _form_csrf(body: bytes, content_type: str) -> str | None:
    if content_type.startswith("multipart/"):
        m = _MULTIPART_CSRF.search(body)
        return m.group(1).decode("latin-1") if m else None
    values = parse_qs(body.decode("latin-1")).get(security.CSRF_FIELD)
    return values[0] if values else None


async def _read_body(receive, limit: int) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive):
    """The body read already, then the client's own messages (a disconnect ends a streamed answer)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_json(scope, receive, send, status: int, message: str) -> None:
    await JSONResponse({"error": message}, status_code=status)(scope, receive, send)


async def _redirect(scope, receive, send, location: str) -> None:
    await HTMLResponse(f'<a href="{location}">sign in</a>', status_code=303, headers={"location": location})(scope, receive, send)
