"""The Python API: open a knowledge base, ingest, ask.

>>> from agent import DagRAG
>>> rag = DagRAG.open(".dagrag")
>>> rag.ingest(["docs/"])
>>> answer = rag.ask("Who manages the team that owns the billing service?")
>>> print(answer.answer, [c.title for c in answer.citations])
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from agent import outputs, prompts
from agent.escalation import Budget, PersonReply
from agent.evidence import supported_citations
from agent.judge import conflict_judge
from agent.llm import LLM, ClearsCache, LlamaCppLLM, ask_structured
from agent.prompts import messages_for
from agent.reading import cosine_similarity
from agent.run import run_agent, to_answer
from agent.settings import Settings, embed_model_path, llm_model_path, load_settings
from agent.state import Context
from agent.tagger import Tagger, load_tagger
from agent.types import Answer, StepEvent, follow
from agent.workflow import build_graph
from agent.writer import llm_calls, warmup_call
from graph import Plan
from kb.desk import ReviewDesk
from kb.items import as_utc
from kb.knowledge_base import IngestReport, KnowledgeBase, Progress, RetrievalPolicy, TimePolicy
from kb.ledger import Review, ReviewError
from retrieval.embedder import Embedder, SentenceTransformerEmbedder
from retrieval.errors import DagragError
from retrieval.store import VectorStore

MAX_QUESTION_CHARS = 4000
# the state types a paused run stores in its checkpoint (nothing else is deserialised)
CHECKPOINT_TYPES = [
    ("kb.items", "Evidence"),
    ("agent.types", "Citation"),
    ("agent.types", "LLMCall"),
    ("agent.types", "SelfCheck"),
    ("agent.types", "NodeResult"),
    ("graph.plan", "Plan"),
    ("graph.plan", "PlanNode"),
]


class QuestionError(DagragError, ValueError):
    """The question cannot be asked as given."""


def clean_question(question: str) -> str:
    """Strip control characters and whitespace; refuse empty or oversized questions."""
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", question or "")
    text = " ".join(text.split())
    if not text:
        raise QuestionError('the question is empty: ask something, e.g. dagrag ask "Who owns billing?"')
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(text):,} characters long; keep it under {MAX_QUESTION_CHARS:,}")
    return text


class DagRAG:
    """A knowledge base plus the agent that answers questions over it.

    The embedder, the LLM and the reader's tagger load lazily, so ingesting never loads the
    LLM. Pass ``llm``, ``embedder``, ``store`` or ``tagger`` to swap any of them (tests use
    scripted fakes).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        llm: LLM | None = None,
        embedder: Embedder | None = None,
        store: VectorStore | None = None,
        tagger: Tagger | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self._tagger: Tagger | None | bool = tagger if tagger is not None else False  # False: not loaded yet
        self._llm = llm
        self._own_llm = False  # an LLM passed in is the caller's to close; one made here is closed by close()
        self._llm_chosen = llm is not None or bool(self.settings.llm_model or self.settings.llm_url)  # not the embedded 135M model
        self._embedder = embedder
        self._store = store
        self._kb: KnowledgeBase | None = None
        self._graph = build_graph()
        self._interactive_graph = None
        self._graph_lock = threading.Lock()
        self._budget = Budget(self.settings.clarify_budget)

    @classmethod
    def open(cls, kb_path: str | Path | None = None, **overrides) -> DagRAG:
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
    def tagger(self) -> Tagger | None:
        """The reader's entity tagger (``reader_tagger``), loaded on first use; None when off."""
        if self._tagger is False:
            self._tagger = load_tagger(self.settings.reader_tagger)
        return self._tagger

    @property
    def llm_judges(self) -> bool:
        """Whether the LLM judges conflicts at ingest (``judge_llm``; "auto": only a model chosen over the embedded one)."""
        return self.settings.judge_llm == "on" or (self.settings.judge_llm == "auto" and self._llm_chosen)

    @property
    def kb(self) -> KnowledgeBase:
        if self._kb is None:
            s = self.settings
            judge = conflict_judge(lambda: self.llm, s.judge_min_confidence) if s.detect_conflicts else None
            store = self._store
            if store is None and s.chroma_url:  # a Chroma server: one collection per knowledge-base folder
                from retrieval.store import ChromaStore

                url, collection = s.chroma_url, ChromaStore.collection_for(s.kb_path)
                store = lambda: ChromaStore(url, collection=collection)  # noqa: E731  the client is the kb's to close (not the server)
            self._kb = KnowledgeBase(
                s.kb_path,
                self.embedder,
                store=store,
                chunk_chars=s.chunk_chars,
                chunk_overlap=s.chunk_overlap,
                judge=judge,
                time_policy=TimePolicy.from_settings(s, llm_judge=self.llm_judges),
                retrieval=RetrievalPolicy.from_settings(s),
            )
        return self._kb

    @property
    def desk(self) -> ReviewDesk:
        """The agent's side of the review queue: open conflicts, questions for a person, their answers."""
        return ReviewDesk(self.kb)

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            s = self.settings
            if s.llm_url:  # an OpenAI-compatible llama.cpp server already running
                from agent.llm import OpenAIServerLLM

                self._llm = OpenAIServerLLM(s.llm_url, model=s.llm_api_model, temperature=s.temperature, seed=s.seed)
            else:
                self._llm = LlamaCppLLM(
                    llm_model_path(s),
                    n_ctx=s.n_ctx,
                    n_threads=s.n_threads,
                    seed=s.seed,
                    temperature=s.temperature,
                    prompt_cache=s.prompt_cache,
                )
            self._own_llm = True
        return self._llm

    # ingest --------------------------------------------------------------------
    def ingest(self, paths: Sequence[str | Path], *, valid_from: datetime | None = None, progress: Progress | None = None) -> IngestReport:
        """Ingest files and folders (.txt .md .pdf .html and JSON passage lists)."""
        return self.kb.ingest(paths, valid_from=valid_from, progress=progress)

    # asking --------------------------------------------------------------------
    def ask(self, question: str, *, as_of: datetime | None = None) -> Answer:
        """Answer with the DAG agent (LogicRAG); never pauses: anything for a person is queued."""
        answer = follow(self.stream(question, as_of=as_of))
        assert answer is not None
        return answer

    def stream(
        self, question: str, *, plan: Plan | None = None, as_of: datetime | None = None, interactive: bool = False
    ) -> Iterator[StepEvent]:
        """Answer with the DAG agent, yielding progress events; the last one carries the Answer.

        ``plan`` skips warm-up and planning and executes the given DAG (an oracle planner).
        ``as_of`` answers from what was valid at that world time. ``interactive`` lets the
        agent pause to ask a person: the last event is then a "question"; answer it with
        ``resume`` (now, or later and from another process: the run is checkpointed).
        """
        question = clean_question(question)
        if interactive:
            thread = f"ask-{uuid.uuid4().hex[:12]}"
            yield from run_agent(self._checkpointed_graph(), question, self._context(as_of, True), plan=plan, thread_id=thread)
        else:
            yield from run_agent(self._graph, question, self._context(as_of, False), plan=plan)

    def resume(self, review_id: int, *, keep: str | None = None, text: str | None = None, by: str | None = None) -> Iterator[StepEvent]:
        """Continue a run paused on review ``review_id`` with a person's decision and/or statement."""
        review = self.kb.ledger.review(review_id)
        if review.state != "open" and review.kind == "clarification":
            raise ReviewError(f"review {review_id} was already answered by {review.resolved_by}")
        if not self.paused(review):
            raise ReviewError(f"review {review_id} has no paused question waiting: resolve it with `dagrag review resolve`")
        graph = self._checkpointed_graph()
        reply = PersonReply(keep=keep, text=text, by=by or self.settings.reviewer)  # keep: new, old or both (checked by the node)
        yield from run_agent(graph, None, self._context(None, True), thread_id=review.thread_id, resume=reply)

    def paused(self, review: Review) -> bool:
        """Whether a run is paused on ``review`` now (a run that went on without the answer is finished: nothing to resume)."""
        if not review.thread_id:
            return False
        snapshot = self._checkpointed_graph().get_state({"configurable": {"thread_id": review.thread_id}})
        return bool(snapshot.next or snapshot.tasks)  # waiting at the interrupt, or killed while resuming: a task still to run

    def answer_review(self, review_id: int, *, keep: str | None = None, text: str | None = None, by: str | None = None) -> Answer | None:
        """A person's decision (``keep``) or statement (``text``) for a review.

        A run paused on it resumes and its answer is returned; otherwise the review is resolved
        (a conflict: keep new / old / both, or the statement replaces both sides) or answered (a
        question: the statement becomes knowledge) directly, and None is returned.
        """
        if not keep and not text:
            raise ReviewError("give your answer as TEXT, or --keep new|old|both for a conflict")
        review = self.kb.ledger.review(review_id)
        if self.paused(review):
            return follow(self.resume(review_id, keep=keep, text=text, by=by))
        by = by or self.settings.reviewer
        if review.kind == "clarification":
            if not text:
                raise ReviewError(f"review {review_id} is a question: answer it with a statement")
            if review.state != "open":
                raise ReviewError(f"review {review_id} was already answered by {review.resolved_by}")
            self.desk.answer_question(review_id, text, by)
        else:
            self.kb.resolve(review_id, keep or "edit", by=by, edit=None if keep else text)
        return None

    def _context(self, as_of: datetime | None, interactive: bool) -> Context:
        as_of = as_utc(as_of) if as_of else None  # naive: UTC
        return Context(
            llm=self.llm,
            retriever=self.kb,
            settings=self.settings,
            desk=self.desk,
            as_of=as_of,
            similarity=cosine_similarity(self.embedder.embed),
            tagger=self.tagger,
            interactive=interactive,
            budget=self._budget,
        )

    def _checkpointed_graph(self):
        """The agent graph with a SQLite checkpointer in the knowledge-base folder (built once)."""
        with self._graph_lock:
            return self._build_checkpointed_graph()

    def _build_checkpointed_graph(self):
        if self._interactive_graph is None:
            from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
            from langgraph.checkpoint.sqlite import SqliteSaver

            conn = sqlite3.connect(self.kb.path / "checkpoints.sqlite3", check_same_thread=False, timeout=30)
            self._checkpoints = conn
            serde = JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES)
            self._interactive_graph = build_graph(checkpointer=SqliteSaver(conn, serde=serde))
        return self._interactive_graph

    # review queue ---------------------------------------------------------------
    def reviews(self, state: str | None = "open") -> list[Review]:
        """Review items, oldest first (``state=None`` for all)."""
        return self.kb.ledger.reviews(state)

    def resolve(self, review_id: int, keep: str, *, by: str | None = None, note: str | None = None, edit: str | None = None) -> Review:
        """Resolve a conflict: keep new, old or both, or replace both by an edited statement."""
        return self.kb.resolve(review_id, keep, by=by or self.settings.reviewer, note=note, edit=edit)

    def ask_vanilla(self, question: str, *, as_of: datetime | None = None) -> Answer:
        """Plain RAG: retrieve top-k for the question (as of a date, if given) and answer once."""
        question = clean_question(question)
        as_of = as_utc(as_of) if as_of else None  # naive: UTC
        s, start = self.settings, time.perf_counter()
        got = self.kb.search(question, s.top_k, as_of=as_of)
        ev = got.evidence
        result, _ = warmup_call(Context(llm=self.llm, retriever=self.kb, settings=s), question, ev)
        calls = llm_calls("vanilla", result)
        fallbacks: list[str] = []
        answer = result.value.answer.strip() if result.value else "unknown"
        citations, note = supported_citations(answer, ev, result.value.sources if result.value else [], {})
        fallbacks += [f"answer unusable ({result.error})"] if result.value is None else []
        fallbacks += [note] if note else []
        state = {
            "question": question,
            "answer": answer,
            "citations": citations,
            "plan_source": "vanilla",
            "calls": calls,
            "fallbacks": fallbacks,
            "retrieved_ids": [e.chunk_id for e in ev],
            "timings": {"embed": got.embed_seconds, "retrieval": got.search_seconds},
        }
        return to_answer(state, time.perf_counter() - start, as_of=as_of)

    def clear_llm_cache(self) -> None:
        """Empty the in-process model's prompt cache, if it is loaded and has one."""
        if isinstance(self._llm, ClearsCache):
            self._llm.clear_cache()

    def ask_without_retrieval(self, question: str) -> Answer:
        """The model alone, no retrieval (the "none" baseline)."""
        question = clean_question(question)
        start = time.perf_counter()
        result = ask_structured(
            self.llm,
            messages_for(prompts.DIRECT.format(question=question)),
            outputs.NodeReply,
            outputs.NODE_SCHEMA,
            self.settings.answer_max_tokens,
        )
        calls = llm_calls("none", result)
        state = {
            "question": question,
            "answer": result.value.answer.strip() if result.value else "unknown",
            "plan_source": "none",
            "calls": calls,
            "fallbacks": [] if result.value else [f"answer unusable ({result.error})"],
        }
        return to_answer(state, time.perf_counter() - start)

    def close(self) -> None:
        if self._kb is not None:
            self._kb.close()
        if self._interactive_graph is not None:
            self._checkpoints.close()
        if self._own_llm:
            getattr(self._llm, "close", lambda: None)()  # the server client's connections (httpx)

    def __enter__(self) -> DagRAG:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
