"""What a sentence says a thing is (agent.descriptions)."""

from __future__ import annotations

import pytest

from agent.descriptions import described_as


@pytest.mark.parametrize(
    ("sentence", "subject", "expected"),
    [
        ('"Falling Leaves" is a song by the band Copper Fields.', "Falling Leaves", "song"),
        ("The Lost Keys is the third episode of the second season.", "The Lost Keys", "third episode"),
        ("Low Tide (English: Ebb) is a 1998 Welsh comedy film, produced by Gwen Ellis.", "Low Tide", "1998 Welsh comedy film"),
        ("Stormhelm are a Danish heavy metal band from Aarhus, formed in 1981.", "Stormhelm", "Danish heavy metal band"),
        ("Harbour Run is a racing video game developed by Crane Studios.", "Harbour Run", "racing video game"),
        ("Low Tide was released in 1998.", "Low Tide", None),  # says when, not what
        ("Gwen Ellis said Low Tide is a comedy.", "Low Tide", None),  # the sentence does not open with it
        # without a subject: what the sentence's first "is a ..." says
        ("Moira Dunn (born 1934) is an American poet born in Buffalo, New York.", None, "American poet"),
        ("Amy Marsh (1903 - 1941) was a pioneering English aviator.", None, "pioneering English aviator"),
        ("Conn Delaney was one of the Irish engineers who built gliders.", None, "Irish engineers"),
    ],
)
def test_what_a_sentence_says_a_thing_is(sentence, subject, expected):
    assert described_as(sentence, subject) == expected
