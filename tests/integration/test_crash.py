"""Crash safety: ``kill -9`` at random points during ingest, review resolution and an answer.

Real processes write a real Chroma folder and ledger; the test kills them with SIGKILL at
seeded random points and checks, after every kill, that the next open finds a consistent
knowledge base: every vector has its ledger row and the reverse, no document is half
present, no resolution is lost or applied twice, and the work finishes when run again.
The processes are forked from one worker that imported everything once (a plain start
costs seconds on a busy machine; a fork, milliseconds); the embedder is the HashEmbedder
of tests/helpers.py, since the point is the store and the ledger, not the model.

Also here: ledgers written by another dagrag version are migrated, or refused untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import HashEmbedder, MemoryStore
from kb.items import Status
from kb.knowledge_base import KnowledgeBase
from kb.ledger import SCHEMA_VERSION, Ledger, LedgerError
from kb.loaders import load_file
from kb.records import embed_text
from retrieval.chunking import content_hash

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


CHUNK_CHARS = 200
EMBED_DIM = 256  # HashEmbedder buckets: few collisions between the made-up words of these tests

# The worker: imports once, then forks one process per job; a job writes progress markers, one per line, to its log.
# Other test files add jobs (functions named job_*) between the two parts.
WORKER_JOBS = r'''
import json, os, sys, time, traceback
from pathlib import Path

ROOT = sys.argv[1]
sys.path[:0] = [os.path.join(ROOT, "tests"), ROOT]
import chromadb  # noqa: F401  imported here once, so that a forked job starts at once
from helpers import FakeLLM, HashEmbedder as _HashEmbedder


def HashEmbedder():
    return _HashEmbedder(int(sys.argv[2]))  # the test's EMBED_DIM
from agent.api import DagRAG
from agent.settings import Settings
from kb.knowledge_base import KnowledgeBase

CONTRADICTS = {"relation": "contradicts", "confidence": 90, "reason": "the value changed"}


class Log:
    def __init__(self, path):
        self.file = open(path, "a", buffering=1)  # a line is in the file once written: a kill cannot lose it

    def __call__(self, *words):
        self.file.write(" ".join(map(str, words)) + "\n")


def rag_for(kb, llm, **settings):
    # the model writes its answers (reader="free"): its final call is the window a kill lands in
    settings = {"planner": "llm", "reader": "free", **settings}
    return DagRAG(Settings(kb_path=Path(kb), reviewer="tester", **settings), llm=llm, embedder=HashEmbedder())


class SlowLLM(FakeLLM):
    """A scripted LLM that takes its time (a window to be killed in) and says when it is called."""

    def __init__(self, script, log, delay):
        super().__init__(script)
        self.log, self.delay = log, delay

    def chat(self, messages, **kwargs):
        self.log("llm")
        time.sleep(self.delay)
        return super().chat(messages, **kwargs)


def job_ingest(log, kb, docs, batch, chunk_chars):
    base = KnowledgeBase(Path(kb), HashEmbedder(), batch_passages=batch, chunk_chars=chunk_chars, chunk_overlap=0)
    log("open")
    report = base.ingest([docs], progress=lambda n, total: log("batch", n, total))
    log("done", len(report.added), len(report.updated), len(report.unchanged), len(report.failed))
    base.close()


def job_conflicts(log, kb, old, new):
    """Old documents, then newer ones contradicting them: the scripted judge flags each pair."""
    rag = rag_for(kb, FakeLLM([CONTRADICTS] * 50))
    rag.ingest([old])
    report = rag.ingest([new])
    log("reviews", json.dumps(report.reviews))
    rag.close()


def job_resolve(log, kb, plan, pause=0.0):
    """Resolve every open review of the plan {review_id: keep} (keep "edit": a person's statement replaces both)."""
    rag = rag_for(kb, FakeLLM([]))
    still_open = {r.review_id for r in rag.reviews()}
    log("open", len(still_open))
    for rid, keep in sorted(plan.items(), key=lambda p: int(p[0])):
        if int(rid) in still_open:
            time.sleep(pause)
            edit = f"Statement {rid} edited by the resolver replaces both sides." if keep == "edit" else None
            rag.resolve(int(rid), "new" if edit else keep, by="resolver", note=f"plan {keep}", edit=edit)
            log("resolved", rid)
    log("done")
    rag.close()


def job_pause(log, kb, question, out):
    """An interactive answer that pauses on the open conflict (checkpointed in the kb folder)."""
    rag = rag_for(kb, FakeLLM([{"answer": "30 days", "sources": [1], "can_answer": True}]))
    last = list(rag.stream(question, interactive=True))[-1]
    Path(out).write_text(json.dumps({"kind": last.kind, "review_id": last.review_id, "thread_id": last.thread_id}))
    log("paused", last.review_id)
    rag.close()


def job_resume(log, kb, review_id, delay):
    """Resume the paused run with a person's decision; markers around the resolution and the LLM call."""
    rag = rag_for(kb, SlowLLM([{"answer": "30 days", "sources": [1]}], log, delay))
    kb_ = rag.kb
    resolve = kb_.resolve

    def logged_resolve(*args, **kwargs):
        log("resolving")
        review = resolve(*args, **kwargs)
        log("resolved")
        return review

    kb_.resolve = logged_resolve
    log("open")
    for event in rag.resume(review_id, keep="new", by="ana"):
        log("event", event.kind)
        if event.answer is not None:
            a = event.answer
            log("answer", json.dumps({"answer": a.answer, "titles": [c.title for c in a.citations], "fallbacks": a.fallbacks}))
    rag.close()
'''

WORKER_MAIN = r"""
JOBS = {name[4:]: fn for name, fn in list(globals().items()) if name.startswith("job_")}


def main():
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "run":
            pid = os.fork()
            if pid == 0:
                code = 1
                log = Log(cmd["log"])
                try:
                    null = os.open(os.devnull, os.O_RDONLY)
                    os.dup2(null, 0)
                    os.dup2(log.file.fileno(), 1)  # nothing a job prints may reach the worker's reply pipe
                    os.dup2(log.file.fileno(), 2)
                    JOBS[cmd["job"]](log, **cmd["args"])
                    code = 0
                except BaseException:
                    traceback.print_exc(file=log.file)
                finally:
                    log.file.flush()
                    os._exit(code)
            print(json.dumps({"pid": pid}), flush=True)
        elif cmd["op"] == "wait":
            _, status = os.waitpid(cmd["pid"], 0)
            print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)


main()
"""


@dataclass
class Job:
    """One forked job: its pid (to kill) and its log of markers."""

    workers: Workers
    pid: int
    log: Path
    code: int | None = None

    def lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()

    def count(self, marker: str) -> int:
        return sum(1 for line in self.lines() if line.split(" ", 1)[0] == marker)

    def alive(self) -> bool:
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except FileNotFoundError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended

    def wait_for(self, marker: str, count: int = 1, timeout: float = 90) -> bool:
        """True once ``marker`` was logged ``count`` times; False if the job ended first."""
        deadline = time.monotonic() + timeout
        while True:
            if self.count(marker) >= count:
                return True
            if not self.alive():
                return self.count(marker) >= count
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"{marker!r} x{count} not seen in {timeout}s:\n" + "\n".join(self.lines()[-20:]))
            time.sleep(0.003)

    def kill(self) -> bool:
        """SIGKILL; True if the job was still running."""
        running = self.alive()
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            running = False
        self.finish()
        return running

    def finish(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
            time.sleep(0.01)
        if self.code is None:
            self.code = self.workers.ask({"op": "wait", "pid": self.pid})["code"]
        return self.code

    def succeed(self, timeout: float = 120) -> list[str]:
        code = self.finish(timeout)
        assert code == 0, f"job failed with {code}:\n" + "\n".join(self.lines()[-30:])
        return self.lines()


class Workers:
    """A Python process that imported dagrag once and forks a process per job."""

    def __init__(self, folder: Path, env: dict[str, str], jobs: str = "") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.n = folder, 0
        script = folder / "worker.py"
        script.write_text(WORKER_JOBS + jobs + WORKER_MAIN, encoding="utf-8")
        env = {**env, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(ROOT), str(EMBED_DIM)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )

    def ask(self, cmd: dict) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the worker process ended ({self.proc.poll()})")
        return json.loads(line)

    def start(self, job: str, **args) -> Job:
        self.n += 1
        log = self.folder / f"{self.n:03d}-{job}.log"
        log.touch()
        return Job(self, self.ask({"op": "run", "job": job, "args": args, "log": str(log)})["pid"], log)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def workers(tmp_path_factory, subprocess_env):
    w = Workers(tmp_path_factory.mktemp("workers"), subprocess_env)
    yield w
    w.close()


# checks ----------------------------------------------------------------------------
def open_kb(path: Path, **kwargs) -> KnowledgeBase:
    return KnowledgeBase(path, HashEmbedder(EMBED_DIM), chunk_chars=CHUNK_CHARS, chunk_overlap=0, **kwargs)


def assert_consistent(kb: KnowledgeBase, rng: random.Random, sample: int = 6) -> None:
    """Ledger and Chroma agree: same ids, whole documents, mirrored statuses, and the index finds each vector."""
    ledger = kb.ledger
    assert ledger.pending_documents() == [], "a half-ingested document survived the open"
    ready = ledger.item_ids()
    assert ready == ledger.item_ids(ready_only=False), "items of a document that is not ready"
    stored = kb.store.ids()
    assert stored == ready, f"only in Chroma: {sorted(stored - ready)[:5]}; only in the ledger: {sorted(ready - stored)[:5]}"
    items = ledger.items()
    positions: dict[str, list[int]] = {}
    for i in items:
        if i.expired_at is None:  # the current version (earlier ones are kept as history)
            positions.setdefault(i.doc_id, []).append(i.position)
        else:
            assert i.status.value == "superseded" and i.valid_to is not None, f"{i.item_id}: an earlier version that is still current"
    for doc in ledger.documents():
        assert sorted(positions.get(doc.doc_id, [])) == list(range(doc.n_chunks)), f"{doc.source}: not exactly its {doc.n_chunks} chunks"
    # the entity index and the BM25 index (kb.entity_index) hold exactly the ledger's items, no row of an item that is gone
    indexed = [r[0] for r in ledger.query("SELECT item_id FROM entity_items")]
    assert sorted(indexed) == sorted(i.item_id for i in items), "the entity index differs from the ledger's items"
    assert ledger.query("SELECT COUNT(*) FROM chunk_fts")[0][0] == len(indexed), "BM25 rows differ from the indexed items"
    for table in ("entity_about", "entity_mentions"):
        lost = ledger.query(f"SELECT 1 FROM {table} WHERE n NOT IN (SELECT n FROM entity_items) LIMIT 1")
        assert not lost, f"{table}: rows of an item that is gone"
    if items:
        mirror = kb.store._collection.get(ids=[i.item_id for i in items], include=["metadatas"])  # type: ignore[attr-defined]
        status = {i: m["status"] for i, m in zip(mirror["ids"], mirror["metadatas"])}
        assert {i.item_id: i.status.value for i in items} == status, "Chroma's statuses differ from the ledger's"
        for item in rng.sample(items, min(sample, len(items))):
            hits = kb.store.query(kb.embedder.embed([embed_text(item)])[0], 1)
            assert hits and hits[0].id == item.item_id, f"the index does not find {item.item_id} by its own vector"


def write_docs(folder: Path, n: int, version: int, only: range | None = None) -> None:
    """Small files of unique words (about three chunks each); ``version`` changes their content."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in only or range(n):
        words = [f"d{i}v{version}w{j}" for j in range(48)]
        text = "\n\n".join(" ".join(words[k : k + 12]) + "." for k in range(0, 48, 12))
        (folder / f"note-{i:02d}.md").write_text(f"# Note {i}\n\n{text}\n", encoding="utf-8")


def expected_hashes(folder: Path) -> dict[str, str]:
    return {d.doc_id: content_hash(d.title, d.text) for p in sorted(folder.glob("*.md")) for d in load_file(p)}


# ingest ----------------------------------------------------------------------------
def test_kill_9_at_random_points_of_an_ingest_never_leaves_half_a_document_nor_loses_one(workers, tmp_path):
    rng = random.Random(20240611)
    docs, kb_path = tmp_path / "docs", tmp_path / "kb"
    write_docs(docs, 60, version=1)
    versions = [expected_hashes(docs)]
    interrupted = 0
    for round_ in range(16):
        if round_ == 8:  # finish, then replace a third of the files: kills now land between a document's old and new chunks
            workers.start("ingest", kb=str(kb_path), docs=str(docs), batch=8, chunk_chars=CHUNK_CHARS).succeed()
        if round_ >= 8:  # every later round has replacements to do, however fast the machine
            write_docs(docs, 60, version=round_, only=range(round_ % 2, 60, 2))
            versions.append(expected_hashes(docs))
        job = workers.start("ingest", kb=str(kb_path), docs=str(docs), batch=8, chunk_chars=CHUNK_CHARS)
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0.0, 0.3))  # anywhere, opening and recovery included
        else:
            job.wait_for("open")
            job.wait_for("batch", rng.randint(0, 3))
        time.sleep(rng.uniform(0.0, 0.04))
        interrupted += job.kill()
        kb = open_kb(kb_path)
        try:
            assert_consistent(kb, rng)
            for doc in kb.documents():
                assert doc.content_hash in {v.get(doc.doc_id) for v in versions}, f"{doc.source}: a content never written"
            if round_ >= 8:  # all 60 were ingested whole: a kill mid-replacement keeps the version before it
                assert len(kb.documents()) == 60, f"round {round_}: {60 - len(kb.documents())} documents lost"
        finally:
            kb.close()
    assert interrupted >= 10, f"only {interrupted} of 16 kills landed while the ingest ran"

    lines = workers.start("ingest", kb=str(kb_path), docs=str(docs), batch=8, chunk_chars=CHUNK_CHARS).succeed()
    done, added, updated, unchanged, failed = lines[-1].split()
    assert (done, failed) == ("done", "0") and int(added) + int(updated) + int(unchanged) == 60, lines[-1]
    kb = open_kb(kb_path)
    try:
        assert_consistent(kb, rng, sample=20)
        assert {d.doc_id: d.content_hash for d in kb.documents()} == versions[-1], "re-running the ingest did not finish the job"
    finally:
        kb.close()
    again = workers.start("ingest", kb=str(kb_path), docs=str(docs), batch=8, chunk_chars=CHUNK_CHARS).succeed()
    assert again[-1] == "done 0 0 60 0", again[-1]  # everything was already there


# review resolutions ------------------------------------------------------------------
def _topics(n: int) -> list[tuple[str, str, int, int]]:
    """(title, statement with a value, old value, new value): made-up words, so that topics do not resemble each other."""
    rng = random.Random(3)
    word = lambda: "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3))  # noqa: E731
    return [(word().title(), f"The {word()} {word()} {word()} limit is {{}} {word()}.", 10 + i, 20 + i) for i in range(n)]


TOPICS = _topics(16)
KEEPS = ["new", "old", "both", "edit"]


def write_topics(folder: Path) -> tuple[Path, Path]:
    old, new = folder / "old", folder / "new"
    for sub, year, index in ((old, 2024, 2), (new, 2025, 3)):
        sub.mkdir(parents=True)
        for n, topic in enumerate(TOPICS):
            title, sentence = topic[0], topic[1].format(topic[index])
            (sub / f"topic-{n:02d}.md").write_text(f"---\ntitle: {title} {year}\ndate: {year}-01-01\n---\n{sentence}\n", encoding="utf-8")
    return old, new


def make_conflicts(workers: Workers, folder: Path) -> tuple[Path, list[int]]:
    kb_path = folder / "kb"
    old, new = write_topics(folder)
    lines = workers.start("conflicts", kb=str(kb_path), old=str(old), new=str(new)).succeed()
    reviews = json.loads(lines[-1].split(" ", 1)[1])
    assert len(reviews) == len(TOPICS), lines
    return kb_path, reviews


def check_resolutions(kb_path: Path, plan: dict[int, str], rng: random.Random) -> int:
    """Each review: open and untouched, or resolved exactly once as planned; return how many are resolved."""
    kb = open_kb(kb_path)
    try:
        ledger = kb.ledger
        resolved = Counter(e.review_id for e in ledger.audit_log() if e.action == "resolved")
        humans = [i for i in ledger.items() if i.kind == "human"]
        done = 0
        for rid, keep in plan.items():
            r = ledger.review(rid)
            old, new = ledger.items([r.old_item])[0], ledger.items([r.new_item])[0]
            if r.state == "open":
                assert resolved[rid] == 0 and r.resolution is None
                assert (old.status, new.status) == (Status.POTENTIALLY_OUTDATED, Status.VALID)
                continue
            done += 1
            assert resolved[rid] == 1, f"review {rid} resolved {resolved[rid]} times"
            assert (r.resolution, r.resolved_by, r.note) == (keep, "resolver", f"plan {keep}")
            if keep == "new":
                assert (old.status, old.superseded_by, new.status) == (Status.SUPERSEDED, new.item_id, Status.VALID)
            elif keep == "old":
                assert (new.status, new.superseded_by, old.status) == (Status.SUPERSEDED, old.item_id, Status.VALID)
            elif keep == "both":
                assert (old.status, new.status) == (Status.VALID, Status.VALID)
            else:
                mine = [h for h in humans if h.text.startswith(f"Statement {rid} edited")]
                assert len(mine) == 1 and r.result_item == mine[0].item_id, f"review {rid}: {len(mine)} edited statements"
                assert {old.superseded_by, new.superseded_by} == {mine[0].item_id}
        assert len(humans) == sum(1 for rid, keep in plan.items() if keep == "edit" and ledger.review(rid).state == "resolved")
        assert_consistent(kb, rng)
        return done
    finally:
        kb.close()


def test_kill_9_while_resolving_reviews_loses_no_resolution_and_applies_none_twice(workers, tmp_path):
    rng = random.Random(77)
    kb_path, reviews = make_conflicts(workers, tmp_path)
    plan = {rid: KEEPS[n % len(KEEPS)] for n, rid in enumerate(reviews)}
    assert check_resolutions(kb_path, plan, rng) == 0
    interrupted = 0
    for _ in range(10):
        job = workers.start("resolve", kb=str(kb_path), plan=plan)
        job.wait_for("open")
        job.wait_for("resolved", rng.randint(0, 1))
        time.sleep(rng.uniform(0.0, 0.02))
        interrupted += job.kill()
        check_resolutions(kb_path, plan, rng)
    assert interrupted >= 7, f"only {interrupted} of 10 kills landed while resolving"
    workers.start("resolve", kb=str(kb_path), plan=plan).succeed()
    assert check_resolutions(kb_path, plan, rng) == len(plan)
    log_before = Ledger(kb_path / "ledger.sqlite3")
    try:
        n_audit = len(log_before.audit_log())
    finally:
        log_before.close()
    lines = workers.start("resolve", kb=str(kb_path), plan=plan).succeed()
    assert lines == ["open 0", "done"]
    ledger = Ledger(kb_path / "ledger.sqlite3")
    try:
        assert len(ledger.audit_log()) == n_audit
    finally:
        ledger.close()


# an answer paused for a person ----------------------------------------------------------
REFUND_OLD = "---\ntitle: Refund policy 2024\ndate: 2024-01-01\n---\nRefunds are processed within 14 days of the request."
REFUND_NEW = "---\ntitle: Refund policy 2025\ndate: 2025-03-01\n---\nRefunds are processed within 30 days of the request."


def test_a_paused_answer_resumes_after_kill_9_of_the_process_resuming_it(workers, tmp_path):
    rng = random.Random(5)
    for sub, text in (("old", REFUND_OLD), ("new", REFUND_NEW)):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "refunds.md").write_text(text, encoding="utf-8")
    kb_path = tmp_path / "kb"
    lines = workers.start("conflicts", kb=str(kb_path), old=str(tmp_path / "old"), new=str(tmp_path / "new")).succeed()
    (review_id,) = json.loads(lines[-1].split(" ", 1)[1])
    out = tmp_path / "pause.json"
    workers.start("pause", kb=str(kb_path), question="How long do refunds take?", out=str(out)).succeed()
    paused = json.loads(out.read_text())
    assert paused["kind"] == "question" and paused["review_id"] == review_id and paused["thread_id"]
    assert (kb_path / "checkpoints.sqlite3").exists()

    kills = Counter()
    for round_ in range(8):
        resolved = kills["after the decision"] > 0
        # before the decision is recorded: kill at the start, or in the middle of recording it; after: anywhere up to the answer
        phase = "open" if round_ == 0 else rng.choice(["open", "llm"] if resolved else ["resolving", "resolved", "open"])
        job = workers.start("resume", kb=str(kb_path), review_id=review_id, delay=0.6)
        job.wait_for(phase)
        time.sleep(0.0 if round_ == 0 else rng.uniform(0.0, 0.25 if phase in ("open", "llm") else 0.02))
        assert job.kill(), "the run ended before it was killed:\n" + "\n".join(job.lines())
        ledger = Ledger(kb_path / "ledger.sqlite3")
        try:
            review = ledger.review(review_id)
            assert [e.review_id for e in ledger.audit_log() if e.action == "resolved"].count(review_id) == (review.state == "resolved")
            assert review.state == "open" or (review.resolution, review.resolved_by) == ("new", "ana")
            kills["after the decision" if review.state == "resolved" else "before the decision"] += 1
        finally:
            ledger.close()
    assert kills["before the decision"] >= 1 and kills["after the decision"] >= 3, kills

    lines = workers.start("resume", kb=str(kb_path), review_id=review_id, delay=0.0).succeed()
    answer = json.loads(next(line for line in lines if line.startswith("answer ")).split(" ", 1)[1])
    assert answer["answer"] == "30 days"
    assert "Refund policy 2024" not in answer["titles"] and "Refund policy 2025" in answer["titles"]
    kb = open_kb(kb_path)
    try:
        review = kb.ledger.review(review_id)
        assert (review.state, review.resolution, review.resolved_by) == ("resolved", "new", "ana")
        assert [e.action for e in kb.ledger.audit_log() if e.review_id == review_id].count("resolved") == 1
        titles = {i.title: i.status for i in kb.ledger.items()}
        assert titles == {"Refund policy 2024": Status.SUPERSEDED, "Refund policy 2025": Status.VALID}
        assert_consistent(kb, rng)
    finally:
        kb.close()


# ledgers from other dagrag versions ---------------------------------------------------
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_ledger_from_a_newer_dagrag_is_refused_and_left_byte_for_byte(tmp_path):
    kb_path = tmp_path / "kb"
    kb = KnowledgeBase(kb_path, HashEmbedder(), store=MemoryStore())
    kb.add_statement("The office opens at nine.", by="ana")
    kb.close()
    db = sqlite3.connect(kb_path / "ledger.sqlite3", isolation_level=None)
    db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    db.execute("CREATE TABLE future_things (x)")
    db.execute("PRAGMA journal_mode=DELETE")  # whatever a future version does: here a file without -wal/-shm
    db.close()
    ledger_file = kb_path / "ledger.sqlite3"
    before = _digest(ledger_file)
    for attempt in (lambda: Ledger(ledger_file), lambda: KnowledgeBase(kb_path, HashEmbedder(), store=MemoryStore())):
        with pytest.raises(LedgerError, match=rf"newer dagrag \(ledger schema {SCHEMA_VERSION + 1}.*upgrade dagrag"):
            attempt()
    assert _digest(ledger_file) == before
    assert not (kb_path / "ledger.sqlite3-wal").exists()


def test_a_damaged_or_foreign_ledger_is_refused_and_left_as_it_is(tmp_path):
    (tmp_path / "a").mkdir()
    junk = tmp_path / "a" / "ledger.sqlite3"
    junk.write_bytes(b"this is not SQLite at all" * 100)
    before = _digest(junk)
    with pytest.raises(LedgerError, match="not a dagrag ledger or is damaged"):
        Ledger(junk)
    assert _digest(junk) == before
    foreign = tmp_path / "b.sqlite3"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE recipes (name TEXT)")
    db.commit()
    db.close()
    before = _digest(foreign)
    with pytest.raises(LedgerError, match=r"not a dagrag ledger \(tables: recipes\)"):
        Ledger(foreign)
    assert _digest(foreign) == before


# The first ledger layout: documents, items and meta only (no reviews, no audit), in two variants:
# items with today's columns, and the earliest items without the temporal ones.
V1_FULL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, title TEXT NOT NULL, content_hash TEXT NOT NULL,
    n_chunks INTEGER NOT NULL, ingested_at TEXT NOT NULL, valid_from TEXT NOT NULL, state TEXT NOT NULL);
CREATE TABLE items (item_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, position INTEGER NOT NULL, kind TEXT NOT NULL, title TEXT NOT NULL,
    source TEXT NOT NULL, text TEXT NOT NULL, added_at TEXT NOT NULL, validated_at TEXT NOT NULL, status TEXT NOT NULL,
    superseded_by TEXT, valid_from TEXT NOT NULL, valid_to TEXT);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO documents VALUES ('doc-1', '/docs/hours.md', 'Hours', 'h1', 2, '2024-05-01T10:00:00+00:00',
    '2024-05-01T10:00:00+00:00', 'ready');
INSERT INTO items VALUES ('i-0', 'doc-1', 0, 'chunk', 'Hours', '/docs/hours.md', 'The office opens at nine.',
    '2024-05-01T10:00:00+00:00', '2024-05-01T10:00:00+00:00', 'valid', NULL, '2024-05-01T10:00:00+00:00', NULL);
INSERT INTO items VALUES ('i-1', 'doc-1', 1, 'chunk', 'Hours', '/docs/hours.md', 'The canteen closes at three.',
    '2024-05-01T10:00:00+00:00', '2024-05-01T10:00:00+00:00', 'valid', NULL, '2024-05-01T10:00:00+00:00', NULL);
"""
V1_FIRST = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, title TEXT NOT NULL, content_hash TEXT NOT NULL,
    n_chunks INTEGER NOT NULL, ingested_at TEXT NOT NULL);
CREATE TABLE items (item_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, position INTEGER NOT NULL, title TEXT NOT NULL,
    source TEXT NOT NULL, text TEXT NOT NULL, added_at TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO documents VALUES ('doc-1', '/docs/hours.md', 'Hours', 'h1', 2, '2024-05-01T10:00:00+00:00');
INSERT INTO items VALUES ('i-0', 'doc-1', 0, 'Hours', '/docs/hours.md', 'The office opens at nine.', '2024-05-01T10:00:00+00:00');
INSERT INTO items VALUES ('i-1', 'doc-1', 1, 'Hours', '/docs/hours.md', 'The canteen closes at three.', '2024-05-01T10:00:00+00:00');
"""


@pytest.mark.parametrize("layout", [V1_FULL, V1_FIRST], ids=["v1", "v1-first-columns"])
def test_a_v1_ledger_without_reviews_or_audit_is_migrated_on_open(tmp_path, layout):
    from retrieval.store import Record

    kb_path = tmp_path / "kb"
    kb_path.mkdir()
    db = sqlite3.connect(kb_path / "ledger.sqlite3")
    db.executescript(layout)
    db.close()
    store = MemoryStore()  # the old Chroma mirror: vectors, without the fields retrieval filters on today
    texts = {"i-0": "Hours\nThe office opens at nine.", "i-1": "Hours\nThe canteen closes at three."}
    vectors = HashEmbedder().embed(list(texts.values()))
    store.upsert([Record(i, t, v, {"doc_id": "doc-1", "title": "Hours"}) for (i, t), v in zip(texts.items(), vectors)])

    kb = KnowledgeBase(kb_path, HashEmbedder(), store=store)
    try:
        tables = {r[0] for r in kb.ledger._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"reviews", "review_hits", "audit"} <= tables
        assert kb.ledger._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
        items = {i.item_id: i for i in kb.ledger.items()}
        assert [items[i].text for i in ("i-0", "i-1")] == ["The office opens at nine.", "The canteen closes at three."]
        assert {i.status for i in items.values()} == {Status.VALID} and {i.kind for i in items.values()} == {"chunk"}
        assert items["i-0"].valid_from == items["i-0"].added_at
        assert [d.doc_id for d in kb.documents()] == ["doc-1"] and kb.documents()[0].n_chunks == 2
        assert store.records["i-0"].metadata["status"] == "valid"  # the mirror was refreshed on open
        assert kb.search("When does the office open?", 1).evidence[0].chunk_id == "i-0"
        review = kb.ledger.queue.open_clarification("Is the canteen closing earlier now?", items=["i-1"])
        kb.resolve(review, "edit", by="ana", edit="The canteen closes at two.")
        assert [e.action for e in kb.ledger.audit_log()][-1] == "resolved"
        assert kb.ledger.unsynced() == []
    finally:
        kb.close()
    reopened = Ledger(kb_path / "ledger.sqlite3")  # opening again changes nothing more
    try:
        assert len(reopened.items()) == 3 and len(reopened.reviews(state=None)) == 1
    finally:
        reopened.close()


def test_a_ledger_that_cannot_be_migrated_is_refused_and_left_as_it_is(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE documents (doc_id TEXT PRIMARY KEY); CREATE TABLE items (item_id TEXT PRIMARY KEY, doc_id TEXT);")
    db.close()
    before = _digest(path)
    with pytest.raises(LedgerError, match="cannot be migrated: documents lacks .*left as it is"):
        Ledger(path)
    assert _digest(path) == before
