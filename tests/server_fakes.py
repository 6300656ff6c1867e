"""Fakes for the server tests: an LLM that answers by reading the passages it is shown, so many
requests in any order (threads, a browser, MCP clients) get consistent replies, and a DagRAG on a
temporary knowledge base with two conflicting refund policies.

The LLM is scripted by the reply *kind* (told apart by the JSON schema of the call), not by the
order of calls: the judge flags a changed number, the warm-up says the evidence is not enough
(so the agent plans a DAG), the plan has two nodes, and every answer is the first "N days"
phrase found in the passages, citing the passage it came from.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from agent.api import DagRAG
from agent.llm import Completion
from agent.settings import Settings

OLD = (
    "---\ntitle: Refund policy 2024\ndate: 2024-01-01\n---\nRefunds are processed within 14 days of the request. Claims are filed by email."
)
NEW = (
    "---\ntitle: Refund policy 2025\ndate: 2025-03-01\n---\nRefunds are processed within 30 days of the request. Claims are filed by email."
)
QUESTION = "How long do refunds take?"
PLAN = {
    "nodes": [
        {"id": 1, "question": "Which refund policy applies?", "depends_on": []},
        {"id": 2, "question": "How many days does #1 allow for refunds?", "depends_on": [1]},
    ]
}
_PASSAGE = re.compile(r'<passage id="(\d+)"[^>]*>\n(.*?)\n</passage>', re.S)
_STATEMENT = re.compile(r'<statement id="\w+"[^>]*>\n(.*?)\n</statement>', re.S)
_DAYS = re.compile(r"\b\d+ days\b")


@dataclass
class ReaderLLM:
    """Answers from the passages in the prompt; thread-safe; records the kinds of calls it got."""

    plan: dict = field(default_factory=lambda: PLAN)
    kinds: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def chat(self, messages: list[dict], *, max_tokens: int, schema: dict | None = None) -> Completion:
        prompt = messages[-1]["content"]
        props = (schema or {}).get("properties", {})
        kind, reply = self._reply(prompt, props)
        with self._lock:
            self.kinds.append(kind)
        text = json.dumps(reply)
        return Completion(text=text, prompt_tokens=len(prompt.split()), completion_tokens=len(text.split()), seconds=0.001)

    def _reply(self, prompt: str, props: dict) -> tuple[str, dict]:
        if "relation" in props:
            numbers = [set(re.findall(r"\d+", text)) for text in _STATEMENT.findall(prompt)]
            changed = len(numbers) == 2 and numbers[0] != numbers[1]
            return "judge", (
                {"relation": "updates", "confidence": 90, "reason": "a number in the statement changed"}
                if changed
                else {"relation": "consistent", "confidence": 90, "reason": "the same"}
            )
        if "nodes" in props:
            return "plan", self.plan
        if "enough" in props:
            return "reflect", {"enough": True, "new_questions": []}
        if "notes" in props:
            return "memory", {"notes": " ".join(_DAYS.findall(prompt)[:1]) or "none"}
        if "can_answer" in props:
            return "warmup", {"answer": "unknown", "sources": [], "can_answer": False}
        answer, source = self._read(prompt)
        if "enum" in props.get("answer", {}):
            options = props["answer"]["enum"]
            return "choice", {"answer": next((o for o in options if answer in o), options[0])}
        if "sources" in props:
            return "final", {"answer": answer, "sources": [source] if source else []}
        return "node", {"answer": answer}

    @staticmethod
    def _read(prompt: str) -> tuple[str, int | None]:
        for n, text in _PASSAGE.findall(prompt):
            found = _DAYS.search(text)
            if found:
                return found.group(), int(n)
        return "unknown", None


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def dag_settings() -> dict:
    """Settings of the "capable model" path, so the fake's two-node plan runs: no warm-up shortcut, the LLM plans
    and writes the answers (``planner``/``reader`` where this dagrag has them)."""
    fields = Settings.model_fields
    capable = {k: v for k, v in (("planner", "llm"), ("reader", "free")) if k in fields}
    return {"reviewer": "tester", "clarify_budget": 0, "warmup_shortcut": False, **capable}


def refund_rag(tmp_path: Path, *, embedder=None, store=None, ingest: bool = True, **settings) -> DagRAG:
    """A DagRAG with the ReaderLLM; with ``ingest`` the two refund policies are in it (one open review)."""
    from helpers import HashEmbedder, MemoryStore

    s = Settings(kb_path=tmp_path / "kb", **{**dag_settings(), **settings})
    rag = DagRAG(s, llm=ReaderLLM(), embedder=embedder or HashEmbedder(), store=store if store is not None else MemoryStore())
    if ingest:
        rag.ingest([write(tmp_path / "docs" / "refunds-2024.md", OLD)])
        report = rag.ingest([write(tmp_path / "docs" / "refunds-2025.md", NEW)])
        assert report.reviews, "the changed refund period was not flagged"
    return rag


class ThreadServer:
    """A uvicorn server for ``app`` on a free loopback port, in a thread of this process."""

    def __init__(self, app) -> None:
        import socket

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="uvicorn-test")

    def __enter__(self) -> ThreadServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(15)
