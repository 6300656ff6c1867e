"""A whole session on the real stack opens no network connection except loopback.

ingest (two dated refund policies that conflict) -> ask -> chat -> review list/show/resolve
-> eval. The model work runs in this process (loaded once); the review commands run as real
``dagrag`` processes. The guard from ``netguard`` is armed in both: in this process by
``conftest.py`` while a test of this folder runs (``no_network`` fails the test on any
attempt), in the subprocesses through the ``sitecustomize`` on their PYTHONPATH, which logs
every attempt to the file checked after each command. The knowledge-base folder must be
readable by its owner only, and the subprocess environment must keep Hugging Face offline
and Chroma's telemetry off.

With the 135M model the answer *text* may be wrong, so it is never asserted.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent import DagRAG
from agent.types import Answer
from helpers import chat, finish_dagrag
from kb.items import Status
from kb.ledger import Ledger
from retrieval.store import ChromaStore

pytestmark = pytest.mark.integration

DAGRAG = Path(sys.executable).with_name("dagrag")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TIMEOUT_S = 300
QUESTION = "How many days does a refund take?"
POLICY_2024 = "---\ntitle: Refund policy 2024\ndate: 2024-01-01\n---\nRefunds are processed within 14 days.\n"
POLICY_2025 = "---\ntitle: Refund policy 2025\ndate: 2025-03-01\n---\nRefunds are processed within 30 days.\n"


def explain(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"


@dataclass
class Session:
    root: Path
    kb: Path
    env: dict[str, str]
    done: set[str] = field(default_factory=set)

    @property
    def net_log(self) -> Path:
        return Path(self.env["DAGRAG_TEST_NET_LOG"])

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [str(DAGRAG), *args, "--kb", str(self.kb)],
            cwd=self.root / "work",
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, proc: subprocess.Popen) -> subprocess.CompletedProcess:
        result = finish_dagrag((tuple(proc.args[1:]), proc), TIMEOUT_S)
        attempts = self.net_log.read_text() if self.net_log.exists() else ""
        assert not attempts, f"{proc.args[1:3]} tried the network:\n{attempts}"
        return subprocess.CompletedProcess(proc.args, result.code, result.out, result.err)

    def dagrag(self, *args: str) -> subprocess.CompletedProcess:
        return self.finish(self.start(*args))

    def require(self, *steps: str) -> None:
        missing = [s for s in steps if s not in self.done]
        if missing:
            pytest.skip(f"an earlier step of the session did not complete: {', '.join(missing)}")


@pytest.fixture(scope="module")
def session(tmp_path_factory, subprocess_env) -> Session:
    assert DAGRAG.is_file(), f"console command {DAGRAG} not installed: pip install -e ."
    root = tmp_path_factory.mktemp("session")
    for name in ("work", "docs"):
        (root / name).mkdir()
    env = {**subprocess_env, "DAGRAG_TEST_NET_LOG": str(root / "net-attempts.log"), "NO_COLOR": "1"}
    return Session(root=root, kb=root / "kb", env=env)


def test_1_ingest_ask_and_chat(session: Session, no_dagrag_env):
    docs = session.root / "docs"
    rag = DagRAG.open(kb_path=session.kb, top_k=2, max_rounds=0, max_nodes=3)
    try:
        old = docs / "policy_2024.md"
        old.write_text(POLICY_2024, encoding="utf-8")
        first = rag.ingest([old])
        assert len(first.added) == 1 and first.failed == [] and first.reviews == []
        # the folder is private: created with mode 0700 (under any umask)
        mode = stat.S_IMODE(session.kb.stat().st_mode)
        assert mode & 0o077 == 0, f"{session.kb} has mode {mode:o}: others can read the knowledge base"
        assert isinstance(rag.kb.store, ChromaStore)  # Chroma's own switch, besides ANONYMIZED_TELEMETRY
        assert rag.kb.store._client.get_settings().anonymized_telemetry is False
        new = docs / "policy_2025.md"
        new.write_text(POLICY_2025, encoding="utf-8")
        second = rag.ingest([new])
        assert len(second.added) == 1 and second.failed == []
        assert len(second.reviews) == 1, f"the 14 vs 30 days conflict was not flagged: {second}"
        review = rag.reviews()[0]
        assert review.kind == "conflict" and {review.old_statement, review.new_statement} >= {"Refunds are processed within 14 days."}
        session.done.add("ingest")

        answer = rag.ask(QUESTION)
        Answer.model_validate_json(answer.model_dump_json())
        assert answer.answer.strip() and answer.citations
        assert review.review_id in answer.conflicts and answer.caveats, "the open conflict must be reported with the answer"
        session.done.add("ask")

        # a question, Enter (skips the agent's question about the conflict, if it asks one), /quit
        out = chat(rag, QUESTION + "\n", "\n", "/quit\n", width=120)
        assert QUESTION in out and "LLM call" in out and out.rstrip().endswith("bye"), out
        assert "Traceback" not in out
        session.done.add("chat")
    finally:
        rag.close()
    assert stat.S_IMODE(session.kb.stat().st_mode) & 0o077 == 0


def test_2_review_list_show_and_resolve(session: Session):
    session.require("ingest")
    ledger = Ledger(session.kb / "ledger.sqlite3")
    try:
        (review,) = ledger.reviews()
    finally:
        ledger.close()
    rid = str(review.review_id)
    listing, shown = session.start("review"), session.start("review", "show", rid)  # side by side
    listing, shown = session.finish(listing), session.finish(shown)
    assert listing.returncode == 0 and rid in listing.stdout and "conflict" in listing.stdout, explain(listing)
    assert shown.returncode == 0, explain(shown)
    assert "14 days" in shown.stdout and "30 days" in shown.stdout and "Refund policy 2024" in shown.stdout, explain(shown)
    resolved = session.dagrag("review", "resolve", rid, "--keep", "new", "--by", "tester", "--note", "the 2025 policy applies")
    assert resolved.returncode == 0 and "resolved by tester: keep new" in resolved.stdout, explain(resolved)
    for proc in (listing, shown, resolved):
        assert "Traceback" not in proc.stderr, explain(proc)
    ledger = Ledger(session.kb / "ledger.sqlite3")
    try:
        assert ledger.review(review.review_id).state != "open" and ledger.reviews() == []
        items = {i.item_id: i for i in ledger.items()}
        assert items[review.old_item].status == Status.SUPERSEDED and items[review.old_item].superseded_by == review.new_item
        assert items[review.new_item].status == Status.VALID
    finally:
        ledger.close()
    session.done.add("review")


def test_3_eval(session: Session, no_dagrag_env, monkeypatch):
    from typer.testing import CliRunner

    from agent.cli import app

    monkeypatch.chdir(session.root / "work")
    out = session.root / "results.json"
    args = [
        "eval",
        str(FIXTURES / "eval_questions.json"),
        str(FIXTURES / "eval_corpus.json"),
        "--limit",
        "1",
        "--method",
        "vanilla",
        "--out",
        str(out),
        "--kb-cache",
        str(session.root / "eval-cache"),
    ]
    result = CliRunner().invoke(app, args)  # in this process: the models are loaded already, and the guard is armed
    assert result.exit_code == 0, f"{result.output[-3000:]}\n{result.exception!r}"
    records = json.loads(out.read_text())["records"]
    assert [(r["variant"], r["qid"]) for r in records] == [("vanilla", "fx1")]
    assert records[0]["llm_calls"] >= 1 and {"em", "f1"} <= set(records[0]["metrics"])
    session.done.add("eval")


def test_4_subprocesses_run_offline_and_guarded(session: Session, offline_env):
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
    }.items():
        assert session.env.get(key) == value, key
    probe = (
        "import json, os, socket; print(json.dumps({k: os.environ.get(k) for k in "
        "('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'ANONYMIZED_TELEMETRY')} | "
        "{'guard': getattr(socket, '_dagrag_netguard', False)}))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], env=session.env, capture_output=True, text=True, timeout=60, cwd=session.root)
    assert proc.returncode == 0, explain(proc)
    assert json.loads(proc.stdout) == {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "guard": True}
    assert not session.net_log.exists() or not session.net_log.read_text()
    session.require("ingest", "ask", "chat", "review", "eval")  # the whole session ran
