"""dagrag on servers people already operate: a real ``chroma run`` and a real ``python -m llama_cpp.server``.

Both servers start here on loopback (free ports, temporary data folder), run with the network
guard, and stop in teardown (terminate, then kill after a timeout). The model is tiny, so no
test checks that an answer is right: only what must hold with any model (ids that exist on
the server and in the ledger, constrained replies that parse, one-line errors).
Budget: one demo ingest (no judge), one small DAG question, two direct calls, one CLI run.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agent import DagRAG
from agent.demo import demo_docs, demo_questions
from agent.llm import Completion, LLMError, OpenAIServerLLM
from agent.settings import llm_model_path, load_settings
from local_servers import CHROMA, LocalServer, ServerStartError, start_chroma, start_llama_server
from retrieval.store import ChromaStore, StoreError

pytestmark = pytest.mark.integration

QUESTIONS = [q["question"] for q in demo_questions()]
BIN = Path(sys.executable).parent
DAGRAG = BIN / "dagrag"
START_TIMEOUT_S = 120  # a server that is not ready by then fails the test
CLI_TIMEOUT_S = 180
DEAD_URL = "http://127.0.0.1:9"  # the discard port: nothing listens on loopback


def started(start, *args, **kwargs) -> LocalServer:
    """``start(...)``, with a server that does not come up failing the test (its log in the message)."""
    try:
        return start(*args, timeout_s=START_TIMEOUT_S, **kwargs)
    except ServerStartError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory, subprocess_env) -> Iterator[LocalServer]:
    if not CHROMA.is_file():
        pytest.skip(f"the `chroma` command is not installed next to {sys.executable}: it comes with chromadb (pip install -e .)")
    server = started(start_chroma, tmp_path_factory.mktemp("chroma-server"), env=subprocess_env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory, subprocess_env) -> Iterator[LocalServer]:
    missing = [m for m in ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "yaml") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"python -m llama_cpp.server cannot start without {', '.join(missing)}: pip install -e '.[test]'")
    model = llm_model_path(load_settings())
    server = started(start_llama_server, tmp_path_factory.mktemp("llm-server"), model, n_ctx=2048, env=subprocess_env)
    yield server
    server.stop()


@dataclass
class ServerKB:
    rag: DagRAG
    path: Path
    report: object
    chroma: LocalServer
    llm: LocalServer
    calls: list[tuple[dict | None, Completion]]  # (schema, reply) of every LLM call DagRAG made


@pytest.fixture(scope="module")
def server_kb(tmp_path_factory, chroma_server, llm_server) -> Iterator[ServerKB]:
    """A DagRAG whose vectors live on the Chroma server and whose LLM is the llama.cpp server; demo ingested."""
    path = tmp_path_factory.mktemp("server-kb") / "kb"
    # lean on LLM work (2 shared cores): no judge at ingest, a small DAG, short evidence
    settings = load_settings(
        kb_path=path,
        chroma_url=chroma_server.url,
        llm_url=llm_server.url,
        detect_conflicts=False,
        max_nodes=2,
        max_rounds=0,
        top_k=3,
        node_top_k=2,
        evidence_chars=300,
        reader_llm_weight=1.0,  # the model decides every reading: each answer makes calls to the server
    )
    rag = DagRAG(settings)
    assert isinstance(rag.llm, OpenAIServerLLM), "DagRAG.llm must use the server when llm_url is set"
    calls: list[tuple[dict | None, Completion]] = []
    chat = rag.llm.chat

    def recording_chat(messages, *, max_tokens, schema=None):
        reply = chat(messages, max_tokens=max_tokens, schema=schema)
        calls.append((schema, reply))
        return reply

    rag.llm.chat = recording_chat  # type: ignore[method-assign]
    report = rag.ingest([demo_docs()])
    yield ServerKB(rag, path, report, chroma_server, llm_server, calls)
    rag.close()
    rag.llm.close()  # type: ignore[attr-defined]


def server_ids(chroma: LocalServer, kb_path: Path) -> set[str]:
    """The ids in the kb's collection, read straight from the Chroma server by a client of our own."""
    store = ChromaStore(chroma.url, collection=ChromaStore.collection_for(kb_path))
    try:
        return store.ids()
    finally:
        store.close()


