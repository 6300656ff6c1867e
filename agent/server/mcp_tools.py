"""dagrag as an MCP server (the official ``mcp`` Python SDK): the same operations as the console,
for other agents. Served at ``/mcp`` by ``dagrag serve`` (streamable HTTP) and over stdio by
``dagrag mcp``. Tools run in worker threads, so a long question never blocks the server."""

from __future__ import annotations

from typing import Any

import anyio

from agent.server.service import Console, ServiceError, user_error

INSTRUCTIONS = (
    "dagrag answers questions from the user's own documents (a local knowledge base), with citations, "
    "and keeps a review queue of conflicting facts. Prefer `ask` for questions about those documents; "
    "use `retrieve` when you want the raw passages to reason over yourself; `ingest` to add files; "
    "`list_reviews` / `resolve_review` only when the user asks you to review conflicts; "
    "`document_history` to see how a document and its facts changed over time."
)


def build_mcp(console: Console) -> Any:
    """A FastMCP server whose tools call ``console`` (stateless streamable HTTP, JSON responses)."""
    from mcp.server.fastmcp import FastMCP
    from mcp.server.transport_security import TransportSecuritySettings

    # Host and Origin are checked for every route by the dagrag server's own middleware (security.py)
    mcp = FastMCP(
        "dagrag",
        instructions=INSTRUCTIONS,
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )

    async def call(fn, *args, **kwargs):
        try:
            return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
        except Exception as exc:
            err = user_error(exc)
            if err is None:
                raise
            raise ValueError(str(err)) from None  # the SDK reports it to the caller as a tool error

    @mcp.tool()
    async def ask(question: str, as_of: str | None = None) -> dict[str, Any]:
        """Answer a question from the user's documents, with citations. Use this first for any question the
        user's own files, notes or policies could answer, and for multi-hop questions (it plans sub-questions).
        as_of (YYYY-MM-DD) answers from what was valid at that date (e.g. an old policy). The reply has the
        answer, numbered citations (title, source, snippet), caveats (facts under review) and a confidence;
        tell the user about caveats and low confidence."""
        answer = await call(console.ask, question, as_of)
        return {
            "answer": answer.answer,
            "confidence": answer.confidence,
            "caveats": answer.caveats,
            "citations": [c.model_dump() for c in answer.citations],
            "conflicts": answer.conflicts,
            "sub_questions": [{"question": n.resolved_question or n.question, "answer": n.answer} for n in answer.nodes],
            "as_of": answer.as_of.isoformat() if answer.as_of else None,
        }

    @mcp.tool()
    async def retrieve(query: str, k: int = 5, as_of: str | None = None) -> list[dict[str, Any]]:
        """Return the k passages of the user's documents most relevant to a query, without writing an answer:
        use this when you want to read the evidence yourself. Outdated or superseded facts rank lower or not
        at all; as_of (YYYY-MM-DD) retrieves what was valid at that date."""
        found = await call(console.retrieve, query, k, as_of)
        return [
            {
                "chunk_id": e.chunk_id,
                "title": e.title,
                "source": e.source,
                "text": e.text,
                "score": round(e.score, 4),
                "status": e.metadata.get("status"),
            }
            for e in found
        ]

    @mcp.tool()
    async def ingest(paths: list[str]) -> dict[str, Any]:
        """Add files or folders on the machine running dagrag to the knowledge base (.txt .md .pdf .html, JSON
        [{"title","text"}]). Unchanged files are skipped; a changed file becomes a new version. New facts that
        conflict with known ones are queued for review (see list_reviews)."""
        job = await call(console.ingest, paths)
        return {k: v for k, v in job.to_dict().items() if k not in ("job_id", "state", "done", "total")}

    @mcp.tool()
    async def list_reviews(state: str = "open") -> list[dict[str, Any]]:
        """List the review queue, oldest first: conflicts between facts (older vs newer statement, the judge's
        relation and reason) and questions the agent asked a person. state: open, resolved or all. Use before
        resolve_review, and only when the user wants to review conflicts."""
        reviews = await call(console.reviews, None if state == "all" else state)
        return [
            {
                "review_id": r.review_id,
                "kind": r.kind,
                "state": r.state,
                "created_at": r.created_at.isoformat(),
                "question": r.question,
                "older": r.old_statement,
                "newer": r.new_statement,
                "relation": r.relation,
                "reason": r.reason,
                "resolved_by": r.resolved_by,
                "resolution": r.resolution,
            }
            for r in reviews
        ]

    @mcp.tool()
    async def resolve_review(review_id: int, keep: str, by: str, note: str | None = None, edit: str | None = None) -> dict[str, Any]:
        """Resolve a conflict in the review queue, on the user's decision (never on your own guess): keep "new"
        (the older statement is superseded), "old" (the newer one is), or "both" (both hold); or give `edit`, a
        corrected statement that replaces both. `by` is the person deciding, recorded in the audit log. If
        someone already resolved it, you get an error saying who; nothing changes."""
        review, answer = await call(console.resolve, review_id, keep, by=by, note=note, edit=edit)
        return {
            "review_id": review.review_id,
            "state": review.state,
            "resolution": review.resolution,
            "resolved_by": review.resolved_by,
            "resumed_answer": answer.answer if answer else None,
        }

    @mcp.tool()
    async def document_history(document: str) -> dict[str, Any]:
        """How a document changed over time: its versions, passages that expired when it changed, conflicts
        flagged and how they were resolved. document: its id, its file path, or a unique part of its title."""

        def run() -> dict[str, Any]:
            record, timeline, _ = console.document(console.find_document(document))
            return {
                "document": record.model_dump(mode="json"),
                "timeline": [{"at": e.at.isoformat(), "what": e.what, "text": e.text, "review_id": e.review_id} for e in timeline],
            }

        return await call(run)

    return mcp


def run_stdio(console: Console) -> None:
    """Serve the MCP tools over stdin/stdout until the client closes them."""
    build_mcp(console).run("stdio")


__all__ = ["build_mcp", "run_stdio", "INSTRUCTIONS", "ServiceError"]
