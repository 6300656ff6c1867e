"""The ``dagrag`` console command on the real stack, one subprocess per command.

``dagrag demo`` builds a kb in a temporary folder; ``dagrag ask --json`` then reads it from a
second process (so the kb also has to survive on disk). Each subprocess runs offline with
the network guard from ``netguard`` installed through ``sitecustomize``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.demo import demo_docs, demo_questions
from agent.types import Answer
from kb.ledger import Ledger

pytestmark = pytest.mark.integration

QUESTIONS = [q["question"] for q in demo_questions()]
DAGRAG = Path(sys.executable).with_name("dagrag")
TIMEOUT_S = 300


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def kb(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-kb") / "kb"


@pytest.fixture(scope="module")
def run(workdir, kb, subprocess_env):
    assert DAGRAG.is_file(), f"console command {DAGRAG} not installed: pip install -e ."
    env = {**subprocess_env, "DAGRAG_KB_PATH": str(kb)}
    net_log = Path(env["DAGRAG_TEST_NET_LOG"])

    def dagrag(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(DAGRAG), *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        if proc.stderr.strip():  # shown with -rP, or when the test fails
            print(f"--- stderr of `dagrag {args[0]}` ---\n{proc.stderr[-4000:]}")
        attempts = net_log.read_text() if net_log.exists() else ""
        assert not attempts, f"`dagrag {args[0]}` tried the network:\n{attempts}"
        return proc

    return dagrag


@pytest.fixture(scope="module")
def demo_run(run, kb) -> subprocess.CompletedProcess:
    return run("demo", "--kb", str(kb))


def explain(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"


def test_demo_ingests_and_answers(demo_run, kb, workdir):
    assert demo_run.returncode == 0, explain(demo_run)
    out = demo_run.stdout
    assert QUESTIONS[0] in out, explain(demo_run)
    assert "Sources" in out, explain(demo_run)
    # the DAG section: a tree, or the note that the warm-up evidence answered without one
    assert "DAG" in out or "answered from the warm-up evidence" in out, explain(demo_run)
    assert "0 documents already present" in out  # a fresh kb
    assert (kb / "chroma").is_dir() and (kb / "ledger.sqlite3").is_file()
    assert list(workdir.iterdir()) == [], "--kb was given: nothing may be written to the working directory"


def test_ask_json_reads_the_demo_kb(demo_run, run, kb, workdir):
    if demo_run.returncode != 0:
        pytest.fail("`dagrag demo` failed, so there is no kb to ask:\n" + explain(demo_run))
    proc = run("ask", QUESTIONS[1], "--json", "--kb", str(kb), "--max-rounds", "0")
    assert proc.returncode == 0, explain(proc)
    data = json.loads(proc.stdout)
    assert {"answer", "citations", "nodes", "fallbacks", "usage", "timings"} <= data.keys()
    answer = Answer.model_validate(data)
    assert answer.question == QUESTIONS[1] and answer.answer.strip()
    assert data["citations"], "an answer must cite at least one chunk"
    for c in data["citations"]:
        assert all(isinstance(c.get(k), str) and c[k] for k in ("chunk_id", "title", "source")), c
    ledger = Ledger(kb / "ledger.sqlite3")  # the kb the demo process wrote
    try:
        assert {c.chunk_id for c in answer.citations} <= ledger.item_ids()
        assert len(ledger.documents()) == 6
    finally:
        ledger.close()
    assert all(Path(c.source).parent == demo_docs().resolve() for c in answer.citations)
    assert answer.usage.llm_calls == len(answer.calls)  # the reader calls the model only for close calls
    assert answer.nodes and answer.signals.keys() >= {"typed", "margin"}  # a DAG ran, and says what its confidence rests on
    assert "reflect" not in {c.stage for c in answer.calls}, "--max-rounds 0 must skip reflection"
    assert isinstance(answer.fallbacks, list) and all(isinstance(f, str) for f in answer.fallbacks)
    assert {"llm", "embed", "retrieval", "other", "total"} <= answer.timings.keys()
    assert list(workdir.iterdir()) == []
