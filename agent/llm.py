"""The one interface every LLM call goes through, and its llama.cpp implementations.

``LlamaCppLLM`` loads the GGUF in this process; ``OpenAIServerLLM`` talks to a llama.cpp
server that is already running (``llama-server`` or ``python -m llama_cpp.server``) through
its OpenAI-compatible ``/chat/completions`` endpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from agent import prompts
from retrieval.errors import DagragError

Message = dict[str, str]
T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Completion:
    """One LLM reply with its cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    cached_tokens: int = 0  # prompt tokens reused from llama.cpp's cache (not evaluated again)


class LLM(Protocol):
    """Chat completion, optionally constrained to a JSON schema."""

    def chat(self, messages: list[Message], *, max_tokens: int, schema: dict | None = None) -> Completion: ...


@dataclass(frozen=True)
class OptionScores:
    """The model's log-probability of replying with each option, and what scoring them cost."""

    logprobs: list[float]
    completion: Completion


@runtime_checkable
class ScoresOptions(Protocol):
    """An LLM that can say how likely each of several replies is (one prompt, scored once, shared by all)."""

    def score(self, messages: list[Message], options: list[str]) -> OptionScores: ...


@runtime_checkable
class ClearsCache(Protocol):
    """An LLM whose prompt cache can be emptied (the eval gives every method a cold cache)."""

    def clear_cache(self) -> None: ...


class LLMError(DagragError, RuntimeError):
    """The model could not be loaded or failed while generating."""


class LlamaCppLLM:
    """A GGUF model loaded once, in process, through llama-cpp-python.

    Calls are serialized with a lock (one llama context is not thread-safe). The chat
    template comes from the GGUF. Successive calls share their prompt prefix through
    llama.cpp's KV cache, and ``prompt_cache`` adds a RAM cache for earlier prefixes.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        seed: int = 0,
        temperature: float = 0.0,
        prompt_cache: bool = True,
    ) -> None:
        from llama_cpp import Llama, LlamaRAMCache

        self.model_path = Path(model_path)
        self.temperature = temperature
        self._lock = threading.Lock()
        self._chat_formatter = None
        try:
            with _quiet_stderr():
                self._llama = Llama(
                    model_path=str(model_path),
                    n_ctx=n_ctx,
                    n_threads=n_threads or max(1, (os.cpu_count() or 2) // 2),
                    seed=seed,
                    verbose=False,
                )
        except Exception as exc:  # llama.cpp raises ValueError with little detail
            raise LLMError(f"could not load GGUF model {model_path}: is it a valid llama.cpp model file?") from exc
        if prompt_cache:
            self._llama.set_cache(LlamaRAMCache(capacity_bytes=256 << 20))

    @property
    def name(self) -> str:
        return self.model_path.name

    def chat(self, messages: list[Message], *, max_tokens: int, schema: dict | None = None) -> Completion:
        kwargs: dict[str, Any] = {"messages": messages, "max_tokens": max_tokens, "temperature": self.temperature}
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        with self._lock:
            evaluated_before = self._prompt_tokens_evaluated()
            start = time.perf_counter()
            try:
                reply = self._llama.create_chat_completion(**kwargs)
            except ValueError as exc:  # e.g. prompt longer than the context window
                raise LLMError(str(exc)) from exc
            seconds = time.perf_counter() - start
            evaluated = self._prompt_tokens_evaluated() - evaluated_before
        usage = reply["usage"]
        return Completion(
            text=reply["choices"][0]["message"]["content"] or "",
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            seconds=seconds,
            cached_tokens=max(0, usage["prompt_tokens"] - evaluated),
        )

    def score(self, messages: list[Message], options: list[str]) -> OptionScores:
        """The log-probability of each option as the start of the reply to ``messages`` (not with
        an end-of-turn token after it: a small model rarely ends its turn after a bare name).

        The prompt is evaluated once, reusing the prefix it shares with the previous call, and
        each option is evaluated after it: prompt tokens sent are counted per option, and those
        served from the KV cache are counted as cached, as llama.cpp's own counters would."""
        import numpy as np
        from llama_cpp import llama_get_logits_ith

        llama = self._llama
        with self._lock:
            start = time.perf_counter()
            rendered = self._formatter()(messages=messages)
            prompt = llama.tokenize(rendered.prompt.encode(), add_bos=not rendered.added_special, special=True)
            if len(prompt) + max(len(o) for o in options) + 8 > llama.n_ctx():
                raise LLMError(f"prompt of {len(prompt)} tokens does not fit the context window ({llama.n_ctx()})")
            reused = min(llama.n_tokens, len(prompt) - 1)
            previous = llama.input_ids[:reused]
            reused = next((i for i, (a, b) in enumerate(zip(previous, prompt, strict=False)) if a != b), reused)
            llama.n_tokens = reused
            llama.eval(prompt[reused:])
            base = llama.n_tokens

            def next_logprobs():
                logits = np.ctypeslib.as_array(llama_get_logits_ith(llama._ctx.ctx, -1), shape=(llama.n_vocab(),))
                shifted = logits - logits.max()
                return shifted - np.log(np.exp(shifted).sum())

            first = next_logprobs()
            logprobs, sent, cached = [], 0, reused
            for i, option in enumerate(options):
                tokens = llama.tokenize(option.encode(), add_bos=False, special=False) or [llama.token_eos()]
                llama.n_tokens = base
                total = float(first[tokens[0]])
                for token, following in zip(tokens, tokens[1:], strict=False):
                    llama.eval([token])
                    total += float(next_logprobs()[following])
                logprobs.append(total)
                sent += base + len(tokens)
                cached += base if i else 0
            llama.n_tokens = base  # the context holds the prompt: the next call can reuse it
            seconds = time.perf_counter() - start
        return OptionScores(logprobs, Completion("", sent, 0, seconds, cached_tokens=cached))

    def _formatter(self):
        if self._chat_formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = self._llama.metadata.get("tokenizer.chat_template")
            if not template:
                raise LLMError(f"{self.name} has no chat template: it cannot score options")
            model = self._llama._model
            eos, bos = self._llama.token_eos(), self._llama.token_bos()
            self._chat_formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=model.token_get_text(eos) if eos != -1 else "",
                bos_token=model.token_get_text(bos) if bos != -1 else "",
            )
        return self._chat_formatter

    def clear_cache(self) -> None:
        """Forget every cached prompt prefix (the next call evaluates its whole prompt)."""
        with self._lock:
            self._llama.reset()
            if self._llama.cache is not None:
                from llama_cpp import LlamaRAMCache

                self._llama.set_cache(LlamaRAMCache(capacity_bytes=256 << 20))

    def _prompt_tokens_evaluated(self) -> int:
        """llama.cpp's running count of prompt tokens it actually evaluated (cache hits excluded)."""
        import llama_cpp

        return int(llama_cpp.llama_perf_context(self._llama._ctx.ctx).n_p_eval)


