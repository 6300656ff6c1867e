"""The agent on its defaults (rule planner, extractive reader) with a scripted LLM that only chooses."""

from __future__ import annotations

import json
import os

from agent.escalation import self_check
from agent.run import run_agent
from agent.settings import Settings
from agent.state import Context
from agent.workflow import build_graph
from graph import Plan
from helpers import FakeLLM, LexicalRetriever

Q = "Who manages the team that owns the billing service?"


def run(llm: FakeLLM, retriever: LexicalRetriever, question: str = Q, plan: Plan | None = None, **settings):
    settings = {"reader_llm_weight": 1.0, **settings}  # the model decides: every reading makes its call
    ctx = Context(llm=llm, retriever=retriever, settings=Settings(**settings))
    events = list(run_agent(build_graph(), question, ctx, plan=plan))
    assert events[-1].kind == "done"
    return events[-1].answer


def first_option(messages, schema):
    return json.dumps({"answer": schema["properties"]["answer"]["enum"][0]})


def first_option_or_enough(messages, schema):
    """The first option when asked to choose; "enough" when reflection asks what is missing."""
    return first_option(messages, schema) if "answer" in schema["properties"] else json.dumps({"enough": True, "new_questions": []})


def test_nested_question_runs_a_two_node_dag_and_the_sink_answers(company_retriever):
    llm = FakeLLM([first_option, first_option])
    answer = run(llm, company_retriever)
    assert answer.plan_source == "rules" and answer.answer == "Dana Kim"
    assert [n.question for n in answer.nodes] == ["Which team owns the billing service?", "Who manages #1?"]
    assert [n.answer for n in answer.nodes] == ["Payments team", "Dana Kim"]
    assert answer.nodes[1].resolved_question == "Who manages Payments team?"
    assert [c.stage for c in answer.calls] == ["node", "node"]  # no warm-up, plan, reflection or final call
    assert answer.citations[0].title == "Managers"
    # every call could only name spans of the evidence; the question's own top-k passages open
    # every call's prompt (a prefix llama.cpp reuses), the sub-question comes after the passages
    prompts = [messages[-1]["content"] for messages, _ in llm.calls]
    for prompt, (_, schema) in zip(prompts, llm.calls, strict=True):
        assert prompt.index("Passages:") < prompt.index("Question:") < prompt.index("Options:")
        assert all(option in prompt for option in schema["properties"]["answer"]["enum"])
    shared = len(os.path.commonprefix(prompts))
    assert prompts[0].count("<passage", 0, shared) >= 2


def test_the_models_choice_is_the_answer_but_overruling_the_ranking_is_low_confidence(company_retriever):
    omar = lambda m, schema: json.dumps({"answer": "Omar Haddad"})  # noqa: E731
    answer = run(FakeLLM([first_option, omar]), company_retriever)
    assert answer.answer == "Omar Haddad"
    assert answer.confidence == "low"  # the model overruled the ranking: no clear lead, a near tie


def test_flat_question_is_answered_at_the_warm_up(company_retriever):
    answer = run(FakeLLM([first_option]), company_retriever, question="Who manages the Payments team?")
    assert answer.plan_source == "warmup" and answer.answer == "Dana Kim" and answer.nodes == []
    assert [c.stage for c in answer.calls] == ["warmup"]
    assert answer.confidence == ("high" if answer.signals["margin"] >= 0.3 else "moderate")


def test_score_reader_answers_without_any_llm_call(company_retriever):
    llm = FakeLLM([])
    answer = run(llm, company_retriever, reader="score")
    assert answer.answer == "Dana Kim" and llm.calls == []


def test_no_typed_span_lets_the_model_write_the_answer_as_plain_rag_would():
    retriever = LexicalRetriever([("Teams", "The Payments team owns the billing service.")])
    llm = FakeLLM([{"can_answer": False, "answer": "unknown", "sources": []}])
    answer = run(llm, retriever, question="When did the Payments team start?")
    assert answer.answer == "unknown" and answer.confidence == "low"
    assert [c.stage for c in answer.calls] == ["warmup"] and any("the model wrote the answer" in f for f in answer.fallbacks)


def test_a_dag_that_finds_no_typed_answer_consults_reflection_and_says_low_confidence():
    retriever = LexicalRetriever(
        [("Teams", "The Payments team owns the billing service."), ("Managers", "Payments is managed by the platform group.")]
    )
    llm = FakeLLM([{"enough": True, "new_questions": []}])
    answer = run(llm, retriever)
    assert [n.answer for n in answer.nodes] == ["Payments team", "unknown"]
    assert [c.stage for c in answer.calls] == ["reflect"]  # one option only for node 1: no choice to make
    assert answer.confidence == "low"  # whatever the last reading found is not a person's name
    assert not answer.self_check[1].ok


