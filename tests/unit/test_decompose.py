"""The rule-based planner: nested descriptions become chained sub-questions."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph import validate_plan
from graph.decompose import decompose


def chain(question: str) -> list[str]:
    return [n.question for n in decompose(question).nodes]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who manages the team that owns the billing service?", ["Which team owns the billing service?", "Who manages #1?"]),
        (
            "In which city does the manager of the team that owns the search service work?",
            ["Which team owns the search service?", "Who is the manager of #1?", "In which city does #2 work?"],
        ),
        (
            "What is the name of the waterfall in the country where the Bubye River is found?",
            ["What is the country where the Bubye River is found?", "What is the name of the waterfall in #1?"],
        ),
        (
            "When was the country that produced Fist Power taken by the British?",
            ["Which country produced Fist Power?", "When was #1 taken by the British?"],
        ),
        (
            "What kind of plane dropped the bomb on Akinoshu Kenji's birthplace?",
            ["What is the birthplace of Akinoshu Kenji?", "What kind of plane dropped the bomb on #1?"],
        ),
        ("Who is the spouse of Big Eye's main director?", ["Who is the main director of Big Eye?", "Who is the spouse of #1?"]),
        (
            "What year did the company Novair International Airways is part of dissolve?",
            ["What is the company Novair International Airways is part of?", "What year did #1 dissolve?"],
        ),
    ],
)
def test_nested_descriptions_become_a_chain(question, expected):
    assert chain(question) == expected


@pytest.mark.parametrize(
    "question, expected",
    [
        (  # the main verb comes last: "born" is not part of the clause; a name runs on to its noun
            "Where was the chair of the cooperative that operates the Hollow Creek pumping station born?",
            ["Which cooperative operates the Hollow Creek pumping station?", "Who is the chair of #1?", "Where was #2 born?"],
        ),
        (
            "Where was the manager of the team that owns the billing service born?",
            ["Which team owns the billing service?", "Who is the manager of #1?", "Where was #2 born?"],
        ),
        (
            "When was the cooperative that operates the Hollow Creek pumping station founded?",
            ["Which cooperative operates the Hollow Creek pumping station?", "When was #1 founded?"],
        ),
        ("Where is the team that owns the billing service?", ["Which team owns the billing service?", "Where is #1?"]),
        (  # do-support: the question's verb and its preposition end it, whatever noun ends the name
            "Who does the person who coordinates the unit that operates the Lowmoor river gauge report to?",
            ["Which unit operates the Lowmoor river gauge?", "Who coordinates #1?", "Who does #2 report to?"],
        ),
        ("What does the team that owns the search service work on?", ["Which team owns the search service?", "What does #1 work on?"]),
        (  # a nationality before common nouns modifies the name that follows
            "What landlocked country is the birth place of the Norwegian jazz singer Liv?",
            ["What is the birth place of the Norwegian jazz singer Liv?", "What landlocked country is #1?"],
        ),
        (  # a lower-case noun is no name: "record" is not the question's verb here
            "Who did the pilot who set a women's distance record in 1931 marry?",
            ["Who set a women's distance record in 1931?", "Who did #1 marry?"],
        ),
        (  # a description set off by commas
            "What show does a retired Harbour City player, who missed the 2003 season due to an injury, host?",
            ["Which retired Harbour City player missed the 2003 season due to an injury?", "What show does #1 host?"],
        ),
        (  # a reduced clause inside an object relative ends at the relative's own verb; a nationality may lead its noun
            "Who produced the single that the Welsh folk singer born in 1950 in Cardiff, Wales was best known for?",
            [
                "Who is the Welsh folk singer born in 1950 in Cardiff, Wales?",
                "What is the single that #1 was best known for?",
                "Who produced #2?",
            ],
        ),
        (  # a longer verb phrase: it starts at the base-form verb after the subject's last name
            'Who did the actor who starred as Inspector Hale in the series "North Road" have a child with?',
            ['Who starred as Inspector Hale in the series "North Road"?', "Who did #1 have a child with?"],
        ),
        (  # a participle ends it after a name whose noun no list knows
            "Where was the founder of the company that makes the Zephyr engine born?",
            ["Which company makes the Zephyr engine?", "Who is the founder of #1?", "Where was #2 born?"],
        ),
        (  # an object relative ends at its stranded preposition, then the question's own verb phrase
            "In what year did the person that Marisol Vega reports to join the company?",
            ["Who is the person that Marisol Vega reports to?", "In what year did #1 join the company?"],
        ),
        ("Who founded the company that Dana Kim works for?", ["What is the company that Dana Kim works for?", "Who founded #1?"]),
    ],
)
def test_a_question_whose_main_verb_comes_last(question, expected):
    assert chain(question) == expected


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "Where was the medical director of the Northside Clinic born?",
            ["Who is the medical director of Northside Clinic?", "Where was #1 born?"],
        ),
        (
            "Where did the chief executive of the Harbour Health Trust study economics?",
            ["Who is the chief executive of Harbour Health Trust?", "Where did #1 study economics?"],
        ),
        ("Who is the spouse of the current president of France?", ["Who is the current president of France?", "Who is the spouse of #1?"]),
        # "the contact for <topic>": a role named by what it is for
        ("Where is the contact for IT equipment based?", ["Who is the contact for IT equipment?", "Where is #1 based?"]),
        ("Which office does the contact for payroll work in?", ["Who is the contact for payroll?", "Which office does #1 work in?"]),
    ],
)
def test_a_relation_may_have_a_modifier(question, expected):
    assert chain(question) == expected


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # asked as a statement: the description is the subject, before the main verb
        ("The director of Red Harbor was born in which city?", ["Who is the director of Red Harbor?", "#1 was born in which city?"]),
        (
            "The actress who played Marta in Red Harbor founded which company?",
            ["Who played Marta in Red Harbor?", "#1 founded which company?"],
        ),
        ("The team that is led by Dana Kim is based where?", ["Which team is led by Dana Kim?", "#1 is based where?"]),
        (
            "The city where Red Harbor was shot had what population in 2021?",
            ["What is the city where Red Harbor was shot?", "#1 had what population in 2021?"],
        ),
        (
            "The arena where the Maineiacs played their home games can seat how many people?",
            ["What is the arena where the Maineiacs played their home games?", "#1 can seat how many people?"],
        ),
        (
            "The theatre company founded by the star of Red Harbor is based in which city?",
            ["Who is the star of Red Harbor?", "What is the theatre company founded by #1?", "#2 is based in which city?"],
        ),
        # the name after a common noun
        (
            "Who is the spouse of the director of the 1994 film Red Harbor?",
            ["Who is the director of the 1994 film Red Harbor?", "Who is the spouse of #1?"],
        ),
        (
            "The composer of the score of Red Harbor taught at which conservatory?",
            ["Who is the composer of the score of Red Harbor?", "#1 taught at which conservatory?"],
        ),
        (
            "How many permanent members does the company founded by Ana Ferreira have?",
            ["What is the company founded by Ana Ferreira?", "How many permanent members does #1 have?"],
        ),
        # "was born" is the clause's own verb, not the question's
        (
            "In what county is the city where Harris W. Fawell was born?",
            ["What is the city where Harris W. Fawell was born?", "In what county is #1?"],
        ),
        # any participle with its agent or place: "attended by", "won by"; the main verb comes last
        (
            "In what year was the university attended by Niamh Carrick founded?",
            ["What is the university attended by Niamh Carrick?", "In what year was #1 founded?"],
        ),
        # the question word inside a reduced clause of the predicate: first who it describes
        (
            "The prize won by The Glass Orchard was established by a publisher born in which city?",
            ["What is the prize won by The Glass Orchard?", "#1 was established by what publisher?", "#2 was born in which city?"],
        ),
        (
            "Tom Ashby was the chairman of a restaurant holding company headquartered in what city?",
            ["Tom Ashby was the chairman of what restaurant holding company?", "#1 is headquartered in what city?"],
        ),
        (
            "The Glass Orchard is a novel by a writer who worked as a journalist for which newspaper?",
            ["The Glass Orchard is a novel by what writer?", "#1 worked as a journalist for which newspaper?"],
        ),
    ],
)
def test_a_description_that_opens_a_statement_is_asked_first(question, expected):
    assert chain(question) == expected


def test_three_hops_in_dependency_order():
    plan = decompose("What is the usual average snowfall in the city where the performers of Brother were formed?")
    assert [n.depends_on for n in plan.nodes] == [[], [1], [2]]
    assert "Brother" in plan.nodes[0].question and plan.nodes[2].question.endswith("in #2?")


@pytest.mark.parametrize(
    "question",
    [
        "Who is the wife of Kim Jong-chul?",
        "When was Northwind Labs founded?",
        "What is the hotel limit per night?",
        "Who manages the Payments team?",
        "The Salt Lanterns were formed in which city?",  # "The" of a name is not a description's article
    ],
)
def test_a_flat_question_is_one_node(question):
    assert chain(question) == [question]


def test_sub_questions_use_only_the_questions_words():
    question = "In what county is the city where Harris W. Fawell was born?"
    words = set(re.findall(r"\w+", question.lower())) | {"what", "is", "the", "which", "who", "of"}
    for node in decompose(question).nodes:
        assert set(re.findall(r"[a-z]\w*", node.question.lower())) <= words


@settings(max_examples=200)
@given(st.text(max_size=160), st.integers(min_value=1, max_value=6))
def test_any_text_gives_a_valid_plan(text, max_nodes):
    plan = decompose(text, max_nodes)
    assert 1 <= len(plan.nodes) <= max_nodes
    assert validate_plan(plan) == []


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "The Lowmoor river gauge is operated by a hydrologist who reports to whom?",
            ["The Lowmoor river gauge is operated by what hydrologist?", "#1 reports to whom?"],
        ),
        (
            "The manuscript for the Flute Sonata is in the hand of a German musician whose godfather is whom?",
            ["The manuscript for the Flute Sonata is in the hand of what German musician?", "Who is the godfather of #1?"],
        ),
        (
            "Notable speakers at the Brisbane Institute include a painter known for his depictions of what?",
            ["Notable speakers at the Brisbane Institute include what painter?", "#1 is known for his depictions of what?"],
        ),
        (
            "Grace Krilanovich's first novel was published by a publishing house that is based where?",
            ["What is the first novel of Grace Krilanovich?", "#1 was published by what publishing house?", "#2 is based where?"],
        ),
        (  # the question word ends a clause about "a University", after another article
            "Lena Ward is the head coach at a University which also has a second campus in which Texas city?",
            ["Lena Ward is the head coach at what University?", "#1 also has a second campus in which Texas city?"],
        ),
        # the subject is the one described: nothing to find first
        (
            "Scott Howell is a consultant who has worked with the mayor of what city?",
            ["Scott Howell has worked with the mayor of what city?"],
        ),
    ],
)
def test_a_question_word_inside_a_clause_about_a_description_asks_for_the_described_thing_first(question, expected):
    assert chain(question) == expected
    assert validate_plan(decompose(question)) == []


def test_a_clause_whose_object_is_the_described_thing_does_not_get_it_as_its_subject():
    # "a war that Italy entered when": the war is what Italy entered, so no "#1 Italy entered when?"
    assert not any(re.match(r"#\d+ Italy", q) for q in chain("King Albert lived during a war that Italy entered when?"))


@pytest.mark.parametrize(
    ("question", "expected", "parts"),
    [
        ("What does the Vision Team own and who leads it?", ["What does the Vision Team own?", "Who leads the Vision Team?"], [1, 2]),
        (  # "that person" after a "who" part is its answer
            "Who leads the Indexing Guild and who does that person report to?",
            ["Who leads the Indexing Guild?", "Who does #1 report to?"],
            [1, 2],
        ),
        (  # each part keeps its own nested descriptions
            "Who leads the team that maintains the Atlas service, and where was he born?",
            ["Which team maintains the Atlas service?", "Who leads #1?", "Where was #2 born?"],
            [2, 3],
        ),
        (
            "What is the capital of France and what is its population?",
            ["What is the capital of France?", "What is France's population?"],
            [1, 2],
        ),
        ("Who founded Acme Corp and when did they die?", ["Who founded Acme Corp?", "When did #1 die?"], [1, 2]),
        ("Who manages the Payments team and what is her office?", ["Who manages the Payments team?", "What is #1's office?"], [1, 2]),
        ("Who manages the Payments team, and who hired her?", ["Who manages the Payments team?", "Who hired #1?"], [1, 2]),
    ],
)
def test_a_question_in_two_parts_plans_both(question, expected, parts):
    plan = decompose(question)
    assert [n.question for n in plan.nodes] == expected and plan.parts == parts
    assert validate_plan(plan) == []


@pytest.mark.parametrize(
    "question",
    [
        "Who founded Ben and Jerry's?",  # "and" inside a name
        "Which city hosted the 1992 Olympics and the 2004 Olympics?",  # one question about two things
        "Who wrote it and who directed it?",  # "it" stands for nothing the question names
    ],
)
def test_one_question_with_and_is_not_split(question):
    assert decompose(question).parts == []


def test_a_preposition_before_the_question_s_own_which_opens_no_clause():
    question = "Salt on the Wind featured a guest appearance by which singer, actor and model from Leeds?"
    assert chain(question) == [question]
