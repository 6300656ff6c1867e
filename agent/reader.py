"""The extractive reader: answer candidates taken from the evidence, and how well each fits the question. Pure functions.

A small model copies fragments and titles when it writes an answer; choosing among spans
is a task it can do. So the reader gathers spans from the passages (names, dates, numbers
with their units, quoted titles, noun phrases ending in the noun the question asks for,
yes/no, the options of a choice, and a tagger's entities and noun phrases, with their labels
when the caller has a tagger), and says how well each fits the type the question expects
(``agent.questions``). ``agent.ranking`` ranks them; the LLM then picks among the top few (``agent.reading``), so
the answer is always a span of a cited passage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agent.gazetteer import COUNTRIES, DEMONYMS, KNOWN_PLACES, US_STATES
from agent.questions import PLACE_NOUNS, STOPWORDS, QuestionType, stem, verb_forms
from agent.tagger import Span
from agent.types import Evidence
from retrieval.entities import title_subject

Kind = Literal["name", "title", "date", "year", "number", "phrase", "yesno", "option"]

MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_CONNECT = r"(?:of|the|de|da|do|dos|das|di|des|du|del|della|von|van|der|la|le|y)"
_CAP = r"(?:[A-Z][\w'’.-]*[\w.]|[A-Z]\.?)"
# a name may end with a small number: "Studio 33", "Apollo 11" (not a month's day: "June 5")
_NAME_NUMBER_END = r"(?=$|[,.;:)!?](?!\d)|\s+(?:and|or|in|on|at|for|by|with|is|was|are|were|from|to|of|as|which|that|who)\b|\s+[A-Z(])"
_NOT_A_MONTH = "".join(f"(?<!{month})" for month in MONTHS.split("|"))
NAME = re.compile(
    rf"(?<![\w'])(?:[A-Z][\w'’.-]*[\w]|[A-Z]\.)(?:\s+(?:{_CONNECT}\s+)*{_CAP})*(?:{_NOT_A_MONTH}\s+\d{{1,3}}{_NAME_NUMBER_END})?"
)
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
_PERIOD = r"(?:second|minute|hour|day|night|week|fortnight|month|quarter|year|decade|century)s?"
FREQUENCY = re.compile(
    rf"\b(?:(?:every|each)\s+(?:other\s+|\w+\s+){{0,2}}{_PERIOD}|(?:once|twice|\w+\s+times)\s+(?:a|an|per|every|each)\s+"
    rf"(?:\w+\s+)?{_PERIOD}|(?:hourly|daily|nightly|weekly|fortnightly|monthly|quarterly|annually|yearly|biennially))\b",
    re.IGNORECASE,
)
_HEADING_LINE = re.compile(r"^[ \t]*#{1,6}[ \t]+(.+)$", re.MULTILINE)
# the unit after a number: "per night", "days", "examination rooms" (a plural noun may end a two-word unit)
_UNIT = re.compile(r"\s+((?:per|a)\s+[a-z]+|(?:[a-z][a-z-]+)(?:\s+(?:per|a)\s+[a-z]+|\s+(?P<plural>[a-z][a-z-]+s)\b)?)")
QUOTED = re.compile(r"[\"“]([^\"”]{2,80})[\"”]")
# a sentence ends at . ! ? ; before a capital, but not after a title ("Dr. Lucia Ferreira", "St. Louis") or an initial
_TITLES = ("Dr", "Mr", "Mrs", "Ms", "Prof", "St", "Jr", "Sr", "Rev", "Gen", "Col", "Lt", "No", "Mt")
_ABBREVIATIONS = "".join(rf"(?<!\b{a}\.)" for a in _TITLES)
SENTENCE = re.compile(rf"(?<=[.!?;]){_ABBREVIATIONS}(?<!\b[A-Z]\.)\s+(?=[A-Z0-9\"“(*-])|\n+")  # nor an initial: "Harris W. Fawell"
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
_SETTLEMENTS = frozenset("city town village country state county province region".split())
_NOT_PERSON = frozenset(
    """book books award awards prize medal series album film song festival championship championships cup league museum
    society association river county city state district province street road station airport bridge war battle siege
    treaty act day times news records county's hospital institute island islands park hall theatre theater point cape bay
    lake mount mountain mountains valley beach harbor harbour peninsula falls canyon desert forest sea ocean gulf strait coast
    plains hills police force army navy corps regiment officer ministry government academy foundation commission authority
    network channel magazine newspaper journal""".split()
)
# words that come before a person's name and are not part of it: "Queensland Senator Barnaby Joyce" -> Barnaby Joyce
# (only titles that rarely open the name of a thing: not "General", "Prince", "Saint", "Captain")
_HONORIFICS = frozenset(
    """senator president governor king queen sir dame dr professor prof colonel lord pope bishop archbishop cardinal mayor
    chancellor minister premier emperor empress sultan""".split()
)


def _is_title_alone(words: list[str]) -> bool:
    """ "Dr." or "Professor": a title, never a name by itself."""
    return len(words) == 1 and words[0].lower().rstrip(".") in _HONORIFICS


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
        headings = {h.strip(" #\t") for h in _HEADING_LINE.findall(e.text)}
        subject = title_subject(e.title)  # "Brand (play)": Brand
        for sent in sentences(e.text):
            if sent in headings:  # a Markdown heading names the section, it does not answer questions
                previous = sent
                continue
            seen = set()
            for text, kind in _spans(sent, qtype):
                if kind == "name" and " " not in text and sent.startswith(text) and text not in proper and text != subject:
                    continue  # "Creates" opening a sentence is no name; "Tidewater" opening its own article is
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
            if subject and subject not in seen and REFERS_BACK.match(sent) and subject in e.text:
                # "It was released as the first single ...": the passage's subject is what the sentence says it of
                out.append(Candidate(subject, "name", p, sent, previous, labels.get(subject, "")))
            previous = sent
    return out


# a sentence that refers back to what its passage is about: "She was ...", "The character is portrayed by ..."
REFERS_BACK = re.compile(
    r"^(?:He|She|It|They|His|Her|Its|Their|The (?:character|film|novel|book|song|single|album|band|group|company|series|show"
    r"|play|game|station|river|building|church|school|university|town|city|village|team|club|magazine|newspaper))\b"
)


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

    for m in NAME.finditer(sent):
        if m.group(0)[-1].isdigit() and not NUMBER.match(sent, m.start()):  # "NOK 650" is an amount
            add(m.start(), m.end(), "name")  # "Studio 33": its number is part of the name
    for m in FREQUENCY.finditer(sent):
        add(m.start(), m.end(), "number")  # "every four years", "twice a month": answers "how often"
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
            end = unit.end() if unit.group("plural") not in _NOT_UNIT else unit.start("plural") - 1
        add(m.start(), end, "number")
    for m in SPELLED_NUMBER.finditer(sent):
        end = m.end()
        unit = _UNIT.match(sent, end)
        if unit and unit.group(1).split()[0] not in _NOT_UNIT:
            end = unit.end() if unit.group("plural") not in _NOT_UNIT else unit.start("plural") - 1
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
    if qtype is not None and qtype.verb:  # "what does X own": the verb's object, whatever its case
        for m in [*_objects_after(qtype.verb).finditer(sent), *_object_after(qtype.verb).finditer(sent)]:
            add(m.start(1), m.end(1), "phrase")  # a whole list first: "the search service and the tagging pipeline"
    for m in ORG.finditer(sent):
        add(m.start(), m.end(), "name")
    for m in NAME.finditer(sent):
        text = m.group(0)
        words = text.split()
        while words and (words[0].lower() in SENTENCE_STARTERS or re.fullmatch(MONTHS, words[0])):
            words = words[1:]
        while words and words[-1].lower() in {"of", "the", "and", "&", "de", "on", "for"}:
            words = words[:-1]
        if not words or re.fullmatch(rf"(?:{MONTHS}|{WEEKDAYS})", " ".join(words)) or _is_title_alone(words):
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


# --- type fit ----------------------------------------------------------------------------------

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
        elif words & (_ORG_WORDS | PLACE_NOUNS | _NOT_PERSON) or _is_known_place(text) or any(w in DEMONYMS for w in text.split()):
            fit *= 0.35
        elif len(text.split()) == 1:
            fit *= 0.45  # one capitalised word is as often a team, a place or a thing as a person
        elif re.search(r"\s(?:of|the)\s", text):
            fit *= 0.5  # "Exploration of Psychotherapy Integration": a title or a body more often than a person
    if qtype.kind == "entity" and qtype.head and label == "PERSON":
        fit *= 0.7  # "what award", "which company": seldom a person (a book may be named "Madonna")
    if qtype.kind == "place" and kind == "name":
        if qtype.head in _SETTLEMENTS and words & _ORG_WORDS:
            fit *= 0.5  # "which town": not "Aldmoor University" (though "where did she study" may be)
        known = KNOWN_PLACES.get(qtype.head or "")
        if known is not None:
            fit *= 1.3 if text in known else 0.5
        elif label == "PERSON":
            fit *= 0.3
        elif not (label in _PLACE_LABELS or _is_known_place(text) or _after_place_cue(text, sentence) or words & PLACE_NOUNS):
            fit *= 0.6
        if known is None and re.search(r", [A-Z]", text):
            fit *= 1.05  # "Columbus, Ohio" says more than Columbus
    if qtype.head in _SHORT_FORMS:  # "what is the abbreviation of X": "LXF", not "Linux Format" or "UK"
        short = re.fullmatch(r"[A-Z][A-Z0-9&.]{1,7}", text) is not None
        return fit * (1.5 if short and _ABBREVIATED.search(sentence) else 1.0 if short else 0.3)
    if qtype.kind == "date" and qtype.head == "weekday":
        fit = 1.0 if re.fullmatch(rf"(?:{WEEKDAYS})s?", text) else 0.2
    if qtype.kind == "number" and qtype.head == "frequency":
        return fit if FREQUENCY.fullmatch(text) else fit * 0.4
    if kind == "number" and FREQUENCY.fullmatch(text) and not re.search(rf"\d|\b{_SPELLED}\b|\b(?:once|twice)\b", text, re.I):
        fit *= 0.3  # "annually", "every year": how often, not how many or how much
    if qtype.kind == "number" and qtype.head and kind == "number":
        units = ("%", "percent") if qtype.head == "percent" else (qtype.head.rstrip("s"),)
        fit *= 1.15 if any(u in text.lower() for u in units) else 1.0
    if qtype.head and kind in ("phrase", "name", "title") and qtype.head.rstrip("s") in text.lower():
        fit *= 1.5
    if qtype.verb and kind in ("phrase", "name", "title") and _object_of(qtype.verb, text, sentence):
        fit = max(fit, 1.0)  # "The Vision Team owns the image search service": what it owns, whatever its case
    return fit


_SHORT_FORMS = frozenset("abbreviation acronym initialism initials".split())
_ABBREVIATED = re.compile(r"\b(?:abbreviat\w*|acronym|short for|shortened|known as)\b", re.IGNORECASE)


def _after_verb(verb: str) -> str:
    """A form of ``verb`` (with its preposition: "write for") and the article or possessive after
    it ("owns the ", "owned its ", "wrote for the ")."""
    head, *preposition = verb.split()
    forms = "|".join([*map(re.escape, verb_forms(head)), rf"{re.escape(stem(head))}\w*"])
    then = "".join(rf"{p}\s+" for p in preposition)
    return rf"\b(?:{forms})\s+{then}(?:(?:the|a|an|its|their|his|her)\s+)?"


_OBJECT = r"(?:[\w'’-]+\s+){0,4}?[\w'’-]+"
_OBJECT_END = r"(?=\s*(?:[,.;:!?)]|$)|\s+(?:and|or|in|on|at|for|to|from|with|by|since|until|which|that|who|as)\b)"
# the next item of a list of objects: "…, the photo tagging pipeline", "… and Copper Fields" (not "…, and it is")
_NEXT_OBJECT = r"(?:,\s+(?:and\s+)?|\s+and\s+)(?:(?:the|a|an|its|their|his|her)\s+|(?=[A-Z]))"


def _object_after(verb: str) -> re.Pattern[str]:
    """A form of ``verb``, then its object up to a comma, "and", a preposition or a relative pronoun."""
    return re.compile(_after_verb(verb) + rf"({_OBJECT}){_OBJECT_END}", re.IGNORECASE)


def _objects_after(verb: str) -> re.Pattern[str]:
    """A form of ``verb``, then a list of objects ("owns the image search service and the photo tagging pipeline")."""
    return re.compile(_after_verb(verb) + rf"({_OBJECT}(?:{_NEXT_OBJECT}{_OBJECT})+){_OBJECT_END}")


def _object_of(verb: str, text: str, sentence: str) -> bool:
    """``text`` follows a form of ``verb`` in ``sentence`` ("owns the X", "owned X and Y")."""
    return any(sentence[m.end() :].lower().startswith(text.lower()) for m in re.finditer(_after_verb(verb), sentence, re.IGNORECASE))


def _is_known_place(text: str) -> bool:
    return any(text in names for names in KNOWN_PLACES.values())


def _after_place_cue(text: str, sentence: str) -> bool:
    at = sentence.find(text)
    return at > 0 and _PLACE_CUE.search(sentence[:at]) is not None