def test_self_check_confidence_rules():
    kw = {
        "supported": True,
        "typed": True,
        "hops_typed": True,
        "lead": 0.5,
        "clear_lead": 0.3,
        "close_lead": 0.05,
        "conflicts": 0,
        "stale": 0,
        "stale_days": 365,
    }
    assert self_check(**kw)[1] == "high"
    assert self_check(**{**kw, "lead": 0.2})[1] == "moderate"  # a lead, but not a clear one
    assert self_check(**{**kw, "lead": 0.01})[1] == "low"  # a near tie between two candidates
    assert self_check(**{**kw, "typed": False})[1] == "low"
    assert self_check(**{**kw, "supported": False})[1] == "low"
    assert self_check(**{**kw, "hops_typed": False})[1] == "low"
    assert self_check(**{**kw, "conflicts": 1})[1] == "moderate"
    checks, _ = self_check(**{**kw, "lead": 0.2})
    assert [c.ok for c in checks] == [True, True, True, False, True, True]


def test_the_answer_carries_the_signals_its_confidence_rests_on(company_retriever):
    answer = run(FakeLLM([first_option, first_option]), company_retriever)
    assert set(answer.signals) == {"typed", "hops_typed", "agrees", "margin"}
    assert answer.signals["typed"] == answer.signals["hops_typed"] == 1.0


def test_a_yes_no_verdict_is_supported_by_its_cited_passages_but_never_high_on_word_coverage(company_retriever):
    answer = run(FakeLLM([]), company_retriever, "Does Dana Kim work in Lisbon?", reader_llm_weight=0.05)
    assert answer.answer == "yes" and answer.citations
    assert answer.self_check[0].ok  # the cited passages are what the verdict was read from
    assert answer.confidence == "moderate"


class ScoringLLM(FakeLLM):
    """A FakeLLM that can also score options: its log-probabilities come from a script, one list per call."""

    def __init__(self, scores: list[dict[str, float]], script=None, fail: bool = False):
        super().__init__(script or [])
        self.scores, self.scored, self.fail = scores, [], fail

    def score(self, messages, options):
        from agent.llm import Completion, LLMError, OptionScores

        self.scored.append((messages, list(options)))
        if self.fail:
            raise LLMError("prompt of 9000 tokens does not fit the context window (4096)")
        wanted = self.scores.pop(0)
        return OptionScores(
            [wanted.get(o, -50.0) for o in options], Completion("", 100 * len(options), 0, 0.01, cached_tokens=90 * (len(options) - 1))
        )


def test_the_model_picks_by_likelihood_when_it_can_score_options(company_retriever):
    llm = ScoringLLM([{"Payments team": -1.0}, {"Omar Haddad": -0.5, "Dana Kim": -3.0}])
    answer = run(llm, company_retriever)
    assert answer.answer == "Omar Haddad" and llm.calls == []  # scored, never asked for JSON
    messages, options = llm.scored[1]
    assert "Omar Haddad" in options and "Dana Kim" in options
    assert "JSON" not in messages[0]["content"] and "Who manages Payments team?" in messages[-1]["content"]
    assert [(c.stage, c.completion_tokens, c.options_scored) for c in answer.calls] == [
        ("node", 0, len(llm.scored[0][1])),
        ("node", 0, len(options)),
    ]
    assert sum(c.cached_tokens for c in answer.calls) > 0  # the options after the first reuse the prompt


def test_json_pick_is_used_when_asked_or_when_the_model_cannot_score(company_retriever):
    llm = ScoringLLM([], script=[first_option, first_option])
    answer = run(llm, company_retriever, reader_pick="json")
    assert answer.answer == "Dana Kim" and llm.scored == [] and len(llm.calls) == 2


def test_an_option_scoring_failure_falls_back_to_the_ranking_and_says_so(company_retriever):
    answer = run(ScoringLLM([], fail=True), company_retriever)
    assert answer.answer == "Dana Kim" and answer.calls == []
    assert any("could not score the options" in f for f in answer.fallbacks)


def test_a_question_in_two_parts_gets_both_answers_and_both_sources(company_retriever):
    answer = run(FakeLLM([first_option_or_enough] * 4), company_retriever, question="What does the Payments team own and who manages it?")
    assert [n.resolved_question for n in answer.nodes] == ["What does the Payments team own?", "Who manages the Payments team?"]
    assert answer.answer == "billing service; Dana Kim"
    assert {c.title for c in answer.citations} >= {"Teams", "Managers"}
    assert answer.confidence != "low", answer.self_check


