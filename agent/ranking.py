"""Ranking the reader's candidates: a few support signals per candidate, weighed. Pure functions.

Each mention of a candidate (a span in one sentence) gets signals that depend on its own
sentence: how well the sentence matches the question (embedding similarity, supplied by the
caller, and shared word stems), how near a question word it stands, the rank of its passage.
A candidate (all mentions of one text) keeps its best mention and adds signals of the whole
evidence: how often it recurs, whether a passage is about it and that passage matches the
question (the bridge of a two-hop question), and whether a sentence that opens with it calls
it the kind of thing asked for ("X is a song by ..." for "what song"). Every mention signal is scaled by the type fit
(``agent.reader.type_fit``), so a span of the wrong type cannot win on context alone.

The score is a weighted sum of these signals (``FEATURES``, ``WEIGHTS``). The weights are set
by hand; weights fitted to the tune half of the dev questions did no better under
cross-validation (``benchmarks/bench_ranking.py``, reported in ``benchmarks/REPORT_ANSWERS.md``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agent.descriptions import described_as
from agent.gazetteer import DEMONYMS
from agent.questions import KINDS, PERSON_NOUNS, STOPWORDS, QuestionType, content_words, stem, stems, verb_forms
from agent.reader import REFERS_BACK, Candidate, Scored, type_fit
from retrieval.entities import title_subject

# signals of a mention, each multiplied by the type fit
MENTION_FEATURES = ("semantic", "lexical", "passage_rank", "near", "subject")
# signals of a candidate over the whole evidence
CANDIDATE_FEATURES = ("repeats", "bridge", "described")
FEATURES = MENTION_FEATURES + CANDIDATE_FEATURES

WEIGHTS: Mapping[str, float] = {
    "semantic": 0.45,
    "lexical": 0.45,
    "passage_rank": 0.1,
    "near": 0.2,
    "subject": 0.3,
    "repeats": 0.03,
    "bridge": 1.0,
    "described": 0.3,
}


@dataclass(frozen=True)
class Ranked:
    """A ranked candidate with the signals behind its score (for diagnostics and ``benchmarks/bench_ranking.py``)."""

    scored: Scored
    features: Mapping[str, float]


def rank(
    question: str,
    qtype: QuestionType,
    candidates: Sequence[Candidate],
    similarity: Callable[[list[str]], list[float]] | None = None,
    titles: Sequence[str] = (),
    weights: Mapping[str, float] = WEIGHTS,
) -> list[Scored]:
    """Candidates of the expected type, best first (one entry per distinct text).

    ``titles`` are the passages' titles: a candidate that names what a passage is about also
    gets part of that passage's match to the question ("chief of staff to Senator Barnaby
    Joyce" and the passage *Barnaby Joyce*, "who has served as Deputy Prime Minister"), and
    is spelled as the title spells it ("Barnaby Thomas Gerard Joyce" -> Barnaby Joyce)."""
    return [r.scored for r in rank_with_features(question, qtype, candidates, similarity, titles, weights)]


def rank_with_features(
    question: str,
    qtype: QuestionType,
    candidates: Sequence[Candidate],
    similarity: Callable[[list[str]], list[float]] | None = None,
    titles: Sequence[str] = (),
    weights: Mapping[str, float] = WEIGHTS,
) -> list[Ranked]:
    """``rank``, with each candidate's signals."""
    q_words = set(content_words(question))
    q_stems = stems(question)
    q_names = _name_stems(question.split(" ", 1)[-1])  # "Brand" in "Who is the author of Brand?" (not its first word)
    q_low = question.lower()
    slot = _slot(question)
    doer = _doer_verb(question) if qtype.kind == "person" else None
    sentences = {(c.passage, c.sentence): c for c in candidates}  # one candidate of each sentence
    if slot:  # the span that fills the question word's place is a candidate, whatever the patterns found
        filled = [(c, slot.search(c.sentence)) for c in sentences.values()]
        candidates = [*candidates, *(Candidate(m.group(1), "phrase", c.passage, c.sentence, c.previous) for c, m in filled if m)]
    if doer:  # a name that opens a sentence doing the question's verb ("Quill produced the soundtrack")
        opener = re.compile(rf"([A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)*)\s+(?:\w+ly\s+)?{doer.pattern}")
        opened = [(c, opener.match(c.sentence)) for c in sentences.values()]
        named = [c for c in candidates if c.label != "NP"]  # a noun phrase says nothing of what kind of thing a name is
        labels, known = {c.text: c.label for c in named if c.label}, {(c.text, c.sentence) for c in named}
        found = [Candidate(m[1], "name", c.passage, c.sentence, c.previous, labels.get(m[1], "")) for c, m in opened if m]
        found = [c for c in found if (c.text, c.sentence) not in known]
        candidates = [*candidates, *found]
    q_demonyms = {w for w in re.findall(r"[A-Z][a-z]+", question) if w in DEMONYMS}  # "which Danish band"
    contexts = sorted({_context(c) for c in candidates})  # a sentence with the one before it ("It is ...")
    sims = dict(zip(contexts, similarity(contexts), strict=True)) if similarity and contexts else {}
    best: dict[str, tuple[Scored, dict[str, float]]] = {}
    counts: dict[str, int] = {}
    described: dict[str, float] = {}  # candidate -> 1 when its own sentence calls it what the question asks for, -1 something else
    match: dict[int, float] = {}  # passage -> how well its best sentence matches the question
    from_passage: dict[str, int] = {}  # candidate -> the passage of its best-scored mention
    per_passage: dict[str, dict[int, float]] = {}  # candidate -> passage -> its best score there
    subjects = [title_subject(t) for t in titles]
    for c in _full_names(candidates) if qtype.kind == "person" else candidates:
        fit = type_fit(qtype, c.text, c.kind, c.sentence, c.label)
        if fit == 0.0:
            continue
        if slot and (filler := slot.search(c.sentence)) and re.fullmatch(rf"{re.escape(filler.group(1))}(?:, [A-Z][\w ]*)?", c.text, re.I):
            fit = max(fit, 1.0) * 1.2  # "... depictions of what?": the words before the question word come right before it
        does = bool(doer and c.kind == "name" and _does(c, doer))
        if does and c.label in ("", "PERSON"):  # the tagger may know better: "Jordan met ..." as a country
            fit = max(fit, 0.9)  # "Quill produced the soundtrack": a surname alone, but the one who did it
        if c.text not in c.sentence and qtype.head in ("country", "nation") and not _ORIGIN.search(q_low):
            fit *= 0.5  # a country read from "an English writer" says where someone is from, not where they were sent
        c_words = set(content_words(c.text))
        if c.text.lower() in q_low or (c.kind in ("name", "phrase") and c_words and c_words <= q_words):
            continue  # the question's own words are not its answer
        # a number's unit is no reason to discount the sentence: "14 examination rooms" is answered
        # by the sentence that says "examination rooms" as much as "38 staff" beside it is
        c_stems = stems(c.text) if c.kind != "number" else set()
        pronoun_for = _pronoun_subject(c.sentence, subjects, c.passage)  # "She was appointed ..." in her own article
        s_stems = (stems(c.sentence) | pronoun_for) - c_stems
        s_stems -= q_names - _name_stems(c.sentence) - pronoun_for  # a name of the question counts only as a name
        p_stems = stems(c.previous) - c_stems - s_stems - (q_names - _name_stems(c.previous))
        lexical = (len(q_stems & s_stems) + 0.5 * len(q_stems & p_stems)) / len(q_stems) if q_stems else 0.0
        semantic = sims.get(_context(c), lexical)
        match[c.passage] = max(match.get(c.passage, 0.0), 0.5 * (semantic + lexical))
        signals = {
            "semantic": semantic,
            "lexical": lexical,
            "passage_rank": 1 / (1 + c.passage),
            "near": _near_question_word(c, q_words),
            "subject": 1.0 if does else 0.0,
        }
        mention = {name: fit * value for name, value in signals.items()}
        score = sum(weights[name] * value for name, value in mention.items())
        c = _as_titled(c, subjects)
        key = c.text.lower()
        if (qtype.head or q_demonyms) and (description := described_as(c.sentence, c.text)):
            described[key] = _description_fit(qtype.head, description, q_demonyms)
        named = c.text.split()[-1] in c.sentence  # "It was released ...": a reference to the passage's subject, not a mention
        counts[key] = counts.get(key, 0) + named
        mentions = per_passage.setdefault(key, {})
        mentions[c.passage] = max(mentions.get(c.passage, 0.0), score)
        old = best.get(key)
        passages = tuple(sorted({c.passage, *(old[0].passages if old else ())}))
        if old is None or score > old[0].score:
            from_passage[key] = c.passage
            best[key] = (Scored(c.text, c.kind, score, fit >= 0.5, passages, c.sentence), mention)
        else:
            best[key] = (Scored(old[0].text, old[0].kind, old[0].score, old[0].type_ok, passages, old[0].sentence), old[1])
    ranked = []
    for key, (s, mention) in best.items():
        whole = {
            "repeats": float(max(min(counts[key] - 1, 3), 0)),
            "bridge": _about_bonus(s, subjects, match, from_passage[key], per_passage[key]) if q_stems - stems(s.sentence) else 0.0,
            "described": described.get(key, 0.0),
        }
        score = s.score + sum(weights[name] * value for name, value in whole.items())
        ranked.append(Ranked(Scored(s.text, s.kind, score, s.type_ok, s.passages, s.sentence), {**mention, **whole}))
    ranked.sort(key=lambda r: (-r.scored.score, r.scored.text))
    return ranked


