"""Concurrency: many threads asking through one DagRAG; an ingest, an answering process and a
resolver on one knowledge base at once; a second writer that must wait or is refused.

Chroma's PersistentClient is not process-safe (Chroma's docs and issues say so, and these
tests were written after seeing it: three processes upserting into one folder left an index
that crashed the next open, two lost vectors, and a client opened before another process's
big write neither found those vectors nor kept them when it wrote next). dagrag therefore
takes turns through a lock file in the kb folder and reopens a client another process has
outdated; the tests below check the outcome with real processes on a real Chroma folder.
"""

from __future__ import annotations

import inspect
import json
import logging
import random
import re
import textwrap
import threading
import time
import zlib
from pathlib import Path

import pytest
from test_crash import (  # the crash tests' worker and checks (same folder)
    EMBED_DIM,
    HashEmbedder,
    Workers,
    assert_consistent,
    check_resolutions,
    make_conflicts,
    open_kb,
    write_docs,
)

from agent.api import DagRAG
from agent.llm import Completion
from agent.settings import Settings
from kb.ledger import KBBusyError, LedgerError
from kb.records import embed_text

pytestmark = pytest.mark.integration


def company(n: int) -> list[tuple[str, str, str]]:
    """(service, team, manager) triples of made-up words: every question has one right answer.

    Each word has a HashEmbedder bucket of its own, so retrieval ranks the right passage first."""
    rng = random.Random(11)
    taken = {zlib.crc32(w.encode()) % EMBED_DIM for w in ("manages", "owns", "service", "owner", "lead")}

    def word() -> str:
        while True:
            w = "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3))
            if zlib.crc32(w.encode()) % EMBED_DIM not in taken:
                taken.add(zlib.crc32(w.encode()) % EMBED_DIM)
                return w

    return [(word(), word().title(), f"{word().title()} {word().title()}") for _ in range(n)]


