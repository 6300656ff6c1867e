"""The LogicRAG agent as a LangGraph StateGraph.

warmup ─┬─> check (no nested description: the reader answered from the warm-up evidence)
        └─> plan ─┬─> check (degenerate plan: the warm-up answer is plain RAG's)
                  └─> solve ⟲ (one DAG rank per step) ─> reflect ─┬─> solve (new sub-questions)
                                                                 └─> final ─> check
check ─┬─> END
       └─> ask_person (interrupt: a conflict or low confidence, interactive runs only) ─> final

Nodes are plain functions of the state (``agent.state``); the LLM, the retriever and the settings come in
through the run context, so tests can script every call.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import networkx as nx
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent import outputs, prompts
from agent.escalation import ask_person, check
from agent.evidence import final_evidence, grounded, infer_citations, is_unknown, rerank_by_overlap, same_answer, unique
from agent.llm import ask_structured
from agent.prompts import EXAMPLE_NAMES, plan_messages
from agent.questions import classify
from agent.reader import NAME
from agent.state import AgentState, Context, add_times
from agent.types import Evidence, LLMCall, NodeResult, StepEvent
from agent.writer import ask, free_final, free_node, free_warmup, llm_calls, refine_memory, retried
from graph import (
    Plan,
    PlanNode,
    degenerate_reason,
    is_followup_question,
    normalized,
    referenced_ids,
    repair_plan,
    substitute_answers,
    to_networkx,
)
from graph.decompose import decompose

# a sub-question that only says what an earlier answer is: "What landlocked country ... is #1?"
_IDENTITY = re.compile(r"^(?:what|which)\s+\w[^#?]*\s(?:is|was|are|were)\s+#(\d+)\s*\??$", re.IGNORECASE)


def _retrieve(ctx: Context, query: str, k: int) -> tuple[list[Evidence], dict[str, float]]:
    got = ctx.retriever.search(query, k, as_of=ctx.as_of)
    return got.evidence, {"embed": got.embed_seconds, "retrieval": got.search_seconds}


def _nothing_found(as_of: datetime | None) -> str:
    if as_of is None:
        return "the knowledge base has no passages for this question; ingest documents first"
    return (
        f"nothing in the knowledge base was valid on {as_of:%Y-%m-%d}; a document holds from its `date:` front matter, "
        "an 'Effective <date>' line at its top, or --valid-from, else from the day it was ingested"
    )


def _emit(runtime: Runtime[Context], kind: str, message: str, **extra: Any) -> None:
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
        "done": False,
        "support": {},
    }
    if not evidence:
        # nothing is visible (an empty knowledge base, or nothing valid at --as-of): no plan can find more
        update.update(answer="unknown", plan_source="warmup", done=True, citations=[], fallbacks=[_nothing_found(ctx.as_of)])
        return update
    given = state.get("plan") is not None  # an oracle plan: no shortcut
    multi_hop = given or (s.planner != "none" and len(decompose(question, s.max_nodes).nodes) > 1)
    if s.reader == "free":
        if given:
            return update
        _emit(runtime, "warmup", "checking whether the evidence already answers it")
        return free_warmup(ctx, question, evidence, update, multi_hop)
    _emit(runtime, "warmup", "reading the evidence for the question")
    one_hop = not multi_hop
    reading = ctx.read(question, evidence, stage="warmup", use_llm=one_hop, require_typed=one_hop)
    if not reading.found and not multi_hop:
        # No span of the expected type (another script, an unusual question): the model writes
        # the answer, as plain RAG would, so the reader is never worse than plain RAG.
        update["fallbacks"] = [*reading.notes, "no typed answer span in the evidence; the model wrote the answer (plain RAG)"]
        return free_warmup(ctx, question, evidence, update, multi_hop)
    citations = reading.cite(evidence)
    update.update(warmup_answer=reading.answer, warmup_citations=citations, calls=reading.calls, fallbacks=reading.notes)
    if not multi_hop and s.warmup_shortcut:
        update.update(
            answer=reading.answer,
            plan_source="warmup",
            done=True,
            citations=citations,
            support={"typed": reading.typed, "agrees": False, "margin": reading.lead, "hops_typed": True},
        )
    return update


def _sink_not_a_question(dag: Plan, question: str) -> str | None:
    """Why the last sub-question of a rule plan cannot answer ``question`` ("Lover Come Back
    contained #1?" is no question), or None when it is a question."""
    sink = dag.last_sink([n.id for n in dag.nodes])
    if sink is None or classify(dag.node(sink).question).recognised or not classify(question).recognised:
        return None
    return f"the last sub-question ({dag.node(sink).question!r}) is no question"


def _same_kind(question: str, other: str) -> bool:
    """Both ask for the same kind of thing ("What landlocked country … is #1?" and "What is the birth
    place of Ayesha?": places; not "Which city was #1?" and "Which band was formed in 1981 …?")."""
    return classify(question).kind == classify(other).kind


def _hops_typed(state: AgentState) -> bool:
    """Every solved sub-question found an answer of the type it asked for."""
    support = state.get("support", {})
    return all(support.get(f"node{i}_typed", True) for i in state.get("results", {}))  # a node the model wrote has no type check


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
        elif source == "rules" and not dag.parts:
            reason = _sink_not_a_question(dag, question)
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
        times = add_times(times, t)
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
            times = add_times(times, t)
        else:
            evidence = shared
        seen.update({e.chunk_id: e for e in evidence})
        order += [e.chunk_id for e in evidence]
        same = _IDENTITY.match(dag.node(i).question)
        named = int(same.group(1)) if same else 0
        copies = named in results and _same_kind(dag.node(i).question, dag.node(named).question)
        if copies and not is_unknown(results[named].answer):
            # "What landlocked country located in Southern Africa is #1?": #1 is the answer it names
            answer, node_calls, notes, known = results[named].answer, [], [], state.get("support", {})
            typed[i], lead[i] = known.get(f"node{named}_typed", True), known.get(f"node{named}_margin", 0.0)
        elif s.reader == "free":
            answer, node_calls, notes = free_node(ctx, state.get("memory", ""), evidence, queries[i], i)
        else:
            top_k = state.get("warmup_evidence", [])
            pool = unique([*evidence, *top_k])  # the question's own top-k stays in view
            # earlier hops' answers are what a sub-question is about, not its answer; another part
            # of a question asked in parts may share its answer ("Who wrote X and who directed it?")
            about = nx.ancestors(to_networkx(dag), i) if dag.parts else set(results)
            earlier = [r.answer for r in results.values() if r.id in about and not is_unknown(r.answer)]
            earlier += [n.group(0) for n in NAME.finditer(state["question"])]  # what the question names is not a hop's answer
            reading = ctx.read(queries[i], pool, stage="node", exclude=earlier, shown_first=top_k)
            answer, node_calls, notes = reading.answer, reading.calls, reading.notes
            typed[i] = reading.typed
            lead[i] = reading.lead
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
    memory, mem_calls, mem_fallbacks = refine_memory(ctx, state["question"], state.get("memory", ""), facts)
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
    known = {normalized(n.question) for n in dag.nodes} | {normalized(state["question"])}
    new_nodes: list[PlanNode] = []
    next_id = max(n.id for n in dag.nodes) + 1
    skipped = []
    for q in reply.value.new_questions:
        if normalized(q) in known:
            continue
        if not is_followup_question(q, state["question"], EXAMPLE_NAMES):
            skipped.append(q.strip())
            continue
        known.add(normalized(q))
        deps = sorted(d for d in referenced_ids(q) if d < next_id)
        new_nodes.append(PlanNode(id=next_id, question=q.strip(), depends_on=deps))
        next_id += 1
    if skipped:
        update["fallbacks"] = [
            *update["fallbacks"],
            *(f"reflection's follow-up {q!r} skipped: not a question of its own about this one" for q in skipped),
        ]
    if new_nodes:
        update.update(plan=dag.model_copy(update={"nodes": [*dag.nodes, *new_nodes]}), pending=[n.id for n in new_nodes])
        _emit(runtime, "planned", f"added {len(new_nodes)} sub-question(s)", node_total=len(dag.nodes) + len(new_nodes))
    return update


def final(state: AgentState, runtime: Runtime[Context]) -> dict:
    """The answer: the sink node's answer when the DAG found it, else a reading of the question
    over the warm-up evidence and each node's best chunk; plain RAG's answer when nothing else holds."""
    ctx, s, question = runtime.context, runtime.context.settings, state["question"]
    _emit(runtime, "answering", "writing the final answer")
    if s.reader == "free":
        return free_final(state, ctx)
    evidence = final_evidence(state, s.top_k + 2)
    dag, results, support = state.get("plan"), state.get("results", {}), state.get("support", {})
    plain = state.get("warmup_answer", "")
    sink_id = dag.last_sink(results) if dag is not None else None
    sink = results[sink_id] if sink_id is not None else None
    changed = bool(state.get("human_evidence") or state.get("dropped_ids"))
    dropped = set(state.get("dropped_ids", []))
    plain_evidence = [e for e in state.get("warmup_evidence", []) if e.chunk_id not in dropped]
    calls: list[LLMCall] = []
    fallbacks: list[str] = []
    parts = [results[i] for i in dag.solved_parts(results)] if dag is not None else []
    if parts and not changed and not all(is_unknown(r.answer) for r in parts):
        # a question asked in parts gets each part's answer; a part not found says "unknown"
        answer = "; ".join("unknown" if is_unknown(r.answer) else r.answer for r in parts)
        typed = all(not is_unknown(r.answer) and support.get(f"node{r.id}_typed", False) for r in parts)
        signals = {"typed": typed, "agrees": False, "margin": min(support.get(f"node{r.id}_margin", 0.0) for r in parts)}
    elif sink is not None and not changed and not is_unknown(sink.answer) and support.get(f"node{sink.id}_typed", False):
        answer = sink.answer
        signals = {"typed": True, "agrees": same_answer(answer, plain), "margin": support.get(f"node{sink.id}_margin", 0.0)}
    else:
        # earlier hops' answers are not the answer; a single node asks the question itself, so its answer is no hop
        hops = [r.answer for r in results.values() if sink is None or r.id != sink.id] if dag is not None and len(dag.nodes) > 1 else []
        reading = ctx.read(question, evidence, stage="final", exclude=hops, shown_first=plain_evidence)
        answer, calls, fallbacks = reading.answer, reading.calls, list(reading.notes)
        signals = {"typed": reading.typed, "agrees": same_answer(answer, plain) and not changed, "margin": reading.lead}
        if sink is not None and not changed:
            fallbacks.append(f"the last sub-question found no typed answer ({sink.answer!r}); read the question over all the evidence")
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
    pool = unique(pool)
    if parts and pool:  # each part's passages
        citations = list({c.chunk_id: c for part in answer.split("; ") for c in infer_citations(part, pool, results)}.values())
    else:
        citations = infer_citations(answer, pool, results) if pool else []
    return {
        "answer": answer,
        "citations": citations,
        "calls": calls,
        "fallbacks": fallbacks,
        "done": True,
        "support": {**support, **signals, "hops_typed": _hops_typed(state)},
    }


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
