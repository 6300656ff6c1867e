"""dagrag's MCP server through the official SDK's own client: over stdio (`dagrag mcp`, the real
stack: llama.cpp, sentence-transformers, Chroma) and over streamable HTTP at /mcp of `dagrag serve`
(the passage-reading fake LLM, so answers are predictable)."""

from __future__ import annotations

import asyncio

import pytest

mcp = pytest.importorskip("mcp", reason="the MCP tests need the mcp SDK: pip install -e .")
pytest.importorskip("fastapi", reason="dagrag serve needs fastapi: pip install -e .")
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from mcp.client.streamable_http import streamablehttp_client  # noqa: E402

from agent.demo import demo_docs  # noqa: E402
from agent.server.app import create_app  # noqa: E402
from helpers import DAGRAG  # noqa: E402
from server_fakes import QUESTION, ThreadServer, refund_rag  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_dagrag_env")]
TOOLS = {"ask", "retrieve", "ingest", "list_reviews", "resolve_review", "document_history"}


def data(result):
    """A tool result's structured content (a list comes wrapped as {"result": [...]})."""
    assert not result.isError, result.content
    s = result.structuredContent
    return s["result"] if isinstance(s, dict) and set(s) == {"result"} else s


async def check_tools(session: ClientSession) -> None:
    await session.initialize()
    tools = {t.name: t for t in (await session.list_tools()).tools}
    assert set(tools) == TOOLS
    for t in tools.values():  # a calling agent is told when to use each
        assert len(t.description or "") > 80, t.name
    assert "as_of" in tools["ask"].inputSchema["properties"]


def test_stdio_server_with_the_real_stack(tmp_path, subprocess_env):
    env = {**subprocess_env, "DAGRAG_KB_PATH": str(tmp_path / "kb")}  # offline and guarded like every dagrag subprocess
    params = StdioServerParameters(command=str(DAGRAG), args=["mcp"], env=env, cwd=str(tmp_path))

    async def run() -> None:
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await check_tools(session)
                report = data(await session.call_tool("ingest", {"paths": [str(demo_docs())]}))
                assert len(report["added"]) >= 3 and report["failed"] == []
                found = data(await session.call_tool("retrieve", {"query": "billing service owner", "k": 3}))
                assert len(found) == 3 and any("billing" in f["text"].lower() for f in found)
                answer = data(await session.call_tool("ask", {"question": "Who manages the team that owns the billing service?"}))
                assert isinstance(answer["answer"], str) and answer["answer"] and isinstance(answer["citations"], list)
                assert data(await session.call_tool("list_reviews", {})) is not None
                title = found[0]["title"]
                history = data(await session.call_tool("document_history", {"document": found[0]["source"]}))
                assert history["document"]["title"] == title and history["timeline"][0]["what"] == "version"
                bad = await session.call_tool("ask", {"question": "   "})
                assert bad.isError and "empty" in bad.content[0].text

    asyncio.run(asyncio.wait_for(run(), timeout=540))


def test_http_server_at_slash_mcp(tmp_path):
    rag = refund_rag(tmp_path)
    try:
        with ThreadServer(create_app(rag)) as srv:

            async def run() -> None:
                async with streamablehttp_client(srv.url + "/mcp") as (read, write, _):
                    async with ClientSession(read, write) as session:
                        await check_tools(session)
                        answer = data(await session.call_tool("ask", {"question": QUESTION}))
                        assert answer["answer"] == "30 days" and answer["conflicts"] == [1] and answer["caveats"]
                        reviews = data(await session.call_tool("list_reviews", {}))
                        assert [(r["review_id"], r["older"], r["newer"]) for r in reviews] == [
                            (
                                1,
                                "Refunds are processed within 14 days of the request.",
                                "Refunds are processed within 30 days of the request.",
                            )
                        ]
                        done = data(await session.call_tool("resolve_review", {"review_id": 1, "keep": "new", "by": "agent-of-ana"}))
                        assert done["resolved_by"] == "agent-of-ana" and done["resolution"] == "new"
                        again = await session.call_tool("resolve_review", {"review_id": 1, "keep": "old", "by": "bo"})
                        assert again.isError and "already resolved by agent-of-ana" in again.content[0].text
                        then = data(await session.call_tool("ask", {"question": QUESTION, "as_of": "2024-06-01"}))
                        assert then["answer"] == "14 days"

            asyncio.run(asyncio.wait_for(run(), timeout=120))
        assert rag.kb.ledger.review(1).resolved_by == "agent-of-ana"
    finally:
        rag.close()
