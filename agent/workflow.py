"""The LogicRAG agent as a LangGraph StateGraph.

warmup ─┬─> check (no nested description: the reader answered from the warm-up evidence)
        └─> plan ─┬─> check (degenerate plan: the warm-up answer is plain RAG's)
                  └─> solve ⟲ (one DAG rank per step) ─> reflect ─┬─> solve (new sub-questions)
                                                                 └─> final ─> check
check ─┬─> END
       └─> ask_person (interrupt: a conflict or low confidence, interactive runs only) ─> final

Nodes are plain functions of the state; the LLM, the retriever and the settings come in
through the run context, so tests can script every call.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Protocol, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent import outputs, prompts
from agent.escalation import Budget, PersonQuestion, ReviewDesk, ask_person, check
from agent.evidence import format_evidence, grounded, infer_citations, is_unknown, rerank_by_overlap, supported_citations
from agent.llm import LLM, ask_structured
from agent.reading import Reading, Similarity, read
from agent.settings import Settings
from agent.types import Citation, Evidence, LLMCall, NodeResult, SelfCheck, Stage, StepEvent
from agent.writer import EXAMPLE_NAMES, ask, llm_calls, plan_messages, retried, warmup_call
from graph import Plan, PlanNode, degenerate_reason, is_followup_question, referenced_ids, repair_plan, substitute_answers
from graph.decompose import decompose
from kb.knowledge_base import Retrieval


class Retriever(Protocol):
    def search(self, query: str, k: int, *, as_of: datetime | None = None) -> Retrieval: ...


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
    similarity: Similarity | None = None  # sentence similarity for the reader (the embedder's cosine)


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
    person: PersonQuestion | None  # when a person must be asked
    support: dict[str, float]  # signals for the self-check: typed, agrees (with plain RAG), margin, hops_typed
    asked: bool  # a person was asked already in this run
    human_evidence: list[Evidence]  # statements a person gave during this run
    dropped_ids: list[str]  # items a person's resolution superseded during this run


def _retrieve(ctx: Context, query: str, k: int) -> tuple[list[Evidence], dict[str, float]]:
    got = ctx.retriever.search(query, k, as_of=ctx.as_of)
    return got.evidence, {"embed": got.embed_seconds, "retrieval": got.search_seconds}


def _emit(runtime: Runtime[Context], kind: str, message: str, **extra: Any) -> None:
    if runtime.stream_writer is not None:
        runtime.stream_writer(StepEvent(kind=kind, message=message, **extra))


# nodes -------------------------------------------------------------------------
def warmup(state: AgentState, runtime: Runtime[Context]) -> dict:
    """Retrieve for the whole question. A question with no nested description is answered here
    by the reader; one with nested descriptions (decided from its structure, not by the model)
    goes on to the DAG, keeping plain RAG's answer, read without an LLM call, as the fallback."""
    ctx, s, question = runtime.context, runtime.context.settings, state["question"]
    _emit(runtime, "retrieving", "retrieving evidence for the question")
    evidence, times = _retrieve(ctx, question, s.top_k)
    update: dict = {
        "warmup_evidence": evidence,
        "evidence": {e.chunk_id: e for e in evidence},
        "retrieved_ids": [e.chunk_id for e in evidence],
        "timings": times,
        "memory": "",
        "round": 0,
        "results": {},
        "fallbacks": [],
        "calls": [],
        "done": False,
        "support": {},
    }
    if not evidence:
        return update
    given = state.get("plan") is not None  # an oracle plan: no shortcut
    multi_hop = given or (s.planner != "none" and len(decompose(question, s.max_nodes).nodes) > 1)
    if s.reader == "free":
        return update if given else _warmup_free(ctx, state, runtime, evidence, update, multi_hop)
    _emit(runtime, "warmup", "reading the evidence for the question")
    reading = _read(ctx, question, evidence, "warmup", use_llm=not multi_hop, require_typed=not multi_hop)
    if not reading.found and not multi_hop:
        # No span of the expected type (another script, an unusual question): the model writes
        # the answer, as plain RAG would, so the reader is never worse than plain RAG.
        update["fallbacks"] = [*reading.notes, "no typed answer span in the evidence; the model wrote the answer (plain RAG)"]
        return _warmup_free(ctx, state, runtime, evidence, update, multi_hop)
    citations = _citations_of(reading, evidence)
    update.update(warmup_answer=reading.answer, warmup_citations=citations, calls=reading.calls, fallbacks=reading.notes)
    if not multi_hop and s.warmup_shortcut:
        update.update(
            answer=reading.answer,
            plan_source="warmup",
            done=True,
            citations=citations,
            support={"typed": reading.typed, "agrees": False, "margin": _lead(reading), "hops_typed": True},
        )
    return update


