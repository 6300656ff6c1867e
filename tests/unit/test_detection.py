"""Conflict detection that holds at scale: same subject before values, one similarity pass per batch, a judge budget.

Collections written for these tests: same-shaped sentences about different subjects (no
conflict: the false alarms of issue 12), and the same subject with a changed value (a
conflict, whatever the documents' titles say about their version).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from helpers import HashEmbedder, MemoryStore
from kb import detection
from kb.conflicts import Finding, about_different_things, candidate_pairs, rule_finding, same_subject, statements, subject_key
from kb.items import KnowledgeItem, Status
from kb.knowledge_base import KnowledgeBase, TimePolicy
from kb.loaders import SourceDocument

CITIES = [("Delhi", "25", "16.8"), ("Paris", "12.3", "2.1"), ("Berlin", "10.3", "3.6"), ("Cairo", "22.1", "20.9"), ("Oslo", "6.3", "0.7")]


def city(name: str, mean: str, people: str) -> SourceDocument:
    """One Wikipedia-like paragraph per city, every one shaped like the others, none naming its city."""
    text = (
        f"The city's annual mean temperature is {mean} °C. Its population is {people} million. "
        "The metropolitan area is served by an international airport."
    )
    return SourceDocument(doc_id=name.lower(), source=f"/wiki/{name}.md", title=name, text=text)


def named_city(name: str, mean: str, people: str) -> SourceDocument:
    text = f"{name}'s annual mean temperature is {mean} °C. {name} has a population of {people} million."
    return SourceDocument(doc_id=f"named-{name.lower()}", source=f"/wiki/{name}-named.md", title=f"Climate of {name}", text=text)


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.queries = 0
        self.batched = 0

    def query(self, *args, **kwargs):
        self.queries += 1
        return super().query(*args, **kwargs)

    def query_many(self, embeddings, k, where=None):
        self.batched += 1
        hits = super().query_many(embeddings, k, where)
        self.queries -= len(embeddings)  # the default implementation loops over query(): one request counted, not each
        return hits


class Judge:
    """An LLM judge that flags every pair it is shown (the worst case for false alarms)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, old: str, new: str, old_from: datetime, new_from: datetime) -> Finding:
        self.calls.append((old, new))
        return Finding("contradicts", 0.9, "flagged", "judge")


@pytest.fixture
def judge() -> Judge:
    return Judge()


@pytest.fixture
def kb(tmp_path, judge) -> Iterator[KnowledgeBase]:
    kb = KnowledgeBase(
        tmp_path / "kb",
        HashEmbedder(),
        store=CountingStore(),
        judge=judge,
        time_policy=TimePolicy(conflict_similarity=0.3, conflict_candidates=4, judge_max_pairs=3, judge_max_per_ingest=30),
    )
    yield kb
    kb.close()


def test_same_shaped_sentences_about_different_subjects_raise_no_alarm(kb, judge):
    docs = [city(*c) for c in CITIES] + [named_city(*c) for c in CITIES]
    old_kind = [city(*CITIES[0]), city(*CITIES[1])]
    assert candidate_pairs(old_kind[0].text, old_kind[1].text)  # without the subject check these pairs would go to the judge
    report = kb.ingest_documents(docs[:5], valid_from=datetime(2024, 1, 1))
    report2 = kb.ingest_documents(docs[5:], valid_from=datetime(2025, 1, 1))
    assert report.reviews == report2.reviews == [] and judge.calls == []
    assert report.rule_judged_pairs == report2.rule_judged_pairs == 0
    assert {i.status for i in kb.ledger.items()} == {Status.VALID}  # no chunk downgraded


def test_the_same_subject_with_a_changed_value_is_flagged_whatever_the_titles_say(kb, judge):
    pairs = [
        (
            "Refund policy 2024",
            "Refunds are processed within 14 days of the request.",
            "Refund Policy (2025, revised)",
            "Refunds are processed within 30 days of the request.",
        ),
        ("Office guide", "The Lisbon office opens at 8 in the morning.", "Office notice", "The Lisbon office opens at 9 in the morning."),
        ("Delhi", "The city's annual mean temperature is 25 °C.", "Delhi", "The city's annual mean temperature is 26 °C."),
    ]
    for n, (old_title, old, new_title, new) in enumerate(pairs):
        kb.ingest_documents(
            [SourceDocument(doc_id=f"old-{n}", source=f"/d/old-{n}.md", title=old_title, text=old)], valid_from=datetime(2024, 1, 1)
        )
        report = kb.ingest_documents(
            [SourceDocument(doc_id=f"new-{n}", source=f"/d/new-{n}.md", title=new_title, text=new)], valid_from=datetime(2025, 1, 1)
        )
        assert len(report.reviews) == 1, (old_title, new_title)
        review = kb.ledger.review(report.reviews[0])
        assert (review.old_statement, review.new_statement) == (old, new)
        assert kb.ledger.items([review.old_item])[0].status is Status.POTENTIALLY_OUTDATED
    assert len(judge.calls) == 3


