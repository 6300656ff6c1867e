"""Test helpers shared by unit and integration tests: a scripted fake LLM, a lexical retriever,
an in-memory vector store and a hash embedder. (Fixtures live in conftest.py.)"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit import PromptSession
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from pypdf import PdfReader, PdfWriter
from rich.console import Console

from retrieval.offline import OFFLINE_ENV, go_offline  # noqa: E402

go_offline()

from agent.chat import run_chat  # noqa: E402
from agent.llm import Completion  # noqa: E402
from kb.items import Evidence  # noqa: E402
from kb.knowledge_base import Retrieval  # noqa: E402
from retrieval.store import Hit, Record, VectorStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

Reply = str | dict | Callable[[list[dict], dict | None], str]


@dataclass
class FakeLLM:
    """Replies from a script, in order; records every call.

    A reply is a JSON string, a dict (dumped to JSON), or a function of (messages, schema).
    Running past the end of the script fails the test.
    """

    script: list[Reply]
    calls: list[tuple[list[dict], dict | None]] = field(default_factory=list)

    def chat(self, messages: list[dict], *, max_tokens: int, schema: dict | None = None) -> Completion:
        self.calls.append((messages, schema))
        if not self.script:
            raise AssertionError(f"FakeLLM ran out of replies at call {len(self.calls)}: {messages[-1]['content'][:200]}")
        reply = self.script.pop(0)
        text = reply(messages, schema) if callable(reply) else json.dumps(reply) if isinstance(reply, dict) else reply
        prompt = sum(len(m["content"].split()) for m in messages)
        return Completion(text=text, prompt_tokens=prompt, completion_tokens=len(text.split()), seconds=0.001)

    def prompt(self, i: int) -> str:
        return self.calls[i][0][-1]["content"]


def _words(text: str) -> set[str]:
    stop = {"the", "a", "an", "of", "who", "what", "which", "is", "does", "do", "in", "that", "to", "and", "for", "its", "on", "by", "team"}
    return {w for w in re.findall(r"\w+", text.lower()) if w not in stop}


@dataclass
class LexicalRetriever:
    """Ranks passages by word overlap with the query: predictable retrieval for unit tests."""

    passages: list[tuple[str, str]]  # (title, text)
    queries: list[str] = field(default_factory=list)

    def search(self, query: str, k: int, *, as_of: Any = None) -> Retrieval:
        self.queries.append(query)
        q = _words(query)
        scored = sorted(((len(q & _words(t + " " + x)), i) for i, (t, x) in enumerate(self.passages)), key=lambda p: (-p[0], p[1]))
        evidence = [
            Evidence(
                chunk_id=f"c{i}",
                doc_id=f"d{i}",
                title=self.passages[i][0],
                source=f"/docs/{i}.md",
                text=self.passages[i][1],
                score=float(s),
            )
            for s, i in scored[:k]
            if s > 0
        ]
        return Retrieval(evidence, 0.0, 0.0)


_OPS = {
    "$eq": lambda a, b: a == b,
    "$ne": lambda a, b: a != b,
    "$lte": lambda a, b: a is not None and a <= b,
    "$lt": lambda a, b: a is not None and a < b,
    "$gte": lambda a, b: a is not None and a >= b,
    "$gt": lambda a, b: a is not None and a > b,
    "$in": lambda a, b: a in b,
    "$nin": lambda a, b: a not in b,
}


def matches(metadata: dict, where: dict[str, Any] | None) -> bool:
    """The subset of Chroma's ``where`` filters dagrag uses: $and/$or and field operators."""
    if not where:
        return True
    if "$and" in where:
        return all(matches(metadata, w) for w in where["$and"])
    if "$or" in where:
        return any(matches(metadata, w) for w in where["$or"])
    ((field_name, cond),) = where.items()
    if not isinstance(cond, dict):
        cond = {"$eq": cond}
    return all(_OPS[op](metadata.get(field_name), value) for op, value in cond.items())