def write_company(folder: Path, world: list[tuple[str, str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for svc, team, person in world:
        (folder / f"owner-of-{svc}.txt").write_text(f"The {team} team owns the {svc} service.\n", encoding="utf-8")
        (folder / f"lead-of-{team.lower()}.txt").write_text(f"{person} manages the {team} team.\n", encoding="utf-8")


def probe(i: int, version: int) -> str:
    """A query with exactly the words of the first chunk of write_docs' file i: that chunk, and only it, ranks first."""
    return f"Note {i} " + " ".join(f"d{i}v{version}w{j}" for j in range(12))


def question(svc: str) -> str:
    return f"Who manages the team that owns the {svc} service?"


class CompanyLLM:
    """A thread-safe scripted LLM whose reply depends only on the prompt: it reads the passages it is given.

    Calls take turns under a lock, as llama.cpp's do, and take a little time, so threads interleave.
    A thread given another thread's evidence or facts would answer "unknown" or the wrong name.
    """

    def __init__(self, delay: float = 0.002) -> None:
        self.lock = threading.Lock()
        self.delay = delay
        self.calls = 0

    def chat(self, messages, *, max_tokens, schema=None):
        prompt = messages[-1]["content"]
        with self.lock:
            self.calls += 1
            time.sleep(self.delay)
        text = json.dumps(self.reply(prompt, (schema or {}).get("properties", {})))
        return Completion(text=text, prompt_tokens=len(prompt.split()), completion_tokens=len(text.split()), seconds=self.delay)

    @staticmethod
    def reply(prompt, props):
        asked = re.findall(r"Question: (.*)", prompt)
        q = asked[-1].strip() if asked else ""
        passages = re.findall(r'<passage id="(\d+)"[^>]*>\n(.*?)\n</passage>', prompt, re.S)
        if "nodes" in props:  # plan: two hops
            svc = re.search(r"owns the (\w+) service", q).group(1)
            return {
                "nodes": [
                    {"id": 1, "question": f"Which team owns the {svc} service?", "depends_on": []},
                    {"id": 2, "question": "Who manages #1?", "depends_on": [1]},
                ]
            }
        if "can_answer" in props:  # warm-up: never enough, so every question runs the whole DAG
            return {"answer": "unknown", "sources": [], "can_answer": False}
        if "enough" in props:
            return {"enough": True, "new_questions": []}
        if "notes" in props:
            return {"notes": prompt.split("New facts:")[1].split("Rewrite the notes")[0].strip()[:200]}
        if "sources" in props:  # final: the manager found in the facts, cited where a passage says so
            m = re.search(r"Who manages (\w+)\? (\w+ \w+)", prompt.split("Passages:")[0])
            for n, text in passages:
                if m and f"{m.group(2)} manages the {m.group(1)} team" in text:
                    return {"answer": m.group(2), "sources": [int(n)]}
            return {"answer": "unknown", "sources": []}
        m = re.match(r"Which team owns the (\w+) service\?", q)  # a sub-question
        pattern = rf"The (\w+) team owns the {m.group(1)} service" if m else None
        if pattern is None and (m := re.match(r"Who manages (\w+)\?", q)):
            pattern = rf"(\w+ \w+) manages the {m.group(1)} team"
        for _, text in passages:
            if pattern and (found := re.search(pattern, text)):
                return {"answer": found.group(1)}
        return {"answer": "unknown"}


# jobs for the worker processes (added to the crash tests' worker)
JOBS = (
    "\nimport re, threading\nfrom agent.llm import Completion\n"
    + textwrap.dedent(inspect.getsource(CompanyLLM))
    + r'''

def job_ask_loop(log, kb, world, stop, probe):
    """Answer questions until told to stop, checking each answer; then look for the other process's last document."""
    rag = rag_for(kb, CompanyLLM(), detect_conflicts=False)
    rag.kb.search("warm up", 1)
    log("open")
    n = 0
    while not os.path.exists(stop) or n < 3:
        svc, team, person = world[n % len(world)]
        answer = rag.ask(f"Who manages the team that owns the {svc} service?")
        log("ok" if answer.answer == person else "wrong", n, json.dumps(answer.answer))
        n += 1
    hits = rag.kb.search(probe, 1).evidence
    log("probe", Path(hits[0].source).name if hits else "-")
    rag.close()


def job_hold_then_ingest(log, kb, go, probe, docs):
    """Open the kb (its Chroma client loaded), wait while another process writes, then search and write."""
    base = KnowledgeBase(Path(kb), HashEmbedder(), batch_passages=256, chunk_chars=200, chunk_overlap=0)
    base.search("warm up", 1)
    log("open")
    while not os.path.exists(go):
        time.sleep(0.01)
    hits = base.search(probe, 1).evidence
    log("probe", Path(hits[0].source).name if hits else "-")
    report = base.ingest([docs])
    log("done", len(report.added))
    base.close()


def job_hold_lock(log, kb, seconds):
    """Hold the kb's write lock, as a long write would."""
    base = KnowledgeBase(Path(kb), HashEmbedder())
    with base._lock.hold(True):
        log("holding")
        time.sleep(seconds)
    log("released")
    base.close()
'''
)


@pytest.fixture(scope="module")
def workers(tmp_path_factory, subprocess_env):
    w = Workers(tmp_path_factory.mktemp("workers"), subprocess_env, jobs=JOBS)
    yield w
    w.close()


# threads -----------------------------------------------------------------------------
def test_many_threads_asking_through_one_dagrag_each_get_their_own_complete_answer(tmp_path):
    world = company(24)
    write_company(tmp_path / "docs", world)
    llm = CompanyLLM()
    # ranking as if valid; the model writes every answer (planner "llm", reader "free"): many calls in flight at once
    settings = Settings(
        kb_path=tmp_path / "kb", reviewer="tester", detect_conflicts=False, outdated_weight=1.0, planner="llm", reader="free"
    )
    rag = DagRAG(settings, llm=llm, embedder=HashEmbedder(EMBED_DIM))
    try:
        assert len(rag.ingest([tmp_path / "docs"]).added) == 48
        items = {i.text: i for i in rag.kb.ledger.items()}
        reviews = {}  # an open conflict on every other answer: those record a hit in the ledger, from many threads at once
        for svc, team, person in world[::2]:
            old, new = items[f"{person} manages the {team} team."], items[f"The {team} team owns the {svc} service."]
            reviews[svc] = rag.kb.ledger.open_conflict(
                old,
                new,
                old_statement=old.text,
                new_statement=new.text,
                relation="contradicts",
                confidence=0.9,
                reason="test",
                detector="rule",
                question="Which holds?",
            )
        rag.kb.sync()
        barrier, results, errors = threading.Barrier(8), {}, []

        def ask(thread: int) -> None:
            barrier.wait()
            for k in range(3):
                svc, team, person = world[thread * 3 + k]
                try:
                    results[svc] = rag.ask(question(svc))
                except Exception as exc:  # noqa: BLE001 - reported below with the thread
                    errors.append((thread, svc, repr(exc)))

        threads = [threading.Thread(target=ask, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert len(results) == 24
        for svc, team, person in world:
            a = results[svc]
            assert a.question == question(svc)
            assert a.answer == person, (svc, a.answer, a.fallbacks)
            assert [n.answer for n in a.nodes] == [team, person], a.nodes
            assert any(f"{person} manages the {team} team" in c.snippet for c in a.citations), a.citations
            assert not [f for f in a.fallbacks if "unusable" in f], a.fallbacks
            assert a.conflicts == ([reviews[svc]] if svc in reviews else [])
        for svc, review_id in reviews.items():
            assert [q for q, _ in rag.kb.ledger.hits(review_id)] == [question(svc)]
        assert llm.calls >= 24 * 4  # warm-up, plan, two nodes and final for each (no reflection: every node answered)
    finally:
        rag.close()


# processes ---------------------------------------------------------------------------
def test_an_ingest_an_answering_process_and_a_resolver_at_once_lose_nothing(workers, tmp_path):
    rng = random.Random(8)
    kb_path, reviews = make_conflicts(workers, tmp_path)
    plan = {rid: ["new", "old", "both", "edit"][n % 4] for n, rid in enumerate(reviews)}
    world = company(12)
    write_company(tmp_path / "company", world)
    workers.start("ingest", kb=str(kb_path), docs=str(tmp_path / "company"), batch=64, chunk_chars=800).succeed()
    big = tmp_path / "big"
    write_docs(big, 120, version=5)
    stop = tmp_path / "stop"

    asker = workers.start("ask_loop", kb=str(kb_path), world=world, stop=str(stop), probe=probe(119, 5))
    resolver = workers.start("resolve", kb=str(kb_path), plan=plan, pause=0.1)
    asker.wait_for("open")
    resolver.wait_for("open")
    ingest = workers.start("ingest", kb=str(kb_path), docs=str(big), batch=16, chunk_chars=200)
    ingest_lines = ingest.succeed()
    resolver_lines = resolver.succeed()
    stop.touch()
    asker_lines = asker.succeed()

    assert ingest_lines[-1] == "done 120 0 0 0", ingest_lines[-3:]
    assert resolver_lines[-1] == "done" and len([x for x in resolver_lines if x.startswith("resolved ")]) == len(plan)
    answers = [x for x in asker_lines if x.split()[0] in ("ok", "wrong")]
    assert answers and not [x for x in answers if x.startswith("wrong")], answers
    assert asker_lines[-1] == "probe note-119.md", asker_lines[-1]  # the long-lived process sees the other's last write
    assert check_resolutions(kb_path, plan, rng) == len(plan)
    kb = open_kb(kb_path)
    try:
        assert len(kb.documents()) == 2 * len(reviews) + 2 * len(world) + 120 + sum(1 for k in plan.values() if k == "edit")
        assert_consistent(kb, rng, sample=60)
    finally:
        kb.close()


def test_a_process_opened_before_another_ingest_finds_and_keeps_its_vectors(workers, tmp_path):
    """The case that loses vectors with a bare PersistentClient: A opens, B writes enough for Chroma to
    persist its index (over 1000 vectors), then A writes: A's stale index must not replace B's."""
    kb_path, go = tmp_path / "kb", tmp_path / "go"
    write_docs(tmp_path / "a", 280, version=1)
    write_docs(tmp_path / "b", 280, version=2)
    open_kb(kb_path).close()
    a = workers.start("hold_then_ingest", kb=str(kb_path), go=str(go), probe=probe(279, 2), docs=str(tmp_path / "a"))
    a.wait_for("open")
    b_lines = workers.start("ingest", kb=str(kb_path), docs=str(tmp_path / "b"), batch=256, chunk_chars=200).succeed()
    assert b_lines[-1] == "done 280 0 0 0"
    go.touch()
    a_lines = a.succeed()
    assert a_lines[-2:] == ["probe note-279.md", "done 280"]
    kb = open_kb(kb_path)
    try:
        assert len(kb.ledger.item_ids()) > 2000
        rng = random.Random(2)
        by_folder = {"a": [], "b": []}
        for item in kb.ledger.items():
            by_folder[Path(item.source).parent.name].append(item)
        for name, items in by_folder.items():
            for item in rng.sample(items, 60):
                hits = kb.store.query(kb.embedder.embed([embed_text(item)])[0], 1)
                assert hits and hits[0].id == item.item_id, f"a vector written by process {name!r} is gone from the index"
        assert_consistent(kb, rng, sample=0)
    finally:
        kb.close()


def test_a_second_writer_waits_its_turn_or_is_refused_with_a_clear_error(workers, tmp_path, caplog):
    kb_path = tmp_path / "kb"
    kb = open_kb(kb_path, lock_timeout=0.5)
    try:
        first = kb.ledger.queue.open_clarification("Who cleans the office?", items=[])
        second = kb.ledger.queue.open_clarification("Who waters the plants?", items=[])
        audit = kb.ledger.audit_log()
        holder = workers.start("hold_lock", kb=str(kb_path), seconds=60)
        holder.wait_for("holding")
        busy = f"knowledge base {kb_path} is busy: another dagrag process is writing; try again"
        t0 = time.monotonic()
        with pytest.raises(KBBusyError) as refused:
            kb.resolve(first, "edit", by="ana", edit="Sparkle Ltd cleans the office.")
        assert str(refused.value) == busy and isinstance(refused.value, LedgerError)  # the CLI reports LedgerError in one line
        assert 0.4 < time.monotonic() - t0 < 10
        assert kb.ledger.review(first).state == "open" and kb.ledger.audit_log() == audit  # refused: nothing happened
        with pytest.raises(KBBusyError, match="is busy"):
            kb.search("office", 1)  # readers wait for a writer too, as long
        with pytest.raises(KBBusyError, match="is busy"):
            open_kb(kb_path, lock_timeout=0.5)
        assert holder.kill()  # a writer killed mid-write releases the lock with its process
        kb.resolve(first, "edit", by="ana", edit="Sparkle Ltd cleans the office.")
        assert kb.ledger.review(first).state == "resolved"

        holder = workers.start("hold_lock", kb=str(kb_path), seconds=2.5)
        holder.wait_for("holding")
        t0 = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="kb.knowledge_base"):
            kb._lock.timeout = 60  # a patient writer: waits for its turn, and says so after two seconds
            kb.resolve(second, "edit", by="bo", edit="Bo waters the plants on Mondays.")
        assert time.monotonic() - t0 > 1.5
        assert f"knowledge base {kb_path}: waiting for another dagrag process to finish writing" in caplog.text
        assert kb.ledger.review(second).resolved_by == "bo"
        assert holder.succeed()[-1] == "released"
    finally:
        kb.close()
