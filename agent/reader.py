"""The extractive reader: answer candidates taken from the evidence, typed and ranked. Pure functions.

A small model copies fragments and titles when it writes an answer; choosing among spans
is a task it can do. So the reader gathers spans from the passages (names, dates, numbers
with their units, quoted titles, noun phrases ending in the noun the question asks for,
yes/no, the options of a choice, and a tagger's entities and noun phrases, with their labels
when the caller has a tagger), keeps those of the type the question expects
(``agent.questions``), and ranks them by how well their sentence matches the question
(embedding similarity, supplied by the caller, and word overlap), by passage rank and by
how often they recur. The LLM then picks among the top few (``agent.reading``), so the
answer is always a span of a cited passage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from agent.gazetteer import COUNTRIES, DEMONYMS, KNOWN_PLACES, US_STATES
from agent.questions import PLACE_NOUNS, STOPWORDS, QuestionType, content_words, stem, stems
from agent.tagger import Span
from agent.types import Evidence
from retrieval.entities import title_subject

Kind = Literal["name", "title", "date", "year", "number", "phrase", "yesno", "option"]

MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_CONNECT = r"(?:of|the|de|da|du|del|della|von|van|der|la|le|y)"
_CAP = r"(?:[A-Z][\w'’.-]*[\w.]|[A-Z]\.?)"
NAME = re.compile(rf"(?<![\w'])(?:[A-Z][\w'’.-]*[\w]|[A-Z]\.)(?:\s+(?:{_CONNECT}\s+)*{_CAP})*")
DATE = re.compile(
    rf"\b(?:\d{{1,2}}\s+(?:{MONTHS})\s+\d{{3,4}}|(?:{MONTHS})\s+\d{{1,2}}(?:\s*(?:and|-|–)\s*\d{{1,2}})?,?\s+\d{{3,4}}"
    rf"|(?:{MONTHS})\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}|(?:early|mid|late)[- ](?:\d{{1,2}}(?:st|nd|rd|th)|[a-z]+teenth|twentieth)[- ]century"
    rf"|\d{{1,2}}(?:st|nd|rd|th)\s+century)\b"
)
YEAR = re.compile(r"(?<![\d,.$€£-])\b(1[0-9]{3}|20[0-9]{2})s?\b(?![\d%-]|[,.]\d)")  # "in 1766." and "In 1995, he" too
ORG_NOUNS = "team|crew|group|band|company|department|committee|board|club|party|council|agency|office|unit|squad|division"
ORG = re.compile(rf"(?<![\w'])(?!(?:The|A|An|This|That|Our|Their|Its)\s)(?:[A-Z][\w'’&-]*\s+){{1,3}}(?:{ORG_NOUNS})\b")
WEEKDAY = re.compile(rf"\b(?:{WEEKDAYS})s?\b")
_MAGNITUDE = r"(?:\s?(?:%|(?:percent|per cent|million|billion|trillion|thousand|hundred|m|bn|k)\b))?"
NUMBER = re.compile(
    rf"(?:(?:about|around|approximately|over|nearly|some)\s+)?(?:[$€£]\s?|(?:USD|EUR|GBP|JPY|CNY|CHF|CAD|AUD|NZD|SEK|NOK|DKK|ISK|PLN|CZK|HUF|INR|BRL|MXN|ZAR|KRW|SGD|HKD)\s?)?\d[\d,]*(?:\.\d+)?{_MAGNITUDE}"
)
_SPELLED = (
    r"(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen"
    r"|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|dozen)"
)
SPELLED_NUMBER = re.compile(
    rf"\b(?:(?:about|around|some|nearly|over)\s+)?{_SPELLED}(?:[- ]{_SPELLED})*(?:\s+(?:hundred|thousand|million))?\b|\b(?:once|twice)\b",
    re.IGNORECASE,
)
_UNIT = re.compile(r"\s+((?:per|a)\s+[a-z]+|(?:[a-z][a-z-]+)(?:\s+(?:per|a)\s+[a-z]+)?)")
QUOTED = re.compile(r"[\"“]([^\"”]{2,80})[\"”]")
SENTENCE = re.compile(r"(?<=[.!?;])\s+(?=[A-Z0-9\"“(*-])|\n+")
SENTENCE_STARTERS = frozenset(
    """the a an in on at he she it they this that these those his her its their there after before during
    when while since as from for by with and but or if although however also then today yes no we our
    you your i my each every all some most many one two""".split()
)
_ORG_WORDS = frozenset(
    (
        "inc corporation corp company co ltd llc plc labs lab systems technologies university college school team band club "
        "council party church"
    ).split()
)
_NOT_PERSON = frozenset(
    """book books award awards prize medal series album film song festival championship championships cup league museum
    society association river county city state district province street road station airport bridge war battle siege
    treaty act day times news records county's hospital institute island islands park hall theatre theater point cape bay
    lake mount mountain mountains valley beach harbor harbour peninsula falls canyon desert forest sea ocean gulf strait coast
    plains hills""".split()
)
# words that come before a person's name and are not part of it: "Queensland Senator Barnaby Joyce" -> Barnaby Joyce
# (only titles that rarely open the name of a thing: not "General", "Prince", "Saint", "Captain")
_HONORIFICS = frozenset(
    """senator president governor king queen sir dame dr professor prof colonel lord pope bishop archbishop cardinal mayor
    chancellor minister premier emperor empress sultan""".split()
)
_CONVERSION = re.compile(r"\d[^()]{0,30}\(\s*(?:about\s+|approximately\s+)?$")  # "6.8 inches (17.3 cm)": the second is a conversion
_PLACE_CUE = re.compile(r"\b(?:in|at|from|near|to|of|into|across|throughout|within|outside|between)\s+(?:the\s+)?$", re.IGNORECASE)
_NOT_UNIT = STOPWORDS | {"and", "or", "to", "in", "of", "per", "years", "year"}


@dataclass(frozen=True)
class Candidate:
    """A span of one passage that could answer the question."""

    text: str
    kind: Kind
    passage: int  # index into the evidence list
    sentence: str
    previous: str = ""  # the sentence before it in the passage ("It is maintained by ..." needs it)
    label: str = ""  # the tagger's label for the span (PERSON, GPE, ORG, NP, ...), when there is a tagger


@dataclass(frozen=True)
class Scored:
    """A candidate with its score and the signals behind it."""

    text: str
    kind: Kind
    score: float
    type_ok: bool
    passages: tuple[int, ...]
    sentence: str


def sentences(text: str) -> list[str]:
    """The sentences (or list items and lines) of a passage."""
    return [s.strip(" -*#\t") for s in SENTENCE.split(text) if s and s.strip(" -*#\t")]


def extract_candidates(
    evidence: Sequence[Evidence], qtype: QuestionType | None = None, tags: Sequence[Sequence[Span]] | None = None
) -> list[Candidate]:
    """Every span of the evidence that could be an answer, in passage and sentence order.

    ``tags``: a tagger's spans of each passage (``agent.tagger``): its labels type the
    pattern-found spans, and its entities and noun phrases that no pattern found are added.
    A single capitalised word that starts a sentence ("Creates", "Teams") is a name only if
    the evidence also capitalises it inside a sentence."""
    out: list[Candidate] = []
    proper = {m.group(1) for e in evidence for m in re.finditer(r"(?<=[a-z,;:] )([A-Z][\w'-]+)", e.text)}
    for p, e in enumerate(evidence):
        previous = e.title
        spans = tags[p] if tags else ()
        tagged = [(_clean(text, label), label) for text, label in spans if label in _LABEL_KIND and re.search(r"\w", text)]
        labels: dict[str, str] = {}
        for text, label in tagged:
            if label != "NP":  # a noun phrase says nothing of what kind of thing a name is
                labels.setdefault(text, label)
        for sent in sentences(e.text):
            seen = set()
            for text, kind in _spans(sent, qtype):
                if kind == "name" and " " not in text and sent.startswith(text) and text not in proper:
                    continue
                out.append(Candidate(text, kind, p, sent, previous, labels.get(text, "")))
                seen.add(text)
            for text, label in tagged:
                at = re.search(rf"(?<!\w){re.escape(text)}(?!\w)", sent) if text and text not in seen else None
                kind = _LABEL_KIND[label]
                if at is None or (kind in ("date", "number") and (_overlaps(text, seen) or _CONVERSION.search(sent[: at.start()]))):
                    continue  # the patterns delimit dates and numbers better; "(17.3 cm)" after "6.8 inches" converts it
                if any(len(o) > len(text) and re.search(rf"(?<!\w){re.escape(text)}(?!\w)", o) for o in seen):
                    continue  # a piece of a longer span: "Formula" of "Formula One", "EUR" of "EUR 2 per day"
                out.append(Candidate(text, "year" if kind == "date" and YEAR.fullmatch(text) else kind, p, sent, previous, label))
                seen.add(text)
            previous = sent
    return out


# what kind of span each tagger label is (spaCy's OntoNotes labels; NP = a noun phrase)
_LABEL_KIND: dict[str, Kind] = {
    **dict.fromkeys(("PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "LANGUAGE"), "name"),
    **dict.fromkeys(("WORK_OF_ART", "LAW"), "title"),
    "DATE": "date",
    **dict.fromkeys(("PERCENT", "MONEY", "QUANTITY", "CARDINAL"), "number"),
    "NP": "phrase",
}
_PLACE_LABELS = frozenset(("GPE", "LOC", "FAC"))


def _overlaps(text: str, found: set[str]) -> bool:
    return any(text in other or other in text for other in found)


def _clean(text: str, label: str) -> str:
    article = r"^the\s+" if label in ("WORK_OF_ART", "LAW") else r"^[Tt]he\s+"  # "The Aristocats" keeps its article
    text = re.sub(
        rf"{article}|['’]s$|\s+(?:of|the|and|&|de|on|for|in)$", "", " ".join(text.split()).strip(" ,;:'’\"“”()*_`[]#~")
    )  # "**Dana Kim**" in Markdown
    return _drop_period(text)


def _drop_period(text: str) -> str:
    """A sentence's full stop is not part of a span; an initial's or an abbreviation's is ("J.", "Jr.", "Inc.")."""
    return text[:-1] if text.endswith(".") and not re.search(r"(?:\b[A-Z]|\bJr|\bSr|\bInc|\bCo)\.$", text) else text