def _description_fit(head: str | None, description: str, demonyms: set[str]) -> float:
    """1 when a description ("American heavy metal band"; "1998 Telugu comedy film" for "which
    comedy") is of the kind asked for, -1 when it is of another kind or another nationality than
    the question's ("which Danish band"), 0 when unsure; a person's kind is never held against
    them ("the author of Brand" is not whoever is called an author)."""
    words = description.split()
    said = {w for w in words if w in DEMONYMS}
    if demonyms and said:
        return 1.0 if said & demonyms else -1.0
    if not head:
        return 0.0
    head, category = head.split()[-1].lower(), words[-1].lower()
    if head in PERSON_NOUNS:
        return 0.0
    if stem(head) in {stem(w.lower()) for w in words} or any(head in kind and category in kind for kind in KINDS):
        return 1.0
    return -1.0 if any(head in kind for kind in KINDS) else 0.0


def _slot(question: str) -> re.Pattern[str] | None:
    """For a question that ends with its question word ("X is known for his depictions of what?",
    "... has a second campus in which city?"), the words before it, followed by the span that
    fills their place ("depictions of | urban landscapes"); None for other questions."""
    m = re.search(r"((?:[\w'-]+\s+){1,2}?[\w'-]+)\s+(?:what|whom|who|(?:which|what)\s+[a-z]+)\s*\?$", question.strip(), re.IGNORECASE)
    if not m or not any(w not in STOPWORDS for w in m.group(1).lower().split()):
        return None
    words = r"\s+".join(map(re.escape, m.group(1).split()))
    return re.compile(rf"\b{words}\s+(?:(?:the|a|an|his|her|its|their)\s+)?({_FILLER}){_FILLER_END}", re.IGNORECASE)