STATIONS = [("WAAA", "101.1", "50"), ("WBBB", "98.3", "5.9"), ("WCCC", "104.7", "90")]
EPISODES = [("Lost Keys", "October 3, 1991"), ("Found Keys", "January 21, 1990"), ("Spare Keys (Sitcom)", "May 2, 1993")]


def station(call: str, mhz: str, kw: str) -> SourceDocument:
    """Each station's page names it, then says what every such page says, with its own values (shared: the owner, the FCC)."""
    text = (
        f"{call} ({mhz} FM) is a commercial radio station in Springfield. The Acme Media, Inc. outlet is licensed by the "
        f"Federal Communications Commission (FCC) to broadcast at {mhz} MHz with an ERP of {kw} kW."
    )
    return SourceDocument(doc_id=call.lower(), source=f"/wiki/{call}.md", title=call, text=text)


def episode(title: str, aired: str) -> SourceDocument:
    name = title.split(" (")[0]
    text = f'"{name}" is an episode of the Sitcom series. It originally aired on the Fox network in the United States on {aired}.'
    return SourceDocument(doc_id=name.lower(), source=f"/wiki/{name}.md", title=title, text=text)


def test_pages_each_about_their_own_named_thing_raise_no_alarm(kb, judge):
    """Issue 12's remaining false alarms on the shared corpora: two radio stations, two episodes of one series."""
    a, b = station(*STATIONS[0]), station(*STATIONS[1])
    old_s, new_s = (statements_with(d.text, "Acme") for d in (a, b))
    assert same_subject(a.title, b.title, old_s, new_s) and rule_finding(old_s, new_s)  # statement by statement: one subject
    assert about_different_things(a.title, b.title, a.text, b.text) and candidate_pairs(a.text, b.text, titles=(a.title, b.title)) == []
    report = kb.ingest_documents([station(*s) for s in STATIONS], valid_from=datetime(2024, 1, 1))
    report2 = kb.ingest_documents([episode(*e) for e in EPISODES], valid_from=datetime(2025, 1, 1))
    assert report.reviews == report2.reviews == [] and judge.calls == []
    assert {i.status for i in kb.ledger.items()} == {Status.VALID}


def test_a_page_that_names_the_other_pages_subject_is_still_compared(kb, judge):
    delhi = SourceDocument(
        doc_id="delhi", source="/wiki/Delhi.md", title="Delhi", text="Delhi is the capital of India. Agra has 1.6 million inhabitants."
    )
    agra = SourceDocument(
        doc_id="agra", source="/wiki/Agra.md", title="Agra", text="Agra is a city on the Yamuna. Agra has 1.7 million inhabitants."
    )
    assert not about_different_things("Delhi", "Agra", delhi.text, agra.text)
    assert not about_different_things("Office guide", "Office notice", "The Lisbon office opens at 8.", "The Lisbon office opens at 9.")
    kb.ingest_documents([delhi], valid_from=datetime(2024, 1, 1))
    report = kb.ingest_documents([agra], valid_from=datetime(2025, 1, 1))
    assert len(report.reviews) == 1
    review = kb.ledger.review(report.reviews[0])
    assert (review.old_statement, review.new_statement) == ("Agra has 1.6 million inhabitants.", "Agra has 1.7 million inhabitants.")


def statements_with(text: str, word: str) -> str:
    return next(s for s in statements(text) if word in s)


def test_one_similarity_pass_per_batch_not_a_query_per_chunk(kb):
    kb.ingest_documents([city(*c) for c in CITIES[:2]])
    store = kb.store
    store.queries = store.batched = 0
    docs = [city(*c) for c in CITIES[2:]] + [named_city(*c) for c in CITIES]
    report = kb.ingest_documents(docs)
    assert report.chunks >= len(docs) and store.batched == 1 and store.queries == 0