def _spans(sent: str, qtype: QuestionType | None) -> list[tuple[str, Kind]]:
    found: list[tuple[str, Kind]] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, kind: Kind) -> None:
        text = _drop_period(re.sub(r"['’]s$", "", sent[start:end].strip(" ,;:'’")))
        if text and not any(a <= start < b or a < end <= b for a, b in taken):
            taken.append((start, end))
            found.append((text, kind))

    for m in DATE.finditer(sent):
        add(m.start(), m.end(), "date")
    for m in WEEKDAY.finditer(sent):
        add(m.start(), m.end(), "date")
    for m in YEAR.finditer(sent):
        add(m.start(), m.end(), "year")
    for m in NUMBER.finditer(sent):
        if _CONVERSION.search(sent[: m.start()]):
            continue
        end = m.end()
        unit = _UNIT.match(sent, end)
        if unit and (unit.group(1).split()[0] not in _NOT_UNIT or unit.group(1).startswith("per ")):
            end = unit.end()
        add(m.start(), end, "number")
    for m in SPELLED_NUMBER.finditer(sent):
        end = m.end()
        unit = _UNIT.match(sent, end)
        if unit and unit.group(1).split()[0] not in _NOT_UNIT:
            end = unit.end()
        add(m.start(), end, "number")
    for m in QUOTED.finditer(sent):
        add(m.start(1), m.end(1), "title")
    if qtype is not None and qtype.head:
        head = re.escape(qtype.head)
        for m in re.finditer(rf"\b((?:[A-Z][\w'-]*\s+){{1,4}}|(?:[a-z][\w-]*\s+){{1,2}}){head}(?:e?s)?\b", sent):
            words = m.group(1).split()
            while words and words[0].lower() in SENTENCE_STARTERS | STOPWORDS:
                words = words[1:]
            if words and words[0].islower() and any(w in STOPWORDS or w.endswith("s") for w in words):
                continue  # "lists which team": a verb phrase, not a name for the team
            if words:
                add(m.start(1) + m.group(1).find(words[0]), m.end(), "phrase")
    for m in ORG.finditer(sent):
        add(m.start(), m.end(), "name")
    for m in NAME.finditer(sent):
        text = m.group(0)
        words = text.split()
        while words and (words[0].lower() in SENTENCE_STARTERS or re.fullmatch(MONTHS, words[0])):
            words = words[1:]
        while words and words[-1].lower() in {"of", "the", "and", "&", "de", "on", "for"}:
            words = words[:-1]
        if not words or re.fullmatch(rf"(?:{MONTHS}|{WEEKDAYS})", " ".join(words)):
            continue
        titled = [i for i, w in enumerate(words[:-1]) if w.lower().rstrip(".") in _HONORIFICS]
        if qtype is not None and qtype.kind == "person" and titled and words[titled[-1] + 1][:1].isupper():
            words = words[titled[-1] + 1 :]
        start = m.start() + text.find(words[0])
        end = start + len(" ".join(words))
        if text.find(words[0]) >= 0 and sent[start:end] == " ".join(words):
            add(start, end, "name")
        else:
            add(m.start(), m.end(), "name")
        if qtype is not None and qtype.kind == "place" and " of " in sent[start:end]:
            found.append((_clean(sent[start:end].rsplit(" of ", 1)[1], ""), "name"))  # "Earl of Northumbria": Northumbria
        region = re.match(r",\s+([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)\b", sent[end:])
        if qtype is not None and qtype.kind == "place" and region and region.group(1) in US_STATES | COUNTRIES:
            found.append((f"{sent[start:end]}, {region.group(1)}", "name"))  # "Columbus, Ohio" as well as Columbus
    if qtype is not None and qtype.kind == "place" and qtype.head in ("country", "nation"):
        for demonym, country in DEMONYMS.items():
            if re.search(rf"\b{demonym}\b", sent):
                found.append((country, "name"))  # "a Norwegian playwright": from Norway
    return found