def test_the_second_part_can_ask_about_the_first_parts_answer(company_retriever):
    answer = run(
        FakeLLM([first_option_or_enough] * 4), company_retriever, question="Who manages the Payments team, and where does she work?"
    )
    assert [n.resolved_question for n in answer.nodes] == ["Who manages the Payments team?", "Where does Dana Kim work?"]
    assert answer.answer == "Dana Kim; Lisbon"


def test_a_part_not_found_says_unknown_and_lowers_confidence():
    retriever = LexicalRetriever([("Managers", "Dana Kim manages the Payments team.")])
    answer = run(FakeLLM([first_option_or_enough] * 4), retriever, question="Who manages the Payments team and when was it founded?")
    assert answer.answer == "Dana Kim; unknown" and answer.confidence == "low"


LABEL = [
    ("Thistle Records", "Thistle Records is an independent record label in Edinburgh. It was founded in 1989 by Fiona Macrae."),
    ("Fiona Macrae", "Fiona Macrae was a Scottish journalist. She was at the Glasgow Herald before founding Thistle Records."),
]


def test_what_the_question_names_is_not_a_hops_answer():
    retriever = LexicalRetriever(list(LABEL))
    answer = run(FakeLLM([]), retriever, "Which newspaper was the founder of Thistle Records at?", reader="score")
    assert [n.answer for n in answer.nodes] == ["Fiona Macrae", "Glasgow Herald"]  # not Thistle Records, named by the question
    assert answer.answer == "Glasgow Herald"


def test_a_sub_question_that_only_names_an_earlier_answer_is_answered_by_it():
    retriever = LexicalRetriever(
        [
            ("Liv Moen", "Liv Moen is a Norwegian jazz singer. Her birth place is Botswana, where her parents taught."),
            ("Botswana", "Botswana is a landlocked country in Southern Africa, north of South Africa."),
            ("Zimbabwe", "Zimbabwe is a landlocked country in Southern Africa, between two rivers."),
        ]
    )
    question = "What landlocked country located in Southern Africa is the birth place of the Norwegian jazz singer Liv Moen?"
    llm = FakeLLM([])
    answer = run(llm, retriever, question=question, reader="score")
    assert [n.question for n in answer.nodes] == [
        "What is the birth place of the Norwegian jazz singer Liv Moen?",
        "What landlocked country located in Southern Africa is #1?",
    ]
    assert [n.answer for n in answer.nodes] == ["Botswana", "Botswana"] and answer.answer == "Botswana" and llm.calls == []


def test_a_sub_question_naming_an_earlier_answer_of_another_kind_is_read_not_copied():
    retriever = LexicalRetriever(
        [
            ("Tidewater", "Tidewater is a Welsh folk band formed in 1981 in Swansea."),
            ("Swansea", "Swansea is a coastal city in Wales."),
        ]
    )
    plan = Plan.model_validate(
        {"nodes": [{"id": 1, "question": "Which band was formed in 1981?"}, {"id": 2, "question": "Which city was #1?", "depends_on": [1]}]}
    )
    answer = run(FakeLLM([]), retriever, question="Which city was the band formed in 1981?", plan=plan, reader="score")
    assert [n.answer for n in answer.nodes] == ["Tidewater", "Swansea"] and answer.answer == "Swansea"


def test_a_rule_plan_whose_last_step_is_no_question_falls_back_to_plain_rag():
    retriever = LexicalRetriever(
        [
            ("Low Tide (film)", "Low Tide is a 1961 comedy film starring Mae Corr and Tom Hale."),
            ("Mae Corr", "Mae Corr was an American actress. She played the housekeeper Alice Nolan on Harbour Lane."),
        ]
    )
    question = "Low Tide contained the actress who played which part on Harbour Lane?"
    answer = run(FakeLLM([]), retriever, question=question, reader="score")
    assert answer.plan_source == "fallback" and [n.question for n in answer.nodes] == [question]
    assert "the last sub-question ('Low Tide contained #1?') is no question" in answer.fallbacks[0]
    assert answer.fallbacks[-1] == "single-node plan answered by the warm-up (plain RAG)"


def test_a_single_node_fallback_keeps_its_own_answer():
    # no typed span, the model's warm-up reply unusable: the question becomes one node, whose answer
    # is the question's own, not an earlier hop to leave out (it was, and the header date won)
    retriever = LexicalRetriever([("Fees", "Effective 2023-01-01. The annual membership charge is £40 per member.")])
    answer = run(FakeLLM(["bad", "bad again"]), retriever, question="What is the annual membership charge?", reader="score")
    assert answer.plan_source == "fallback" and [n.answer for n in answer.nodes] == ["£40 per member"]
    assert answer.answer == "£40 per member"
