"""``dagrag serve`` and ``dagrag mcp`` (registered on the main command in ``agent/cli.py``).

Cheap to import: FastAPI, uvicorn and the MCP SDK load only when a command runs.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Optional

import typer

DEFAULT_PORT = 8321


def serve(
    kb: Optional[Path] = typer.Option(None, "--kb", help="knowledge-base folder [default: ./.dagrag or DAGRAG_KB_PATH]"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on; anything but loopback needs --token"),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=1, max=65535, help="TCP port"),
    token: Optional[str] = typer.Option(None, "--token", help="require this token on every request [default: DAGRAG_TOKEN]"),
    model: Optional[str] = typer.Option(None, "--model", help="GGUF model file [default: embedded SmolLM2-135M or DAGRAG_LLM_MODEL]"),
    no_mcp: bool = typer.Option(False, "--no-mcp", help="do not serve the MCP endpoint at /mcp"),
) -> None:
    """Serve the web review console, the HTTP API and MCP from one process.

    The models and the knowledge base load once. Pages at /, the JSON API under /api (documented at
    /docs), MCP at /mcp. Loopback only unless --token is given."""
    from agent import cli
    from agent.server.security import SecurityConfigError, check_bind

    settings = cli._settings(kb_path=kb, llm_model=model, token=token)
    secret = settings.token.get_secret_value() if settings.token else None
    try:
        check_bind(host, secret)
    except SecurityConfigError as exc:
        raise cli.UsageError(str(exc)) from None
    _check_port_free(host, port, cli.UsageError)

    import uvicorn

    from agent.api import DagRAG
    from agent.server.app import create_app

    rag = DagRAG(settings)
    with cli.err.status("loading the knowledge base and the models…"):
        rag.kb, rag.embedder, rag.llm  # noqa: B018 - loaded once, before the first request
    app = create_app(rag, host=host, token=secret, mcp=not no_mcp)
    shown = f"[{host}]" if ":" in host else host
    cli.err.print(
        f"[green]✓[/] dagrag serving {settings.kb_path} at [b]http://{shown}:{port}/[/b]"
        f" (API docs /docs{'' if no_mcp else ', MCP /mcp'}){' · token required' if secret else ''} · Ctrl-C stops",
        highlight=False,
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    finally:
        rag.close()


def mcp(
    kb: Optional[Path] = typer.Option(None, "--kb", help="knowledge-base folder [default: ./.dagrag or DAGRAG_KB_PATH]"),
    model: Optional[str] = typer.Option(None, "--model", help="GGUF model file [default: embedded SmolLM2-135M or DAGRAG_LLM_MODEL]"),
) -> None:
    """Serve dagrag's MCP tools over stdio, for an MCP client that starts it.

    Tools: ask, retrieve, ingest, list_reviews, resolve_review, document_history (Claude Desktop, an IDE
    or another agent starts `dagrag mcp --kb PATH`)."""
    from agent import cli
    from agent.api import DagRAG
    from agent.server.mcp_tools import run_stdio
    from agent.server.service import Console

    rag = DagRAG(cli._settings(kb_path=kb, llm_model=model))
    try:
        rag.kb  # noqa: B018 - a knowledge base that cannot open is a one-line error before the protocol starts
        print(f"dagrag mcp: serving {rag.settings.kb_path} over stdio", file=sys.stderr, flush=True)
        run_stdio(Console(rag))
    finally:
        rag.close()


def _check_port_free(host: str, port: int, error: type[Exception]) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise error(f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another with --port or --host") from None