# --- ranking -----------------------------------------------------------------------------------

_TYPE_FIT: dict[str, dict[str, float]] = {
    "person": {"name": 1.0, "phrase": 0.5, "title": 0.2},
    "place": {"name": 1.0, "phrase": 0.9, "title": 0.3},
    "date": {"date": 1.0, "year": 0.95},
    "number": {"number": 1.0, "year": 0.35},
    "entity": {"phrase": 1.0, "name": 0.85, "title": 0.9, "date": 0.3, "year": 0.3, "number": 0.3},
}


def type_fit(qtype: QuestionType, text: str, kind: Kind, sentence: str = "", label: str = "") -> float:
    """How well a span of ``kind`` (and of the tagger's ``label``, if any) fits the expected answer (0 = never the answer)."""
    fit = _TYPE_FIT.get(qtype.kind, {}).get(kind, 0.0)
    if fit == 0.0:
        return 0.0
    if label == "NP" and qtype.kind not in ("entity", "place"):
        return 0.0  # a bare noun phrase answers "what"/"which" questions, not who, when or how many
    if label == "NP":
        fit *= 0.6  # weaker than a name, a title or a phrase ending in the noun the question asks for
    if kind == "name" and (text in DEMONYMS or (label == "NORP" and qtype.kind in ("person", "place"))):
        return 0.1  # "South Korean", "Norwegian", "European": an adjective, never a person or a place
    words = {w.lower().strip(".,") for w in text.split()}
    if kind == "phrase" and text[:1].islower():  # a description: "native country", "animated feature film"
        fit *= 1.2 if qtype.kind_of else 0.5
    elif qtype.kind_of and kind in ("name", "title"):
        fit *= 0.7
    if qtype.kind == "person" and kind == "name" and label == "PERSON":
        fit *= 0.7 if " " not in text else 1.0
    elif qtype.kind == "person" and kind == "name":
        if label:  # the small tagger's other labels are evidence, not proof ("Georg Philipp Telemann" as an ORG)
            fit *= 0.8 if label == "ORG" else 0.5
        if words & set(ORG_NOUNS.split("|")):
            fit *= 0.6  # "who owns X" is often answered by a team or a company
        elif words & (_ORG_WORDS | PLACE_NOUNS | _NOT_PERSON) or _is_known_place(text):
            fit *= 0.35
        elif len(text.split()) == 1:
            fit *= 0.45  # one capitalised word is as often a team, a place or a thing as a person
        elif re.search(r"\s(?:of|the)\s", text):
            fit *= 0.5  # "Exploration of Psychotherapy Integration": a title or a body more often than a person
    if qtype.kind == "place" and kind == "name":
        known = KNOWN_PLACES.get(qtype.head or "")
        if known is not None:
            fit *= 1.3 if text in known else 0.5
        elif label == "PERSON":
            fit *= 0.3
        elif not (label in _PLACE_LABELS or _is_known_place(text) or _after_place_cue(text, sentence) or words & PLACE_NOUNS):
            fit *= 0.6
        if known is None and re.search(r", [A-Z]", text):
            fit *= 1.05  # "Columbus, Ohio" says more than Columbus
    if qtype.kind == "date" and qtype.head == "weekday":
        fit = 1.0 if re.fullmatch(rf"(?:{WEEKDAYS})s?", text) else 0.2
    if qtype.kind == "number" and qtype.head and kind == "number":
        units = ("%", "percent") if qtype.head == "percent" else (qtype.head.rstrip("s"),)
        fit *= 1.15 if any(u in text.lower() for u in units) else 1.0
    if qtype.head and kind in ("phrase", "name", "title") and qtype.head.rstrip("s") in text.lower():
        fit *= 1.5
    return fit


