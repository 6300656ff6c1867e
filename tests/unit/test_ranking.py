"""The ranking: named signals per candidate, weighed by one table."""

from __future__ import annotations

import pytest

from agent.questions import classify
from agent.ranking import FEATURES, WEIGHTS, rank, rank_with_features
from agent.reader import extract_candidates
from agent.types import Evidence


def ev(text: str, title: str, n: int = 0) -> Evidence:
    return Evidence(chunk_id=f"c{n}", doc_id=f"d{n}", title=title, source=f"{title}.md", text=text)


STAFF = ev("He was chief of staff to Senator Barnaby Joyce and to Senator Ron Boswell.", "Scott Buchholz")
JOYCE = ev("Barnaby Joyce has served as the Deputy Prime Minister since 2016.", "Barnaby Joyce", 1)
QUESTION = "He was chief of staff to which senator who served as Deputy Prime Minister?"


def ranked(weights=WEIGHTS):
    qtype = classify(QUESTION)
    evidence = [STAFF, JOYCE]
    return rank_with_features(QUESTION, qtype, extract_candidates(evidence, qtype), None, [e.title for e in evidence], weights)


def test_every_candidate_carries_every_signal_and_its_score_is_their_weighted_sum():
    for r in ranked():
        assert set(r.features) == set(FEATURES)
        assert r.scored.score == pytest.approx(sum(WEIGHTS[f] * r.features[f] for f in FEATURES))


def test_rank_is_rank_with_features_without_the_signals():
    qtype = classify(QUESTION)
    plain = rank(QUESTION, qtype, extract_candidates([STAFF, JOYCE], qtype), None, [STAFF.title, JOYCE.title])
    assert [s.text for s in plain] == [r.scored.text for r in ranked()]


def test_the_weights_decide_the_order():
    signals = {r.scored.text: r.features for r in ranked()}
    assert signals["Barnaby Joyce"]["bridge"] > 0 == signals["Ron Boswell"]["bridge"]
    assert ranked()[0].scored.text == "Barnaby Joyce"  # his own passage matches the rest of the question

    def lead(weights) -> float:
        scores = {r.scored.text: r.scored.score for r in ranked(weights)}
        return scores["Barnaby Joyce"] - scores["Ron Boswell"]

    assert lead(WEIGHTS) > lead({**WEIGHTS, "bridge": 0.0}) > 0  # the bridge adds his own passage's support
    assert lead({**WEIGHTS, "semantic": 0.0, "lexical": 0.0, "repeats": 0.0, "bridge": 0.0}) <= 0  # named alike in one sentence