# ingest and ask ------------------------------------------------------------------------
def test_demo_ingest_lands_on_the_chroma_server(server_kb):
    rag, report = server_kb.rag, server_kb.report
    assert report.failed == [] and len(report.added) == 6 and report.chunks > 0
    on_server, in_ledger = server_ids(server_kb.chroma, server_kb.path), rag.kb.ledger.item_ids()
    assert on_server == in_ledger and len(on_server) == report.chunks
    assert rag.kb.store.url == server_kb.chroma.url  # type: ignore[attr-defined]
    assert not (server_kb.path / "chroma").exists(), "with chroma_url nothing may be written to a local Chroma folder"
    assert (server_kb.path / "ledger.sqlite3").is_file()


def test_dag_answer_over_both_servers_is_complete(server_kb):
    rag = server_kb.rag
    before = len(server_kb.calls)
    answer = rag.ask(QUESTIONS[0])
    made = server_kb.calls[before:]
    assert answer.answer.strip() and answer.citations, "ask() must answer and cite at least one retrieved chunk"
    on_server, in_ledger = server_ids(server_kb.chroma, server_kb.path), rag.kb.ledger.item_ids()
    for c in answer.citations:
        assert c.chunk_id in on_server and c.chunk_id in in_ledger
        assert c.chunk_id in answer.retrieved_ids
    # every LLM call of the answer went to the server, schema-constrained, and is accounted for
    assert made and len(answer.calls) == len(made)
    assert all(schema is not None for schema, _ in made), "every agent call asks for JSON matching a schema"
    assert all(r.prompt_tokens > 0 and r.completion_tokens > 0 and r.seconds > 0 for _, r in made)
    assert answer.usage.prompt_tokens == sum(r.prompt_tokens for _, r in made)
    parsed = 0
    for _, reply in made:
        try:
            json.loads(reply.text, strict=False)
            parsed += 1
        except json.JSONDecodeError:
            assert reply.completion_tokens > 0  # only a reply cut at max_tokens may be incomplete JSON
    assert parsed > 0, f"no constrained reply parsed: {[r.text for _, r in made]}"


COLOR_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "warm": {"type": "boolean"}},
    "required": ["name", "warm"],
    "additionalProperties": False,
}


def test_schema_constrained_chat_returns_matching_json(llm_server):
    llm = OpenAIServerLLM(llm_server.url, model="local")
    try:
        messages = [{"role": "user", "content": "Name one colour and say whether it is warm. Answer in JSON."}]
        reply = llm.chat(messages, max_tokens=64, schema=COLOR_SCHEMA)
        value = json.loads(reply.text)
        assert set(value) == {"name", "warm"} and isinstance(value["name"], str) and isinstance(value["warm"], bool)
        assert reply.prompt_tokens > 0 and 0 < reply.completion_tokens <= 64 and reply.seconds > 0
        plain = llm.chat([{"role": "user", "content": "Say hi."}], max_tokens=8)  # no schema: free text
        assert plain.completion_tokens <= 8
    finally:
        llm.close()


# one-line errors through the real CLI -------------------------------------------------------
def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    assert DAGRAG.is_file(), f"console command {DAGRAG} not installed: pip install -e ."
    net_log = Path(env["DAGRAG_TEST_NET_LOG"])
    proc = subprocess.run([str(DAGRAG), *args], env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    attempts = net_log.read_text() if net_log.exists() else ""
    assert not attempts, f"`dagrag {args[0]}` tried the network:\n{attempts}"
    return proc


def error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}"
    assert len(lines) == 1, f"expected one error line, got:\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_unreachable_chroma_server_is_one_line(subprocess_env, tmp_path):
    env = {**subprocess_env, "DAGRAG_KB_PATH": str(tmp_path / "kb"), "DAGRAG_CHROMA_URL": DEAD_URL}
    env.pop("DAGRAG_LLM_URL", None)
    line = error_line(run_cli(env, "ask", "Who owns billing?"))
    assert f"Chroma server at {DEAD_URL} is not reachable" in line
    assert "chroma run --path DIR --port 9" in line and "DAGRAG_CHROMA_URL" in line