def _is_known_place(text: str) -> bool:
    return any(text in names for names in KNOWN_PLACES.values())


def _after_place_cue(text: str, sentence: str) -> bool:
    at = sentence.find(text)
    return at > 0 and _PLACE_CUE.search(sentence[:at]) is not None


def rank(
    question: str,
    qtype: QuestionType,
    candidates: Sequence[Candidate],
    similarity: Callable[[list[str]], list[float]] | None = None,
    titles: Sequence[str] = (),
) -> list[Scored]:
    """Candidates of the expected type, best first (one entry per distinct text).

    ``titles`` are the passages' titles: a candidate that names what a passage is about also
    gets part of that passage's match to the question ("chief of staff to Senator Barnaby
    Joyce" and the passage *Barnaby Joyce*, "who has served as Deputy Prime Minister"), and
    is spelled as the title spells it ("Barnaby Thomas Gerard Joyce" -> Barnaby Joyce)."""
    q_words = set(content_words(question))
    q_stems = stems(question)
    q_low = question.lower()
    contexts = sorted({_context(c) for c in candidates})  # a sentence with the one before it ("It is ...")
    sims = dict(zip(contexts, similarity(contexts), strict=True)) if similarity and contexts else {}
    best: dict[str, Scored] = {}
    counts: dict[str, int] = {}
    match: dict[int, float] = {}  # passage -> how well its best sentence matches the question
    from_passage: dict[str, int] = {}  # candidate -> the passage of its best-scored mention
    per_passage: dict[str, dict[int, float]] = {}  # candidate -> passage -> its best score there
    subjects = [title_subject(t) for t in titles]
    for c in _full_names(candidates) if qtype.kind == "person" else candidates:
        fit = type_fit(qtype, c.text, c.kind, c.sentence, c.label)
        if fit == 0.0:
            continue
        c_words = set(content_words(c.text))
        if c.text.lower() in q_low or (c.kind in ("name", "phrase") and c_words and c_words <= q_words):
            continue  # the question's own words are not its answer
        c_stems = stems(c.text)
        s_stems = stems(c.sentence) - c_stems
        p_stems = stems(c.previous) - c_stems - s_stems
        lexical = (len(q_stems & s_stems) + 0.5 * len(q_stems & p_stems)) / len(q_stems) if q_stems else 0.0
        semantic = sims.get(_context(c), lexical)
        match[c.passage] = max(match.get(c.passage, 0.0), 0.5 * (semantic + lexical))
        near = _near_question_word(c, q_words)
        score = fit * (0.45 * semantic + 0.45 * lexical + 0.1 / (1 + c.passage) + 0.1 * near)
        c = _as_titled(c, subjects)
        key = c.text.lower()
        counts[key] = counts.get(key, 0) + 1
        mentions = per_passage.setdefault(key, {})
        mentions[c.passage] = max(mentions.get(c.passage, 0.0), score)
        old = best.get(key)
        if old is None or score > old.score:
            from_passage[key] = c.passage
            passages = tuple(sorted({c.passage, *(old.passages if old else ())}))
            best[key] = Scored(c.text, c.kind, score, fit >= 0.5, passages, c.sentence)
        else:
            best[key] = Scored(old.text, old.kind, old.score, old.type_ok, tuple(sorted({c.passage, *old.passages})), old.sentence)
    ranked = [
        Scored(
            s.text,
            s.kind,
            s.score + 0.03 * min(counts[k] - 1, 3) + _about_bonus(s, subjects, match, from_passage[k], per_passage[k]),
            s.type_ok,
            s.passages,
            s.sentence,
        )
        for k, s in best.items()
    ]
    ranked.sort(key=lambda s: (-s.score, s.text))
    return ranked


