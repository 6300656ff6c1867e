"""Yes/no and choice questions: a verdict read from the passages about each named subject. Pure functions.

"Are A and B both film directors?" and "Which band was formed first, A or B?" have no span
to copy: the answer is yes, no or one of the options, decided by what the passages about
each subject say (two dates compared, or how much of the question's claim they cover). The
verdict records the passages it was read from, so it is cited like any other answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.gazetteer import COUNTRIES, US_STATES
from agent.questions import QuestionType, content_words
from agent.reader import NAME, SENTENCE_STARTERS, YEAR, Scored
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
    if (earliest or latest) and None not in years and years[0] != years[1]:
        pick = years.index(min(years) if earliest else max(years))  # type: ignore[type-var]
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
    for "the same X" questions, yes when their passages name the same known place first."""
    subjects = [s for s in _names_in(question) if _about(s, evidence)]
    claim = [w for w in content_words(question) if not any(w in s.lower() for s in subjects)]
    low = question.lower()
    if len(subjects) >= 2 and "same" in low:
        places = [_first_place(_about(s, evidence), exclude=subjects) for s in subjects[:2]]
        covered = None not in places and places[0] == places[1]
    elif len(subjects) >= 2:
        covered = all(_covers(_about(s, evidence), claim) for s in subjects)
    elif subjects:
        covered = _covers(_about(subjects[0], evidence), claim)
    else:
        covered = _covers(" ".join(e.text for e in evidence), claim)
    yes = 0.6 if covered else 0.4  # word coverage decides: a modest lead, never "high" on its own
    read_from = tuple(sorted({p for s in subjects for p in _about_passages(s, evidence)}))
    verdicts = [Scored("yes", "yesno", yes, True, read_from, ""), Scored("no", "yesno", 1 - yes, True, read_from, "")]
    return sorted(verdicts, key=lambda s: -s.score)


def _first_place(text: str, exclude: Sequence[str]) -> str | None:
    """The first country or US state a passage names (outside the subjects' own names)."""
    found = []
    for name in US_STATES | COUNTRIES:
        at = re.search(rf"\b{re.escape(name)}\b", text)
        if at and not any(name in s for s in exclude):
            found.append((at.start(), name))
    return min(found)[1] if found else None


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


def _covers(text: str, claim: list[str]) -> bool:
    if not text or not claim:
        return False
    low = text.lower()
    hits = sum(1 for w in claim if w in low or w.rstrip("s") in low)
    return hits / len(claim) >= 0.6


def _first_year(text: str) -> int | None:
    years = [int(m.group(1)) for m in YEAR.finditer(text)]
    return years[0] if years else None
