"""Yes/no and choice questions: a verdict read from the passages about each named subject. Pure functions.

"Are A and B both film directors?" and "Which band was formed first, A or B?" have no span
to copy: the answer is yes, no or one of the options, decided by what the passages about
each subject say (two dates compared, or how much of the question's claim they cover). The
verdict records the passages it was read from, so it is cited like any other answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.descriptions import described_as
from agent.gazetteer import COUNTRIES, DEMONYMS, US_STATES
from agent.questions import STOPWORDS, QuestionType, content_words
from agent.reader import NAME, SENTENCE, SENTENCE_STARTERS, YEAR, Scored
from agent.types import Evidence


def judge_choice(question: str, qtype: QuestionType, evidence: Sequence[Evidence]) -> list[Scored]:
    """Options of a choice question (or yes/no), scored from the evidence about each option."""
    if qtype.kind != "choice":
        return yes_no(question, evidence)
    low = question.lower()
    texts = [_about(option, evidence) for option in qtype.options]
    scores = [0.5, 0.5]
    years = [_first_year(t) for t in texts]
    earliest = re.search(r"\b(first|earlier|earliest|older|oldest|before)\b", low) is not None
    latest = re.search(r"\b(later|latest|younger|youngest|newer|newest|more recent|last)\b", low) is not None
    measures = _compared_measures(question, texts)
    if (earliest or latest) and None not in years and years[0] != years[1]:
        pick = years.index(min(years) if earliest else max(years))  # type: ignore[type-var]
        scores[pick], scores[1 - pick] = 0.8, 0.2
    elif measures is not None and measures[0] != measures[1]:  # "Which river is longer?": 42 km against 27 km
        pick = measures.index(min(measures) if _LESS.search(low) else max(measures))
        scores[pick], scores[1 - pick] = 0.8, 0.2
    else:  # "Which singer is American, A or B?": the option whose passage says what the question asks
        claim = [w for w in content_words(question) if not any(w in o.lower() for o in qtype.options)]
        hits = [sum(1 for w in claim if w in t.lower()) for t in texts]
        if hits[0] != hits[1]:
            pick = hits.index(max(hits))
            scores[pick], scores[1 - pick] = 0.6, 0.4  # word coverage: weaker evidence than two dates
    read_from = tuple(sorted({p for o in qtype.options for p in _about_passages(o, evidence)}))
    ranked = [Scored(o, "option", sc, True, read_from, "") for o, sc in zip(qtype.options, scores, strict=True)]
    return sorted(ranked, key=lambda r: -r.score)


def yes_no(question: str, evidence: Sequence[Evidence]) -> list[Scored]:
    """Yes when the evidence about each named subject contains what the question says of it;
    for "the same X" questions, yes when their passages name the same known place (or
    nationality) first, or, for "the same author" and the like, the same name after "by"."""
    subjects = [s for s in _subjects_in(question, evidence) if s not in DEMONYMS and _about(s, evidence)]
    claim = [w for w in content_words(question) if not any(w in s.lower() for s in subjects)]
    nationalities = [w for w in claim if w.capitalize() in DEMONYMS]  # "both American directors"
    claim = [w for w in claim if w not in nationalities]
    low = question.lower()
    same = re.search(r"\bsame\s+([a-z]+)", low)
    if len(subjects) >= 2 and same and same.group(1) in _AGENT_NOUNS:
        agents = [_agents(_about(s, evidence), exclude=subjects) for s in subjects[:2]]
        covered = bool(agents[0] & agents[1])
    elif len(subjects) >= 2 and same and None not in (units := [_named_unit(_about(s, evidence), same.group(1)) for s in subjects[:2]]):
        covered = units[0] == units[1]  # "in Jiangsu province" and "in Jiangxi province": not the same province
    elif len(subjects) >= 2 and same:
        places = [_first_place(_about(s, evidence), exclude=subjects) for s in subjects[:2]]
        covered = None not in places and places[0] == places[1]
    elif subjects:
        covered = all(_covers(_about(s, evidence), claim, nationalities) for s in subjects)
    else:
        covered = _covers(" ".join(e.text for e in evidence), claim, nationalities)
    yes = 0.6 if covered else 0.4  # word coverage decides: a modest lead, never "high" on its own
    read_from = tuple(sorted({p for s in subjects for p in _about_passages(s, evidence)}))
    verdicts = [Scored("yes", "yesno", yes, True, read_from, ""), Scored("no", "yesno", 1 - yes, True, read_from, "")]
    return sorted(verdicts, key=lambda s: -s.score)


def in_common(question: str, evidence: Sequence[Evidence]) -> list[Scored]:
    """ "What do A and B have in common?": the words that both subjects' first sentences use to
    say what each is ("an American poet", "an American writer": American); none when there are
    not two subjects with passages, or their descriptions share nothing."""
    subjects = [s for s in _subjects_in(question, evidence) if s not in DEMONYMS and _about(s, evidence)][:2]
    read = [_about_passages(s, evidence) for s in subjects]
    if len(subjects) < 2 or read[0] == read[1]:
        return []
    described = [_description(" ".join(evidence[p].text for p in passages)) for passages in read]
    shared = {w.lower() for w in described[1]}
    common = [w for w in described[0] if w.lower() in shared]
    if not common:
        return []
    read_from = tuple(sorted({p for passages in read for p in passages}))
    return [Scored(" ".join(dict.fromkeys(common)), "phrase", 0.2, True, read_from, "")]  # a lone option: moderate at most


def profession(question: str, evidence: Sequence[Evidence]) -> list[Scored]:
    """ "What was the profession of X?": what X's own passage says X is ("Amy Johnson (1903 -
    1941) was a pioneering English aviator": pioneering aviator); none without such a passage."""
    low = question.lower()
    asked = re.search(r"\b(?:profession|occupation|job|career|vocation)\b", low)
    after = asked.end() if asked else 0
    subjects = sorted(_subjects_in(question, evidence), key=lambda s: (low.find(s.lower()) < after, low.find(s.lower())))
    if not subjects:
        return []
    passages = [p for p, e in enumerate(evidence) if e.title.lower() == subjects[0].lower()]  # named right after "profession of"
    words = [w for w in _description(evidence[passages[0]].text) if w not in DEMONYMS] if passages else []
    return [Scored(" ".join(words), "phrase", 0.2, True, tuple(passages), "")] if words else []  # a lone option: moderate at most


