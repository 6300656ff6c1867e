"""Question typing: the kind of span that answers a question."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.questions import choice_options, classify, stem


@pytest.mark.parametrize(
    ("question", "kind", "head"),
    [
        ("Who manages the Payments team?", "person", None),
        ("Who was the first president of the association?", "person", "president"),
        ("When did Nugegoda leave the British Empire?", "date", None),
        ("In what year was the man born?", "date", None),
        ("David Jones played another sport that was started when?", "date", None),
        ("How many Publix stores are in Tennessee?", "number", "publix"),
        ("What is the hotel limit per night?", "number", None),
        ("What is the fine for a late book?", "number", None),  # an amount of money, whatever its noun
        ("What is the daily allowance for field work?", "number", None),
        ("Who was in charge of the country?", "person", None),
        ("How often are laptops replaced?", "number", "frequency"),
        ("How frequently does the board meet?", "number", "frequency"),  # "in charge of" is not a charge
        ("Which team owns the billing service?", "entity", "team"),
        ("Which Danish heavy metal band from Copenhagen released a compilation album?", "entity", "band"),  # after its modifiers
        ("Conn Delaney founded what aircraft maker?", "entity", "maker"),  # the noun that ends the question
        ("What county shares a border with McDowell County?", "place", "county"),
        ("What is the most popular hotel in Windhoek?", "entity", "hotel"),
        ("What kind of plane dropped the bomb on Hiroshima?", "entity", "plane"),
        ("Where did the Nets play in New Jersey?", "place", None),
        ("What is the city of birth of Corey Taylor?", "place", "city"),
        ("What is the state where Hank Snow lived in when he died?", "place", "state"),
        ("Who was president when Iowa became a state?", "person", "president"),
        ("On which weekday does the Identity team hand over its rotation?", "date", "weekday"),
        ("Are Christopher Nolan and Sathish Kalathil both film directors?", "yesno", None),
        ("The director Armando Iannucci has an OBE. Does the director Puneet Sira also have one?", "yesno", None),
    ],
)
def test_classify(question, kind, head):
    qtype = classify(question)
    assert (qtype.kind, qtype.head) == (kind, head)


@pytest.mark.parametrize(
    ("question", "verb"),
    [
        ("What does the Vision Team own?", "own"),
        ("What did Marie Curie discover?", "discover"),
        ("What does NASA stand for?", None),  # no object after the verb
        ("What does the Atlas service do?", None),
        ("Who owns the billing service?", None),
    ],
)
def test_what_does_x_verb_names_the_verb_whose_object_answers(question, verb):
    assert classify(question).verb == verb


def test_an_amount_named_last_asks_for_a_number():
    assert classify("What is the annual membership fee?").kind == "number"
    assert classify("What was the final total?").kind == "number"
    assert classify("Who scored the most points in total?").kind == "person"
    assert classify("What is the name of the band?").kind == "entity"


def test_choice_questions_carry_their_options():
    assert classify("Which band was formed first The Exies or Circus Diablo ?").options == ("The Exies", "Circus Diablo")
    assert classify("Who is the oldest, Sid Haig or Vic Darchinyan?").kind == "choice"
    assert choice_options("Which plant is larger, the Pterocarya or the Cotula?") == ("Pterocarya", "Cotula")
    assert choice_options("Who manages the Payments team?") == ()
    # an event of each option, compared by its year
    assert choice_options("Which came first the forming of Copper Fields or the birth of Tom Ashby?") == ("Copper Fields", "Tom Ashby")
    # the options named in a sentence before "Which was ...?"
    question = "Harbour Pies and Crane Bakery opened in the 1950s within a year of each other. Which was the first to sell bread?"
    assert choice_options(question) == ("Harbour Pies", "Crane Bakery")
    assert choice_options("Dana Kim and Omar Haddad lead teams. Who manages the billing team?") == ()


@given(st.text(max_size=200))
def test_classify_never_fails(text):
    assert classify(text).kind in {"person", "place", "date", "number", "yesno", "choice", "entity"}


@pytest.mark.parametrize(
    ("question_word", "passage_word"),
    [
        ("director", "directed"),
        ("creator", "created"),
        ("writer", "written"),
        ("writer", "wrote"),
        ("leader", "led"),
        ("spouse", "married"),
    ],
)
def test_an_agent_noun_shares_its_stem_with_its_verb(question_word, passage_word):
    assert stem(question_word) == stem(passage_word)


def test_unrelated_words_keep_apart():
    assert stem("director") != stem("direction") and stem("maintains") == stem("maintained") != stem("main")
