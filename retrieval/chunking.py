"""Pure text chunking: paragraphs first, then sentences, with sentence-level overlap.

Every chunk is an exact slice of the input (``text[start:end]``), so offsets can
be used for citations. No I/O happens here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = ["TextChunk", "split_sentences", "chunk_text", "content_hash"]


@dataclass(frozen=True)
class TextChunk:
    """A chunk of a document; ``text == source[start:end]``."""

    text: str
    start: int
    end: int
    position: int


# Sentence end: terminal punctuation, optional closing quotes/brackets, whitespace,
# then (looked ahead) an optional opening quote/bracket and a capital or digit.
_BOUNDARY = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(\s+)(?=[\"'\u201c\u2018(\[]?[A-Z0-9\u00c0-\u00d6\u00d8-\u00de])")
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")
_NON_SPACE = re.compile(r"\S")
_UP_TO_LAST_SPACE = re.compile(r".*\s", re.DOTALL)
_INITIALS = re.compile(r"(?:[A-Za-z]\.)+")  # "J.", "U.S.", "e.g.", "i.e."
_ABBREVIATIONS = frozenset(
    "mr. mrs. ms. dr. prof. st. jr. sr. vs. etc. cf. al. fig. approx. dept. esp. "
    "gen. gov. lt. col. sgt. capt. rev. mt. ft. jan. feb. mar. apr. jun. jul. "
    "aug. sep. sept. oct. nov. dec.".split()
)
_OPENERS = "\"'\u201c\u2018(["


def content_hash(*parts: str) -> str:
    """Return the first 32 hex chars of sha256 over ``parts`` joined with ``\\x1f``."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` to exclude leading/trailing whitespace (may become empty)."""
    piece = text[start:end]
    stripped = piece.lstrip()
    start += len(piece) - len(stripped)
    return start, start + len(stripped.rstrip())


def _is_abbreviation(text: str, dot: int) -> bool:
    """True if the '.' at index ``dot`` ends an abbreviation or an initial."""
    lo = max(0, dot - 24)
    token = text[lo : dot + 1].split()[-1].lstrip(_OPENERS)
    return token.lower() in _ABBREVIATIONS or _INITIALS.fullmatch(token) is not None


def _sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = start
    for m in _BOUNDARY.finditer(text, start, end):
        punct_end = m.start(1)
        last_punct = text[m.start() : punct_end].rstrip("\"'\u201d\u2019)]")
        if last_punct.endswith(".") and len(last_punct) == 1 and _is_abbreviation(text, m.start()):
            continue
        s, e = _strip(text, cursor, punct_end)
        if s < e:
            spans.append((s, e))
        cursor = m.end()
    s, e = _strip(text, cursor, end)
    if s < e:
        spans.append((s, e))
    return spans


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return ``(start, end)`` spans of sentences, stripped, covering all non-whitespace text."""
    return _sentence_spans(text, 0, len(text))


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = 0
    for m in _PARAGRAPH_BREAK.finditer(text):
        s, e = _strip(text, cursor, m.start())
        if s < e:
            spans.append((s, e))
        cursor = m.end()
    s, e = _strip(text, cursor, len(text))
    if s < e:
        spans.append((s, e))
    return spans


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Split a stripped span longer than ``max_chars`` at whitespace (hard split if none)."""
    pieces: list[tuple[int, int]] = []
    pos = start
    while end - pos > max_chars:
        m = _UP_TO_LAST_SPACE.match(text, pos, pos + max_chars + 1)
        cut = m.end() - 1 if m else pos + max_chars
        s, e = _strip(text, pos, cut)
        pieces.append((s, e))
        nxt = _NON_SPACE.search(text, cut, end)
        if nxt is None:  # pragma: no cover - span is stripped, so text remains
            return pieces
        pos = nxt.start()
    pieces.append((pos, end))
    return pieces


@dataclass(frozen=True)
class _Segment:
    start: int
    end: int
    whole_sentence: bool  # only whole sentences may be repeated as overlap


@dataclass(frozen=True)
class _Atom:
    """An unsplittable group of segments; ``fresh`` atoms start a new chunk."""

    segments: tuple[_Segment, ...]
    fresh: bool

    @property
    def end(self) -> int:
        return self.segments[-1].end


def _atoms(text: str, max_chars: int) -> list[_Atom]:
    atoms: list[_Atom] = []
    for p_start, p_end in _paragraph_spans(text):
        sentences = _sentence_spans(text, p_start, p_end)
        if p_end - p_start <= max_chars:  # a short paragraph is never split
            segs = tuple(_Segment(s, e, True) for s, e in sentences)
            atoms.append(_Atom(segs, fresh=False))
            continue
        first = True
        for s, e in sentences:
            if e - s <= max_chars:
                atoms.append(_Atom((_Segment(s, e, True),), fresh=first))
            else:
                for i, (ps, pe) in enumerate(_split_long(text, s, e, max_chars)):
                    atoms.append(_Atom((_Segment(ps, pe, False),), fresh=first and i == 0))
            first = False
    return atoms


def _overlap(prev: list[_Segment], next_end: int, max_chars: int, overlap_chars: int) -> list[_Segment]:
    """Trailing whole sentences of ``prev`` (never all of it) that fit before ``next_end``."""
    i = len(prev)
    last_end = prev[-1].end
    while i > 1:
        seg = prev[i - 1]
        if not seg.whole_sentence or last_end - seg.start > overlap_chars or next_end - seg.start > max_chars:
            break
        i -= 1
    return prev[i:]


def chunk_text(text: str, max_chars: int = 800, overlap_chars: int = 120) -> list[TextChunk]:
    """Split ``text`` into chunks of at most ``max_chars`` characters.

    Paragraphs (blank-line separated) that fit are kept whole and packed together;
    longer paragraphs are packed sentence by sentence, and sentences longer than
    ``max_chars`` are split at whitespace. Consecutive chunks share trailing whole
    sentences of the previous chunk totalling at most ``overlap_chars``.
    """
    if max_chars < 50:
        raise ValueError(f"max_chars must be >= 50, got {max_chars}")
    if not 0 <= overlap_chars < max_chars // 2:
        raise ValueError(f"overlap_chars must be >= 0 and < max_chars // 2 ({max_chars // 2}), got {overlap_chars}")
    groups: list[list[_Segment]] = []
    current: list[_Segment] = []
    has_new = False  # whether `current` holds anything beyond the carried-over overlap
    for atom in _atoms(text, max_chars):
        if has_new and (atom.fresh or atom.end - current[0].start > max_chars):
            groups.append(current)
            current = _overlap(current, atom.end, max_chars, overlap_chars) if overlap_chars else []
        current = current + list(atom.segments)
        has_new = True
    if has_new:
        groups.append(current)
    return [TextChunk(text[g[0].start : g[-1].end], g[0].start, g[-1].end, i) for i, g in enumerate(groups)]
