"""Question typing: what kind of span answers a question. Pure functions, no I/O.

The reader (``agent.reader``) only proposes candidates of the expected type, so a "who"
question is answered with a name, a "when" question with a date, a "how much" question
with an amount, never with a document title or a header date picked up by accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

AnswerType = Literal["person", "place", "date", "number", "yesno", "choice", "entity"]

PERSON_NOUNS = frozenset(
    """person people man woman who author writer novelist poet director producer performer singer
    songwriter composer lyricist creator founder cofounder co-founder owner publisher editor narrator
    actor actress star host presenter coach captain player president chairman chairwoman ceo leader head
    manager mayor governor king queen monarch ruler emperor prince princess spouse wife husband partner
    father mother son daughter parent child children sibling brother sister uncle aunt grandfather
    grandmother artist painter sculptor architect designer inventor scientist politician senator
    minister premier chancellor judge lead musician rapper drummer guitarist member members
    biographer illustrator developer engineer boss""".split()
)
PLACE_NOUNS = frozenset(
    """place city town village country state county province region district location birthplace
    hometown capital continent island river lake mountain area territory nation municipality
    headquarters neighborhood neighbourhood island street venue stadium airport port""".split()
)
TIME_NOUNS = frozenset("year date day month century decade era period time season".split())
# nouns that name a quantity or an amount of money: "what fine ...", "the fine for ..." ask for a number
_AMOUNT_NOUNS = (
    "amount|number|percentage|percent|population|price|cost|fee|fine|fare|toll|rent|wage|tax|deposit|"
    "penalty|premium|bonus|stipend|rate|limit|allowance|budget|salary|size|total"
)
NUMBER_WORDS = re.compile(
    rf"\b(how (many|much|long|old|far|tall|high|big|large)|what ({_AMOUNT_NOUNS})|({_AMOUNT_NOUNS}) "
    r"(of|is|was|for|per)|(average|mean|annual|total|usual) [\w ]{0,20}?(snowfall|rainfall|"
    r"temperature|population|height|elevation|length|distance|area|depth|speed|weight|capacity|attendance|revenue|income)"
    r"|(snowfall|rainfall|temperature|population|elevation|attendance|revenue|debt|gdp)\b)\b"
    # the amount named last: "What is the annual membership fee?"
    rf"|^(?:what|which)\s+(?:is|was|are|were)\s+(?:the|a|an|its|their|his|her)\s+[\w' -]{{0,40}}?\b(?:{_AMOUNT_NOUNS})s?\s*\??\s*$"
)
# nouns that name the same kind of thing
KINDS = [
    {"song", "single", "track", "ballad", "anthem"},
    {"film", "movie", "picture", "documentary", "feature"},
    {"show", "series", "programme", "program", "sitcom", "serial", "drama"},
    {"band", "group", "duo", "trio", "quartet", "ensemble"},
    {"company", "corporation", "firm", "business", "manufacturer", "maker", "conglomerate", "brand", "label", "publisher"},
    {"city", "town", "village", "municipality", "commune", "borough", "suburb", "settlement", "capital", "community"},
    {"newspaper", "paper", "daily", "tabloid", "weekly"},
    {"magazine", "periodical", "journal", "publication"},
    {"book", "novel", "novella", "memoir", "biography", "work"},
    {"school", "college", "academy", "university", "institute"},
    {"team", "club", "franchise", "side"},
    {"game", "videogame"},
]
# the kinds of thing a "which N" question names: "which Danish heavy metal band" -> band
THING_NOUNS = frozenset().union(*KINDS) | frozenset(
    "album episode opera musical play poem painting novel award prize comedy thriller".split()
)
YESNO_START = frozenset("is are was were do does did can could has have had will would should shall may might".split())
_WH = re.compile(r"\b(who|whom|whose|when|where|which|what|how)\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][\w'-]*")
_SKIP_HEAD = frozenset("the a an name kind type sort of is was are were one two first last main usual most".split())


@dataclass(frozen=True)
class QuestionType:
    """The expected answer: its kind, the head noun of a "which N" question, the options of a choice."""

    kind: AnswerType
    head: str | None = None
    options: tuple[str, ...] = field(default=())
    recognised: bool = True  # False when no English question cue was found (the reader then declines)
    kind_of: bool = False  # "what kind of university": a description ("land-grant university") answers, not a name
    verb: str | None = None  # "what does the Vision Team own": the object of "own" answers ("owns the image search service"); "write for"


def classify(question: str) -> QuestionType:
    """The expected answer type of ``question`` (English rules; anything else is an ``entity``)."""
    text = " ".join(question.strip().split())
    low = text.lower()
    last = _last_clause(low)
    options = choice_options(text)
    first = last.split(" ", 1)[0] if last else ""
    if options and (_WH.search(low) or first in YESNO_START):
        return QuestionType("choice", head=_head_after_wh(low), options=options)
    if first in YESNO_START and not _WH.search(last):
        return QuestionType("yesno")
    if re.search(
        r"^when\b|\bwhen\??$|\bwhat (year|date|day|month|century|decade)\b|\bwhich (year|date|day|month|century|decade)\b"
        r"|\bin what year\b|\bsince when\b|\bweekday\b",
        low,
    ):
        head = "weekday" if "weekday" in low else None
        return QuestionType("date", head=head)
    if re.search(r"\bhow (often|frequently)\b", low):
        return QuestionType("number", head="frequency")  # "every three years", "twice a year", "monthly"
    if NUMBER_WORDS.search(low):
        return QuestionType("number", head=_number_unit(low))
    head = _head_after_wh(low)
    wh = _WH.search(last)
    if wh and wh.group(1) == "when":
        return QuestionType("date")
    if re.search(r"\b(who|whom|whose)\b", low) and not (head and head in PLACE_NOUNS | TIME_NOUNS):
        return QuestionType("person", head=head if head in PERSON_NOUNS else None)
    if head in TIME_NOUNS:
        return QuestionType("date", head=head)
    if re.search(r"\bwhere\b", low) and not head:
        return QuestionType("place")
    if head in PLACE_NOUNS:
        return QuestionType("place", head=head)
    if head in PERSON_NOUNS:
        return QuestionType("person", head=head)
    if re.search(r"\bwhere\b", low):
        return QuestionType("place", head=head)
    kind_of = re.search(r"\b(?:what|which) (?:kind|type|sort|form) of\b", low) is not None
    verb = re.match(r"^(?:what|which)(?: [a-z-]+){0,2}? (?:does|do|did) .+? ([a-z]{3,}(?: (?:for|with|on|at|in|to|from))?)\s*\??$", low)
    return QuestionType(
        "entity",
        head=head,
        recognised=bool(_WH.search(low)),
        kind_of=kind_of,
        verb=verb.group(1) if verb and verb.group(1).split()[0] not in _NO_OBJECT else None,
    )


# "what does X stand for", "what does X do": no object to find after the verb
_NO_OBJECT = frozenset("for like about with into from to of on in at by do have has had mean say become look stand".split())


def _last_clause(low: str) -> str:
    """The clause that carries the question ("The director X has an OBE. Does Y have one?" -> the 2nd)."""
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+", low.strip()) if p.strip()]
    return parts[-1] if parts else ""


def _head_after_wh(low: str) -> str | None:
    """The noun a which/what question asks for: "which team owns X" -> team; "what is the capital of Y" -> capital."""
    m = re.search(r"\b(?:which|what)\s+((?:is|was|are|were)\s+(?:the\s+)?)?((?:[\w-]+\s*){0,4})", low)
    direct = bool(m and not m.group(1))  # "which team owns X": the noun follows the wh-word
    if m:
        m = re.match(r"(.*)", m.group(2))
    else:
        m = re.search(r"\b(?:who|whom)\s+(?:is|was|are|were)\s+(?:the\s+)?((?:[\w-]+\s*){0,4})", low)
        if not m:
            return None
    words = m.group(1).split()
    while len(words) > 2 and words[0] in {"name", "kind", "type", "sort"} and words[1] == "of":
        words = words[3:] if len(words) > 2 and words[2] in {"the", "a", "an"} else words[2:]
    if words[:3] in (["place", "of", "birth"], ["city", "of", "birth"]):
        return words[0]
    if words[:2] == ["birth", "place"]:
        return "place"
    run: list[str] = []
    for w in words:
        if w in _HEAD_STOP or w in YESNO_START:
            break
        run.append(w)
    for w in run:  # a known noun first: "county shares a border" -> county
        if w in PERSON_NOUNS or w in PLACE_NOUNS or w in TIME_NOUNS:
            return w
    if direct and (kind := next((w for w in run[:4] if w in THING_NOUNS), None)):
        return kind  # after its modifiers: "which Danish heavy metal band released ..."
    if direct and len(run) > 1 and re.search(r"\b(?:which|what)\s+" + r"\s+".join(map(re.escape, run)) + r"\s*\??\s*$", low):
        return run[-1]  # the question ends with it: "X founded what aircraft maker?" -> maker
    run = [w for w in run if w not in _SKIP_HEAD]
    if not run:
        return None
    if not direct:  # "what is the most popular hotel in X" -> hotel; stop at a participle
        run = run[:1] + [w for w in _until_participle(run[1:])]
    head = run[0] if direct else run[-1]
    return head[:-1] if head.endswith("s") and head[:-1] in PERSON_NOUNS | PLACE_NOUNS else head


def _until_participle(words: list[str]) -> list[str]:
    out = []
    for w in words:
        if w.endswith("ed") or w.endswith("ing"):
            break
        out.append(w)
    return out


_HEAD_STOP = frozenset(
    (
        "after before near about into over under between of in on at to for by with from that which who whom where when did does do "
        "has had a an the and or"
    ).split()
)


def _number_unit(low: str) -> str | None:
    """The counted noun of "how many X": the unit a numeric candidate should carry."""
    if re.search(r"\bpercent(?:age)?\b", low):
        return "percent"
    m = re.search(r"\bhow many\s+(?:[\w-]+\s+){0,1}?([\w-]+)", low)
    return m.group(1) if m else None


# "the forming of X or the birth of Y": the options are X and Y, compared by their years
_EVENT_OF = r"(?:(?:the\s+)?(?:forming|formation|founding|birth|death|release|creation|establishment|opening|launch)\s+of\s+)?"
_OPTION = r"((?:the\s+)?[A-Z0-9][\w'.&-]*(?:\s+(?:[A-Z0-9(][\w'.&()-]*|of|the|de|and|du|von|van|da|la|le))*)"


_WHICH_OF_THEM = r"Which\s+(?:one\s+|of\s+(?:the\s+two|them|these|the\s+two\s+\w+)\s+)?(?:was|is|were|are|had|has|did|does)\b"


def choice_options(question: str) -> tuple[str, ...]:
    """The two named options of "..., A or B?" questions (or of "A and B ... . Which ...?"); empty
    when there are none."""
    m = re.search(_OPTION + r",?\s+or\s+" + _EVENT_OF + _OPTION + r"\s*\??\s*$", question.strip())
    if not m:  # "A and B were founded in the 1950s. Which was the first to serve pizza?"
        m = re.match(_OPTION + r"\s+and\s+" + _OPTION + r"\s+[a-z][^.?]*\.\s+" + _WHICH_OF_THEM + r"[^.]*\?\s*$", question.strip())
    if not m:
        return ()
    a, b = (_strip_article(x) for x in (m.group(1), m.group(2)))
    words_a = a.split()
    # "Which band was formed first The Exies or ..." : the first option starts at its capitalised run
    lead = [i for i, w in enumerate(words_a) if w[:1].isupper() or w[:1].isdigit()]
    if lead:
        a = " ".join(words_a[lead[-1] if _is_split(words_a, lead) else lead[0] :])
    return (a, b) if a and b and a.lower() != b.lower() else ()


def _is_split(words: list[str], lead: list[int]) -> bool:
    return len(lead) > 1 and any(b - a > 1 for a, b in zip(lead, lead[1:], strict=False))


def _strip_article(text: str) -> str:
    return re.sub(r"^(the|a|an)\s+", "", text.strip()).strip(" ,?")  # "the Cotula" -> Cotula; "The Exies" stays


def content_words(text: str) -> list[str]:
    """Lower-case words that carry meaning (no question words, articles or auxiliaries)."""
    return [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in STOPWORDS and len(w) > 1]


STOPWORDS = frozenset(
    """a an the of in on at to for by with from as and or but is are was were be been being do does did has
    have had it its this that these those which who whom whose what when where why how there their they
    he she his her him them we our you your i me my not no yes than then so also into over under about
    after before during while many much more most some any each other another such only own same both
    either neither all one two first last name kind type called known""".split()
)


# words a question and a passage use for the same thing, with the stem they share: the question
# asks for "the writer of X", the passage says "written by"; "the spouse of X", "married to"
_SAME_STEM = {
    **dict.fromkeys(("write", "writes", "wrote", "written", "writer", "writers", "writing"), "writ"),
    **dict.fromkeys(("led", "lead", "leads", "leader", "leaders", "leading"), "lead"),
    **dict.fromkeys(("sang", "sung", "sing", "sings", "singer", "singing"), "sing"),
    **dict.fromkeys(("won", "win", "wins", "winner", "winning"), "win"),
    **dict.fromkeys(("governor", "governed", "governs", "governing"), "govern"),
    **dict.fromkeys(("spouse", "married", "marries", "marry", "wife", "husband"), "marri"),
}


def verb_forms(verb: str) -> list[str]:
    """Irregular forms that share ``verb``'s stem ("win" -> "won", "wins", ...); regular ones follow from the stem."""
    return sorted(w for w, s in _SAME_STEM.items() if s == stem(verb) and not w.startswith(s))


def stem(word: str) -> str:
    """A crude stem, enough to match "maintains", "maintained" and "maintaining", and an agent
    noun with its verb ("director" and "directed", "the writer" and "written by")."""
    if word in _SAME_STEM:
        return _SAME_STEM[word]
    if word.endswith(("tor", "sor")) and len(word) >= 5:  # director, creator, inventor, supervisor
        return word[:-2]
    for suffix in ("ing", "ed", "es", "er", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def stems(text: str) -> set[str]:
    return {stem(w) for w in content_words(text)}
