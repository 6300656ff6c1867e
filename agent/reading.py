"""One reading step: typed candidates from the evidence, ranked, then chosen by the LLM.

This is where ``agent.reader`` (pure) meets the model, the embedder and the tagger. The LLM
only picks among the top candidates: by likelihood (each option scored after one shared
prompt) or, for a server LLM, with a JSON-schema enum, so it cannot write anything else.
With ``reader="score"`` no call is made and the best-ranked span answers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agent import outputs, prompts
from agent.evaluation.metrics import normalize_answer
from agent.evidence import cite, format_evidence, unique
from agent.llm import LLM, LLMError, ScoresOptions, ask_structured
from agent.questions import QuestionType, classify
from agent.ranking import rank
from agent.reader import YEAR, Scored, extract_candidates
from agent.settings import Settings
from agent.tagger import Tagger
from agent.types import Citation, Evidence, LLMCall, Stage
from agent.verdicts import in_common, judge_choice, profession
from agent.writer import llm_calls

Similarity = Callable[[str, list[str]], list[float]]
_PROFESSION = re.compile(
    r"^\s*what\s+(?:(?:is|was|are|were)\s+(?:the\s+)?(?:main\s+)?)?(?:profession|occupation|job|career|vocation)\b", re.IGNORECASE
)
_IN_COMMON = re.compile(r"\b(?:have|has|had) in common\b", re.IGNORECASE)


@dataclass(frozen=True)
class Reading:
    """The answer a reading step found, and the signals that say how far to trust it."""

    answer: str
    qtype: QuestionType
    options: tuple[str, ...] = ()  # what the LLM could choose among, best-ranked first
    passages: tuple[int, ...] = ()  # evidence indexes that contain the answer
    typed: bool = False  # the answer is a span of the type the question asks for
    ranked_first: bool = False  # the LLM's choice is also the best-ranked candidate
    margin: float = 0.0  # score of the best candidate minus the runner-up's
    calls: list[LLMCall] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.options)

    @property
    def lead(self) -> float:
        """How far the answer leads the runner-up in the ranking (0 when the model overruled the ranking)."""
        return self.margin if self.ranked_first and self.found else 0.0

    def cite(self, evidence: list[Evidence]) -> list[Citation]:
        """Citations of the passages (of ``evidence``, as read) that hold the answer."""
        return cite(evidence, [i + 1 for i in self.passages][:3]) if self.found else []


def read(
    question: str,
    evidence: Sequence[Evidence],
    *,
    llm: LLM,
    settings: Settings,
    similarity: Similarity | None = None,
    stage: Stage = "node",
    use_llm: bool = True,
    require_typed: bool = False,
    exclude: Sequence[str] = (),
    shown_first: Sequence[Evidence] = (),
    tagger: Tagger | None = None,
) -> Reading:
    """Answer ``question`` with a span of ``evidence`` (``"unknown"`` when no span fits, or, with
    ``require_typed``, when no span is of the type asked; the caller may then let the model write).
    ``shown_first``: passages every call of the question shows, put first in the model's prompt
    (a prefix llama.cpp can reuse); ranking does not depend on it. ``tagger``: entities and noun
    phrases of each passage (``agent.tagger``) added to the reader's own spans."""
    qtype = classify(question)
    if not qtype.recognised:
        return Reading(answer="unknown", qtype=qtype, notes=[f"no English question cue in {question!r}: the reader cannot type it"])
    if qtype.kind in ("yesno", "choice"):
        ranked = judge_choice(question, qtype, evidence)
    elif _IN_COMMON.search(question) and (common := in_common(question, evidence)):
        ranked = common
    elif _PROFESSION.search(question) and (described := profession(question, evidence)):
        ranked = described
    else:
        sim = (lambda sents: similarity(question, sents)) if similarity else None
        ranked = rank(
            question,
            qtype,
            extract_candidates(evidence, qtype, tagger([e.text for e in evidence]) if tagger else None),
            sim,
            [e.title for e in evidence],
        )
    if exclude:  # the answers of earlier hops are what the question is about, not its answer
        known = {normalize_answer(e) for e in exclude}
        ranked = [r for r in ranked if normalize_answer(r.text) not in known]
    if require_typed:
        ranked = [r for r in ranked if r.type_ok]
    if not ranked:
        return Reading(answer="unknown", qtype=qtype, notes=[f"no {qtype.kind} in the evidence for {question!r}"])
    top = ranked[: settings.reader_options]
    margin = top[0].score - top[1].score if len(top) > 1 else top[0].score
    chosen, calls, notes = top[0], [], []
    # The model's pick adds ``reader_llm_weight`` to a candidate's score: it decides the close
    # calls (a tiny model) or everything (a weight of 1 or more, for a capable model). Options
    # that even its full weight cannot lift to the top are not offered, and when only one is
    # left no call is made.
    contenders = [c for c in top if c.score + settings.reader_llm_weight >= top[0].score]
    if use_llm and settings.reader == "choice" and len(contenders) > 1:
        shown = unique([*shown_first, *evidence]) if shown_first else list(evidence)
        choose = _choose_likeliest if settings.reader_pick == "likelihood" and isinstance(llm, ScoresOptions) else _choose
        picked, calls, notes = choose(question, shown, contenders, llm, settings, stage)
        chosen = max(contenders, key=lambda c: c.score + (settings.reader_llm_weight if c is picked else 0.0))
    spans = () if chosen.kind == "yesno" else tuple(i for i, e in enumerate(evidence) if chosen.text.lower() in e.text.lower())
    return Reading(
        answer=_year_only(question, chosen),
        qtype=qtype,
        options=tuple(s.text for s in top),
        passages=spans or chosen.passages,
        typed=chosen.type_ok,
        ranked_first=chosen.text == top[0].text,
        margin=margin,
        calls=calls,
        notes=notes,
    )