def _description(text: str) -> list[str]:
    """The content words of what a passage's first sentence says its subject is ("X (1934) is an
    American poet born in Buffalo": American, poet)."""
    said = described_as(_lead(text))
    return [w.strip("\"'") for w in said.split() if w.lower() not in STOPWORDS] if said else []


def _named_unit(text: str, unit: str) -> str | None:
    """The first name a passage gives a unit of the kind asked ("in Jiangsu province" -> Jiangsu
    for "the same province"; "County Mayo"), or None."""
    if unit not in _UNITS:
        return None
    name = r"((?:[A-Z][\w'’-]+\s+){1,3}?)"
    after = r"((?:[A-Z][\w'’-]+\s*){1,3})"
    m = re.search(rf"\b{name}(?i:{unit})\b|\b(?i:{unit})\s+of\s+{after}|\b{unit.capitalize()}\s+{after}", text)
    found = next((g.strip() for g in m.groups() if g), None) if m else None
    return found if found and found.split()[0] not in _NOT_A_NAME else None


_UNITS = frozenset("province prefecture county district region canton department oblast".split())  # states and countries: _first_place
_NOT_A_NAME = frozenset("The A An In Its Their His Her".split())


def _first_place(text: str, exclude: Sequence[str]) -> str | None:
    """The first country or US state a passage names, or the country of the first nationality it
    names ("an Irish writer": Ireland), outside the subjects' own names."""
    found = []
    for name in US_STATES | COUNTRIES | DEMONYMS.keys():
        at = re.search(rf"\b{re.escape(name)}\b", text)
        if at and not any(name in s for s in exclude):
            found.append((at.start(), DEMONYMS.get(name, name)))
    return min(found)[1] if found else None


# "the same author": the one named after "by" in both passages
_AGENT_NOUNS = frozenset(
    "author writer director creator composer producer founder publisher developer designer architect artist painter".split()
)
_LESS = re.compile(r"\b(?:shorter|shortest|smaller|smallest|lower|lowest|fewer|less|least|lighter|shallower|narrower)\b")
_MORE = re.compile(
    r"\b(?:longer|longest|larger|largest|bigger|biggest|taller|tallest|higher|highest|greater|more|most|heavier|deeper|wider)\b"
)
_MEASURE = re.compile(r"\b(\d[\d,]*(?:\.\d+)?)\s+(?:(million|billion|thousand)\s+)?([a-z][a-z-]+|%)")
_SCALE = {"thousand": 1e3, "million": 1e6, "billion": 1e9}


