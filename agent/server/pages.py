"""The web console: server-rendered pages (Jinja2) that work without JavaScript; ``static/app.js``
adds live progress (server-sent events), upload and ingest progress bars, and remembers the
reviewer's name."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from agent.server import security
from agent.server.service import Console, ServiceError, user_error
from agent.server.views import dag_layout
from agent.types import Answer

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


def _console(request: Request) -> Console:
    return request.app.state.console


def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    console = _console(request)
    try:
        open_reviews = console.open_count()
    except Exception:  # the navigation never hides the page's own message
        open_reviews = None
    base = {
        "csrf_token": request.app.state.csrf_token,
        "open_reviews": open_reviews,
        "nav": name.split(".")[0],
        "reviewer": console.rag.settings.reviewer,
        "msg": request.query_params.get("msg", ""),
        "token_mode": bool(request.app.state.token),
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return page(request, "error.html", status=status, status_code=status, message=message)


def render_answer(answer: Answer) -> str:
    """The answer block (answer, caveats, citations, the DAG) as HTML, for pages and the streamed "done" event."""
    return templates.env.get_template("_answer.html").render(
        answer=answer, dag=dag_layout([n.model_dump() for n in answer.nodes]), nodes={n.id: n for n in answer.nodes}
    )


def _back(path: str, msg: str) -> RedirectResponse:
    return RedirectResponse(f"{path}{'&' if '?' in path else '?'}msg={quote(msg)}", status_code=303)


# ask --------------------------------------------------------------------------------
@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/ask", status_code=303)


@router.get("/ask", response_class=HTMLResponse)
def ask_page(request: Request, q: str = "", as_of: str = ""):
    return page(request, "ask.html", question=q, as_of=as_of, answer_html=None, error=None)


@router.post("/ask", response_class=HTMLResponse)
async def ask_form(request: Request, question: str = Form(""), as_of: str = Form("")):
    try:
        answer = await run_in_threadpool(_console(request).ask, question, as_of or None)
    except Exception as exc:
        err = user_error(exc)
        if err is None:
            raise
        return page(request, "ask.html", status=err.status, question=question, as_of=as_of, answer_html=None, error=str(err))
    return page(request, "ask.html", question=question, as_of=as_of, answer_html=render_answer(answer), error=None)


@router.get("/passages/{item_id}", response_class=HTMLResponse)
def passage(item_id: str, request: Request):
    item, history = _console(request).item_history(item_id)
    return page(request, "passage.html", item=item, history=history)


# reviews ------------------------------------------------------------------------------
@router.get("/reviews", response_class=HTMLResponse)
def reviews_page(request: Request, state: str = "open"):
    if state not in ("open", "resolved", "all"):
        raise ServiceError("state must be open, resolved or all")
    items = _console(request).reviews(None if state == "all" else state)
    return page(request, "reviews.html", reviews=items, state=state)


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
def review_page(review_id: int, request: Request):
    return page(request, "review.html", d=_console(request).review(review_id), answer_html=None, error=None)


@router.post("/reviews/{review_id}/resolve", response_class=HTMLResponse)
async def resolve_form(
    review_id: int, request: Request, keep: str = Form(""), by: str = Form(""), note: str = Form(""), edit: str = Form("")
):
    console = _console(request)
    edit_text = edit.strip() if keep == "edit" else ""
    if keep == "edit" and not edit_text:
        return _review_error(request, review_id, 400, "write the statement that replaces both sides, then press Replace both")
    try:
        _, answer = await run_in_threadpool(lambda: console.resolve(review_id, keep, by=by, note=note, edit=edit_text or None))
    except ServiceError as exc:
        return _review_error(request, review_id, exc.status, str(exc))
    if answer is None:
        return _back(f"/reviews/{review_id}", f"review #{review_id} resolved: keep {'edit' if edit_text else keep}")
    return page(request, "review.html", d=console.review(review_id), answer_html=render_answer(answer), error=None)


@router.post("/reviews/{review_id}/answer", response_class=HTMLResponse)
async def answer_form(review_id: int, request: Request, text: str = Form(""), keep: str = Form(""), by: str = Form("")):
    console = _console(request)
    try:
        _, answer = await run_in_threadpool(lambda: console.answer(review_id, text=text, keep=keep or None, by=by))
    except ServiceError as exc:
        return _review_error(request, review_id, exc.status, str(exc))
    if answer is None:
        return _back(f"/reviews/{review_id}", f"review #{review_id} answered; your statement is now knowledge")
    return page(request, "review.html", d=console.review(review_id), answer_html=render_answer(answer), error=None)


def _review_error(request: Request, review_id: int, status: int, message: str) -> HTMLResponse:
    return page(request, "review.html", status=status, d=_console(request).review(review_id), answer_html=None, error=message)


# documents ----------------------------------------------------------------------------
@router.get("/documents", response_class=HTMLResponse)
def documents_page(request: Request):
    console = _console(request)
    return page(
        request, "documents.html", documents=console.documents(), stats=console.stats(), max_mb=console.max_upload_bytes / 1024 / 1024
    )


@router.get("/documents/view", response_class=HTMLResponse)
def document_page(request: Request, doc: str):
    record, timeline, items = _console(request).document(doc)
    return page(request, "document.html", doc=record, timeline=timeline, items=items)


@router.post("/documents/upload")
async def upload_form(request: Request):
    console = _console(request)
    form = await request.form()
    files = [f for f in form.getlist("files") if getattr(f, "filename", "")]
    if not files:
        return _back("/documents", "choose one or more files first")
    saved = [str(await run_in_threadpool(console.save_upload, f.filename or "", await f.read())) for f in files]
    job = await run_in_threadpool(console.ingest, saved, cleanup_failed=True)
    return _back("/documents", _job_summary(job))


@router.post("/documents/ingest")
async def ingest_form(request: Request, path: str = Form("")):
    if not path.strip():
        return _back("/documents", "give a file or folder path on the server")
    job = await run_in_threadpool(_console(request).ingest, [path.strip()])
    return _back("/documents", _job_summary(job))


@router.post("/documents/remove")
async def remove_form(request: Request, doc: str = Form("")):
    removed = await run_in_threadpool(_console(request).remove, doc)
    return _back("/documents", f"removed {len(removed)} document(s)")


def _job_summary(job) -> str:
    text = f"{len(job.added)} added, {len(job.updated)} updated, {len(job.unchanged)} unchanged, {len(job.failed)} failed"
    if job.reviews:
        text += f"; {len(job.reviews)} conflict(s) flagged for review"
    if job.failed:
        text += " — " + "; ".join(reason for _, reason in job.failed[:3])
    return text


# the API's own documentation, rendered here (Swagger UI would load its scripts from a CDN) ----------
@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request):
    spec = request.app.openapi()
    components = spec.get("components", {}).get("schemas", {})

    def schema(s: dict) -> str:
        ref = s.get("$ref", "")
        return json.dumps(components.get(ref.rsplit("/", 1)[-1], s) if ref else s, indent=2)

    return page(request, "api_docs.html", spec=spec, schema=schema)


# sign-in (token mode) -------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request):
    return page(request, "login.html", error=None) if request.app.state.token else RedirectResponse("/ask", status_code=303)


@router.post("/login")
async def login(request: Request, token: str = Form("")) -> Response:
    expected = request.app.state.token
    if not expected:
        return RedirectResponse("/ask", status_code=303)
    if not security.has_token({"authorization": f"Bearer {token}"}, {}, expected):
        return templates.TemplateResponse(
            request,
            "login.html",
            {"error": "wrong token", "csrf_token": "", "open_reviews": None, "nav": "login", "msg": "", "token_mode": True},
            status_code=401,
        )
    response = RedirectResponse("/ask", status_code=303)
    response.set_cookie(security.TOKEN_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response
