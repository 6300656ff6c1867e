"""Start and stop a local ``chroma run`` and ``python -m llama_cpp.server`` on loopback.

Shared by the server integration tests and ``benchmarks/bench_load.py``: free port, log file,
a bounded wait until the server answers, and terminate-then-kill on stop.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
CHROMA = BIN / "chroma"
STOP_TIMEOUT_S = 15


class ServerStartError(RuntimeError):
    """A server exited, or did not answer, before it was ready (the message ends with its log)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalServer:
    """A server process started here; ``url`` is what clients are given."""

    name: str
    url: str
    proc: subprocess.Popen
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT_S)


def start_server(
    name: str, cmd: list[str], url: str, ready_url: str, log: Path, *, timeout_s: float, env: dict[str, str] | None = None
) -> LocalServer:
    """Start ``cmd`` and wait (at most ``timeout_s``) until ``ready_url`` answers 200."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    server = LocalServer(name, url, proc, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(f"{name} exited with code {proc.returncode} before it was ready; log {log}:\n{server.log_tail()}")
        try:
            if httpx.get(ready_url, timeout=2.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    server.stop()
    raise ServerStartError(f"{name} was not ready at {ready_url} after {timeout_s:g}s; log {log}:\n{server.log_tail()}")


def start_chroma(folder: Path, *, timeout_s: float, env: dict[str, str] | None = None) -> LocalServer:
    """``chroma run`` with its data in ``folder/chroma-data``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(CHROMA), "run", "--path", str(folder / "chroma-data"), "--host", "127.0.0.1", "--port", str(port)]
    return start_server("chroma run", cmd, url, f"{url}/api/v2/heartbeat", folder / "chroma.log", timeout_s=timeout_s, env=env)


def start_llama_server(
    folder: Path, model: Path, *, n_ctx: int, timeout_s: float, n_threads: int | None = None, env: dict[str, str] | None = None
) -> LocalServer:
    """``python -m llama_cpp.server`` serving ``model`` as "local"; ``url`` ends in /v1."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--model_alias",
        "local",
    ]
    if n_threads:
        cmd += ["--n_threads", str(n_threads)]
    return start_server("llama_cpp.server", cmd, url, f"{url}/models", folder / "llm.log", timeout_s=timeout_s, env=env)
