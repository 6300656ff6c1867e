"""Integration fixtures: the real stack (llama.cpp, sentence-transformers, Chroma on disk), loaded once.

Nothing here may touch the network: the session runs with the Hugging Face hub offline and
Chroma telemetry off, and ``netguard`` refuses (and records) any non-loopback connection or
DNS look-up while a test of this folder runs, in this process and in the CLI subprocesses.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import netguard  # noqa: E402
from agent import DagRAG  # noqa: E402
from agent.demo import demo_docs  # noqa: E402
from kb.knowledge_base import IngestReport  # noqa: E402
from retrieval.offline import OFFLINE_ENV  # noqa: E402

netguard.install()  # patched but inactive until a test of this folder sets up


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    netguard.active = True  # before the fixtures: loading the models is guarded too
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    try:
        return (yield)
    finally:
        netguard.active = False


@pytest.fixture(scope="session", autouse=True)
def offline_env() -> Iterator[dict[str, str]]:
    """Hugging Face offline and Chroma telemetry off for this folder (and the processes it starts)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in OFFLINE_ENV.items():
            mp.setenv(key, value)
        yield dict(OFFLINE_ENV)


_reported = {"n": 0}


@pytest.fixture(autouse=True)
def no_network(offline_env) -> Iterator[None]:
    """Fail the test during which anything tried the network (session fixtures included)."""
    yield
    new = netguard.attempts[_reported["n"] :]
    _reported["n"] = len(netguard.attempts)
    assert not new, f"something tried the network: {new}"


@pytest.fixture(scope="session")
def subprocess_env(tmp_path_factory, offline_env) -> dict[str, str]:
    """Environment for ``dagrag`` subprocesses: offline, guarded, wide enough not to wrap, no DAGRAG_* setting of the caller's shell."""
    guard = tmp_path_factory.mktemp("netguard")
    netguard.write_sitecustomize(str(guard))
    path = os.pathsep.join(p for p in (str(guard), os.environ.get("PYTHONPATH", "")) if p)
    shell = {k: v for k, v in os.environ.items() if not k.startswith("DAGRAG_")}
    return {**shell, **offline_env, "PYTHONPATH": path, "DAGRAG_TEST_NET_LOG": str(guard / "attempts.log"), "COLUMNS": "200"}


@dataclass
class DemoKB:
    rag: DagRAG
    report: IngestReport  # of the first ingest into the empty kb
    path: Path


@pytest.fixture(scope="session")
def demo_kb(tmp_path_factory, offline_env) -> Iterator[DemoKB]:
    """One DagRAG (real embedder, LLM loaded on first ask) on a fresh kb holding the demo collection."""
    path = tmp_path_factory.mktemp("demo") / "kb"
    rag = DagRAG.open(path)
    report = rag.ingest([demo_docs()])
    yield DemoKB(rag, report, path)
    rag.close()


@pytest.fixture(scope="session")
def rag(demo_kb: DemoKB) -> DagRAG:
    return demo_kb.rag