def _agents(text: str, exclude: Sequence[str]) -> set[str]:
    """The names right after "by" in ``text`` ("a 2003 novel by the Irish writer Niamh Carrick")."""
    found = set()
    nationality = "|".join(DEMONYMS)
    for m in re.finditer(rf"\bby\s+(?:(?:the|a|an)\s+)?(?:(?:[a-z][\w-]*|{nationality})\s+){{0,3}}", text):
        name = NAME.match(SENTENCE.split(text[m.end() :], maxsplit=1)[0])
        text_of = name.group(0).rstrip(".") if name else ""
        if text_of and not any(text_of in s or s in text_of for s in exclude):
            found.add(text_of)
    return found


def _compared_measures(question: str, texts: Sequence[str]) -> list[float] | None:
    """For "which is longer / larger / has more X": each option's first amount in a unit both
    passages use (the question's own unit first: "students", "kilometres"), else None."""
    low = question.lower()
    if not (_MORE.search(low) or _LESS.search(low)):
        return None
    found = [
        [(float(m.group(1).replace(",", "")) * _SCALE.get(m.group(2) or "", 1), m.group(3)) for m in _MEASURE.finditer(t.lower())]
        for t in texts
    ]
    units = [u for _, u in found[0] if u not in STOPWORDS and any(u == v for _, v in found[1])]
    if not units:
        return None
    unit = next((u for u in units if u in low or u.rstrip("s") in low), units[0])
    return [next(value for value, u in f if u == unit) for f in found]


def _subjects_in(question: str, evidence: Sequence[Evidence]) -> list[str]:
    """What the question names: passage titles it quotes ("Salt on the Wind", longest first), then other names."""
    low = question.lower()
    titles = []
    for title in sorted({e.title for e in evidence if len(e.title) > 2}, key=len, reverse=True):
        if re.search(rf"\b{re.escape(title.lower())}\b", low) and not any(title.lower() in t.lower() for t in titles):
            titles.append(title)
    rest = [n for n in _names_in(question) if not any(n.lower() in t.lower() for t in titles)]
    return sorted(titles, key=lambda t: low.index(t.lower())) + rest


def _names_in(question: str) -> list[str]:
    names = []
    for part in re.split(r"\s+and\s+|,\s*", question):
        names += _names_in_part(part)
    return names


def _names_in_part(question: str) -> list[str]:
    names = []
    for m in NAME.finditer(question):
        words = [w for w in m.group(0).split()]
        while words and words[0].lower() in SENTENCE_STARTERS | {"are", "is", "was", "were", "do", "does", "did"}:
            words = words[1:]
        if words:
            names.append(" ".join(words))
    return names


def _about(subject: str, evidence: Sequence[Evidence]) -> str:
    """The text of the passages about ``subject``: titled by it, else mentioning it."""
    return " ".join(evidence[p].text for p in _about_passages(subject, evidence))


def _about_passages(subject: str, evidence: Sequence[Evidence]) -> list[int]:
    low = subject.lower()
    titled = [p for p, e in enumerate(evidence) if e.title.lower() == low or low in e.title.lower()]
    return titled or [p for p, e in enumerate(evidence) if low in e.text.lower()]


def _covers(text: str, claim: list[str], nationalities: Sequence[str] = ()) -> bool:
    """Most of the claim's words are in ``text``, and each nationality it claims is in its first
    sentence ("X was a Hungarian and Austrian film director" is no American director, though
    the passage may say "American" later)."""
    if not text or not (claim or nationalities):
        return False
    low, lead = text.lower(), _lead(text).lower()
    if not all(re.search(rf"\b{n}\b", lead) for n in nationalities):
        return False
    hits = sum(1 for w in claim if w in low or w.rstrip("s") in low)
    return not claim or hits / len(claim) >= 0.6


def _lead(text: str) -> str:
    """The first sentence of a passage, after any Markdown heading ("# Tomas Lindgren")."""
    return SENTENCE.split(re.sub(r"^(?:[ \t]*#[^\n]*\n+)+", "", text.lstrip()), maxsplit=1)[0]


def _first_year(text: str) -> int | None:
    years = [int(m.group(1)) for m in YEAR.finditer(text)]
    return years[0] if years else None
