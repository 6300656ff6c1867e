"""Rule-based entity extraction for the entity index (no LLM, no model, no I/O).

For every chunk we record the entities it is *about* (its document title, the title without
a disambiguating parenthesis such as "(song)", and Markdown headings) and the entities it
*mentions*: capitalised multi-word names ("Hank Snow", "University of Copenhagen"), single
capitalised words that are not sentence openers or function words, and quoted titles
("Hello Love"). Numbers, dates, months and weekdays are values, not entities.

Entities are compared by ``entity_key``: Unicode-normalised, case-folded, punctuation and a
leading article dropped, whitespace collapsed. Everything here is a pure function of its
input and deterministic (results are sorted), so the index and the query-time graph are
reproducible.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["ChunkEntities", "entity_key", "title_keys", "headings", "mentions", "extract", "query_entities"]

MAX_SPAN_WORDS = 6  # longer capitalised runs are headlines or lists, not names
MAX_QUOTED_WORDS = 10
MAX_KEY_CHARS = 120

_WORD = re.compile(r"[^\W_](?:[\w\-'\u2019.&]*[^\W_])?|[,;:!?()\[\]{}\"\u201c\u201d\u2018`]|\.\s|\.$", re.UNICODE)
_QUOTED = re.compile(r"\"([^\"\n]{2,120})\"|\u201c([^\u201d\n]{2,120})\u201d|``([^`'\n]{2,120})''")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_PAREN = re.compile(r"\s*\([^()]*\)\s*$")
_DIGIT = re.compile(r"\d")
_KEY_DROP = re.compile(r"[^\w\s&]|_", re.UNICODE)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+")

# words joining the parts of one name: "University of Copenhagen", "Leonardo da Vinci"
_CONNECTORS = frozenset("of the and for de da di del della der den du la le van von y &".split())
# capitalised words that are not names on their own (sentence openers, pronouns, titles of address)
_STOP = frozenset(
    """a an the this that these those it its he she his her hers they them their theirs we our us you your i me my mine
    in on at by for from with without of to into onto upon over under after before during since until about as and or but nor
    if when where while which who whom whose what why how there here then than so such also both either neither each every
    all any some many most much more other another no not yes one is are was were be been being has have had do does did
    can could may might must shall should will would according although though however because despite meanwhile
    mr mrs ms dr prof sir st saint mt""".split()
)
_VALUES = frozenset(
    """january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday
    bc ad bce ce am pm""".split()
)


@dataclass(frozen=True)
class ChunkEntities:
    """Entity keys of one chunk: what it is about, and what it mentions (sorted, distinct)."""

    about: tuple[str, ...]
    mentions: tuple[str, ...]


@lru_cache(maxsize=1 << 16)  # names repeat across chunks; the key of a name never changes
def entity_key(name: str) -> str:
    """The comparable form of an entity name ("" when nothing name-like is left)."""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = text.replace("\u2019", "'")
    text = re.sub(r"'s\b", "", text)
    text = _KEY_DROP.sub(" ", text)
    text = " ".join(text.split())
    while _ARTICLE.match(text):
        text = _ARTICLE.sub("", text, count=1)
    if not text or _DIGIT.fullmatch(text.replace(" ", "")) or all(_DIGIT.search(t) for t in text.split()):
        return ""
    return text[:MAX_KEY_CHARS]


def _keys(names: list[str]) -> list[str]:
    return sorted({k for k in map(entity_key, names) if k})


def title_keys(title: str) -> list[str]:
    """A document title as entity keys: as written, without a trailing "(disambiguation)", and before a
    qualifying comma ("Indianola, Iowa" is also "Indianola")."""
    bare = _PAREN.sub("", title)
    return _keys([title, bare, title_subject(title)])


def title_subject(title: str) -> str:
    """What a document is about, as its title spells it: "Laie, Hawaii" -> Laie; "Brother (song)" -> Brother."""
    return _PAREN.sub("", title).split(",")[0].strip()


def headings(text: str) -> list[str]:
    """Markdown headings of a text, as written."""
    return [m.group(1).strip() for m in _HEADING.finditer(text) if m.group(1).strip()]


def _is_cap(word: str) -> bool:
    first = word[0]
    return first.isupper() or (first.isalpha() and not first.islower() and not first.isupper() and len(word) > 1 and word[1:2].isupper())


def _name_word(word: str) -> bool:
    """A capitalised word that can be part of a name (not a value such as a month or a number)."""
    if word[0].islower() or not _is_cap(word):  # most words: decided by their first letter
        return False
    return not _DIGIT.search(word) and word.casefold().rstrip(".") not in _VALUES


def _spans(text: str) -> list[tuple[list[str], bool]]:
    """Runs of capitalised words (joined by connectors) as (words, starts_a_sentence)."""
    tokens = [m.group(0) for m in _WORD.finditer(text)]
    runs: list[tuple[list[str], bool]] = []
    current: list[str] = []
    sentence_start = True
    opener = True
    pending: list[str] = []  # connectors waiting for the next capitalised word

    def close() -> None:
        nonlocal current, pending
        if current:
            runs.append((current, opener))
        current, pending = [], []

    for tok in tokens:
        if not tok[0].isalnum():
            if tok.startswith(".") and current and not pending and len(current[-1]) == 1 and current[-1].isupper():
                continue  # an initial: "E. B. White", "Harris W. Fawell"
            close()
            sentence_start = tok.strip() in (".", "!", "?", ":", '"', "\u201c", "(", "`") or sentence_start and not tok.strip()
            continue
        word = tok[:-2] if tok.endswith(("'s", "\u2019s")) and len(tok) > 2 else tok
        if _name_word(word):
            if current:
                current += pending + [word]
                pending = []
            else:
                opener = sentence_start
                current = [word]
        elif current and word.casefold() in _CONNECTORS and len(pending) < 2:
            pending.append(word)
        else:
            close()
        sentence_start = False
        if tok != word:  # a possessive ends the name: "Hank Snow's wife"
            close()
    close()
    return runs


def mentions(text: str) -> list[str]:
    """Entity keys a text mentions: capitalised names, their sub-names, and quoted titles."""
    found: list[str] = []
    for words, opener in _spans(text):
        while words and words[0].casefold() in _STOP:  # "The", "In", "He" opening a sentence
            words, opener = words[1:], False
        while words and words[-1].casefold() in _CONNECTORS:
            words = words[:-1]
        if not words or len(words) > MAX_SPAN_WORDS:
            continue
        caps = [i for i, w in enumerate(words) if w.casefold() not in _CONNECTORS]
        if len(caps) == 1 and (words[0].casefold() in _STOP or opener and len(words[0]) < 4):
            continue
        found.append(" ".join(words))
        if len(caps) > 1:  # sub-names: "Hank Snow" -> "Hank", "Snow"; "University of Copenhagen" -> "Copenhagen"
            for i in range(len(caps)):
                for j in range(i, len(caps)):
                    if j > i and (i, j) != (0, len(caps) - 1):  # single words of a longer name are too ambiguous
                        part = words[caps[i] : caps[j] + 1]
                        if part[0].casefold() not in _STOP:
                            found.append(" ".join(part))
    for m in _QUOTED.finditer(text):
        quoted = next(g for g in m.groups() if g is not None).strip()
        if quoted and len(quoted.split()) <= MAX_QUOTED_WORDS and _is_cap(quoted):
            found.append(quoted)
    return _keys(found)


def extract(title: str, text: str) -> ChunkEntities:
    """The entities a chunk of a document titled ``title`` is about, and those it mentions."""
    about = set(title_keys(title))
    for heading in headings(text):
        about.update(title_keys(heading))
    mentioned = set(mentions(text)) - about
    return ChunkEntities(tuple(sorted(about)), tuple(sorted(mentioned)))


def query_entities(query: str) -> list[str]:
    """Entity keys a question names (the same rules as a passage's mentions)."""
    return mentions(query)
