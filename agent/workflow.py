"""The LogicRAG agent as a LangGraph StateGraph.

warmup ─┬─> check (evidence already answers the question)
        └─> plan ─┬─> check (degenerate plan: the warm-up answer is plain RAG's)
                  └─> solve ⟲ (one DAG rank per step) ─> reflect ─┬─> solve (new sub-questions)
                                                                 └─> final ─> check
check ─┬─> END
       └─> ask_person (interrupt: a conflict or low confidence, interactive runs only) ─> final

Nodes are plain functions of the state; the LLM, the retriever and the settings come in
through the run context, so tests can script every call.
"""

from __future__ import annotations

import json
import operator
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Annotated, Any, Iterator, Protocol, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from agent import outputs, prompts
from agent.llm import LLM, Structured, ask_structured
from agent.settings import Settings
from agent.evidence import clip, format_evidence, grounded, infer_citations, is_unknown, supported_citations
from agent.types import Answer, Citation, Evidence, LLMCall, NodeResult, SelfCheck, Stage, StepEvent, Usage
from graph import Plan, PlanNode, degenerate_reason, example_names, is_followup_question, referenced_ids, repair_plan, substitute_answers
from kb.knowledge_base import Retrieval
from kb.ledger import Review

class Retriever(Protocol):
    def search(self, query: str, k: int, *, as_of: datetime | None = None) -> Retrieval: ...


class ReviewDesk(Protocol):
    """What the agent needs from the knowledge base's review queue (``KnowledgeBase`` implements it)."""

    def open_conflicts(self, item_ids: list[str]) -> list[Review]: ...
    def evidence_for(self, item_ids: list[str]) -> list[Evidence]: ...
    def record_hits(self, review_ids: list[int], question: str) -> None: ...
    def queue_question(self, question: str, item_ids: list[str], thread_id: str | None) -> int: ...
    def attach_thread(self, review_id: int, thread_id: str) -> None: ...
    def review(self, review_id: int) -> Review: ...
    def answer_question(self, review_id: int | None, text: str, by: str) -> Evidence: ...
    def resolve(self, review_id: int, keep: str, *, by: str, note: str | None = None, edit: str | None = None) -> Review: ...


@dataclass
class Budget:
    """Questions the agent may still raise for a person in this session (shared by threads)."""

    left: int
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def take(self) -> bool:
        with self._lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


@dataclass(frozen=True)
class Context:
    """What a run needs besides its state."""

    llm: LLM
    retriever: Retriever
    settings: Settings
    desk: ReviewDesk | None = None
    as_of: datetime | None = None
    interactive: bool = False  # may pause with interrupt() to ask a person
    budget: Budget = field(default_factory=lambda: Budget(0))


def _merge(left: dict, right: dict) -> dict:
    return {**left, **right}


def _add_times(left: dict[str, float], right: dict[str, float]) -> dict[str, float]:
    return {k: left.get(k, 0.0) + right.get(k, 0.0) for k in left.keys() | right.keys()}


class AgentState(TypedDict, total=False):
    question: str
    warmup_evidence: list[Evidence]
    warmup_answer: str  # the plain-RAG answer from the warm-up call, kept as a fallback
    warmup_citations: list[Citation]
    plan: Plan
    plan_source: str
    pending: list[int]  # planned node ids not solved yet
    results: Annotated[dict[int, NodeResult], _merge]
    evidence: Annotated[dict[str, Evidence], _merge]  # every chunk seen, by id
    retrieved_ids: Annotated[list[str], operator.add]
    memory: str
    round: int
    answer: str
    citations: list[Citation]
    fallbacks: Annotated[list[str], operator.add]
    calls: Annotated[list[LLMCall], operator.add]
    timings: Annotated[dict[str, float], _add_times]
    done: bool
    confidence: str
    self_check: list[SelfCheck]
    conflicts: list[int]
    caveats: list[str]
    person: dict | None  # {"question", "review_id", "options"} when a person must be asked
    asked: bool  # a person was asked already in this run
    human_evidence: list[Evidence]  # statements a person gave during this run
    dropped_ids: list[str]  # items a person's resolution superseded during this run