class OpenAIServerLLM:
    """An OpenAI-compatible llama.cpp server (``llama-server`` or ``python -m llama_cpp.server``).

    ``url`` is the API base, e.g. ``http://gpu-box:8080/v1``; each call is one
    ``POST {url}/chat/completions``. A JSON schema is sent as
    ``response_format={"type": "json_object", "schema": schema}``: the one form both servers
    turn into a grammar (llama_cpp.server rejects ``"type": "json_schema"`` and ignores a
    top-level ``json_schema``; llama-server reads ``schema`` for ``json_object`` in every
    version). Sampling is pinned to what ``LlamaCppLLM`` uses (``repeat_penalty`` 1.0: the
    1.1 default of llama_cpp.server breaks its grammar-constrained output).

    No retries: a timeout, a refused connection or an error status raises ``LLMError`` with
    one line naming the URL. The client is thread-safe; the server decides how requests queue.
    """

    def __init__(
        self,
        url: str,
        *,
        model: str = "local",
        temperature: float = 0.0,
        seed: int | None = 0,
        timeout: float = 300.0,
        connect_timeout: float = 5.0,
        api_key: str | None = None,
    ) -> None:
        import httpx

        self.url = url.strip().rstrip("/")
        if not self.url.lower().startswith(("http://", "https://")):
            raise LLMError(f"LLM server URL {url!r} must start with http:// or https://, e.g. http://127.0.0.1:8080/v1 (DAGRAG_LLM_URL)")
        self.model = model
        self.temperature = temperature
        self.seed = seed
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=connect_timeout), headers=headers)

    @property
    def name(self) -> str:
        return f"{self.model}@{self.url}"

    def request_body(self, messages: list[Message], *, max_tokens: int, schema: dict | None = None) -> dict[str, Any]:
        """The JSON body of one chat completion request."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": self.temperature,
            "repeat_penalty": 1.0,
            "stream": False,
        }
        if self.seed is not None:
            body["seed"] = self.seed
        if schema is not None:
            body["response_format"] = {"type": "json_object", "schema": schema}
        return body

    def chat(self, messages: list[Message], *, max_tokens: int, schema: dict | None = None) -> Completion:
        import httpx

        endpoint = f"{self.url}/chat/completions"
        body = self.request_body(messages, max_tokens=max_tokens, schema=schema)
        start = time.perf_counter()
        try:
            response = self._client.post(endpoint, json=body)
        except httpx.TimeoutException as exc:
            raise LLMError(
                f"LLM server at {self.url} did not answer within {self.timeout:g}s ({type(exc).__name__}): "
                "check that it is not overloaded, or unset DAGRAG_LLM_URL to run the model in process"
            ) from exc
        except httpx.TransportError as exc:
            raise LLMError(
                f"LLM server at {self.url} is not reachable ({type(exc).__name__}): start it "
                "(python -m llama_cpp.server --model FILE.gguf --port N, or llama-server -m FILE.gguf --port N) "
                "or unset DAGRAG_LLM_URL"
            ) from exc
        seconds = time.perf_counter() - start
        if response.status_code != 200:
            raise LLMError(f"LLM server at {self.url} answered HTTP {response.status_code}: {_error_text(response)}")
        try:
            reply = response.json()
            choice = reply["choices"][0]
            text = choice["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMError(
                f"LLM server at {self.url} sent no chat completion: is DAGRAG_LLM_URL the OpenAI base URL (ending in /v1)?"
            ) from exc
        usage = reply.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        cached = details.get("cached_tokens")
        if cached is None:  # llama-server also reports its prompt-cache reuse in "timings"
            cached = (reply.get("timings") or {}).get("cache_n", 0)
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            seconds=seconds,
            cached_tokens=int(cached or 0),
        )

    def close(self) -> None:
        self._client.close()


def _error_text(response: Any) -> str:
    """The server's error message on one line (OpenAI-style ``{"error": {"message": ...}}`` or raw text)."""
    try:
        data = response.json()
        message = data.get("error", data) if isinstance(data, dict) else data
        message = message.get("message", message) if isinstance(message, dict) else message
    except ValueError:
        message = response.text
    line = " ".join(str(message).split())
    return line[:300] + ("…" if len(line) > 300 else "")