def _year_only(question: str, chosen: Scored) -> str:
    """The year of a full date for "In what year ...?" ("4 May 1966" -> 1966); the span as read otherwise."""
    year = YEAR.search(chosen.text) if chosen.kind == "date" and _WHAT_YEAR.search(question) else None
    return year.group(1) if year else chosen.text


_WHAT_YEAR = re.compile(r"\b(?:what|which)\s+year\b", re.IGNORECASE)


def _prompt(template: str, question: str, evidence: Sequence[Evidence], options: list[str], settings: Settings) -> str:
    return template.format(
        question=question, evidence=format_evidence(list(evidence), settings.evidence_chars), options=" | ".join(options)
    )


def _choose(
    question: str, evidence: Sequence[Evidence], top: list[Scored], llm: LLM, settings: Settings, stage: Stage
) -> tuple[Scored, list[LLMCall], list[str]]:
    options = [s.text for s in top]
    user = _prompt(prompts.READ, question, evidence, options, settings)
    reply = ask_structured(
        llm, prompts.messages_for(user), outputs.ChoiceReply, outputs.choice_schema(options), 16 + 8 * max(len(o.split()) for o in options)
    )
    calls = llm_calls(stage, reply)
    if reply.value is None or reply.value.answer not in options:
        return top[0], calls, [f"reader choice unusable ({reply.error or 'not an option'}); took the best-ranked span"]
    return top[options.index(reply.value.answer)], calls, []


def _choose_likeliest(
    question: str, evidence: Sequence[Evidence], top: list[Scored], llm: ScoresOptions, settings: Settings, stage: Stage
) -> tuple[Scored, list[LLMCall], list[str]]:
    """The option the model is likeliest to reply with: one prompt, every option scored after it."""
    options = [s.text for s in top]
    user = _prompt(prompts.READ_PLAIN, question, evidence, options, settings)
    try:
        scores = llm.score(prompts.plain_messages_for(user), options)
    except LLMError as exc:
        return top[0], [], [f"reader could not score the options ({exc}); took the best-ranked span"]
    c = scores.completion
    call = LLMCall(
        stage=stage,
        prompt_tokens=c.prompt_tokens,
        completion_tokens=0,
        seconds=c.seconds,
        cached_tokens=c.cached_tokens,
        options_scored=len(options),
    )
    best = max(range(len(options)), key=lambda i: scores.logprobs[i])
    return top[best], [call], []


def cosine_similarity(embed: Callable[[list[str]], list[list[float]]]) -> Similarity:
    """A ``Similarity`` from an embedding function (one batch per call: the question and the sentences)."""

    def similarity(question: str, sentences: list[str]) -> list[float]:
        vectors = embed([question, *sentences])
        q = vectors[0]
        return [_cos(q, v) for v in vectors[1:]]

    return similarity


def _cos(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0