# helpers -----------------------------------------------------------------------
def messages_for(user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": user}]


def plan_messages(question: str) -> list[dict[str, str]]:
    """The planner's chat: system prompt, few-shot turns, then the question."""
    messages = [{"role": "system", "content": prompts.PLAN_SYSTEM}]
    for example, nodes in prompts.PLAN_EXAMPLES:
        reply = {"nodes": [{"id": i, "question": q, "depends_on": d} for i, q, d in nodes]}
        messages += [{"role": "user", "content": prompts.PLAN.format(question=example)}, {"role": "assistant", "content": json.dumps(reply)}]
    return [*messages, {"role": "user", "content": prompts.PLAN.format(question=question)}]


# names in the planner's few-shot examples: a sub-question using them copies an example
EXAMPLE_NAMES = example_names([text for example, nodes in prompts.PLAN_EXAMPLES for text in [example, *(q for _, q, _ in nodes)]])


def _ask(ctx: Context, stage: Stage, user: str, model: type, schema: dict, max_tokens: int) -> tuple[Structured, list[LLMCall]]:
    result = ask_structured(ctx.llm, messages_for(user), model, schema, max_tokens)
    return result, llm_calls(stage, result)


def llm_calls(stage: Stage, result: Structured) -> list[LLMCall]:
    return [LLMCall(stage=stage, prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens, seconds=c.seconds, cached_tokens=c.cached_tokens)
            for c in result.completions]


def retried(stage: str, result: Structured) -> list[str]:
    """A note for the record when a reply only parsed after the repair attempt."""
    return [f"{stage} reply was invalid JSON; fixed on the one repair attempt"] if result.repaired else []


def _retrieve(ctx: Context, query: str, k: int) -> tuple[list[Evidence], dict[str, float]]:
    got = ctx.retriever.search(query, k, as_of=ctx.as_of)
    return got.evidence, {"embed": got.embed_seconds, "retrieval": got.search_seconds}


def _emit(runtime: Runtime[Context], kind: str, message: str, **extra: Any) -> None:
    if runtime.stream_writer is not None:
        runtime.stream_writer(StepEvent(kind=kind, message=message, **extra))


# nodes -------------------------------------------------------------------------
def warmup(state: AgentState, runtime: Runtime[Context]) -> dict:
    """Retrieve for the whole question; answer at once if the evidence clearly suffices."""
    ctx, s = runtime.context, runtime.context.settings
    _emit(runtime, "retrieving", "retrieving evidence for the question")
    evidence, times = _retrieve(ctx, state["question"], s.top_k)
    update: dict = {
        "warmup_evidence": evidence, "evidence": {e.chunk_id: e for e in evidence},
        "retrieved_ids": [e.chunk_id for e in evidence], "timings": times, "memory": "", "round": 0,
        "results": {}, "fallbacks": [], "calls": [], "done": False,
    }
    if not s.warmup_shortcut or not evidence or state.get("plan") is not None:  # a given plan skips the shortcut
        return update
    _emit(runtime, "warmup", "checking whether the evidence already answers it")
    reply, calls = warmup_call(ctx, state["question"], evidence)
    update["calls"], update["fallbacks"] = calls, retried("warm-up", reply)
    value = reply.value
    if value is None:
        update["fallbacks"] = [f"warm-up reply unusable ({reply.error}); planning instead"]
        return update
    answer = value.answer.strip()
    citations, _ = supported_citations(answer, evidence, value.sources, {})
    update.update(warmup_answer=answer, warmup_citations=citations)
    # A small model says "yes" too easily and copies whole sentences: only trust a short answer the passages contain.
    if value.can_answer and not is_unknown(answer) and len(answer.split()) <= s.warmup_max_words and grounded(answer, evidence):
        update.update(answer=answer, plan_source="warmup", done=True, citations=citations)
    return update


def warmup_call(ctx: Context, question: str, evidence: list[Evidence]) -> tuple[Structured, list[LLMCall]]:
    """One answer from the top-k evidence, with the model's own sufficiency judgement (also plain RAG's call)."""
    s = ctx.settings
    user = prompts.WARMUP.format(evidence=format_evidence(evidence, s.evidence_chars), question=question)
    return _ask(ctx, "warmup", user, outputs.WarmupReply, outputs.warmup_schema(len(evidence)), s.answer_max_tokens + 24)


def plan(state: AgentState, runtime: Runtime[Context]) -> dict:
    """Ask for a DAG of sub-questions; repair it, or fall back to a single node (plain RAG)."""
    ctx, s, question = runtime.context, runtime.context.settings, state["question"]
    _emit(runtime, "planning", "breaking the question into sub-questions")
    reply = ask_structured(ctx.llm, plan_messages(question), Plan, outputs.plan_schema(s.max_nodes), s.plan_max_tokens)
    calls = llm_calls("plan", reply)
    fallbacks: list[str] = retried("plan", reply)
    if reply.value is None:
        fallbacks.append(f"plan unusable ({reply.error}); using the question as a single node")
        dag, source = Plan.single(question), "fallback"
    else:
        fixed = repair_plan(reply.value, max_nodes=s.max_nodes, fallback_question=question)
        dag, source = fixed.plan, ("repaired" if fixed.repairs else "llm")
        fallbacks += [f"plan repaired: {r}" for r in fixed.repairs]
        reason = degenerate_reason(dag, question, EXAMPLE_NAMES)
        if reason:
            fallbacks.append(f"degenerate plan ({reason}); using the question as a single node")
            dag, source = Plan.single(question), "fallback"
    _emit(runtime, "planned", f"planned {len(dag.nodes)} sub-question(s)", node_total=len(dag.nodes))
    update = {"plan": dag, "plan_source": source, "pending": [n.id for n in dag.nodes], "calls": calls, "fallbacks": fallbacks}
    if source == "fallback" and state.get("warmup_answer"):
        # The single node is the question itself, which the warm-up call already answered from
        # the same top-k evidence: that answer is plain RAG's, so the fallback is exactly plain RAG.
        evidence = state.get("warmup_evidence", [])
        node = NodeResult(id=1, question=question, resolved_question=question, answer=state["warmup_answer"],
                          evidence_ids=[e.chunk_id for e in evidence])
        update.update(pending=[], results={1: node}, answer=state["warmup_answer"], citations=state.get("warmup_citations", []), done=True)
        update["fallbacks"] = [*fallbacks, "single-node plan answered by the warm-up call (plain RAG)"]
    return update


def solve(state: AgentState, runtime: Runtime[Context]) -> dict:
    """Solve the next rank of the DAG: every pending node whose dependencies are answered."""
    ctx, s = runtime.context, runtime.context.settings
    dag, results = state["plan"], dict(state.get("results", {}))
    ready = [i for i in state["pending"] if all(d in results for d in dag.node(i).depends_on)]
    if not ready:  # cannot happen for a repaired plan; guard against a loop anyway
        return {"pending": [], "fallbacks": ["unsolvable nodes dropped: " + ", ".join(map(str, state["pending"]))]}
    fills = {i: (r.answer if not is_unknown(r.answer) else r.resolved_question) for i, r in results.items()}
    queries = {i: substitute_answers(dag.node(i).question, fills) for i in ready}
    calls: list[LLMCall] = []
    times: dict[str, float] = {}
    seen: dict[str, Evidence] = {}
    order: list[str] = []
    shared: list[Evidence] | None = None
    if s.share_rank_retrieval and len(ready) > 1:
        shared, t = _retrieve(ctx, " ".join(queries.values()), s.node_top_k * len(ready))
        times = _add_times(times, t)
    facts: list[str] = []
    fallbacks: list[str] = []
    total = len(dag.nodes)
    for i in ready:
        index = len(results) + 1
        _emit(runtime, "node_start", f"node {index} of {total}: {queries[i]}", node_id=i, node_index=index, node_total=total)
        if shared is None:
            evidence, t = _retrieve(ctx, queries[i], s.node_top_k)
            times = _add_times(times, t)
        else:
            evidence = shared
        seen.update({e.chunk_id: e for e in evidence})
        order += [e.chunk_id for e in evidence]
        user = prompts.NODE.format(memory=state.get("memory") or prompts.EMPTY_MEMORY,
                                   evidence=format_evidence(evidence, s.evidence_chars), question=queries[i])
        reply, node_calls = _ask(ctx, "node", user, outputs.NodeReply, outputs.NODE_SCHEMA, s.answer_max_tokens)
        calls += node_calls
        fallbacks += retried(f"node {i}", reply)
        answer = reply.value.answer.strip() if reply.value else "unknown"
        if reply.value is None:
            fallbacks.append(f"node {i} answer unusable ({reply.error}); marked unknown")
        results[i] = NodeResult(id=i, question=dag.node(i).question, resolved_question=queries[i], depends_on=dag.node(i).depends_on,
                                answer=answer, evidence_ids=[e.chunk_id for e in evidence], round=state.get("round", 0))
        facts.append(f"{queries[i]} {answer}" if not is_unknown(answer) else f"{queries[i]} (not found)")
        _emit(runtime, "node_done", f"node {index} of {total}: {answer}", node_id=i, node_index=index, node_total=total)
    memory, mem_calls, mem_fallbacks = _refine_memory(ctx, state["question"], state.get("memory", ""), facts)
    return {
        "pending": [i for i in state["pending"] if i not in ready], "results": {i: results[i] for i in ready},
        "evidence": seen, "retrieved_ids": order, "memory": memory, "calls": calls + mem_calls, "timings": times,
        "fallbacks": fallbacks + mem_fallbacks,
    }


def _refine_memory(ctx: Context, question: str, memory: str, facts: list[str]) -> tuple[str, list[LLMCall], list[str]]:
    """Append new facts; when the memory outgrows its budget, have the LLM condense it."""
    s = ctx.settings
    merged = "\n".join(x for x in [memory, *facts] if x)
    if len(merged) <= s.memory_chars:
        return merged, [], []
    reply, calls = _ask(ctx, "memory", prompts.MEMORY.format(memory=memory or prompts.EMPTY_MEMORY, facts="\n".join(facts), question=question, max_chars=s.memory_chars),
                        outputs.MemoryReply, outputs.memory_schema(s.memory_chars), max(64, s.memory_chars // 3))
    if reply.value is not None and reply.value.notes.strip():
        return reply.value.notes.strip()[: s.memory_chars], calls, retried("memory", reply)
    return merged[-s.memory_chars :], calls, [f"memory summary unusable ({reply.error}); kept the latest facts"]


def reflect(state: AgentState, runtime: Runtime[Context]) -> dict:
    """Ask whether the memory answers the question; if not, add sub-questions (bounded by max_rounds)."""
    ctx, s = runtime.context, runtime.context.settings
    if state.get("round", 0) >= s.max_rounds:
        return {}
    _emit(runtime, "reflecting", "checking whether anything is still missing")
    max_new = 2
    reply, calls = _ask(ctx, "reflect", prompts.REFLECT.format(question=state["question"], memory=state.get("memory") or prompts.EMPTY_MEMORY, max_new=max_new),
                        outputs.ReflectReply, outputs.reflect_schema(max_new), 128)
    update: dict = {"calls": calls, "round": state.get("round", 0) + 1, "fallbacks": retried("reflection", reply)}
    if reply.value is None:
        update["fallbacks"] = [f"reflection unusable ({reply.error}); answering with what was found"]
        return update
    if reply.value.enough:
        return update
    dag = state["plan"]
    known = {_norm(n.question) for n in dag.nodes} | {_norm(state["question"])}
    new_nodes: list[PlanNode] = []
    next_id = max(n.id for n in dag.nodes) + 1
    skipped = []
    for q in reply.value.new_questions:
        if _norm(q) in known:
            continue
        if not is_followup_question(q, state["question"], EXAMPLE_NAMES):
            skipped.append(q.strip())
            continue
        known.add(_norm(q))
        deps = sorted(d for d in referenced_ids(q) if d < next_id)
        new_nodes.append(PlanNode(id=next_id, question=q.strip(), depends_on=deps))
        next_id += 1
    if skipped:
        update["fallbacks"] = [*update["fallbacks"], *(f"reflection's follow-up {q!r} skipped: not a question of its own about this one" for q in skipped)]
    if new_nodes:
        update.update(plan=Plan(nodes=[*dag.nodes, *new_nodes]), pending=[n.id for n in new_nodes])
        _emit(runtime, "planned", f"added {len(new_nodes)} sub-question(s)", node_total=len(dag.nodes) + len(new_nodes))
    return update


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def final(state: AgentState, runtime: Runtime[Context]) -> dict:
    """Answer from the memory plus the warm-up evidence (what plain RAG would see) and each node's best chunk."""
    ctx, s = runtime.context, runtime.context.settings
    _emit(runtime, "answering", "writing the final answer")
    evidence = final_evidence(state, s.top_k + 2)
    user = prompts.FINAL.format(memory=state.get("memory") or prompts.EMPTY_MEMORY, evidence=format_evidence(evidence, s.evidence_chars), question=state["question"])
    reply, calls = _ask(ctx, "final", user, outputs.AnswerReply, outputs.answer_schema(len(evidence)), s.answer_max_tokens + 24)
    fallbacks: list[str] = retried("final", reply)
    results = state.get("results", {})
    if reply.value is not None:
        answer = reply.value.answer.strip()
        citations, note = supported_citations(answer, evidence, reply.value.sources, results)
        fallbacks += [note] if note else []
    else:
        sink = max(results) if results else None
        answer = results[sink].answer if sink else "unknown"
        citations = []
        fallbacks.append(f"final answer unusable ({reply.error}); using the last sub-answer")
    plain = state.get("warmup_answer", "")
    dropped = set(state.get("dropped_ids", []))  # superseded by a person during this run: never fall back on them
    plain_evidence = [e for e in state.get("warmup_evidence", []) if e.chunk_id not in dropped]
    if (is_unknown(answer) or not grounded(answer, evidence)) and not is_unknown(plain) and grounded(plain, plain_evidence):
        fallbacks.append(f"final answer {answer!r} is not supported by the evidence; kept the plain-RAG answer")
        plain_citations = [c for c in state.get("warmup_citations", []) if c.chunk_id not in dropped] or infer_citations(plain, plain_evidence, {})
        return {"answer": plain, "citations": plain_citations, "calls": calls, "fallbacks": fallbacks, "done": True}
    if not citations and evidence:
        citations = infer_citations(answer, evidence, results)
        fallbacks.append("no valid citation in the reply; cited the evidence that supports the answer")
    return {"answer": answer, "citations": citations, "calls": calls, "fallbacks": fallbacks, "done": True}


def final_evidence(state: AgentState, limit: int) -> list[Evidence]:
    """A person's statements, each node's best chunk, then the warm-up (plain RAG) chunks."""
    human = state.get("human_evidence", [])
    dropped = set(state.get("dropped_ids", []))
    chosen = {e.chunk_id: e for e in state.get("warmup_evidence", [])}
    pool = state.get("evidence", {})
    for r in sorted(state.get("results", {}).values(), key=lambda r: r.id):
        for cid in r.evidence_ids[:1]:
            if cid in pool:
                chosen.setdefault(cid, pool[cid])
    node_first = [c for c in chosen if c not in {e.chunk_id for e in state.get("warmup_evidence", [])}]
    ordered = [c for c in node_first + [e.chunk_id for e in state.get("warmup_evidence", [])] if c not in dropped]
    return human + [chosen[c] for c in ordered][: max(limit, len(node_first))]


# time, conflicts and the person in the loop (ARIA) --------------------------------
SELF_CHECK_QUESTIONS = (
    "Is every claim supported by the cited evidence?",
    "Are there conflicting indicators (knowledge under review)?",
    "Are the items used valid and recently validated?",
)


def check(state: AgentState, runtime: Runtime[Context], config: RunnableConfig) -> dict:
    """ARIA's self-dialogue: conflicts among the cited items, support, freshness -> confidence.

    An answer relying on an item in an open conflict says so and cites both sides. When a
    person is needed (a conflict, or low confidence) and the session budget allows: in an
    interactive run the next node pauses to ask; otherwise the question is queued.
    """
    ctx, s, desk = runtime.context, runtime.context.settings, runtime.context.desk
    _emit(runtime, "checking", "checking the answer against the evidence and its history")
    answer, citations = state.get("answer", ""), list(state.get("citations", []))
    cited_ids = [c.chunk_id for c in citations]
    pool = {**state.get("evidence", {}), **{e.chunk_id: e for e in state.get("human_evidence", [])}}
    if desk is not None:
        pool.update({e.chunk_id: e for e in desk.evidence_for([c for c in cited_ids if c not in pool])})
    cited = [pool[c] for c in cited_ids if c in pool]
    conflicts = desk.open_conflicts(cited_ids) if desk is not None and ctx.as_of is None else []
    caveats: list[str] = []
    for r in conflicts:
        caveats.append(f'Relies on knowledge under review (#{r.review_id}, {r.relation}): "{r.old_statement}" versus "{r.new_statement}".')
        for e in desk.evidence_for([r.old_item, r.new_item]) if desk else []:
            if e.chunk_id not in {c.chunk_id for c in citations}:
                citations.append(Citation(chunk_id=e.chunk_id, doc_id=e.doc_id, title=e.title, source=e.source, snippet=clip(e.text, 200)))
    if desk is not None and conflicts:
        desk.record_hits([r.review_id for r in conflicts], state["question"])
    supported = not is_unknown(answer) and grounded(answer, cited)
    now = datetime.now(timezone.utc).timestamp()
    stale = [e for e in cited if e.metadata.get("status", "valid") != "valid"
             or now - float(e.metadata.get("validated_at", now)) > s.stale_days * 86400]
    checks = [
        SelfCheck(question=SELF_CHECK_QUESTIONS[0], ok=supported, detail="the cited passages contain the answer" if supported else "no cited passage contains the answer"),
        SelfCheck(question=SELF_CHECK_QUESTIONS[1], ok=not conflicts, detail=f"{len(conflicts)} open conflict(s)" if conflicts else "none"),
        SelfCheck(question=SELF_CHECK_QUESTIONS[2], ok=not stale, detail=f"{len(stale)} cited item(s) outdated or not validated for {s.stale_days} days" if stale else "yes"),
    ]
    issues = sum(not c.ok for c in checks)
    confidence = "high" if issues == 0 else "low" if (not supported or issues >= 2) else "moderate"
    update: dict = {"citations": citations, "confidence": confidence, "self_check": checks, "conflicts": [r.review_id for r in conflicts],
                    "caveats": caveats, "person": None}
    if desk is None or state.get("asked") or ctx.as_of is not None or not (conflicts or confidence == "low"):
        return update
    if not ctx.budget.take():
        return update
    if conflicts:
        review = conflicts[0]
        person = {"question": review.question, "review_id": review.review_id, "options": ["new", "old", "both"]}
        if ctx.interactive:
            desk.attach_thread(review.review_id, config.get("configurable", {})["thread_id"])
    else:
        question = f'I am not confident about "{state["question"]}" (my answer: {answer}). What is the right answer, or which document says it?'
        thread = config.get("configurable", {}).get("thread_id") if ctx.interactive else None
        review_id = desk.queue_question(question, cited_ids, thread)
        person = {"question": question, "review_id": review_id, "options": []}
        if not ctx.interactive:
            caveats.append(f"Low confidence: the question was queued for a person (review #{review_id}).")
    if ctx.interactive:
        update["person"] = person
    return update


def ask_person(state: AgentState, runtime: Runtime[Context]) -> dict:
    """Pause for a person (LangGraph interrupt); resume with their decision or statement.

    The reply is {"keep": "new"|"old"|"both"|None, "text": str|None, "by": name}. A decision
    resolves the conflict; a statement becomes knowledge from that person, used from now on.
    """
    ctx, person = runtime.context, state["person"] or {}
    reply = interrupt(person)
    desk = ctx.desk
    assert desk is not None
    by = str(reply.get("by") or ctx.settings.reviewer)
    keep, text = reply.get("keep"), (reply.get("text") or "").strip()
    dropped: list[str] = []
    human: list[Evidence] = []
    review_id = int(person["review_id"])
    if keep in ("new", "old", "both") and person.get("options"):
        review = desk.review(review_id)
        if review.state == "open":  # someone may have resolved it from the queue meanwhile: theirs stands
            review = desk.resolve(review_id, keep, by=by, note=text or None)
        if review.resolution in ("new", "old"):
            dropped = [review.old_item if review.resolution == "new" else review.new_item]
    elif text:
        human.append(desk.answer_question(review_id, text, by))
    said = f"keep {keep}" if keep else text or "no answer"
    return {"asked": True, "person": None, "human_evidence": human, "dropped_ids": dropped,
            "fallbacks": [f"asked a person ({by}): {said}"]}


# wiring ------------------------------------------------------------------------
def _after_warmup(state: AgentState) -> str:
    if state.get("done"):
        return "check"
    return "solve" if state.get("plan") is not None else "plan"


def _after_check(state: AgentState) -> str:
    return "ask_person" if state.get("person") else END


def _after_ask(state: AgentState) -> str:
    """Answer again only if the person changed something."""
    return "final" if state.get("human_evidence") or state.get("dropped_ids") else END


def _after_plan(state: AgentState) -> str:
    return "check" if state.get("done") else "solve"


def _after_solve(state: AgentState) -> str:
    return "solve" if state.get("pending") else "reflect"


def _after_reflect(state: AgentState) -> str:
    return "solve" if state.get("pending") else "final"


def build_graph(checkpointer: Any = None) -> Any:
    """The compiled agent graph."""
    g = StateGraph(AgentState, context_schema=Context)
    g.add_node("warmup", warmup)
    g.add_node("plan", plan)
    g.add_node("solve", solve)
    g.add_node("reflect", reflect)
    g.add_node("final", final)
    g.add_node("check", check)
    g.add_node("ask_person", ask_person)
    g.add_edge(START, "warmup")
    g.add_conditional_edges("warmup", _after_warmup, ["plan", "solve", "check"])
    g.add_conditional_edges("plan", _after_plan, ["solve", "check"])
    g.add_conditional_edges("solve", _after_solve, ["solve", "reflect"])
    g.add_conditional_edges("reflect", _after_reflect, ["solve", "final"])
    g.add_edge("final", "check")
    g.add_conditional_edges("check", _after_check, ["ask_person", END])
    g.add_conditional_edges("ask_person", _after_ask, ["final", END])
    return g.compile(checkpointer=checkpointer)


def run_agent(graph: Any, question: str | None, context: Context, *, plan: Plan | None = None,
              thread_id: str | None = None, resume: dict | None = None) -> Iterator[StepEvent]:
    """Run the compiled graph, yielding its progress events, then a final event with the Answer.

    With ``plan`` the planner is skipped and the given DAG is executed (an oracle planner).
    With a checkpointer and ``thread_id`` the run may pause to ask a person: the last event is
    then a "question"; ``resume`` (the person's reply) continues that thread, in any process.
    """
    if resume is not None:
        inputs: Any = Command(resume=resume)
    else:
        inputs = {"question": question}
        if plan is not None:
            inputs.update(plan=plan, plan_source="gold", pending=[n.id for n in plan.nodes])
    config: dict = {"recursion_limit": 100}
    if thread_id:
        config["configurable"] = {"thread_id": thread_id}
    state: dict = {}
    start = time.perf_counter()
    for mode, payload in graph.stream(inputs, config=config, context=context, stream_mode=["custom", "values"]):
        if mode == "custom":
            yield payload
        else:
            state = payload
    if thread_id:
        snapshot = graph.get_state(config)
        if snapshot.interrupts:
            ask = snapshot.interrupts[0].value
            yield StepEvent(kind="question", message=ask["question"], review_id=ask["review_id"], thread_id=thread_id,
                            options=ask.get("options", []))
            return
        state = snapshot.values
    answer = to_answer(state, time.perf_counter() - start, as_of=context.as_of)
    yield StepEvent(kind="done", message=answer.answer, answer=answer)


def to_answer(state: dict, total: float, as_of: datetime | None = None) -> Answer:
    calls: list[LLMCall] = state.get("calls", [])
    times = dict(state.get("timings", {}))
    llm_s = sum(c.seconds for c in calls)
    timings = {"llm": llm_s, "embed": times.get("embed", 0.0), "retrieval": times.get("retrieval", 0.0), "total": total}
    timings["other"] = max(0.0, total - timings["llm"] - timings["embed"] - timings["retrieval"])
    results: dict[int, NodeResult] = state.get("results", {})
    plan: Plan | None = state.get("plan")
    nodes = [results[n.id] if n.id in results else NodeResult(id=n.id, question=n.question, resolved_question=n.question, depends_on=n.depends_on)
             for n in plan.nodes] if plan else []
    return Answer(
        question=state["question"], answer=state.get("answer", "unknown"), citations=state.get("citations", []), nodes=nodes,
        plan_source=state.get("plan_source", "llm"), fallbacks=state.get("fallbacks", []),
        retrieved_ids=list(dict.fromkeys(state.get("retrieved_ids", []))), calls=calls, usage=Usage.of(calls), timings=timings,
        as_of=as_of, confidence=state.get("confidence"), self_check=state.get("self_check", []), conflicts=state.get("conflicts", []),
        caveats=state.get("caveats", []),
    )