@contextlib.contextmanager
def _quiet_stderr():
    """Silence llama.cpp's C-level log lines while loading."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(fd, 2)
            os.close(fd)


@dataclass
class Structured:
    """Outcome of a schema-constrained call: the parsed value or why there is none."""

    value: BaseModel | None
    completions: list[Completion] = field(default_factory=list)
    error: str | None = None
    repaired: bool = False


def ask_structured(llm: LLM, messages: list[Message], model: type[T], schema: dict, max_tokens: int) -> Structured:
    """Ask for JSON matching ``schema`` and parse it into ``model``.

    A reply that does not parse gets one repair attempt (the error is shown to the model);
    if that fails too, ``value`` is None and ``error`` says why, for the caller to record.
    """
    first = llm.chat(messages, max_tokens=max_tokens, schema=schema)
    value, error = _parse(first.text, model)
    if value is not None:
        return Structured(value, [first])
    repair = [
        *messages,
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": prompts.REPAIR_JSON.format(error=error)},
    ]
    second = llm.chat(repair, max_tokens=max_tokens, schema=schema)
    value, error2 = _parse(second.text, model)
    if value is not None:
        return Structured(value, [first, second], repaired=True)
    return Structured(None, [first, second], error=f"{error}; after repair: {error2}")


def _parse(text: str, model: type[T]) -> tuple[T | None, str | None]:
    try:
        return model.model_validate(json.loads(text, strict=False)), None  # raw newlines in strings are fine
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at char {exc.pos})"
    except ValidationError as exc:
        first = exc.errors()[0]
        return None, f"JSON does not match the schema ({'.'.join(map(str, first['loc']))}: {first['msg']})"
