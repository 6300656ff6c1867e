"""Rule-based entity extraction: titles, headings, names, quoted titles; values are not entities."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.entities import entity_key, extract, headings, mentions, query_entities, title_keys


def test_a_chunk_is_about_its_title_with_and_without_the_disambiguation():
    ents = extract("Hello Love (song)", '"Hello Love" is a 1974 single by Hank Snow.')
    assert ents.about == ("hello love", "hello love song")
    assert "hank snow" in ents.mentions
    assert "hello love" not in ents.mentions  # what a chunk is about is not also a mention of it


def test_markdown_headings_are_what_a_chunk_is_about():
    text = "# Billing Service\n\nThe billing service is owned by the Payments Team.\n\n## On-call rota\n"
    assert headings(text) == ["Billing Service", "On-call rota"]
    ents = extract("handbook", text)
    assert {"billing service", "on call rota", "handbook"} <= set(ents.about)
    assert "payments team" in ents.mentions


def test_capitalised_names_joined_by_connectors_and_their_sub_names():
    found = mentions("The editor is Jan Philip Solovej from the University of Copenhagen.")
    assert {"jan philip solovej", "philip solovej", "university of copenhagen"} <= set(found)
    assert "the" not in found and "editor" not in found
    assert "copenhagen" not in found  # a single word of a longer name is too ambiguous to link by


def test_a_possessive_ends_the_name_and_is_dropped():
    assert "hello love" in query_entities("Where did Hello Love's performer live?")
    assert not any("performer" in k for k in query_entities("Where did Hello Love's performer live?"))


def test_numbers_dates_months_and_weekdays_are_values_not_entities():
    found = mentions("On Monday 3 March 1949, in 1950 and in the 1960s, 42 people met; the 2.0 release shipped in June.")
    assert found == []


def test_sentence_openers_and_short_opening_words_are_not_entities():
    assert mentions("He left. It rained. In spring they came back. But Nashville stayed.") == ["nashville"]


def test_quoted_titles_are_mentions():
    assert "the singing ranger" not in mentions('his nickname "the singing ranger" stuck')  # lower case: not a title
    assert "singing ranger" in mentions('his record "Singing Ranger" sold well')
    assert "hello love" in mentions("the song ``Hello Love'' topped the chart")


def test_entity_keys_are_case_accent_and_article_insensitive():
    assert entity_key("The Beatles") == entity_key("beatles") == "beatles"
    assert entity_key("Ｃａｆé Noir") == "café noir"
    assert entity_key("1949") == "" and entity_key("  ") == ""
    assert title_keys("Tennessee (state)") == ["tennessee", "tennessee state"]


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
wordy = st.lists(
    st.sampled_from(["The", "of", "Hank", "Snow", "New", "York", '"', ",", ".", "1949", "May", "'s", "#", "\n", "and", "é"]), max_size=60
).map(" ".join)


@settings(max_examples=300)
@given(title=text, body=st.one_of(text, wordy))
def test_no_crash_and_deterministic_on_any_text(title, body):
    first, second = extract(title, body), extract(title, body)
    assert first == second
    assert list(first.about) == sorted(set(first.about)) and list(first.mentions) == sorted(set(first.mentions))
    assert not set(first.about) & set(first.mentions)
    assert all(k and k == k.strip() and not k.isdigit() for k in first.about + first.mentions)
    assert all(entity_key(k) == k for k in first.about + first.mentions)  # keys are fixed points of the normalisation


def test_initials_belong_to_the_name():
    assert {"e b white", "dan masterson"} <= set(query_entities("What do E. B. White and Dan Masterson have in common?"))
    assert "harris w fawell" in mentions("He lost to Harris W. Fawell in 1984.")