class MemoryStore(VectorStore):
    """A dict-backed VectorStore with brute-force cosine search."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}

    def upsert(self, records: Sequence[Record]) -> None:
        self.records.update({r.id: r for r in records})

    def delete(self, ids: Sequence[str]) -> None:
        for i in ids:
            self.records.pop(i, None)

    def query(self, embedding: Sequence[float], k: int, where: dict[str, Any] | None = None) -> list[Hit]:
        dot = lambda r: sum(a * b for a, b in zip(embedding, r.embedding))  # noqa: E731
        kept = [r for r in self.records.values() if matches(r.metadata, where)]
        best = sorted(kept, key=dot, reverse=True)[:k]
        return [Hit(r.id, r.text, dot(r), dict(r.metadata)) for r in best]

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[dict]) -> None:
        for i, m in zip(ids, metadatas):
            r = self.records[i]
            self.records[i] = Record(r.id, r.text, r.embedding, {**r.metadata, **m})

    def ids(self) -> set[str]:
        return set(self.records)

    def count(self) -> int:
        return len(self.records)


class HashEmbedder:
    """Deterministic bag-of-words vectors (unit length): no model needed."""

    name = "hash-embedder"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts.extend(texts)
        out = []
        for t in texts:
            v = [0.0] * self.dim
            for w in _words(t):
                v[zlib.crc32(w.encode()) % self.dim] += 1.0
            n = sum(x * x for x in v) ** 0.5 or 1.0
            out.append([x / n for x in v])
        return out


COMPANY = [
    ("Teams", "The Payments team owns the billing service. The Discovery team owns the search service."),
    ("Managers", "Dana Kim manages the Payments team. Omar Haddad manages the Discovery team."),
    ("Offices", "Dana Kim works in Lisbon. Omar Haddad works in Oslo."),
]


def write_company_docs(folder: Path) -> Path:
    """The COMPANY passages as one markdown file each in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for title, text in COMPANY:
        (folder / f"{title.lower()}.md").write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
    return folder


def plan_reply(*nodes: tuple[int, str, list[int]]) -> dict:
    return {"nodes": [{"id": i, "question": q, "depends_on": d} for i, q, d in nodes]}


def real_data(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} not found: the benchmark data lives in ../shared/data next to the repository")
    return path


# the real console command -------------------------------------------------------
DAGRAG = ROOT / ".venv" / "bin" / "dagrag"
if not DAGRAG.exists():  # another virtual environment: the script next to this interpreter
    DAGRAG = Path(sys.executable).with_name("dagrag")


@dataclass
class CliResult:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    def one_error_line(self) -> str:
        """The single stderr line of a user error (exit 2, no traceback)."""
        assert self.code == 2, self
        lines = self.err.strip("\n").splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), self
        assert "Traceback" not in self.err + self.out, self
        return lines[0]


def start_dagrag(cwd: Path, *args: str, **env: str) -> tuple[tuple[str, ...], subprocess.Popen]:
    """Start ``dagrag ARGS`` in ``cwd`` with a kb in ``cwd/kb``, offline, no DAGRAG_* from the caller."""
    cwd.mkdir(parents=True, exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DAGRAG_")}
    environ.update({**OFFLINE_ENV, "DAGRAG_KB_PATH": str(cwd / "kb"), "NO_COLOR": "1", "COLUMNS": "250", **env})
    proc = subprocess.Popen(
        [str(DAGRAG), *args], cwd=cwd, env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return args, proc


def finish_dagrag(started: tuple[tuple[str, ...], subprocess.Popen], timeout: float) -> CliResult:
    args, proc = started
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"dagrag {' '.join(a[:40] for a in args)} did not finish in {timeout}s")
    return CliResult(args, proc.returncode, out, err)


def minimal_pdf(text: str, title: str | None = None) -> bytes:
    """A hand-written one-page PDF drawing ``text`` in Helvetica (xref offsets computed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    if title:
        objects.append(b"<< /Title (%s) >>" % title.encode("latin-1"))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    info = b" /Info 5 0 R" if title else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        info,
        xref,
    )
    return bytes(out)


def encrypted_pdf(user_password: str) -> bytes:
    """:func:`minimal_pdf` ("Secret text.") encrypted with ``user_password`` (empty: an owner password only)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(minimal_pdf("Secret text."))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def chat(rag: Any, *lines: str, width: int = 100) -> str:
    """`dagrag chat` with ``lines`` piped in, then end of input (Ctrl-D); return what it printed."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    with create_pipe_input() as pipe:
        pipe.send_text("".join(lines))
        pipe.close()
        run_chat(rag, console, PromptSession(input=pipe, output=DummyOutput(), history=InMemoryHistory()))
    return buffer.getvalue()
