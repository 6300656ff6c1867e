"""ask_structured's one repair attempt, and a clear error for a file that is not a GGUF model."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from agent.llm import LlamaCppLLM, LLMError, ask_structured
from helpers import FakeLLM

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}, "n": {"type": "integer"}}, "required": ["answer", "n"]}
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "How many?"}]


class Reply(BaseModel):
    answer: str
    n: int


def test_valid_first_reply_is_parsed_without_repair():
    llm = FakeLLM([{"answer": "three", "n": 3}])
    result = ask_structured(llm, MESSAGES, Reply, SCHEMA, 32)
    assert result.value == Reply(answer="three", n=3)
    assert len(result.completions) == 1 and len(llm.calls) == 1
    assert result.repaired is False and result.error is None
    assert llm.calls[0] == (MESSAGES, SCHEMA)


def test_invalid_json_then_valid_is_repaired_and_shows_the_error():
    llm = FakeLLM(['{"answer": "three", ', {"answer": "three", "n": 3}])
    result = ask_structured(llm, MESSAGES, Reply, SCHEMA, 32)
    assert result.value == Reply(answer="three", n=3)
    assert len(result.completions) == 2 and result.repaired is True and result.error is None
    repair, schema = llm.calls[1]
    assert schema == SCHEMA
    assert repair[: len(MESSAGES)] == MESSAGES  # the original conversation is kept
    assert repair[-2] == {"role": "assistant", "content": '{"answer": "three", '}
    assert repair[-1]["role"] == "user"
    assert "invalid JSON" in repair[-1]["content"]
    assert MESSAGES == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "How many?"}]  # not mutated


def test_schema_mismatch_twice_gives_no_value_and_both_errors():
    llm = FakeLLM([{"answer": "three"}, {"answer": "three", "n": "lots"}])
    result = ask_structured(llm, MESSAGES, Reply, SCHEMA, 32)
    assert result.value is None and result.repaired is False
    assert len(result.completions) == 2
    assert "does not match the schema (n: " in result.error  # first attempt: n missing
    assert "after repair: JSON does not match the schema (n: " in result.error  # second: n not an integer
    first, second = result.error.split("; after repair: ")
    assert "required" in first.lower() or "missing" in first.lower()
    assert "integer" in second.lower()
    assert [schema for _, schema in llm.calls] == [SCHEMA, SCHEMA]
    assert "does not match the schema" in llm.calls[1][0][-1]["content"]


def test_invalid_json_twice_records_both_parse_errors():
    llm = FakeLLM(["nope", "[still nope"])
    result = ask_structured(llm, MESSAGES, Reply, SCHEMA, 32)
    assert result.value is None
    assert result.error.count("invalid JSON") == 2


def test_completions_carry_the_text_of_each_reply():
    llm = FakeLLM(["oops", {"answer": "x", "n": 1}])
    result = ask_structured(llm, MESSAGES, Reply, SCHEMA, 32)
    assert [c.text for c in result.completions] == ["oops", '{"answer": "x", "n": 1}']


def test_llamacpp_rejects_a_file_that_is_not_gguf(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a model\x00\x01\x02" * 64)
    with pytest.raises(LLMError) as exc:
        LlamaCppLLM(bad, n_ctx=512, prompt_cache=False)
    message = str(exc.value)
    assert "bad.gguf" in message and "GGUF" in message and "\n" not in message
