"""What a sentence says a thing is: "X (1934) is an American poet born in Buffalo" -> "American poet". Pure functions.

The reader's ranking uses it to check a candidate against the kind of thing a question asks
for ("what song"), the verdicts to compare two subjects' first sentences ("both American
directors?", "what do A and B have in common?") and to answer "what was X's profession?".
"""

from __future__ import annotations

import re

# where a description ends: punctuation, a relative pronoun, a preposition or a participle that
# starts what the sentence says next ("a song by Korn", "an American poet born in Buffalo")
_ENDS = (
    r"(?=\s*[,;.(:]|\s*$|\s+(?:by|of|in|on|at|from|for|that|which|who|whose|with|and|born|best|known|based|headquartered"
    r"|located|founded|formed|released|written|directed|produced|created|published|developed)\b)"
)
_IS_A = r"(?:is|was|are|were)\s+(?:an?|the|one of the)\s+((?:[\w'’-]+\s+){0,5}?[\w'’-]+)" + _ENDS


def described_as(sentence: str, subject: str | None = None) -> str | None:
    """What ``sentence`` says ``subject`` is, when the sentence opens with it (a bracket may
    follow: "Navvulata (English: Joke) is a 1998 Telugu comedy film" -> "1998 Telugu comedy
    film"); without a subject, what the sentence's first "is a ..." says. None when it says no
    such thing ("X was released in 1999")."""
    if subject is None:
        m = re.search(r"\b" + _IS_A, sentence)
    else:
        m = re.match(rf"^\W*{re.escape(subject)}\W*(?:\([^()]*\)\s*)?" + _IS_A, sentence)
    return m.group(1).strip("\"'") if m else None