def _lead(reading: Reading) -> float:
    """How far the answer leads the runner-up in the ranking (0 when the model overruled the ranking)."""
    return reading.margin if reading.ranked_first and reading.found else 0.0


def _hops_typed(state: AgentState) -> bool:
    """Every solved sub-question found an answer of the type it asked for."""
    support = state.get("support", {})
    return all(support.get(f"node{i}_typed", True) for i in state.get("results", {}))  # free-written nodes: not typed


def _warmup_free(
    ctx: Context, state: AgentState, runtime: Runtime[Context], evidence: list[Evidence], update: dict, multi_hop: bool
) -> dict:
    """The model writes the warm-up answer itself (``reader="free"``, for capable models)."""
    s = ctx.settings
    _emit(runtime, "warmup", "checking whether the evidence already answers it")
    reply, calls = warmup_call(ctx, state["question"], evidence)
    notes = update.get("fallbacks", [])
    update["calls"], update["fallbacks"] = calls, [*notes, *retried("warm-up", reply)]
    if reply.value is None:
        update["fallbacks"] = [*notes, f"warm-up reply unusable ({reply.error}); planning instead"]
        return update
    answer = reply.value.answer.strip()
    citations, _ = supported_citations(answer, evidence, reply.value.sources, {})
    update.update(warmup_answer=answer, warmup_citations=citations)
    short = len(answer.split()) <= s.warmup_max_words and not is_unknown(answer) and grounded(answer, evidence)
    if s.warmup_shortcut and not multi_hop and short:
        update.update(answer=answer, plan_source="warmup", done=True, citations=citations, support={"typed": True, "agrees": False})
    return update


def _read(
    ctx: Context, question: str, evidence: list[Evidence], stage: Stage, use_llm: bool = True, require_typed: bool = False
) -> Reading:
    return read(
        question,
        evidence,
        llm=ctx.llm,
        settings=ctx.settings,
        similarity=ctx.similarity,
        stage=stage,
        use_llm=use_llm,
        require_typed=require_typed,
    )


def _citations_of(reading: Reading, evidence: list[Evidence]) -> list[Citation]:
    from agent.evidence import cite

    return cite(evidence, [i + 1 for i in reading.passages][:3]) if reading.found else []


