"""The entity index in the ledger and the expansion inside KnowledgeBase.search (hash embedder, in-memory store).

The collections are written for the tests so that the second hop shares no word with the
question: dense retrieval cannot find it, only the mention in the first hop's passage can.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from helpers import HashEmbedder, MemoryStore
from kb import entity_index, migrations
from kb.hybrid import RetrievalPolicy
from kb.knowledge_base import KnowledgeBase
from kb.ledger import Ledger
from kb.loaders import SourceDocument
from retrieval.mention_graph import ExpansionParams

QUESTION = "In which city did the singer of Hello Love settle?"
SONG = ("Hello Love (song)", '"Hello Love" is a country single recorded by Hank Snow.')
PERFORMER = ("Hank Snow", "Snow relocated to Nashville during 1949, recording for RCA Victor.")  # no word of the question
DISTRACTORS = [(f"Town {n}", f"Town {n} is a city where a singer could settle.") for n in range(6)]

EXPAND = RetrievalPolicy(entity_expansion=True, lexical_channel=False, expansion=ExpansionParams(weight=4.0))  # hash vectors: strong links
PLAIN = RetrievalPolicy(entity_expansion=False, lexical_channel=False)


def docs(pairs, version: str = "") -> list[SourceDocument]:
    return [SourceDocument(doc_id=t, source=f"/docs/{t}.md", title=t, text=x + version, metadata={}) for t, x in pairs]


def open_kb(path: Path, policy: RetrievalPolicy = EXPAND) -> KnowledgeBase:
    return KnowledgeBase(path, HashEmbedder(), store=MemoryStore(), retrieval=policy, chunk_chars=400, chunk_overlap=0)


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    kb = open_kb(tmp_path / "kb")
    kb.ingest_documents(docs([SONG, PERFORMER, *DISTRACTORS]), detect_conflicts=False)
    yield kb
    kb.close()


def titles(kb: KnowledgeBase, k: int = 3, **kw) -> list[str]:
    return [e.title for e in kb.search(QUESTION, k, **kw).evidence]


def test_the_second_hop_is_only_reachable_through_the_mention(kb):
    assert "Hank Snow" not in titles(kb, plain=True)  # plain dense retrieval misses it
    got = kb.search(QUESTION, 3).evidence
    snow = next(e for e in got if e.title == "Hank Snow")
    song = next(e for e in got if e.title == "Hello Love (song)")
    assert snow.metadata["via_entity"] == "hank snow" and snow.metadata["via_item"] == song.chunk_id
    assert song.metadata["via_item"] == "question"  # the question names "Hello Love": its passage is linked from the question


def test_the_setting_off_is_plain_dense_retrieval(kb, tmp_path):
    kb.retrieval = PLAIN
    assert titles(kb) == titles(kb, plain=True)
    assert "Hank Snow" not in titles(kb)


def test_index_rows_follow_ingest_new_versions_and_removal(kb):
    size = entity_index.size(kb.ledger.query)
    assert size.items == len(kb.ledger.items()) == 8 and size.about >= 8
    assert kb.stats().entity_index == size
    kb.ingest_documents(docs([PERFORMER], version=" He later toured Canada."), detect_conflicts=False)
    assert entity_index.size(kb.ledger.query).items == 9  # the expired chunk stays indexed as history
    assert entity_index.unindexed(kb.ledger.query) == []
    kb.remove("Hank Snow")
    after = entity_index.size(kb.ledger.query)
    assert after.items == 7 and entity_index.unindexed(kb.ledger.query) == []
    assert kb.ledger.query("SELECT COUNT(*) FROM chunk_fts")[0][0] == 7
    assert "Hank Snow" not in titles(kb)


def test_a_replaced_version_is_reached_only_as_of_a_time_it_was_valid(tmp_path):
    kb = open_kb(tmp_path / "kb")
    first, second = datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2024, 1, 1, tzinfo=timezone.utc)
    kb.ingest_documents(docs([SONG, *DISTRACTORS]), valid_from=first, detect_conflicts=False)
    kb.ingest_documents(docs([PERFORMER]), valid_from=first, detect_conflicts=False)
    old_text = kb.ledger.items([i for i in kb.ledger.current_items("Hank Snow")])[0].text
    kb.ingest_documents(docs([("Hank Snow", "Snow retired to Madison, touring rarely.")]), valid_from=second, detect_conflicts=False)
    now = [e for e in kb.search(QUESTION, 3).evidence if e.title == "Hank Snow"]
    assert [e.text for e in now] == ["Snow retired to Madison, touring rarely."] and now[0].metadata["via_entity"] == "hank snow"
    then = [e for e in kb.search(QUESTION, 3, as_of=datetime(2022, 1, 1, tzinfo=timezone.utc)).evidence if e.title == "Hank Snow"]
    assert [e.text for e in then] == [old_text]
    before = kb.search(QUESTION, 3, as_of=datetime(2019, 1, 1, tzinfo=timezone.utc)).evidence
    assert before == []  # nothing was valid yet: not even through a mention
    kb.close()


def test_a_superseded_item_is_not_reached_through_a_mention(kb):
    (item,) = kb.ledger.items(sorted(kb.ledger.current_items("Hank Snow")))
    from kb.items import Status

    with kb.ledger.transaction() as db:
        kb.ledger.set_status(db, item.item_id, Status.SUPERSEDED, "ana", valid_to=datetime.now(timezone.utc))
    kb.sync()
    assert "Hank Snow" not in titles(kb)


def test_a_person_s_statement_is_indexed_and_linkable(kb):
    kb.add_statement("The Hello Love singer Hank Snow later lived in Madison.", by="ana")
    size = entity_index.size(kb.ledger.query)
    assert size.items == 9
    assert (
        entity_index.LedgerLookup(kb.ledger.query, entity_index.Visibility(None))
        .mentions_of([i.item_id for i in kb.ledger.items() if i.kind == "human"])
        .popitem()[1]
        .count("hank snow")
        == 1
    )


def test_the_lexical_channel_finds_a_stemmed_word_dense_misses(tmp_path):
    kb = open_kb(tmp_path / "kb", RetrievalPolicy(entity_expansion=False, lexical_channel=True, lexical_weight=2.0))
    kb.ingest_documents(docs([*DISTRACTORS, ("Basin", "Pioneers settling the basin arrived by wagon.")]), detect_conflicts=False)
    question = "Where did pioneer families settle?"  # "pioneer", "settle": BM25 stems them, the hash embedder does not
    assert "Basin" not in [e.title for e in kb.search(question, 3, plain=True).evidence]
    got = kb.search(question, 3).evidence
    assert got[0].title == "Basin" and got[0].metadata["lexical_rank"] == 1
    assert len({e.chunk_id for e in got}) == len(got) == 3
    kb.close()


def test_ranking_is_deterministic(kb):
    first = [e.chunk_id for e in kb.search(QUESTION, 5).evidence]  # (scores decay with time: the order is what must not move)
    assert all([e.chunk_id for e in kb.search(QUESTION, 5).evidence] == first for _ in range(3))
    kb.retrieval = replace(EXPAND, expansion=replace(EXPAND.expansion, method="ppr"))
    ppr = [e.chunk_id for e in kb.search(QUESTION, 8).evidence]
    assert [e.chunk_id for e in kb.search(QUESTION, 8).evidence] == ppr and len(set(ppr)) == 8


def test_a_ledger_from_before_the_index_migrates_and_is_indexed(tmp_path):
    path = tmp_path / "kb"
    kb = open_kb(path)
    kb.ingest_documents(docs([SONG, PERFORMER]), detect_conflicts=False)
    kb.close()
    db = sqlite3.connect(path / "ledger.sqlite3")  # back to schema 4: as the dagrag before the index wrote it
    for table in ("entity_about", "entity_mentions", "entity_items", "chunk_fts"):
        db.execute(f"DROP TABLE {table}")
    db.execute("DROP TRIGGER entity_index_forget")
    db.execute("DELETE FROM migrations WHERE name='m005_entity_index'")
    db.execute("UPDATE meta SET value='4' WHERE key='schema_version'")
    db.commit()
    db.close()
    ledger = Ledger(path / "ledger.sqlite3")
    assert ledger.query("SELECT value FROM meta WHERE key='schema_version'")[0][0] == str(migrations.schema_version())
    assert entity_index.size(ledger.query).items == 2 and entity_index.unindexed(ledger.query) == []
    ledger.close()


def test_a_failed_commit_leaves_no_index_rows(tmp_path, monkeypatch):
    kb = open_kb(tmp_path / "kb")

    def boom(db, ids):
        raise RuntimeError("crash while indexing")

    monkeypatch.setattr(entity_index, "index_items", boom)
    with pytest.raises(RuntimeError):
        kb.ingest_documents(docs([SONG]), detect_conflicts=False)
    monkeypatch.undo()
    kb.close()
    kb = open_kb(tmp_path / "kb")  # recovery abandons the pending version with its items
    assert kb.ledger.items() == [] and entity_index.size(kb.ledger.query).items == 0
    kb.ingest_documents(docs([SONG]), detect_conflicts=False)
    assert entity_index.size(kb.ledger.query).items == 1
    kb.close()


def test_mentions_are_reread_when_the_rules_change(tmp_path):
    path = tmp_path / "kb"
    kb = open_kb(path)
    kb.ingest_documents(docs([("Barn spider", "The barn spider appears in a novel by E. B. White.")]), detect_conflicts=False)
    kb.close()
    db = sqlite3.connect(path / "ledger.sqlite3")  # back to schema 5: mentions read by the rules before initials joined a name
    db.execute("DELETE FROM entity_mentions WHERE key = 'e b white'")
    db.execute("DELETE FROM migrations WHERE name='m006_mentions_with_initials'")
    db.execute("UPDATE meta SET value='5' WHERE key='schema_version'")
    db.commit()
    db.close()
    ledger = Ledger(path / "ledger.sqlite3")
    keys = {r[0] for r in ledger.query("SELECT key FROM entity_mentions", ())}
    assert "e b white" in keys and ledger.query("SELECT value FROM meta WHERE key='schema_version'")[0][0] == "6"
    ledger.close()
