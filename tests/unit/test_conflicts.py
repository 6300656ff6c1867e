"""Statement-level conflict signals: value changes, dates, names, ranking, and properties."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.conflicts import candidate_pairs, rule_relation, signals, statements

OLD_REFUND = "Refunds are processed within 14 days."
NEW_REFUND = "Refunds are processed within 30 days."


def test_number_change_is_a_value_change_with_a_high_score():
    sig = signals(OLD_REFUND, NEW_REFUND)
    assert sig.numbers_differ and sig.value_change and not sig.identical
    assert not sig.dates_differ and not sig.negation_differs
    assert sig.removed == ("14",) and sig.added == ("30",)
    assert sig.score >= 0.6
    assert rule_relation(sig) == "updates"


def test_number_formats_are_normalised():
    sig = signals("The warehouse holds 1,200 pallets at 40% capacity.", "The warehouse holds 1200 pallets at 40% capacity.")
    assert not sig.numbers_differ and sig.removed == () and sig.added == ()
    assert signals("Shipping costs 3.5 euros per parcel.", "Shipping costs 4.5 euros per parcel.").numbers_differ
    assert signals("Refunds take two weeks.", "Refunds take three weeks.").value_change
    assert not signals("Two dogs are running.", "2 dogs are running.").numbers_differ


def test_manager_change_is_a_names_value_change():
    sig = signals("Dana Kim manages the Payments team.", "Omar Haddad manages the Payments team.")
    assert sig.names_differ and sig.value_change
    assert sig.removed == ("Dana Kim",) and sig.added == ("Omar Haddad",)
    assert not sig.numbers_differ and sig.score >= 0.6


def test_two_replaced_names_with_little_shared_is_not_a_value_change():
    sig = signals("Dana Kim works in Lisbon.", "Omar Haddad works in Oslo.")
    assert sig.names_differ and not sig.value_change and rule_relation(sig) is None
    moved = signals("Dana Kim works in Lisbon.", "Dana Kim works in Oslo.")
    assert moved.value_change and moved.removed == ("Lisbon",)


def test_iso_date_change():
    sig = signals("The policy took effect on 2024-01-01.", "The policy took effect on 2025-03-01.")
    assert sig.dates_differ and not sig.numbers_differ and sig.value_change


def test_date_formats_are_normalised_and_years_and_weekdays_count():
    same = signals("The launch was on March 5, 2021.", "The launch was on 5 March 2021.")
    assert not same.dates_differ and not same.value_change and same.removed == ()
    assert signals("The office moved in 2019.", "The office moved in 2021.").dates_differ
    assert signals("The team meets on Monday.", "The team meets on Friday.").dates_differ
    assert not signals("The office has 1,200 desks.", "The office has 1,500 desks.").dates_differ


def test_identical_statement_scores_zero():
    sig = signals(OLD_REFUND, "  refunds are processed   within 14 days ")
    assert sig.identical and sig.score == 0.0 and not sig.value_change


def test_unrelated_statements_score_zero_and_are_not_candidates():
    old, new = "The cat sat on the mat.", "Quarterly revenue grew strongly in Europe."
    assert signals(old, new).score == 0.0
    assert candidate_pairs(old, new) == []


def test_paraphrase_is_not_a_value_change():
    sig = signals("Refunds are handled within two weeks by the support team.", "The support team handles refunds in about two weeks.")
    assert not sig.value_change and rule_relation(sig) is None
    assert sig.score < signals(OLD_REFUND, NEW_REFUND).score


def test_added_detail_is_not_a_value_change():
    sig = signals("The Payments team owns billing.", "The Payments team owns billing and invoicing.")
    assert sig.removed == () and sig.added == ("invoicing",) and not sig.value_change


def test_negation_is_flagged_and_raises_the_score():
    sig = signals("The bridge is open to cars.", "The bridge isn't open to cars.")
    assert sig.negation_differs and not sig.value_change
    assert sig.score > signals("The bridge is open to cars.", "The bridge is open to all cars.").score


def test_statements_drop_headings_and_short_fragments():
    text = "# Refund policy\n\nRefunds are processed within 14 days. See below.\n\n## Team\nDana Kim manages the\nPayments team.\n---\n"
    assert statements(text) == [OLD_REFUND, "Dana Kim manages the Payments team."]


def test_candidate_pairs_rank_by_score_and_respect_the_limit():
    old = f"{OLD_REFUND} Dana Kim manages the Payments team. Support answers email within one day. The office is in Lisbon."
    new = (
        f"{NEW_REFUND} Omar Haddad manages the Payments team. Support answers email within one day. "
        "Refunds are processed by the Payments team."
    )
    pairs = candidate_pairs(old, new, limit=10)
    assert all(not s.identical and s.overlap >= 0.2 for _, _, s in pairs)
    keys = [(-s.score, -s.overlap) for _, _, s in pairs]
    assert keys == sorted(keys)
    assert {(o, n) for o, n, _ in pairs[:2]} == {
        (OLD_REFUND, NEW_REFUND),
        ("Dana Kim manages the Payments team.", "Omar Haddad manages the Payments team."),
    }
    assert ("Support answers email within one day.",) * 2 not in [(o, n) for o, n, _ in pairs]  # identical: excluded
    assert candidate_pairs(old, new) == pairs[:3]
    assert candidate_pairs(old, new, limit=1) == pairs[:1]
    assert candidate_pairs(old, new, limit=0) == []
    assert len(candidate_pairs(old, new, limit=10, min_overlap=0.9)) < len(pairs)


def test_ties_keep_the_higher_overlap_first():
    old = "The Lisbon office opens at 9 am on weekdays. The office opens at 9 am."
    new = "The office opens at 10 am."
    pairs = candidate_pairs(old, new, limit=5)
    assert [p[0] for p in pairs] == ["The office opens at 9 am.", "The Lisbon office opens at 9 am on weekdays."]


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
pieces = st.sampled_from(
    [
        "Dana Kim",
        "the",
        "Payments",
        "team",
        "14",
        "1,200",
        "40%",
        "2024-01-01",
        "March 5, 2021",
        "Monday",
        "not",
        "isn't",
        "A",
        "manages",
        ".",
        ",",
        " ",
        "\n",
        "#",
        "The",
    ]
)
texts = st.lists(pieces | st.text(max_size=6), max_size=10).map(" ".join)


@SETTINGS
@given(texts)
def test_a_statement_against_itself_is_identical_with_score_zero(x):
    sig = signals(x, x)
    assert sig.identical and sig.score == 0.0 and not sig.value_change and sig.removed == sig.added == ()


@SETTINGS
@given(texts, texts)
def test_score_is_bounded_and_overlap_symmetric(a, b):
    ab, ba = signals(a, b), signals(b, a)
    assert 0.0 <= ab.score <= 1.0 and 0.0 <= ab.overlap <= 1.0
    assert ab.overlap == ba.overlap
    assert ab.removed == ba.added and ab.added == ba.removed
    if ab.overlap < 0.2:
        assert ab.score == 0.0


def test_rule_relation_flags_a_negated_statement_but_not_a_loose_one():
    from kb.conflicts import rule_relation, signals

    assert rule_relation(signals("Refunds are allowed for gift cards.", "Refunds are not allowed for gift cards.")) == "contradicts"
    assert rule_relation(signals("The cafe opens early.", "Nobody likes the new parking rules near the station.")) is None


def test_sentences_both_documents_state_are_never_paired():
    from kb.conflicts import candidate_pairs

    old = "The river Tam flows north. It is 40 km long."
    same_text = candidate_pairs(old, old)
    assert same_text == []  # an identical copy: nothing to judge, not even across its sentences
    edited = candidate_pairs(old, "The river Tam flows north. It is 55 km long.")
    assert [(o, n) for o, n, _ in edited] == [("It is 40 km long.", "It is 55 km long.")]