def test_unreachable_llm_server_is_one_line():
    """In process (the CLI reports LLMError in one line, exit 2, like the Chroma error above)."""
    dead = f"{DEAD_URL}/v1"
    llm = OpenAIServerLLM(dead)
    try:
        with pytest.raises(LLMError) as info:
            llm.chat([{"role": "user", "content": "hi"}], max_tokens=4)
    finally:
        llm.close()
    message = str(info.value)
    assert "\n" not in message and f"LLM server at {dead} is not reachable" in message and "DAGRAG_LLM_URL" in message


def test_stop_ends_a_server_and_frees_its_port(tmp_path, subprocess_env):
    """What the fixtures' teardown does, checked on a throwaway Chroma server."""
    if not CHROMA.is_file():
        pytest.skip(f"the `chroma` command is not installed next to {sys.executable}: it comes with chromadb (pip install -e .)")
    server = started(start_chroma, tmp_path, env=subprocess_env)
    url = server.url
    store = ChromaStore(url, collection="dagrag_stop_check")
    try:
        server.stop()
        assert server.proc.poll() is not None
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/api/v2/heartbeat", timeout=2.0)
        with pytest.raises(StoreError, match=f"^Chroma server at {url} is not reachable"):  # lost mid-session: one line too
            store.count()
    finally:
        store.close()


# no server needed ----------------------------------------------------------------------------
def test_llm_timeout_is_one_line():
    """A server that accepts the connection but never answers: LLMError naming the URL, no retry."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        llm = OpenAIServerLLM(url, timeout=0.5)
        start = time.monotonic()
        try:
            with pytest.raises(LLMError, match=f"^LLM server at {url} did not answer within 0.5s"):
                llm.chat([{"role": "user", "content": "hi"}], max_tokens=4)
        finally:
            llm.close()
        assert time.monotonic() - start < 5, "one attempt only"


def test_request_body_is_understood_by_both_llama_cpp_servers():
    """``response_format`` json_object + schema: llama_cpp.server and llama-server both build a grammar from it."""
    llm = OpenAIServerLLM("http://127.0.0.1:8080/v1/", model="m", temperature=0.0, seed=3)
    try:
        body = llm.request_body([{"role": "user", "content": "q"}], max_tokens=7, schema=COLOR_SCHEMA)
        assert body["response_format"] == {"type": "json_object", "schema": COLOR_SCHEMA}
        assert "json_schema" not in body and "grammar" not in body  # llama-server refuses json_schema together with grammar
        assert (body["model"], body["max_tokens"], body["temperature"], body["seed"], body["repeat_penalty"]) == ("m", 7, 0.0, 3, 1.0)
        assert "response_format" not in llm.request_body([{"role": "user", "content": "q"}], max_tokens=7)
        assert llm.url == "http://127.0.0.1:8080/v1"
        from llama_cpp.server.types import CreateChatCompletionRequest

        parsed = CreateChatCompletionRequest.model_validate(body).model_dump()  # what llama_cpp.server hands to llama.cpp
        assert parsed["response_format"]["schema"] == COLOR_SCHEMA and parsed["repeat_penalty"] == 1.0
    finally:
        llm.close()
    with pytest.raises(LLMError, match="must start with http"):
        OpenAIServerLLM("127.0.0.1:8080/v1")


def test_collection_names_and_server_urls():
    a, b = ChromaStore.collection_for("/srv/kb-a"), ChromaStore.collection_for("/srv/kb-b")
    assert a != b and a == ChromaStore.collection_for("/srv/kb-a/../kb-a") and a.startswith("dagrag_") and len(a) == 23
    from retrieval.store import _server_address

    assert _server_address("http://db-box:8000") == ("db-box", 8000, False)
    assert _server_address("https://db-box") == ("db-box", 443, True)
    assert _server_address("http://127.0.0.1") == ("127.0.0.1", 8000, False)
    for bad in ("http://:8000", "http://db-box:8000/chroma", "http://db-box:99999"):
        with pytest.raises(StoreError):
            _server_address(bad)