def _full_names(candidates: Sequence[Candidate]) -> list[Candidate]:
    """A one-word name that ends exactly one longer name of the evidence stands for it: "King"
    after "Stephen King" is Stephen King (a surname alone is how passages refer back to a person;
    for people only: "Ohio" is not "Columbus, Ohio")."""
    longer: dict[str, set[str]] = {}
    for c in candidates:
        words = c.text.split()
        if c.kind == "name" and len(words) >= 2 and words[-1][:1].isupper():
            longer.setdefault(words[-1], set()).add(c.text)
    out = []
    for c in candidates:
        names = longer.get(c.text, set()) if c.kind == "name" and " " not in c.text else set()
        out.append(Candidate(next(iter(names)), c.kind, c.passage, c.sentence, c.previous, c.label) if len(names) == 1 else c)
    return out


def _same_entity(text: str, subject: str) -> bool:
    """The same name, or the same person with middle names: "Barnaby Thomas Gerard Joyce" / "Barnaby Joyce"."""
    a, b = text.lower().split(), subject.lower().split()
    return a == b or (len(a) >= 2 and len(b) >= 2 and a[0] == b[0] and a[-1] == b[-1])


def _as_titled(c: Candidate, subjects: Sequence[str]) -> Candidate:
    for subject in subjects:
        if subject and subject != c.text and c.kind == "name" and _same_entity(c.text, subject):
            return Candidate(subject, c.kind, c.passage, c.sentence, c.previous)
    return c


