"""The JSON API under /api (OpenAPI at /docs). The console's pages and scripts use it too."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from agent.server.service import Console, ServiceError, user_error
from agent.types import Answer
from kb.ledger import Review

router = APIRouter(prefix="/api", tags=["api"])


def console_of(request: Request) -> Console:
    return request.app.state.console


class AskRequest(BaseModel):
    question: str = Field(..., description="the question")
    as_of: str | None = Field(None, description="answer from what was valid at this date (YYYY-MM-DD); empty = now")


class RetrieveRequest(BaseModel):
    query: str
    k: int | None = Field(None, ge=1, le=50, description="passages to return [default: top_k]")
    as_of: str | None = None


class IngestRequest(BaseModel):
    paths: list[str] = Field(..., min_length=1, description="files or folders on the server")
    wait: bool = Field(True, description="answer when done (false: start a job and poll GET /api/jobs/{id})")


class ResolveRequest(BaseModel):
    keep: Literal["new", "old", "both", "edit"] = Field(
        ..., description="new: the old side is superseded; old: the new side is; both: both stay valid; edit: `edit` replaces both"
    )
    by: str | None = Field(None, description="who decides (recorded in the audit log)")
    note: str | None = None
    edit: str | None = Field(None, description="with keep=edit: the corrected statement")


class AnswerRequest(BaseModel):
    text: str | None = Field(None, description="your answer: it becomes knowledge from you")
    keep: Literal["new", "old", "both"] | None = Field(None, description="for a question about a conflict")
    by: str | None = None


@router.get("/csrf", summary="The CSRF token state-changing requests must send as X-CSRF-Token")
def csrf(request: Request) -> dict:
    return {"csrf_token": request.app.state.csrf_token, "header": "X-CSRF-Token"}


@router.get("/stats", summary="Documents, passages, statuses and open reviews")
def stats(request: Request) -> dict:
    return console_of(request).stats()


@router.post("/ask", summary="Answer a question with the DAG agent (never pauses; anything for a person is queued)")
async def ask(body: AskRequest, request: Request) -> dict:
    answer: Answer = await run_in_threadpool(console_of(request).ask, body.question, body.as_of)
    return answer_json(answer)


@router.post(
    "/ask/stream",
    summary="Answer a question, streaming progress as server-sent events",
    response_description="text/event-stream: `step` events (kind, message, node k of n), then `done` with the answer, or `error`",
)
async def ask_stream(body: AskRequest, request: Request) -> StreamingResponse:
    console = console_of(request)
    events = await run_in_threadpool(console.stream, body.question, body.as_of)  # bad input: an error before the stream starts
    render = getattr(request.app.state, "render_answer", None)
    return StreamingResponse(
        _sse(events, render), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


async def _sse(events, render) -> AsyncIterator[str]:
    """Run the (synchronous) agent in its own thread and relay its events as they come."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def run() -> None:
        try:
            for event in events:
                loop.call_soon_threadsafe(queue.put_nowait, ("event", event))
        except Exception as exc:  # becomes an "error" event; the server goes on
            loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
        loop.call_soon_threadsafe(queue.put_nowait, ("end", None))

    threading.Thread(target=run, daemon=True, name="ask-stream").start()
    while True:
        kind, item = await queue.get()
        if kind == "end":
            return
        if kind == "error":
            err = user_error(item)
            yield _event("error", {"error": str(err) if err else f"unexpected {type(item).__name__}: {item}"})
            continue
        if item.answer is not None:
            payload = answer_json(item.answer)
            if render is not None:
                payload["html"] = render(item.answer)
            yield _event("done", payload)
        else:
            yield _event("step", item.model_dump(mode="json", exclude={"answer"}))


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n"


def answer_json(answer: Answer) -> dict:
    from agent.server.views import dag_layout

    data = answer.model_dump(mode="json")
    data["dag"] = dag_layout(data["nodes"])
    return data


@router.post("/retrieve", summary="The passages retrieval finds for a query (status-weighted, time-decayed), without the LLM")
async def retrieve(body: RetrieveRequest, request: Request) -> list[dict]:
    found = await run_in_threadpool(console_of(request).retrieve, body.query, body.k, body.as_of)
    return [e.model_dump(mode="json") for e in found]


@router.post("/ingest", summary="Ingest files or folders that are on the server")
async def ingest(body: IngestRequest, request: Request) -> dict:
    console = console_of(request)
    if body.wait:
        return (await run_in_threadpool(console.ingest, body.paths)).to_dict()
    return console.start_ingest(body.paths).to_dict()


