"""The LLM calls whose reply the model writes itself (schema-constrained JSON): the warm-up
answer, the LLM planner's chat, and the helpers that turn replies into recorded calls.

The reader's choice among spans lives in ``agent.reading``; these are for ``reader="free"``,
``planner="llm"`` and plain RAG (``vanilla``), the paths a capable model takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent import outputs, prompts
from agent.evidence import final_evidence, format_evidence, grounded, infer_citations, is_unknown, same_answer, supported_citations
from agent.llm import Structured, ask_structured
from agent.types import Evidence, LLMCall, Stage

if TYPE_CHECKING:
    from agent.state import Context


def ask(ctx: Context, stage: Stage, user: str, model: type, schema: dict, max_tokens: int) -> tuple[Structured, list[LLMCall]]:
    result = ask_structured(ctx.llm, prompts.messages_for(user), model, schema, max_tokens)
    return result, llm_calls(stage, result)


def llm_calls(stage: Stage, result: Structured) -> list[LLMCall]:
    return [
        LLMCall(
            stage=stage,
            prompt_tokens=c.prompt_tokens,
            completion_tokens=c.completion_tokens,
            seconds=c.seconds,
            cached_tokens=c.cached_tokens,
        )
        for c in result.completions
    ]


def retried(stage: str, result: Structured) -> list[str]:
    """A note for the record when a reply only parsed after the repair attempt."""
    return [f"{stage} reply was invalid JSON; fixed on the one repair attempt"] if result.repaired else []


def warmup_call(ctx: Context, question: str, evidence: list[Evidence]) -> tuple[Structured, list[LLMCall]]:
    """One answer from the top-k evidence, with the model's own sufficiency judgement (also plain RAG's call)."""
    s = ctx.settings
    user = prompts.WARMUP.format(evidence=format_evidence(evidence, s.evidence_chars), question=question)
    return ask(ctx, "warmup", user, outputs.WarmupReply, outputs.warmup_schema(len(evidence)), s.answer_max_tokens + 24)


def free_warmup(ctx: Context, question: str, evidence: list[Evidence], update: dict, multi_hop: bool) -> dict:
    """The model writes the warm-up answer itself (``reader="free"``, for capable models; or no typed span)."""
    s = ctx.settings
    reply, calls = warmup_call(ctx, question, evidence)
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


def free_node(ctx: Context, memory: str, evidence: list[Evidence], question: str, node_id: int) -> tuple[str, list[LLMCall], list[str]]:
    """The model writes a node's answer itself (``reader="free"``)."""
    s = ctx.settings
    user = prompts.NODE.format(
        memory=memory or prompts.EMPTY_MEMORY, evidence=format_evidence(evidence, s.evidence_chars), question=question
    )
    reply, calls = ask(ctx, "node", user, outputs.NodeReply, outputs.NODE_SCHEMA, s.answer_max_tokens)
    notes = retried(f"node {node_id}", reply)
    if reply.value is None:
        return "unknown", calls, [*notes, f"node {node_id} answer unusable ({reply.error}); marked unknown"]
    return reply.value.answer.strip(), calls, notes


def refine_memory(ctx: Context, question: str, memory: str, facts: list[str]) -> tuple[str, list[LLMCall], list[str]]:
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


def free_final(state: Mapping[str, Any], ctx: Context) -> dict:
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
    support = {**{k: v for k, v in state.get("support", {}).items() if k != "margin"}, "typed": True, "agrees": same_answer(answer, plain)}
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
