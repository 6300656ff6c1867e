"""Running the agent graph: progress events out, a typed ``Answer`` at the end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from langgraph.types import Command

from agent.escalation import PersonReply
from agent.state import Context
from agent.types import Answer, LLMCall, NodeResult, StepEvent, Usage
from graph import Plan


def run_agent(
    graph: Any,
    question: str | None,
    context: Context,
    *,
    plan: Plan | None = None,
    thread_id: str | None = None,
    resume: PersonReply | None = None,
) -> Iterator[StepEvent]:
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
            yield StepEvent(
                kind="question", message=ask["question"], review_id=ask["review_id"], thread_id=thread_id, options=ask.get("options", [])
            )
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
    nodes = (
        [
            results[n.id]
            if n.id in results
            else NodeResult(id=n.id, question=n.question, resolved_question=n.question, depends_on=n.depends_on)
            for n in plan.nodes
        ]
        if plan
        else []
    )
    return Answer(
        question=state["question"],
        answer=state.get("answer", "unknown"),
        citations=state.get("citations", []),
        nodes=nodes,
        plan_source=state.get("plan_source", "llm"),
        fallbacks=state.get("fallbacks", []),
        retrieved_ids=list(dict.fromkeys(state.get("retrieved_ids", []))),
        calls=calls,
        usage=Usage.of(calls),
        timings=timings,
        as_of=as_of,
        confidence=state.get("confidence"),
        self_check=state.get("self_check", []),
        conflicts=state.get("conflicts", []),
        caveats=state.get("caveats", []),
        signals={k: float(v) for k, v in state.get("support", {}).items() if k in ("typed", "hops_typed", "agrees", "margin")},
    )
