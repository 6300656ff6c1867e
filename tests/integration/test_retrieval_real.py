"""Multi-hop retrieval on the real stack (MiniLM, Chroma on disk, the ledger's entity index).

A collection written for the test: the passage of the second hop shares no wording with the
question, and passages that do fill plain dense retrieval's top k, so only the mention in
the first hop's passage can bring it in.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agent.api import DagRAG
from kb import entity_index
from kb.loaders import SourceDocument

pytestmark = pytest.mark.integration

QUESTION = "Where was the founder of Harbor Bakery raised?"
FIRST = ("Harbor Bakery", "Harbor Bakery is a bakery on the quay of Elmstead, founded in 1998 by Mira Castell.")
SECOND = ("Mira Castell", "Castell spent her childhood in Dunmore on the northern coast before training as a chef in Lyon.")
DISTRACTORS = [
    ("Harbor Cafe", "The founder of Harbor Cafe was raised in Portsmouth and opened the cafe in 2004."),
    ("Harbor Books", "The founder of Harbor Books was raised in Bristol; the shop sells maps and novels."),
    ("Bakery founders", "Many bakery founders were raised in families of bakers, a study of founders found."),
    ("Harbor Deli", "Harbor Deli's founder grew up in Leeds and was raised by her grandparents."),
    ("Harbor Grill", "The founder of Harbor Grill was raised near the harbor of Oban."),
]


def docs(pairs, when: datetime | None = None):
    meta = {"valid_from": when.isoformat()} if when else {}
    return [SourceDocument(doc_id=t, source=f"/test/{t}.md", title=t, text=x, metadata=meta) for t, x in pairs]


@pytest.fixture(scope="module")
def rag(tmp_path_factory, offline_env):
    rag = DagRAG.open(tmp_path_factory.mktemp("multihop") / "kb", detect_conflicts=False)
    rag.kb.ingest_documents(docs([FIRST, SECOND, *DISTRACTORS]), detect_conflicts=False)
    yield rag
    rag.close()


def test_the_second_hop_comes_in_through_the_mention_and_says_so(rag):
    plain = [e.title for e in rag.kb.search(QUESTION, 3, plain=True).evidence]
    assert "Mira Castell" not in plain and "Harbor Bakery" in plain
    got = rag.kb.search(QUESTION, 3).evidence
    castell = next(e for e in got if e.title == "Mira Castell")
    assert castell.metadata["via_entity"] == "mira castell"
    assert castell.metadata["via_item"] == next(e.chunk_id for e in got if e.title == "Harbor Bakery")
    assert rag.kb.stats().entity_index == entity_index.size(rag.kb.ledger.query)


def test_plain_dense_retrieval_stays_available_as_the_baseline(tmp_path, offline_env):
    with DagRAG.open(tmp_path / "kb", entity_expansion=False, detect_conflicts=False) as base:
        base.kb.ingest_documents(docs([FIRST, SECOND, *DISTRACTORS]), detect_conflicts=False)
        assert "Mira Castell" not in [e.title for e in base.kb.search(QUESTION, 3).evidence]


def test_a_replaced_second_hop_is_linked_only_as_of_when_it_was_valid(tmp_path, offline_env):
    then, now = datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2024, 1, 1, tzinfo=timezone.utc)
    with DagRAG.open(tmp_path / "kb", detect_conflicts=False) as rag:
        rag.kb.ingest_documents(docs([FIRST, SECOND, *DISTRACTORS], then), detect_conflicts=False)
        rag.kb.ingest_documents(
            docs([("Mira Castell", "Castell now lives in Galway, where she teaches pastry.")], now), detect_conflicts=False
        )
        current = [e.text for e in rag.kb.search(QUESTION, 3).evidence if e.title == "Mira Castell"]
        assert current == ["Castell now lives in Galway, where she teaches pastry."]
        earlier = [
            e.text
            for e in rag.kb.search(QUESTION, 3, as_of=datetime(2022, 1, 1, tzinfo=timezone.utc)).evidence
            if e.title == "Mira Castell"
        ]
        assert earlier == [SECOND[1]]
        rag.kb.remove("Mira Castell")
        assert "Mira Castell" not in [e.title for e in rag.kb.search(QUESTION, 3).evidence]
        assert entity_index.unindexed(rag.kb.ledger.query) == []