@router.post("/documents/upload", summary="Upload files (multipart field `files`) and ingest them (size-limited)")
async def upload(request: Request, wait: bool = Query(False, description="answer when the ingest is done")) -> dict:
    console = console_of(request)
    form = await request.form()
    files = [f for f in form.getlist("files") if hasattr(f, "filename")]
    if not files:
        raise ServiceError("no files in the upload (multipart field 'files')")
    saved = []
    for f in files:
        data = await f.read()
        saved.append(str(await run_in_threadpool(console.save_upload, f.filename or "", data)))
    if wait:
        return (await run_in_threadpool(console.ingest, saved, cleanup_failed=True)).to_dict()
    return console.start_ingest(saved, cleanup_failed=True).to_dict()


@router.get("/jobs/{job_id}", summary="Progress of an ingest job")
def job(job_id: str, request: Request) -> dict:
    return console_of(request).job(job_id).to_dict()


@router.get("/documents", summary="Documents with versions and passage statuses")
def documents(request: Request) -> list[dict]:
    return console_of(request).documents()


@router.get("/documents/history", summary="A document's timeline: versions, expiries, flags and resolutions")
def document_history(request: Request, doc: str = Query(..., description="document id, source path, or a unique part of either")) -> dict:
    console = console_of(request)
    record, timeline, items = console.document(console.find_document(doc))
    return {
        "document": record.model_dump(mode="json"),
        "timeline": [
            {"at": e.at.isoformat(), "what": e.what, "text": e.text, "review_id": e.review_id, "items": e.item_ids} for e in timeline
        ],
        "passages": [i.model_dump(mode="json") for i in items],
    }


@router.delete("/documents", summary="Forget a document with all its versions (the audit log keeps what happened)")
def remove_document(request: Request, doc: str = Query(..., description="document id or source path")) -> dict:
    return {"removed": console_of(request).remove(doc)}


@router.get("/reviews", summary="Review items, oldest first")
def reviews(request: Request, state: Literal["open", "resolved", "all"] = "open") -> list[dict]:
    return [review_json(r) for r in console_of(request).reviews(None if state == "all" else state)]


@router.get("/reviews/{review_id}", summary="One review: both sides, every differing statement, hits and its audit trail")
def review(review_id: int, request: Request) -> dict:
    d = console_of(request).review(review_id)
    return {
        **review_json(d.review),
        "sides": [
            {
                "side": label,
                **ev.model_dump(mode="json", exclude={"metadata", "score"}),
                "status": item.status.value if item else None,
                "valid_from": item.valid_from.isoformat() if item else None,
                "valid_to": item.valid_to.isoformat() if item and item.valid_to else None,
            }
            for label, ev, item in d.sides
        ],
        "differences": [
            {
                "kind": x.kind,
                "old": "".join(s.text for s in x.old),
                "new": "".join(s.text for s in x.new),
                "removed": list(x.removed),
                "added": list(x.added),
                "triggered": x.triggered,
            }
            for x in d.differences
        ],
        "hits": [{"question": q, "at": at.isoformat()} for q, at in d.hits],
        "audit": [
            {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "item_id": e.item_id, "detail": e.detail} for e in d.audit
        ],
    }


@router.post(
    "/reviews/{review_id}/resolve",
    summary="Resolve a conflict; 409 when someone else resolved it first",
    responses={409: {"description": "already resolved by someone else; nothing was changed"}},
)
async def resolve(review_id: int, body: ResolveRequest, request: Request) -> dict:
    console = console_of(request)
    if body.keep == "edit" and not (body.edit or "").strip():
        raise ServiceError("keep=edit needs `edit`: the statement that replaces both sides")
    review, answer = await run_in_threadpool(
        lambda: console.resolve(review_id, body.keep, by=body.by, note=body.note, edit=body.edit if body.keep == "edit" else None)
    )
    return {"review": review_json(review), "answer": answer_json(answer) if answer else None}


@router.post(
    "/reviews/{review_id}/answer",
    summary="Answer a question the agent queued; a paused run resumes",
    responses={409: {"description": "already answered by someone else"}},
)
async def answer(review_id: int, body: AnswerRequest, request: Request) -> dict:
    console = console_of(request)
    review, ans = await run_in_threadpool(lambda: console.answer(review_id, text=body.text, keep=body.keep, by=body.by))
    return {"review": review_json(review), "answer": answer_json(ans) if ans else None}


@router.get("/items/{item_id}/history", summary="A passage and its audit trail")
def item_history(item_id: str, request: Request) -> dict:
    item, history = console_of(request).item_history(item_id)
    return {
        "item": item.model_dump(mode="json"),
        "history": [
            {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "review_id": e.review_id, "detail": e.detail} for e in history
        ],
    }


def review_json(r: Review) -> dict:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(r).items()}