def _about_bonus(s: Scored, subjects: Sequence[str], match: dict[int, float], scored_in: int, mentions: dict[int, float]) -> float:
    """The bridge: a candidate that a passage is about, and that another passage names, gets half
    the support of the passage its own score did not come from ("chief of staff to Senator Barnaby
    Joyce" in one passage; "Barnaby Joyce ... has served as Deputy Prime Minister" in his own)."""
    about = [p for p, subject in enumerate(subjects) if subject and _same_entity(s.text, subject)]
    if not about or not s.type_ok:
        return 0.0
    other = [match.get(p, 0.0) for p in about if p != scored_in] + [v for p, v in mentions.items() if p != scored_in]
    return 0.5 * max(other, default=0.0)


def _context(c: Candidate) -> str:
    return f"{c.previous} {c.sentence}".strip()


def _near_question_word(c: Candidate, q_words: set[str]) -> float:
    """1.0 when a word of the question comes right before the candidate ("his godfather Georg
    Philipp Telemann", "Earl of Northumbria"), 0.5 when one is within a few words of it."""
    low = c.sentence.lower()
    at = low.find(c.text.lower())
    if at < 0:
        return 0.0
    q_stems = {stem(w) for w in q_words}
    before = [stem(w) for w in content_words(low[max(0, at - 40) : at])][-2:]
    if q_stems & set(before):
        return 1.0
    window = content_words(low[max(0, at - 60) : at + len(c.text) + 60])
    return 0.5 if q_words & set(window) else 0.0
