"""The LLM calls whose reply the model writes itself (schema-constrained JSON): the warm-up
answer, the LLM planner's chat, and the helpers that turn replies into recorded calls.

The reader's choice among spans lives in ``agent.reading``; these are for ``reader="free"``,
``planner="llm"`` and plain RAG (``vanilla``), the paths a capable model takes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from agent import outputs, prompts
from agent.evidence import format_evidence
from agent.llm import Structured, ask_structured
from agent.types import Evidence, LLMCall, Stage
from graph import example_names

if TYPE_CHECKING:
    from agent.workflow import Context


def messages_for(user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": user}]


def plan_messages(question: str) -> list[dict[str, str]]:
    """The planner's chat: system prompt, few-shot turns, then the question."""
    messages = [{"role": "system", "content": prompts.PLAN_SYSTEM}]
    for example, nodes in prompts.PLAN_EXAMPLES:
        reply = {"nodes": [{"id": i, "question": q, "depends_on": d} for i, q, d in nodes]}
        messages += [
            {"role": "user", "content": prompts.PLAN.format(question=example)},
            {"role": "assistant", "content": json.dumps(reply)},
        ]
    return [*messages, {"role": "user", "content": prompts.PLAN.format(question=question)}]


# names in the planner's few-shot examples: a sub-question using them copies an example
EXAMPLE_NAMES = example_names([text for example, nodes in prompts.PLAN_EXAMPLES for text in [example, *(q for _, q, _ in nodes)]])


def ask(ctx: Context, stage: Stage, user: str, model: type, schema: dict, max_tokens: int) -> tuple[Structured, list[LLMCall]]:
    result = ask_structured(ctx.llm, messages_for(user), model, schema, max_tokens)
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
