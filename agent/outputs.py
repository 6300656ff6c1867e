"""Structured replies the LLM must produce, each with the JSON schema that constrains it.

Schemas are written by hand with tight bounds (llama.cpp turns them into a grammar), and
the pydantic models re-check whatever comes back.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from graph import plan_json_schema

ANSWER_CHARS = 120


def _answer_schema(max_sources: int, extra: dict | None = None) -> dict:
    props = {
        "answer": {"type": "string", "minLength": 1, "maxLength": ANSWER_CHARS},
        "sources": {"type": "array", "maxItems": 3, "items": {"type": "integer", "minimum": 1, "maximum": max(1, max_sources)}},
        **(extra or {}),  # after the answer: the model judges sufficiency once it has answered
    }
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


class WarmupReply(BaseModel):
    can_answer: bool
    answer: str = Field(max_length=ANSWER_CHARS * 2)
    sources: list[int] = []


def warmup_schema(n_passages: int) -> dict:
    return _answer_schema(n_passages, {"can_answer": {"type": "boolean"}})


class AnswerReply(BaseModel):
    answer: str = Field(min_length=1, max_length=ANSWER_CHARS * 2)
    sources: list[int] = []


def answer_schema(n_passages: int) -> dict:
    return _answer_schema(n_passages)


class NodeReply(BaseModel):
    answer: str = Field(min_length=1, max_length=ANSWER_CHARS * 2)


NODE_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "minLength": 1, "maxLength": ANSWER_CHARS}},
    "required": ["answer"],
    "additionalProperties": False,
}


class MemoryReply(BaseModel):
    notes: str


def memory_schema(max_chars: int) -> dict:
    return {
        "type": "object",
        "properties": {"notes": {"type": "string", "minLength": 1, "maxLength": max_chars}},
        "required": ["notes"],
        "additionalProperties": False,
    }


class ReflectReply(BaseModel):
    enough: bool
    new_questions: list[str] = []


def reflect_schema(max_new: int) -> dict:
    return {
        "type": "object",
        "properties": {
            "enough": {"type": "boolean"},
            "new_questions": {
                "type": "array",
                "maxItems": max_new,
                "items": {"type": "string", "minLength": 3, "maxLength": 160},
            },
        },
        "required": ["enough", "new_questions"],
        "additionalProperties": False,
    }


class ChoiceReply(BaseModel):
    answer: str = Field(min_length=1, max_length=ANSWER_CHARS * 2)


def choice_schema(options: list[str]) -> dict:
    """The reply may only name one of ``options`` (llama.cpp turns the enum into a grammar)."""
    return {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": list(options)}},
        "required": ["answer"],
        "additionalProperties": False,
    }


def plan_schema(max_nodes: int) -> dict:
    return plan_json_schema(max_nodes=max_nodes, max_question_chars=160, max_deps=min(4, max_nodes))