def plan(state: AgentState, runtime: Runtime[Context]) -> dict:
    """Make the DAG: by rules from the question's nested descriptions, or by the LLM; repair it,
    or fall back to a single node (plain RAG)."""
    ctx, s, question = runtime.context, runtime.context.settings, state["question"]
    _emit(runtime, "planning", "breaking the question into sub-questions")
    calls: list[LLMCall] = []
    fallbacks: list[str] = []
    if s.planner == "llm":
        reply = ask_structured(ctx.llm, plan_messages(question), Plan, outputs.plan_schema(s.max_nodes), s.plan_max_tokens)
        calls, fallbacks = llm_calls("plan", reply), retried("plan", reply)
        proposed, source = reply.value, "llm"
        if proposed is None:
            fallbacks.append(f"plan unusable ({reply.error}); using the question as a single node")
    else:
        proposed, source = decompose(question, s.max_nodes), "rules"
    if proposed is None:
        dag, source = Plan.single(question), "fallback"
    else:
        fixed = repair_plan(proposed, max_nodes=s.max_nodes, fallback_question=question)
        dag = fixed.plan
        source = "repaired" if fixed.repairs and source == "llm" else source
        fallbacks += [f"plan repaired: {r}" for r in fixed.repairs]
        reason = degenerate_reason(dag, question, EXAMPLE_NAMES) if source != "rules" else None
        if source == "rules" and len(dag.nodes) < 2:
            reason = "no nested description to resolve first"
        if reason:
            fallbacks.append(f"degenerate plan ({reason}); using the question as a single node")
            dag, source = Plan.single(question), "fallback"
    _emit(runtime, "planned", f"planned {len(dag.nodes)} sub-question(s)", node_total=len(dag.nodes))
    update = {"plan": dag, "plan_source": source, "pending": [n.id for n in dag.nodes], "calls": calls, "fallbacks": fallbacks}
    if source == "fallback" and state.get("warmup_answer"):
        # The single node is the question itself, which the warm-up already read from the same
        # top-k evidence: that answer is plain RAG's, so the fallback is exactly plain RAG.
        evidence = state.get("warmup_evidence", [])
        node = NodeResult(
            id=1, question=question, resolved_question=question, answer=state["warmup_answer"], evidence_ids=[e.chunk_id for e in evidence]
        )
        update.update(pending=[], results={1: node}, answer=state["warmup_answer"], citations=state.get("warmup_citations", []), done=True)
        update["fallbacks"] = [*fallbacks, "single-node plan answered by the warm-up (plain RAG)"]
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
    typed: dict[int, bool] = {}
    lead: dict[int, float] = {}
    total = len(dag.nodes)
    for i in ready:
        index = len(results) + 1
        _emit(runtime, "node_start", f"node {index} of {total}: {queries[i]}", node_id=i, node_index=index, node_total=total)
        if shared is None:
            wide, t = _retrieve(ctx, queries[i], s.node_top_k * s.node_shortlist)
            evidence = rerank_by_overlap(queries[i], wide, s.node_top_k)
            times = _add_times(times, t)
        else:
            evidence = shared
        seen.update({e.chunk_id: e for e in evidence})
        order += [e.chunk_id for e in evidence]
        if s.reader == "free":
            answer, node_calls, notes = _node_free(ctx, state, evidence, queries[i], i)
        else:
            pool = _unique([*evidence, *state.get("warmup_evidence", [])])  # the question's own top-k stays in view
            earlier = [r.answer for r in results.values() if not is_unknown(r.answer)]
            reading = read(queries[i], pool, llm=ctx.llm, settings=s, similarity=ctx.similarity, stage="node", exclude=earlier)
            answer, node_calls, notes = reading.answer, reading.calls, reading.notes
            typed[i] = reading.typed
            lead[i] = _lead(reading)
        calls += node_calls
        fallbacks += notes
        results[i] = NodeResult(
            id=i,
            question=dag.node(i).question,
            resolved_question=queries[i],
            depends_on=dag.node(i).depends_on,
            answer=answer,
            evidence_ids=[e.chunk_id for e in evidence],
            round=state.get("round", 0),
        )
        facts.append(f"{queries[i]} {answer}" if not is_unknown(answer) else f"{queries[i]} (not found)")
        _emit(runtime, "node_done", f"node {index} of {total}: {answer}", node_id=i, node_index=index, node_total=total)
    memory, mem_calls, mem_fallbacks = _refine_memory(ctx, state["question"], state.get("memory", ""), facts)
    return {
        "pending": [i for i in state["pending"] if i not in ready],
        "results": {i: results[i] for i in ready},
        "evidence": seen,
        "retrieved_ids": order,
        "memory": memory,
        "calls": calls + mem_calls,
        "timings": times,
        "fallbacks": fallbacks + mem_fallbacks,
        "support": {
            **state.get("support", {}),
            **{f"node{i}_typed": t for i, t in typed.items()},
            **{f"node{i}_margin": m for i, m in lead.items()},
        },
    }