def test_conflicts_within_one_batch_are_found_once(kb, judge):
    old = SourceDocument(doc_id="a", source="/d/a.md", title="Refund policy 2024", text="Refunds are processed within 14 days.")
    new = SourceDocument(doc_id="b", source="/d/b.md", title="Refund policy 2025", text="Refunds are processed within 30 days.")
    report = kb.ingest_documents([old, new])  # one batch: nothing of either was stored before
    assert len(report.reviews) == 1 and len(judge.calls) == 1


def test_llm_judge_calls_are_bounded_per_ingest_and_the_rule_decides_the_rest(tmp_path, judge):
    kb = KnowledgeBase(
        tmp_path / "kb",
        HashEmbedder(),
        store=MemoryStore(),
        judge=judge,
        time_policy=TimePolicy(conflict_similarity=0.3, judge_max_pairs=3, judge_max_per_ingest=2),
    )
    try:
        topics = [f"Topic {w}" for w in ("Alder", "Birch", "Cedar", "Dogwood", "Elm")]
        olds = [
            SourceDocument(
                doc_id=f"o{n}", source=f"/d/o{n}.md", title=f"{t} 2024", text=f"The {t.split()[1].lower()} limit is {10 + n} units."
            )
            for n, t in enumerate(topics)
        ]
        news = [
            SourceDocument(
                doc_id=f"n{n}", source=f"/d/n{n}.md", title=f"{t} 2025", text=f"The {t.split()[1].lower()} limit is {20 + n} units."
            )
            for n, t in enumerate(topics)
        ]
        kb.ingest_documents(olds, valid_from=datetime(2024, 1, 1))
        report = kb.ingest_documents(news, valid_from=datetime(2025, 1, 1))
        assert len(judge.calls) == report.judged_pairs == 2  # the LLM budget
        assert report.rule_judged_pairs == 3 and len(report.reviews) == 5  # the rule judge alone found the value changes
        detectors = sorted(kb.ledger.review(r).detector for r in report.reviews)
        assert detectors == ["judge", "judge", "rule", "rule", "rule"]
    finally:
        kb.close()


def test_subject_keys_and_same_subject():
    assert subject_key("Refund policy 2024") == subject_key("Refund Policy (2025, revised)") == "refund policy"
    assert subject_key("Delhi") != subject_key("Paris") and subject_key("Heinkel HD 39") != subject_key("Heinkel HD 40")
    assert subject_key("Travel policy v2") == subject_key("Travel Policy, version 3") == "travel policy"
    assert not same_subject("Delhi", "Paris", "Delhi's mean temperature is 25 °C.", "Paris's mean temperature is 26 °C.")
    assert not same_subject("Delhi", "Paris", "The city's mean temperature is 25 °C.", "The city's mean temperature is 26 °C.")
    assert same_subject("Guide", "Notice", "The Lisbon office opens at 8.", "The Lisbon office opens at 9.")
    heinkel = "The Heinkel HD {} was a cargo aircraft developed in Germany to distribute the Berlin newspaper."
    assert not same_subject("Heinkel HD 40", "Heinkel HD 39", heinkel.format(40), heinkel.format(39))  # the change is the title's
    assert not same_subject("Guide", "Notice", "The office opens at 8.", "The office opens at 9.")  # nothing says it is the same office
    assert rule_finding("The Lisbon office opens at 8.", "The Lisbon office opens at 9.").relation == "updates"


def test_within_batch_pairs_each_unordered_pair_once_across_documents():
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)

    def item(i: str, doc: str) -> KnowledgeItem:
        return KnowledgeItem(item_id=i, doc_id=doc, text=i, title=doc, source=doc, added_at=now, validated_at=now, valid_from=now)

    items = [item("a1", "A"), item("a2", "A"), item("b1", "B")]
    vectors = [[1.0, 0.0], [0.9, 0.1], [1.0, 0.05]]
    near = detection.within_batch(items, vectors, k=3, threshold=0.5)
    assert near[0] == [] and near[1] == []  # a2 is of a1's document
    assert sorted(k.item_id for k in near[2]) == ["a1", "a2"]
    assert detection.within_batch(items, vectors, k=3, threshold=0.9999)[2] == []
