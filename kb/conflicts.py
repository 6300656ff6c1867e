"""Cheap statement-level conflict signals between an old chunk and a new one.

When a chunk arrives, similar chunks from other documents are compared sentence by
sentence; the pairs are ranked by these signals and only the top few go to the LLM judge
(``agent.judge``). Pure functions: no I/O, no model.

A statement is reduced to *items*: content words (lower-cased, stop words removed),
numbers ("1,200" -> "1200", "40%", "two" -> "2"), dates (normalised, so "March 5, 2021" == "5 March 2021"
== "2021-03-05") and capitalised names ("Dana Kim" is one item). Numbers, dates and names
are *values*; a pair whose only differences are values is the "value updated" pattern.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from retrieval.chunking import split_sentences

__all__ = [
    "ConflictJudge",
    "Finding",
    "Signals",
    "statements",
    "signals",
    "candidate_pairs",
    "about_different_things",
    "rule_relation",
    "rule_finding",
    "with_rule_fallback",
    "MIN_OVERLAP",
    "VALUE_FRAME",
]

MIN_OVERLAP = 0.2  # below this two statements are about different things: score 0
VALUE_FRAME = 0.6  # shared / (shared + changed slots) needed for a value change

Kind = Literal["word", "number", "date", "name"]

STOP_WORDS = frozenset(
    """a an the and or but if then than that this these those there here of in on at to for from by with within
    without into onto over under about after before during until as is are was were be been being am do does did
    has have had having will would shall should can could may might must it its it's they them their theirs he him
    his she her hers we us our you your i me my mine who whom whose which what when where why how all any both each
    few more most other some such only own same so too very just also again further once several many much""".split()
)
NEGATIONS = frozenset("not no never nobody none nothing neither nor nowhere cannot n't without".split())
_FUNCTION_WORDS = STOP_WORDS | NEGATIONS  # never a name, even when capitalised at a sentence start

_MONTHS = {
    m[:3]: i for i, m in enumerate("january february march april may june july august september october november december".split(), 1)
}
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = re.compile(
    rf"\b(?P<iso>(?P<y>\d{{4}})[-/](?P<m>\d{{1,2}})[-/](?P<d>\d{{1,2}}))\b"
    rf"|\b(?P<m1>{_MONTH})\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y1>\d{{4}})\b"
    rf"|\b(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<m2>{_MONTH}),?\s+(?P<y2>\d{{4}})\b"
    rf"|\b(?P<my>(?P<m3>{_MONTH})\s+(?P<y3>\d{{4}}))\b"
    r"|\b(?P<wd>monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
    r"|(?<![\d.,])\b(?P<year>[12]\d{3})\b(?![.,]?\d)",
    re.IGNORECASE | re.ASCII,  # ASCII: no Unicode case folding (\u017f matching 's')
)
_NUMBER_WORDS = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())}
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*%?|\b(?:" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_NAME = re.compile(r"\b[A-Z][\w'\u2019-]*(?:\s+[A-Z][\w'\u2019-]*)*")
_WORD = re.compile(r"[A-Za-z\u00c0-\u024f][\w'\u2019-]*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n\s*)[\"'\u201c\u2018(\[*_-]*\s*$")
_HEADING = re.compile(r"^\s{0,3}(?:#{1,6}(?:\s|$).*|[=-]{3,}\s*)$", re.MULTILINE)
_NEG_SUFFIX = re.compile(r"n[\u2019']t\b", re.IGNORECASE)


@dataclass(frozen=True)
class Signals:
    """Why a pair of statements might conflict; ``score`` ranks pairs for the LLM judge."""

    overlap: float  # Jaccard of the two item sets (content words, numbers, dates, names)
    identical: bool  # same statement after whitespace/case normalisation
    numbers_differ: bool  # both contain numbers and the sets differ
    dates_differ: bool  # both contain dates/years/weekdays and the sets differ
    names_differ: bool  # both contain names, the names differ, and some other item is shared
    negation_differs: bool  # exactly one side is negated ("not", "no", "never", "n't", ...)
    removed: tuple[str, ...]  # items of old missing from new (original case)
    added: tuple[str, ...]  # items of new missing from old (original case)
    value_change: bool  # only numbers/dates/names were replaced, the rest is (nearly) the same
    score: float  # in [0, 1]; 0 for identical or unrelated (overlap < MIN_OVERLAP) pairs


@dataclass(frozen=True)
class _Item:
    key: str  # what comparisons use
    surface: str  # as written
    kind: Kind


def statements(text: str) -> list[str]:
    """Sentences of ``text`` with whitespace collapsed; markdown headings and sentences under 3 words dropped."""
    body = _HEADING.sub("", text)
    out = [" ".join(body[s:e].split()) for s, e in split_sentences(body)]
    return [s for s in out if len(s.split()) >= 3]


def _normalise(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".!?;: ")


def _date_key(m: re.Match[str]) -> str:
    g = m.groupdict()
    if g["iso"]:
        return f"{int(g['y']):04d}-{int(g['m']):02d}-{int(g['d']):02d}"
    if g["wd"]:
        return g["wd"].lower()
    if g["year"]:
        return g["year"]
    month = g["m1"] or g["m2"] or g["m3"]
    year = g["y1"] or g["y2"] or g["y3"]
    day = g["d1"] or g["d2"]
    key = f"{year}-{_MONTHS[month.lower().rstrip('.')[:3]]:02d}"
    return f"{key}-{int(day):02d}" if day else key


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _items(text: str) -> list[_Item]:
    """Dates first, then numbers, then names, then the remaining content words."""
    items: list[_Item] = []
    for m in _DATE.finditer(text):
        items.append(_Item(_date_key(m), m.group(), "date"))
        text = _blank(text, m.start(), m.end())
    for m in _NUMBER.finditer(text):
        key = _NUMBER_WORDS.get(m.group().lower(), m.group().replace(",", ""))
        items.append(_Item(key, m.group(), "number"))
        text = _blank(text, m.start(), m.end())
    for m in _NAME.finditer(text):
        words = m.group().split()
        if _SENTENCE_START.search(text, 0, m.start()) and words[0].lower() in _FUNCTION_WORDS:
            words = words[1:]  # "The Payments team": "The" is not part of the name
        while words and words[0].lower() in _FUNCTION_WORDS and len(words[0]) == 1:
            words = words[1:]  # a stray capital "A"/"I"
        if words:
            name = re.sub(r"['\u2019]s$", "", " ".join(words))
            items.append(_Item(name.lower(), name, "name"))
        text = _blank(text, m.start(), m.end())
    for m in _WORD.finditer(text):
        word = re.sub(r"['\u2019]s$", "", m.group().lower()).rstrip("'\u2019-")
        if word not in _FUNCTION_WORDS and not _NEG_SUFFIX.search(word):
            items.append(_Item(word, m.group(), "word"))
    return items


def _negated(text: str) -> bool:
    lowered = text.lower()
    return bool(_NEG_SUFFIX.search(lowered)) or any(w in NEGATIONS for w in re.findall(r"[a-z]+", lowered))


def _keys(items: list[_Item], kind: Kind | None = None) -> set[str]:
    return {i.key for i in items if kind is None or i.kind == kind}


def _differ(a: set[str], b: set[str], all_a: set[str], all_b: set[str]) -> bool:
    """Both sides have values of a kind and one of them is missing from the other side
    (checked against all its items, so "1,200" as a number still matches "1200" read as a year)."""
    return bool(a) and bool(b) and bool(a - all_b or b - all_a)


def signals(old: str, new: str) -> Signals:
    """Compare two statements (``old`` is the one already in the knowledge base)."""
    a, b = _items(old), _items(new)
    ka, kb = _keys(a), _keys(b)
    shared = ka & kb
    overlap = len(shared) / len(ka | kb) if ka | kb else 0.0
    identical = _normalise(old) == _normalise(new)
    removed = tuple(dict.fromkeys(i.surface for i in a if i.key not in kb))
    added = tuple(dict.fromkeys(i.surface for i in b if i.key not in ka))
    changed = [i for i in a if i.key not in kb] + [i for i in b if i.key not in ka]
    names_a, names_b = _keys(a, "name"), _keys(b, "name")
    numbers_differ = _differ(_keys(a, "number"), _keys(b, "number"), ka, kb)
    dates_differ = _differ(_keys(a, "date"), _keys(b, "date"), ka, kb)
    names_differ = _differ(names_a, names_b, ka, kb) and bool(shared - names_a - names_b)
    negation_differs = _negated(old) != _negated(new)
    # A replaced value counts as one slot, so "Dana Kim works in Lisbon" -> "... in Oslo" qualifies
    # while "Dana Kim works in Lisbon" -> "Omar Haddad works in Oslo" (two slots, one shared word) does not.
    slots = max(len(removed), len(added))
    frame = len(shared) / (len(shared) + slots) if shared else 0.0
    value_change = not identical and bool(removed) and bool(added) and frame >= VALUE_FRAME and all(i.kind != "word" for i in changed)
    if identical or overlap < MIN_OVERLAP:
        score = 0.0
    else:
        score = 0.4 * overlap + 0.2 * (numbers_differ or dates_differ or names_differ) + 0.3 * value_change + 0.3 * negation_differs
    return Signals(
        overlap,
        identical,
        numbers_differ,
        dates_differ,
        names_differ,
        negation_differs,
        removed,
        added,
        value_change,
        round(min(1.0, max(0.0, score)), 4),
    )


def candidate_pairs(
    old_text: str, new_text: str, limit: int = 3, min_overlap: float = MIN_OVERLAP, titles: tuple[str, str] | None = None
) -> list[tuple[str, str, Signals]]:
    """The ``limit`` statement pairs most worth judging: not identical, overlap >= ``min_overlap``,
    by score, then overlap (both descending), then document order.

    With ``titles`` (of the old and the new text's documents), only pairs about the same
    subject (``same_subject``) are kept, and none when the two texts are each about their own,
    different named thing (``about_different_things``): a changed value about another thing
    is no conflict.
    """
    if titles is not None and about_different_things(titles[0], titles[1], old_text, new_text):
        return []
    olds, news = statements(old_text), statements(new_text)
    said_old, said_new = {_plain(o) for o in olds}, {_plain(n) for n in news}
    # a statement both documents make is no conflict, nor is pairing it with the other's other sentences
    olds = [o for o in olds if _plain(o) not in said_new]
    news = [n for n in news if _plain(n) not in said_old]
    pairs = [(o, n, signals(o, n)) for o in olds for n in news]
    kept = [p for p in pairs if not p[2].identical and p[2].overlap >= min_overlap]
    if titles is not None:
        kept = [p for p in kept if same_subject(titles[0], titles[1], p[0], p[1])]
    kept.sort(key=lambda p: (-p[2].score, -p[2].overlap))
    return kept[: max(0, limit)]


def _plain(statement: str) -> str:
    return " ".join(statement.lower().split())


# what tells two versions of one document's title apart, not what it is about
_VERSION = re.compile(
    r"\b(?:v(?:ersion)?\s*\d[\w.]*|rev(?:ision)?\s*\d+|edition|draft|final|updated?|new|old|current|latest|revised)\b", re.IGNORECASE
)


def subject_key(title: str) -> str:
    """What a document title says its text is about: lower-cased, without dates, years and version words.

    "Refund policy 2024" and "Refund Policy (2025, revised)" have the same key; "Delhi" and "Paris" do not.
    """
    text = _DATE.sub(" ", title)
    text = _VERSION.sub(" ", text)  # other numbers stay: "Heinkel HD 39" and "Heinkel HD 40" are two aircraft
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def same_subject(old_title: str, new_title: str, old: str, new: str) -> bool:
    """Whether two statements (from documents so titled) are about the same thing, so that a changed value is a conflict.

    Yes when the titles name the same subject (``subject_key``), or when the statements
    name the same things (the same, non-empty set of names): "The Lisbon office opens at
    8" and "… at 9" from an office guide and an office notice. No for same-shaped sentences
    about different subjects: Delhi's mean temperature against Paris's, in "Delhi" and
    "Paris" (another name, or no shared name, and other titles).
    """
    key = subject_key(old_title)
    if key and key == subject_key(new_title):
        return True
    names_old, names_new = ({n for n in _keys(_items(text), "name") if len(n) > 1} for text in (old, new))  # not the C of °C
    if not names_old or names_old != names_new:
        return False
    # what tells the titles apart must not be what changed ("The Heinkel HD 40 was …" against "… HD 39 …" in "Heinkel HD 39")
    told_apart = set(_words(old_title)) ^ set(_words(new_title))
    sig = signals(old, new)
    return not told_apart & {w for value in (*sig.removed, *sig.added) for w in _words(value)}


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())


_PARENTHESES = re.compile(r"\([^)]*\)")


def _names(text: str, title_key: str) -> bool:
    """Whether ``text`` says the words of ``title_key`` in a row."""
    return bool(title_key) and f" {title_key} " in f" {' '.join(_words(text))} "


def about_different_things(old_title: str, new_title: str, old_text: str, new_text: str) -> bool:
    """Whether two chunks are each about their own document's subject, and the subjects differ.

    True when the titles name different subjects (``subject_key``, without a disambiguation
    in parentheses), each text names its own title and neither names the other's: "WNOK
    (104.7 FM) is a radio station … The outlet broadcasts with an ERP of 90 kW" against the
    same sentences about WXBT, or two episodes that "originally aired on Fox on …" other
    dates. Their statements share a shape and even names (the network, the regulator) but
    not a subject. Texts that do not name their titles ("Office guide", "Office notice"), or
    one that names the other's subject, are left to ``same_subject``, statement by statement.
    """
    if subject_key(old_title) == subject_key(new_title):
        return False
    old_key, new_key = (subject_key(_PARENTHESES.sub(" ", t)) for t in (old_title, new_title))
    if not old_key or not new_key or old_key == new_key:
        return False
    own = _names(old_text, old_key) and _names(new_text, new_key)
    return own and not _names(old_text, new_key) and not _names(new_text, old_key)


NEGATION_OVERLAP = 0.5  # a statement and its negation share most of their words


def rule_relation(sig: Signals) -> str | None:
    """A deterministic judge for the clearest cases: ``"updates"`` when a value was replaced,
    ``"contradicts"`` when one side negates an otherwise similar statement."""
    if sig.value_change:
        return "updates"
    if sig.negation_differs and sig.overlap >= NEGATION_OVERLAP:
        return "contradicts"
    return None


@dataclass(frozen=True)
class Finding:
    """A judged conflict between a statement already known and a new one."""

    relation: str  # contradicts / supersedes / updates
    confidence: float
    reason: str
    detector: str  # "judge" or "rule"


# (old statement, new statement, old valid_from, new valid_from) -> a conflict, or None
ConflictJudge = Callable[[str, str, datetime, datetime], "Finding | None"]

RULE_CONFIDENCE = 0.6


def rule_finding(old: str, new: str) -> Finding | None:
    """The rule judge: a value replaced in an otherwise identical statement, or the statement negated."""
    sig = signals(old, new)
    relation = rule_relation(sig)
    if relation == "updates":
        change = f"{', '.join(sig.removed) or '…'} → {', '.join(sig.added) or '…'}"
        return Finding(relation, RULE_CONFIDENCE, f"same statement with a changed value ({change})", "rule")
    if relation == "contradicts":
        return Finding(relation, RULE_CONFIDENCE, "the same statement, negated", "rule")
    return None


def with_rule_fallback(judge: ConflictJudge, min_confidence: float) -> ConflictJudge:
    """``judge`` (an LLM) where it flags a conflict with at least ``min_confidence``, else the rule judge."""

    def judged(old: str, new: str, old_from: datetime, new_from: datetime) -> Finding | None:
        finding = judge(old, new, old_from, new_from)
        if finding is not None and finding.confidence >= min_confidence:
            return finding
        return rule_finding(old, new)

    return judged