def _node_free(
    ctx: Context, state: AgentState, evidence: list[Evidence], question: str, node_id: int
) -> tuple[str, list[LLMCall], list[str]]:
    """The model writes a node's answer itself (``reader="free"``)."""
    s = ctx.settings
    user = prompts.NODE.format(
        memory=state.get("memory") or prompts.EMPTY_MEMORY, evidence=format_evidence(evidence, s.evidence_chars), question=question
    )
    reply, calls = ask(ctx, "node", user, outputs.NodeReply, outputs.NODE_SCHEMA, s.answer_max_tokens)
    notes = retried(f"node {node_id}", reply)
    if reply.value is None:
        return "unknown", calls, [*notes, f"node {node_id} answer unusable ({reply.error}); marked unknown"]
    return reply.value.answer.strip(), calls, notes


def _unique(evidence: list[Evidence]) -> list[Evidence]:
    return list({e.chunk_id: e for e in evidence}.values())


def _refine_memory(ctx: Context, question: str, memory: str, facts: list[str]) -> tuple[str, list[LLMCall], list[str]]:
    """Append new facts; when the memory outgrows its budget, have the LLM condense it."""
    s = ctx.settings
    merged = "\n".join(x for x in [memory, *facts] if x)
    if len(merged) <= s.memory_chars:
        return merged, [], []
    reply, calls = ask(
        ctx,
        "memory",
        prompts.MEMORY.format(memory=memory or prompts.EMPTY_MEMORY, facts="\n".join(facts), question=question, max_chars=s.memory_chars),
        outputs.MemoryReply,
        outputs.memory_schema(s.memory_chars),
        max(64, s.memory_chars // 3),
    )
    if reply.value is not None and reply.value.notes.strip():
        return reply.value.notes.strip()[: s.memory_chars], calls, retried("memory", reply)
    return merged[-s.memory_chars :], calls, [f"memory summary unusable ({reply.error}); kept the latest facts"]


def reflect(state: AgentState, runtime: Runtime[Context]) -> dict:
    """Ask whether the memory answers the question; if not, add sub-questions (bounded by max_rounds)."""
    ctx, s = runtime.context, runtime.context.settings
    if state.get("round", 0) >= s.max_rounds or all(not is_unknown(r.answer) for r in state.get("results", {}).values()):
        return {}  # every sub-question found its answer in the evidence: nothing is missing
    _emit(runtime, "reflecting", "checking whether anything is still missing")
    max_new = 2
    reply, calls = ask(
        ctx,
        "reflect",
        prompts.REFLECT.format(question=state["question"], memory=state.get("memory") or prompts.EMPTY_MEMORY, max_new=max_new),
        outputs.ReflectReply,
        outputs.reflect_schema(max_new),
        128,
    )
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
        update["fallbacks"] = [
            *update["fallbacks"],
            *(f"reflection's follow-up {q!r} skipped: not a question of its own about this one" for q in skipped),
        ]
    if new_nodes:
        update.update(plan=Plan(nodes=[*dag.nodes, *new_nodes]), pending=[n.id for n in new_nodes])
        _emit(runtime, "planned", f"added {len(new_nodes)} sub-question(s)", node_total=len(dag.nodes) + len(new_nodes))
    return update


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def final(state: AgentState, runtime: Runtime[Context]) -> dict:
    """The answer: the sink node's answer when the DAG found it, else a reading of the question
    over the warm-up evidence and each node's best chunk; plain RAG's answer when nothing else holds."""
    ctx, s, question = runtime.context, runtime.context.settings, state["question"]
    _emit(runtime, "answering", "writing the final answer")
    if s.reader == "free":
        return _final_free(state, ctx)
    evidence = final_evidence(state, s.top_k + 2)
    results, support = state.get("results", {}), state.get("support", {})
    plain = state.get("warmup_answer", "")
    sink = _sink(state)
    changed = bool(state.get("human_evidence") or state.get("dropped_ids"))
    calls: list[LLMCall] = []
    fallbacks: list[str] = []
    if sink is not None and not changed and not is_unknown(sink.answer) and support.get(f"node{sink.id}_typed", False):
        answer = sink.answer
        signals = {"typed": True, "agrees": _same(answer, plain), "margin": support.get(f"node{sink.id}_margin", 0.0)}
    else:
        hops = [r.answer for r in results.values() if sink is None or r.id != sink.id]
        reading = read(question, evidence, llm=ctx.llm, settings=s, similarity=ctx.similarity, stage="final", exclude=hops)
        answer, calls, fallbacks = reading.answer, reading.calls, list(reading.notes)
        signals = {"typed": reading.typed, "agrees": _same(answer, plain) and not changed, "margin": _lead(reading)}
        if sink is not None and not changed:
            fallbacks.append(f"the last sub-question found no typed answer ({sink.answer!r}); read the question over all the evidence")
    dropped = set(state.get("dropped_ids", []))
    plain_evidence = [e for e in state.get("warmup_evidence", []) if e.chunk_id not in dropped]
    if is_unknown(answer) and not is_unknown(plain) and grounded(plain, plain_evidence):
        fallbacks.append("no answer from the DAG; kept the plain-RAG answer")
        citations = [c for c in state.get("warmup_citations", []) if c.chunk_id not in dropped] or infer_citations(
            plain, plain_evidence, {}
        )
        return {
            "answer": plain,
            "citations": citations,
            "calls": calls,
            "fallbacks": fallbacks,
            "done": True,
            "support": {**support, "typed": False, "agrees": False, "margin": 0.0, "hops_typed": False},
        }
    pool = [*state.get("human_evidence", []), *evidence, *(e for e in state.get("evidence", {}).values() if e.chunk_id not in dropped)]
    citations = infer_citations(answer, _unique(pool), results) if pool else []
    return {
        "answer": answer,
        "citations": citations,
        "calls": calls,
        "fallbacks": fallbacks,
        "done": True,
        "support": {**support, **signals, "hops_typed": _hops_typed(state)},
    }


def _sink(state: AgentState) -> NodeResult | None:
    """The solved node nothing else depends on (the last one, if several)."""
    dag, results = state.get("plan"), state.get("results", {})
    if dag is None or len(dag.nodes) < 2:
        return None
    needed = {d for n in dag.nodes for d in n.depends_on}
    sinks = [n.id for n in dag.nodes if n.id not in needed and n.id in results]
    return results[max(sinks)] if sinks else None


def _same(a: str, b: str) -> bool:
    from agent.evaluation.metrics import normalize_answer

    x, y = normalize_answer(a), normalize_answer(b)
    return bool(x) and bool(y) and not is_unknown(a) and (x == y or (len(x) > 3 and (x in y or y in x)))


def _final_free(state: AgentState, ctx: Context) -> dict:
    """The model writes the final answer itself from the memory and the evidence (``reader="free"``)."""
    s = ctx.settings
    evidence = final_evidence(state, s.top_k + 2)
    user = prompts.FINAL.format(
        memory=state.get("memory") or prompts.EMPTY_MEMORY, evidence=format_evidence(evidence, s.evidence_chars), question=state["question"]
    )
    reply, calls = ask(ctx, "final", user, outputs.AnswerReply, outputs.answer_schema(len(evidence)), s.answer_max_tokens + 24)
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
    dropped = set(state.get("dropped_ids", []))
    plain_evidence = [e for e in state.get("warmup_evidence", []) if e.chunk_id not in dropped]
    support = {**{k: v for k, v in state.get("support", {}).items() if k != "margin"}, "typed": True, "agrees": _same(answer, plain)}
    if (is_unknown(answer) or not grounded(answer, evidence)) and not is_unknown(plain) and grounded(plain, plain_evidence):
        fallbacks.append(f"final answer {answer!r} is not supported by the evidence; kept the plain-RAG answer")
        plain_citations = [c for c in state.get("warmup_citations", []) if c.chunk_id not in dropped] or infer_citations(
            plain, plain_evidence, {}
        )
        return {"answer": plain, "citations": plain_citations, "calls": calls, "fallbacks": fallbacks, "done": True, "support": support}
    if not citations and evidence:
        citations = infer_citations(answer, evidence, results)
        fallbacks.append("no valid citation in the reply; cited the evidence that supports the answer")
    return {"answer": answer, "citations": citations, "calls": calls, "fallbacks": fallbacks, "done": True, "support": support}


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