_FILLER = r"[\w'’-]+(?:\s+[\w'’-]+){0,4}?"
_FILLER_END = r"(?=\s*(?:[,.;:!?)\"]|$)|\s+(?:that|which|who|and|in|on|at|for|by|with|from)\b)"


def _doer_verb(question: str) -> re.Pattern[str] | None:
    """For "Who designed X?" or "X was designed by whom?", the forms of its verb ("designed",
    "designs", ...); None when the question asks for someone other than the one who does it."""
    m = re.match(r"^\s*who\s+((?!(?:is|was|are|were|has|have|had|did|does|do)\b)[a-z]{3,})\b", question, re.IGNORECASE)
    # the passive: "X was produced by what man?", "... written by whom?"
    m = m or re.search(r"\b(?:is|was|are|were|been)\s+(?:\w+ly\s+)?([a-z]{3,})\s+by\s+(?:what|which|whom)\b", question, re.IGNORECASE)
    if not m:
        return None
    verb = m.group(1).lower()
    forms = "|".join([*map(re.escape, verb_forms(verb)), rf"{re.escape(stem(verb))}\w*"])
    return re.compile(rf"(?:{forms})\b", re.IGNORECASE)


def _does(c: Candidate, verb: re.Pattern[str]) -> bool:
    """The candidate is the subject of the question's verb in its sentence: "Conn Delaney designed
    ..." or, in his own article, "He designed ..." (not "..., which Elsie Marrow flew")."""
    said = next((n for n in (c.text, c.text.split()[-1]) if re.search(rf"\b{re.escape(n)}\b", c.sentence)), None)
    if said:  # the name, or the surname a passage refers back to its subject by ("Reznor produced ...")
        at = c.sentence.index(said)
        after, before = c.sentence[at + len(said) :], c.sentence[:at]
        others = r"(?:,?\s+(?:and\s+)?[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*)*"  # "Dana Kim and Ravi Mehta manage"
        active = re.match(rf"\W*{others}\s+(?:\w+ly\s+)?{verb.pattern}", after)
        passive = re.search(rf"{verb.pattern}\s+by\s+\W*(?:[\w-]+\s+){{0,3}}$", before, re.IGNORECASE)  # "managed by Dana Kim"
        return bool(active or passive)
    return re.match(rf"^(?:He|She|It|They)\s+(?:\w+ly\s+)?{verb.pattern}", c.sentence) is not None


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
    Joyce" in one passage; "Barnaby Joyce ... has served as Deputy Prime Minister" in his own).
    The caller gives none when the candidate's own sentence already says all the question says
    ("directed by Tomas Lindgren and starring Ana Ferreira" for the director: her own passage
    adds nothing)."""
    about = [p for p, subject in enumerate(subjects) if subject and _same_entity(s.text, subject)]
    if not about or not s.type_ok:
        return 0.0
    other = [match.get(p, 0.0) for p in about if p != scored_in] + [v for p, v in mentions.items() if p != scored_in]
    return 0.5 * max(other, default=0.0)


def _name_stems(text: str) -> set[str]:
    """Stems of the capitalised words of ``text``: the question's "Brand" (a play) is not a sentence's "brand"."""
    return {stem(w.lower()) for w in re.findall(r"\b[A-Z][\w'’-]*", text)}


_ORIGIN = re.compile(r"\b(?:from|born|nationality|citizen|citizenship|native|origin|national)\b")


def _pronoun_subject(sentence: str, subjects: Sequence[str], passage: int) -> set[str]:
    """The words of what a passage is about, for its sentences that open with a pronoun ("She was
    appointed MBE in 2004." in the passage *Fiona Macrae*): the pronoun is its subject."""
    if passage < len(subjects) and subjects[passage] and REFERS_BACK.match(sentence):
        return stems(subjects[passage])
    return set()


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
