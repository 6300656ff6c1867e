"""The Python API: open a knowledge base, ingest, ask.

>>> from agent import DagRAG
>>> rag = DagRAG.open(".dagrag")
>>> rag.ingest(["docs/"])
>>> answer = rag.ask("Who manages the team that owns the billing service?")
>>> print(answer.answer, [c.title for c in answer.citations])
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Iterator, Sequence

from agent import outputs, prompts
from agent.llm import LLM, LlamaCppLLM, ask_structured
from agent.settings import Settings, embed_model_path, llm_model_path, load_settings
from agent.types import Answer, StepEvent
from agent.workflow import Context, build_graph, supported_citations, llm_calls, messages_for, run_agent, to_answer, warmup_call
from graph import Plan
from kb.knowledge_base import IngestReport, KnowledgeBase, Progress
from retrieval.embedder import Embedder, SentenceTransformerEmbedder
from retrieval.store import VectorStore

MAX_QUESTION_CHARS = 4000


class QuestionError(ValueError):
    """The question cannot be asked as given."""


def clean_question(question: str) -> str:
    """Strip control characters and whitespace; refuse empty or oversized questions."""
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", question or "")
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty: ask something, e.g. dagrag ask \"Who owns billing?\"")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(text):,} characters long; keep it under {MAX_QUESTION_CHARS:,}")
    return text


class DagRAG:
    """A knowledge base plus the agent that answers questions over it.

    The embedder and the LLM load lazily, so ingesting never loads the LLM. Pass ``llm``,
    ``embedder`` or ``store`` to swap any of them (tests use scripted fakes).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        llm: LLM | None = None,
        embedder: Embedder | None = None,
        store: VectorStore | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self._llm = llm
        self._embedder = embedder
        self._store = store
        self._kb: KnowledgeBase | None = None
        self._graph = build_graph()

    @classmethod
    def open(cls, kb_path: str | Path | None = None, **overrides) -> "DagRAG":
        """Open (creating if needed) a knowledge base; ``overrides`` are settings fields."""
        return cls(load_settings(kb_path=kb_path, **overrides))

    # components ----------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            s = self.settings
            name = s.embed_model or "all-MiniLM-L6-v2 (embedded)"
            self._embedder = SentenceTransformerEmbedder(embed_model_path(s), name=name, batch_size=s.embed_batch_size)
        return self._embedder

    @property
    def kb(self) -> KnowledgeBase:
        if self._kb is None:
            s = self.settings
            self._kb = KnowledgeBase(s.kb_path, self.embedder, store=self._store, chunk_chars=s.chunk_chars, chunk_overlap=s.chunk_overlap)
        return self._kb

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            s = self.settings
            self._llm = LlamaCppLLM(llm_model_path(s), n_ctx=s.n_ctx, n_threads=s.n_threads, seed=s.seed,
                                    temperature=s.temperature, prompt_cache=s.prompt_cache)
        return self._llm

    # ingest --------------------------------------------------------------------
    def ingest(self, paths: Sequence[str | Path], *, valid_from: datetime | None = None, progress: Progress | None = None) -> IngestReport:
        """Ingest files and folders (.txt .md .pdf .html and JSON passage lists)."""
        return self.kb.ingest(paths, valid_from=valid_from, progress=progress)

    # asking --------------------------------------------------------------------
    def ask(self, question: str) -> Answer:
        """Answer with the DAG agent (LogicRAG)."""
        answer = None
        for event in self.stream(question):
            answer = event.answer or answer
        assert answer is not None
        return answer

    def stream(self, question: str, *, plan: Plan | None = None) -> Iterator[StepEvent]:
        """Answer with the DAG agent, yielding progress events; the last one carries the Answer.

        ``plan`` skips warm-up and planning and executes the given DAG (an oracle planner).
        """
        question = clean_question(question)
        context = Context(llm=self.llm, retriever=self.kb, settings=self.settings)
        yield from run_agent(self._graph, question, context, plan=plan)

    def ask_vanilla(self, question: str) -> Answer:
        """Plain RAG: retrieve top-k for the question and answer once."""
        question = clean_question(question)
        s, start = self.settings, time.perf_counter()
        got = self.kb.search(question, s.top_k)
        ev = got.evidence
        result, _ = warmup_call(Context(llm=self.llm, retriever=self.kb, settings=s), question, ev)
        calls = llm_calls("vanilla", result)
        fallbacks: list[str] = []
        answer = result.value.answer.strip() if result.value else "unknown"
        citations, note = supported_citations(answer, ev, result.value.sources if result.value else [], {})
        fallbacks += [f"answer unusable ({result.error})"] if result.value is None else []
        fallbacks += [note] if note else []
        state = {"question": question, "answer": answer, "citations": citations, "plan_source": "vanilla", "calls": calls,
                 "fallbacks": fallbacks, "retrieved_ids": [e.chunk_id for e in ev],
                 "timings": {"embed": got.embed_seconds, "retrieval": got.search_seconds}}
        return to_answer(state, time.perf_counter() - start)

    def ask_without_retrieval(self, question: str) -> Answer:
        """The model alone, no retrieval (the "none" baseline)."""
        question = clean_question(question)
        start = time.perf_counter()
        result = ask_structured(self.llm, messages_for(prompts.DIRECT.format(question=question)), outputs.NodeReply, outputs.NODE_SCHEMA, self.settings.answer_max_tokens)
        calls = llm_calls("none", result)
        state = {"question": question, "answer": result.value.answer.strip() if result.value else "unknown", "plan_source": "none",
                 "calls": calls, "fallbacks": [] if result.value else [f"answer unusable ({result.error})"]}
        return to_answer(state, time.perf_counter() - start)

    def close(self) -> None:
        if self._kb is not None:
            self._kb.close()

    def __enter__(self) -> "DagRAG":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

