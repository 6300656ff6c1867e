"""The per-query mention graph: expansion through mentions, bounds, ranking, determinism."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import lexical
from retrieval.mention_graph import DictLookup, ExpansionParams, build, expand

# song -> performer -> city: the city is only reachable through a mention in the performer's passage
MENTIONS = {"song": ["hank snow"], "snow": ["nashville", "rca victor"], "city": ["tennessee"], "noise": []}
ABOUT = {"hello love": ["song"], "hank snow": ["snow"], "nashville": ["city"], "rca victor": ["rca1", "rca2", "rca3"]}
SIM = {"song": 0.8, "noise": 0.5, "snow": 0.2, "city": 0.1, "rca1": 0.3, "rca2": 0.3, "rca3": 0.3}


def run(params: ExpansionParams, seeds=(("song", 0.8), ("noise", 0.5)), query="Where did the performer live?"):
    return expand(query, list(seeds), DictLookup(MENTIONS, ABOUT), lambda ids: {i: SIM[i] for i in ids}, params)


@pytest.mark.parametrize("method", ["bfs", "ppr"])
def test_the_second_and_third_hop_come_in_through_mentions(method):
    ranked = run(ExpansionParams(method=method, hops=2, weight=1.0))
    by_id = {r.item_id: r for r in ranked}
    assert {"snow", "city"} <= set(by_id)
    assert by_id["snow"].via_entity == "hank snow" and by_id["snow"].via_item == "song" and by_id["snow"].hop == 1
    assert by_id["city"].via_entity == "nashville" and by_id["city"].via_item == "snow" and by_id["city"].hop == 2
    assert by_id["song"].via_entity is None  # a dense hit stays a dense hit
    assert [r.item_id for r in ranked].index("snow") < [r.item_id for r in ranked].index("city")


def test_hops_bound_the_expansion():
    ids = {r.item_id for r in run(ExpansionParams(hops=1))}
    assert "snow" in ids and "city" not in ids
    assert {r.item_id for r in run(ExpansionParams(hops=0))} == {"song", "noise"}


def test_ambiguous_entities_are_not_followed():
    ids = {r.item_id for r in run(ExpansionParams(hops=2, max_fanout=2))}
    assert not ids & {"rca1", "rca2", "rca3"}
    assert {"rca1", "rca2", "rca3"} <= {r.item_id for r in run(ExpansionParams(hops=2, max_fanout=3))}


def test_only_the_first_seeds_are_expanded():
    ids = {r.item_id for r in run(ExpansionParams(seeds=1), seeds=(("noise", 0.9), ("song", 0.8)))}
    assert "snow" not in ids


def test_an_entity_the_question_names_pulls_in_the_passage_about_it():
    ranked = run(ExpansionParams(hops=0), seeds=(("noise", 0.5),), query="Who recorded Hello Love?")
    song = next(r for r in ranked if r.item_id == "song")
    assert song.via_entity == "hello love" and song.via_item == "question"
    assert not any(
        r.item_id == "song"
        for r in run(ExpansionParams(hops=0, query_links=False), seeds=(("noise", 0.5),), query="Who recorded Hello Love?")
    )


def test_weight_zero_is_plain_dense_order():
    ranked = run(ExpansionParams(weight=0.0))
    assert [r.item_id for r in ranked][:2] == ["song", "noise"]
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)


def test_the_graph_holds_passages_and_entities():
    qg = build("q", [("song", 0.8)], DictLookup(MENTIONS, ABOUT), ExpansionParams(hops=2))
    assert qg.graph.has_edge("p:song", "e:hank snow") and qg.graph.has_edge("e:hank snow", "p:snow")
    assert qg.graph.nodes["e:nashville"]["kind"] == "entity"


def test_rrf_fuses_by_rank_and_breaks_ties_on_ids():
    fused = lexical.rrf([["a", "b", "c"], ["b", "c"]])
    assert [i for i, _ in fused] == ["b", "c", "a"]
    assert lexical.rrf([["y"], ["x"]]) == [("x", 1 / 61), ("y", 1 / 61)]


def test_fts_query_quotes_content_words_only():
    assert lexical.fts_query('Who is "the" AND NEAR(x) of Publix?') == '"near" OR "publix"'
    assert lexical.fts_query("the of and") == ""


ids = st.sampled_from([f"i{n}" for n in range(12)])
keys = st.sampled_from([f"k{n}" for n in range(8)])


@settings(max_examples=150, deadline=None)
@given(
    mentions=st.dictionaries(ids, st.lists(keys, max_size=4), max_size=12),
    about=st.dictionaries(keys, st.lists(ids, min_size=1, max_size=5), max_size=8),
    seeds=st.lists(st.tuples(ids, st.floats(0, 1)), max_size=6, unique_by=lambda s: s[0]),
    method=st.sampled_from(["bfs", "ppr"]),
    hops=st.integers(0, 3),
    fanout=st.integers(1, 6),
    query=st.text(max_size=40),
)
def test_any_index_gives_a_deterministic_bounded_ranking(mentions, about, seeds, method, hops, fanout, query):
    params = ExpansionParams(method=method, hops=hops, max_fanout=fanout, max_new=5)
    lookup = DictLookup(mentions, about)
    first = expand(query, seeds, lookup, lambda xs: {x: 0.1 for x in xs}, params)
    again = expand(query, list(seeds), DictLookup(dict(mentions), dict(about)), lambda xs: {x: 0.1 for x in xs}, replace(params))
    assert first == again
    assert len({r.item_id for r in first}) == len(first)
    assert {s for s, _ in seeds} <= {r.item_id for r in first}
    assert len(first) <= len(seeds) + 5 * (hops + 1)  # max_new per hop (+ the question's links)
    assert [r.score for r in first] == sorted((r.score for r in first), reverse=True)
    for r in first:
        if r.via_entity is not None:  # about the entity, or mentioning it too
            assert r.item_id in about.get(r.via_entity, []) or r.via_entity in mentions.get(r.item_id, [])
