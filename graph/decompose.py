"""A rule-based planner: nested descriptions in a question become chained sub-questions. Pure.

"Who manages the team that owns the billing service?" names its answer through a
description ("the team that owns the billing service") that must be resolved first. The
planner finds the innermost description (a relative clause, "the R of X" with a relational
noun R, or "X's R"), asks for it as a sub-question, puts ``#k`` in its place and repeats
until the question is flat. Sub-questions use only the question's own words plus ``#k``,
so they cannot invent entities or copy an example; the result is a chain (or a tree) in
dependency order, ready for :func:`graph.dag.repair_plan`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graph.plan import Plan, PlanNode
from graph.words import BASE_VERBS, PERSON_RELATIONS, RELATION_NOUNS, RELATION_PHRASES

_REL_PRONOUN = r"(?:that|which|who|whom|whose|where|when|(?:in|at|on|for|by|from|of|with|to|under|after) (?:which|whom))"
_DET = r"(?:the|a|an)"
_FUNCTION = r"(?:of|in|on|at|to|for|by|with|from|and|or|the|a|an|is|was|are|were|that|which|who|where|when|whose|whom)"
_NOUN = rf"(?!{_FUNCTION}\b)[a-z][\w-]*"
_CAPWORD = r"[A-Z0-9][\w'’.&-]*"
_NAME = rf"(?:#\d+|{_CAPWORD}(?:,?\s+(?:(?:of|the|de|du|von|van|and|on|in|for|a|to|with|&)\s+)*{_CAPWORD})*)"
_AUX = r"(?:is|are|was|were|did|does|do|has|have|had|can|could|will|would)"
_NOT_NOUNS = frozenset("s the a an best most least own first last new old former many much more other same only".split())
# nouns that end a name's phrase ("the Atlas service"): the verb comes after them
_NAME_NOUNS = (
    "service|team|company|band|river|university|college|school|airport|album|film|song|series|book|club|cluster|system"
    "|project|group|station|museum|church|party|building|bridge|street|road|county|city|state|province|island|lake|mountain"
)
_CLAUSE_END = r",\s+(?![A-Z])|[;?]|$"
_ROLE_FOR = r"(?:main\s+|first\s+|usual\s+)?(?:contact|contact person|owner|lead|manager|person responsible|point of contact)"
_ROLE_FOR_END = r"\s+(?:is|was|are|were|based|born|located|work|works|report|reports|live|lives|sit|sits|do|does|did)\b|\s*[?,.]|$"
# a reduced relative clause: "the film shot in Gdynia", "the prize won by X", "the university attended by X"
_REDUCED = (
    r"containing|including|featuring|located|based|founded|owned|run|led|named|called|born|produced|made|written|directed"
    r"|shot|set|built|won|held|sold|given|taken|where|[a-z]{3,}ed(?=\s+(?:by|in|at|on|from|for|with|as|into|under)\b)"
)
_PREPOSITIONS = frozenset("to on in at for with from about of by".split())
# a capitalised modifier, common nouns, then the name: "Swedish | performance artist Ayesha"
_MODIFIED_NAME = re.compile(rf"((?:\s+{_NOUN}){{1,3}})\s+({_NAME})")
# the base-form verb of a do-support question, after the name that ends its subject: "Who did
# the actor who starred in "Due South" | have a child with?"
_BASE_VERB_AFTER_NAME = re.compile(rf"(?:\b[A-Z][\w'’.-]*|[\"”’)]|\b\d+)(\s+)(?=(?:{'|'.join(sorted(BASE_VERBS))})\s)")
# the main verb that ends "Where was X born?", "When was X founded?"
_PARTICIPLE = re.compile(r"[a-z]+(?:ed|en)|born|built|made|held|found|sold|shot|set|run|known|led|won|begun|hit|put|sung")


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    question: str  # the sub-question that asks for the description


def decompose(question: str, max_nodes: int = 5) -> Plan:
    """A chain of sub-questions for the nested descriptions of ``question`` (one node when it has none).

    A question asked in two parts ("What does the Vision Team own and who leads it?") becomes
    both parts' plans, its pronoun resolved, with ``parts`` naming the node that answers each."""
    text = re.sub(r"#(?=\d)", "no. ", " ".join(question.strip().split()))  # "#7" typed by the user is not a reference
    parts = _coordinated(text)
    if parts is not None and max_nodes >= 2:
        first = decompose(parts[0], max_nodes - 1)
        if not first.parts:
            second = decompose(parts[1], max_nodes - len(first.nodes))
            joined = [*first.nodes, *_shifted(second.nodes, len(first.nodes))]
            if len(joined) <= max_nodes and not second.parts:
                return Plan(nodes=joined, parts=[len(first.nodes), len(joined)])
    return _chain(text, max_nodes)


def _chain(text: str, max_nodes: int) -> Plan:
    text = _SENTENCE_ARTICLE.sub(lambda m: m.group(0).lower(), text)  # "The director of X ..." is a description too
    asked_in_clause = _asked_in_clause(text) if max_nodes >= 2 else None
    if asked_in_clause is not None:  # "... a painter known for his depictions of what?": first the painter
        described, then = asked_in_clause
        if described is None:  # "X is a consultant who has worked with ...": X is the one described
            text = then
        else:
            first = decompose(described, max_nodes - 1).nodes
            last = len(first)
            return Plan(nodes=[*first, PlanNode(id=last + 1, question=then.replace("#0", f"#{last}"), depends_on=[last])])
    nodes: list[PlanNode] = []
    while len(nodes) < max_nodes - 1:
        found = _innermost(text)
        if found is None:
            break
        before = re.sub(r"\b(?:[Tt]he|[Aa]n?)\s+$", "", text[: found.start])  # "the lead singer of X": the article goes too
        rest = f"{before}#{len(nodes) + 1}{text[found.end :]}"
        if _is_empty(rest):  # the description is the whole question: it is the last node
            break
        node_id = len(nodes) + 1
        nodes.append(PlanNode(id=node_id, question=found.question, depends_on=_refs(found.question, node_id)))
        text = rest
    nodes.append(PlanNode(id=len(nodes) + 1, question=_as_question(text), depends_on=_refs(text, len(nodes) + 1)))
    return Plan(nodes=nodes)


_SECOND_PART = re.compile(
    r"^(?P<first>.+?\S),?\s+and\s+(?P<second>(?:(?:in|on|at|from|for|by|to|with)\s+)?(?:who|whom|what|which|where|when|how)\b.+)$"
)
_PART_ANSWER = "Qpartanswer"  # stands for the first part's answer while the second part is decomposed
_PERSON_PRONOUN = re.compile(r"\b(?:that|this|the same)\s+(?:person|man|woman)\b|\b(?:he|she|him|his|her|they|them|their)\b")
_THING_PRONOUN = re.compile(r"\b(?:it|its)\b")
_SUBJECT = re.compile(rf"(?:\bthe\s+)?{_CAPWORD}(?:\s+(?:of\s+|the\s+)*{_CAPWORD})*(?:\s+(?:{_NAME_NOUNS}))?")
_OBJECT_NEXT = re.compile(r"\s*(?:$|[,.?!]|(?:to|for|with|from|in|on|at|by|as|about)\b)")


def _coordinated(text: str) -> tuple[str, str] | None:
    """The two questions of "What does the Vision Team own and who leads it?": ("What does the
    Vision Team own?", "Who leads the Vision Team?"). After a "who" part, "he", "they" or "that
    person" is that part's answer; otherwise a pronoun is the first part's subject. None when the
    question is not two questions joined by "and", or a pronoun has nothing to stand for."""
    m = _SECOND_PART.match(text.rstrip(" ?"))
    if m is None or not _WH_START.match(m.group("first")):
        return None
    first, second = m.group("first"), m.group("second")
    answer_pronoun = _PERSON_PRONOUN if re.match(r"(?i)who\b", first) else None
    if answer_pronoun is not None and answer_pronoun.search(second):
        second = answer_pronoun.sub(lambda p: _referent(p, _PART_ANSWER), second, count=1)
    elif _PERSON_PRONOUN.search(second) or _THING_PRONOUN.search(second):
        subject = _SUBJECT.search(first, first.index(" ") if " " in first else len(first))
        if subject is None:
            return None
        pronoun = _THING_PRONOUN if _THING_PRONOUN.search(second) else _PERSON_PRONOUN
        second = pronoun.sub(lambda p: _referent(p, subject.group(0)), second, count=1)
    return f"{first}?", f"{second[0].upper()}{second[1:]}?"


def _referent(pronoun: re.Match[str], name: str) -> str:
    """``name`` in the pronoun's place, possessive for "its", "his", "their" and a "her" before a noun."""
    word = pronoun.group(0).lower()
    if word in ("its", "his", "their") or (word == "her" and not _OBJECT_NEXT.match(pronoun.string, pronoun.end())):
        return f"{name}'s"
    return name


def _shifted(nodes: list[PlanNode], by: int) -> list[PlanNode]:
    """The second part's nodes after the first part's ``by`` nodes; its stand-in for the first answer is ``#by``."""
    out = []
    for n in nodes:
        question = re.sub(r"#(\d+)\b", lambda m: f"#{int(m.group(1)) + by}", n.question).replace(_PART_ANSWER, f"#{by}")
        deps = [d + by for d in n.depends_on] + ([by] if f"#{by}" in question and by not in n.depends_on else [])
        out.append(PlanNode(id=n.id + by, question=question, depends_on=sorted(deps)))
    return out


# a question that opens with an article before a common noun ("The director of X was born where?"),
# not before a name ("The Exies")
_SENTENCE_ARTICLE = re.compile(r"^(?:The|A|An)(?=\s+[a-z])")
_WH_START = re.compile(r"^\s*(?:(?:in|on|at|from|for|by|to|of|with|during)\s+)?(?:what|which|who|whom|whose|where|when|why|how)\b", re.I)
# what follows an article: "a University which also has a second campus in which city?" (a
# capitalised noun only after "a"/"an": "the Beatles" is a name)
_CLAUSE_QUESTION = re.compile(
    r"(?:(?:a|an)\s+(?P<noun_a>(?:[\w'’-]+\s+){0,3}?[A-Za-z][\w-]*)|the\s+(?P<noun>(?:[\w'’-]+\s+){0,3}?[a-z][\w-]*)),?\s+"
    r"(?:whose\s+(?P<relation>[a-z][\w-]*(?:\s+[a-z][\w-]*)?)\s+(?:is|was|are|were)\s+(?P<asked>whom?|what)"
    r"|(?P<pronoun>who|that|which)\s+(?P<clause>\S+\s.+?)"
    r"|(?P<reduced>(?:known|famous|noted|best known)\s+(?:for|as)\s+.+?)"
    r"|(?P<participle>(?:born|based|located|headquartered|situated|founded|formed|established|built|raised|educated"
    r"|released|published|developed|manufactured)\s+.+?))\s*\?$"
)
_ENDS_ASKING = re.compile(r"\b(?:what|whom|who|where|when|(?:what|which)\s+(?:[\w-]+\s+){0,2}[\w-]+|how\s+(?:many|much|old|long))\s*\?$")
_COPULA_END = re.compile(r"^(?P<subject>.+?),?\s+(?:is|was|are|were)$")


def _asked_in_clause(text: str) -> tuple[str | None, str] | None:
    """A statement-like question whose question word sits in a clause about something it only
    describes: "X is in the hand of a German musician whose godfather is whom?" asks first
    "X is in the hand of what German musician?", then "Who is the godfather of #0?"; "... is
    operated by a hydrologist who reports to whom?" then "#0 reports to whom?"; "... by a publisher born
    in which city?" then "#0 was born in which city?". When the
    description is the subject's own ("Scott Howell is a consultant who has worked with the
    mayor of what city?"), there is nothing to find first: (None, "Scott Howell has worked with
    the mayor of what city?"). None for questions that start with a question word (the other
    rules take those)."""
    if _WH_START.match(text) or not _ENDS_ASKING.search(text):
        return None
    for article in reversed(list(re.finditer(r"\s(?=(?:a|an|the)\s)", text))):  # the last described thing first
        m = _CLAUSE_QUESTION.match(text, article.end())
        head = text[: article.start()].rstrip(",")
        if m is None or _ENDS_ASKING.search(head + "?"):
            continue
        if m.group("pronoun") and re.match(r"[A-Z0-9]|(?:the|a|an|his|her|its|their|he|she|it|they|we|you|i)\b", m.group("clause")):
            continue  # "a war that Italy entered when": the described thing is the clause's object, not its subject
        return _clause_hops(m, head)
    return None


def _clause_hops(m: re.Match[str], head: str) -> tuple[str | None, str]:
    """The hops of ``_asked_in_clause`` for a match of ``_CLAUSE_QUESTION`` after ``head``."""
    copula = _COPULA_END.match(head)
    subject = copula.group("subject") if copula else "#0"
    if m.group("relation"):
        wh = "Who" if m.group("asked").startswith("who") else "What"
        then = f"{wh} is the {m.group('relation')} of {subject}?"
    elif m.group("pronoun"):
        then = f"{subject} {m.group('clause')}?"
    elif m.group("reduced"):
        then = f"{subject} is {m.group('reduced')}?"
    else:  # "... by a publisher born in which city?"
        participle = m.group("participle")
        then = f"{subject} {'is' if participle.startswith(('based', 'located', 'headquartered', 'situated')) else 'was'} {participle}?"
    return (None, then) if copula else (f"{head} what {m.group('noun') or m.group('noun_a')}?", then)


def _refs(text: str, node_id: int) -> list[int]:
    """The earlier nodes a sub-question cites (a "#7" the user typed is just text)."""
    return sorted({int(k) for k in re.findall(r"#(\d+)\b", text) if 1 <= int(k) < node_id})


def _is_empty(text: str) -> bool:
    """True when nothing but question words, auxiliaries and one ``#k`` is left."""
    words = re.findall(r"#\d+|\w+", text.lower())
    filler = {"who", "what", "which", "is", "was", "are", "were", "the", "name", "of", "called"}
    return sum(1 for w in words if w not in filler) <= 1


def _as_question(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith("?") else text.rstrip(".") + "?"


def _wh(noun: str) -> str:
    return "Who" if noun.split()[-1].lower() in PERSON_RELATIONS else "What"


def _candidates(text: str) -> list[_Found]:
    """Every description found in ``text``; the caller takes the innermost."""
    found: list[_Found] = []
    subject_at = _subject_start(text)
    verb_at = _main_verb_at(text)
    # X's R  ("Hello Love's performer", "Corey Taylor's city of birth")
    for m in _overlapping(
        rf"({_NAME})['’]s?\s+((?:main |first |current |original |lead )?(?:{'|'.join(RELATION_PHRASES)}|{_NOUN}))\b", text
    ):
        owner, rel = m.group(1).strip(), m.group(2)
        if re.search(r"[A-Z][\w'’.&-]*,?\s+$", text[: m.start()]):
            continue  # starts inside a longer name ("Kenji's" of "Akinoshu Kenji's")
        if not _looks_like_name(owner) or rel.split()[-1] in _NOT_NOUNS or rel.split()[-1].endswith("est"):
            continue
        found.append(_Found(m.start(), m.end(), f"{_wh(rel)} is the {rel} of {owner}?"))
    # the R of X  (R relational)
    rel_alt = "|".join(sorted(RELATION_NOUNS, key=len, reverse=True))
    phrases = "|".join(RELATION_PHRASES)
    # one modifier may come first: "the current president", "the medical director", "the chief executive"
    relation = rf"(?:\bthe\s+((?:(?!{_FUNCTION}\b)[a-z][\w-]*\s+)?(?:{phrases}|{rel_alt}))|\b({phrases}))"
    # the name may come after a common noun or two: "the director of the 1994 film Red Harbor", "... of the score of X"
    described = rf"((?:the\s+)?(?:(?:(?!{_FUNCTION}\b)[a-z][\w-]*|\d{{4}})\s+(?:of\s+(?:the\s+)?)?){{0,2}}?)"
    for m in _overlapping(rf"{relation}\s+of\s+{described}(?!\d{{4}}\s+[a-z])({_NAME})", text):
        rel = m.group(1) or m.group(2)
        target = _trim_name(m.group(4))
        if not target:
            continue
        end = m.start(4) + len(target)
        of = m.group(3) if m.group(3).strip() not in ("", "the") else ""
        modified = _MODIFIED_NAME.match(text, end) if " " not in target else None
        if modified:  # "the birth place of the Swedish performance artist Ayesha": "Swedish" modifies the name
            of, target = f"{m.group(3)}{target}{modified.group(1)} ", _trim_name(modified.group(2))
            end = modified.start(2) + len(target)
        found.append(_Found(m.start(), end, f"{_wh(rel)} is the {rel} of {of}{target}?"))
    # the role for a topic ("the contact for IT equipment", "the owner for payroll")
    for m in _overlapping(rf"\bthe\s+({_ROLE_FOR})\s+for\s+((?:[\w'’-]+\s+){{0,3}}?[\w'’-]+)(?={_ROLE_FOR_END})", text):
        found.append(_Found(m.start(), m.end(2), f"Who is the {m.group(1)} for {m.group(2)}?"))
    # the N that/which/where ... (relative clause) and reduced forms ("the country Signmark is from")
    for m in _overlapping(rf"\b{_DET}\s+((?:{_NOUN}\s+){{0,2}}?{_NOUN})\s+({_REL_PRONOUN})\s+(.+?)(?={_CLAUSE_END})", text):
        noun, pron, clause = m.group(1), m.group(2), m.group(3).strip()
        if noun.split()[-1] in {"one", "same", "way", "time", "first", "most"} or not clause:
            continue
        if " " in pron and len(re.findall(r"\b(?:who|whom|whose|what|which|where|when|how)\b", text.lower())) == 1:
            continue  # "a guest appearance by which rapper?": the question's own question word, not a relative
        in_subject = subject_at >= 0 and m.start() >= subject_at
        stranded = _STRANDED.match(clause) if in_subject and _OBJECT_RELATIVE.match(clause) else None
        if stranded:  # "the person that Vega reports to join the company": the clause ends at its preposition
            clause = stranded.group(1)
        elif m.start() == 0 and verb_at > m.start(3):  # "the team that is led by X | is based where?"
            clause = text[m.start(3) : verb_at].strip()
        else:
            clause = _trim_clause(clause, in_subject, _at_end(text, m.start(3) + len(clause)), _do_support(text))
        end = m.start(3) + len(clause)
        found.append(_Found(m.start(), end, _relative_question(noun, pron, clause)))
    # a description set off by commas: "a retired Orlando Magic player, who missed the 2003 season, | host?"
    for m in _overlapping(rf"\b{_DET}\s+((?:(?:{_NOUN}|[A-Z][\w'’-]*)\s+){{0,3}}?{_NOUN}),\s+(?:who|which)\s+([^,;?]+?),\s+", text):
        found.append(_Found(m.start(), m.end(2) + 1, f"Which {m.group(1)} {m.group(2)}?"))  # the closing comma goes too
    for m in _overlapping(
        rf"\bthe\s+((?:{_NOUN}\s+){{0,1}}{_NOUN})\s+((?:[A-Z][\w'’.-]*\s+)+)(is|was|are|were)\s+((?:[a-z]+\s*){{1,3}}?)(?={_CLAUSE_END}|\s+{_AUX}\b)",
        text,
    ):
        noun, subject, verb, tail = m.group(1), m.group(2).strip(), m.group(3), m.group(4).strip()
        if tail and _do_support(text) and _at_end(text, m.end(4)) and subject_at >= 0 and m.start() >= subject_at and len(tail.split()) > 1:
            tail = tail.rsplit(" ", 1)[0]  # "... is part of dissolve?": the last word is the main verb
        if not tail:
            continue
        found.append(_Found(m.start(), m.start(4) + len(tail), f"What is the {noun} {subject} {verb} {tail}?"))
    for m in _overlapping(
        rf"\bthe\s+((?:[A-Z][a-z]+\s+)?(?:{_NOUN}\s+){{0,1}}{_NOUN})\s+((?:{_REDUCED})\b\s+(?!(?:who|whose|which|that)\b).+?)(?={_CLAUSE_END})",
        text,
    ):
        clause = m.group(2).strip()
        finite = re.search(r"\s(?:is|was|are|were|has|had|have)\s", clause)
        if m.start() == 0 and verb_at > m.start(2):  # "the company founded by X | is based where?"
            clause = text[m.start(2) : verb_at].strip()
        elif finite and m.start() > 0 and not clause.startswith("where"):  # "the single that the singer born in 1952 | was most known for"
            clause = clause[: finite.start()]
        else:
            in_subject = subject_at >= 0 and m.start() >= subject_at
            clause = _trim_clause(clause, in_subject, _at_end(text, m.start(2) + len(clause)), _do_support(text))
        noun = m.group(1)
        found.append(_Found(m.start(), m.start(2) + len(clause), f"{_wh(noun)} is the {noun} {clause}?"))
    return found


# the main verb of a statement-like question, just before its last question word: "... | had what
# population", "... | can seat how many people", "... | was born in which city", "... | founded which company"
_LAST_WH = re.compile(r"^.*\s(?:what|which|who|whom|whose|where|when|how)\b")
_VERB_GROUP = re.compile(
    r"(?<=\s)(?:(?:is|was|are|were|has|have|had|can|could|will|would|did|does|do|may|might)\s+)?[a-z][\w-]*\s+"
    r"(?:(?:in|at|on|for|by|from|to|with|of|into|as|under)\s+)?$"
)


def _main_verb_at(text: str) -> int:
    """Where the main verb starts in a question asked as a statement whose subject comes first
    ("the team that is led by X is based where?"); -1 for a question that starts with a question word."""
    if _WH_START.match(text):
        return -1
    wh = _LAST_WH.match(text)  # the last one: an earlier "who" or "where" opens a relative clause
    verb = _VERB_GROUP.search(text, 0, wh.end() - len(wh.group(0).split()[-1])) if wh else None
    return verb.start() if verb else -1


def _subject_start(text: str) -> int:
    """Where the subject starts in a question whose main verb comes last ("When was X taken by ...",
    "What year did X dissolve"); -1 for other questions."""
    low = text.lower()
    m = re.match(
        r"^\s*(?:(?:in|on|at|from|for|by|to|of)\s+)?"
        r"(?:(?:what|which|how many|how much)(?:\s+[\w-]+){0,3}|when|where|why|how|who|whom)\s+(?:did|does|do)\s+",
        low,
    ) or re.match(r"^\s*(?:(?:in|on|at)\s+)?(?:when|where|why|(?:what|which)\s+[\w-]+)\s+(?:was|were|is|are|has|have|had)\s+", low)
    return m.end() if m else -1


def _overlapping(pattern: str, text: str) -> list[re.Match[str]]:
    """Matches starting at every word, overlapping ones included (``re.finditer`` skips the inner
    description of "the person who leads the team that maintains X")."""
    compiled = re.compile(pattern)
    found = []
    for word in re.finditer(r"(?<![\w'’])\w|#", text):
        m = compiled.match(text, word.start())
        if m:
            found.append(m)
    return found


def _innermost(text: str) -> _Found | None:
    """The description that contains no other one (the rightmost start breaks ties), or None."""
    found = [f for f in _candidates(text) if f.end > f.start]
    if not found:
        return None
    inner = [
        f
        for f in found
        if not any(g is not f and f.start <= g.start and g.end <= f.end and (g.start, g.end) != (f.start, f.end) for g in found)
    ]
    pool = inner or found
    return max(pool, key=lambda f: (f.start, -(f.end - f.start)))


# a relative clause whose subject is named ("the person that Marisol Vega reports to"): it describes its object
_OBJECT_RELATIVE = re.compile(r"(?:[A-Z0-9#]|(?:the|a|an|his|her|its|their|he|she|it|they|we|you|i)\b)")
# a clause that ends with a stranded preposition, then the main verb: "Vega reports to | join the company"
_STRANDED = re.compile(r"^(.+?\s(?:to|for|with|on|at|about|from|of|in|by|into|under))\s+(?!(?:the|a|an|his|her|its|their)\b)[a-z][\w-]*\b")


def _relative_question(noun: str, pron: str, clause: str) -> str:
    if pron in ("that", "which") and _OBJECT_RELATIVE.match(clause):  # "the company that Dana works for"
        return f"{_wh(noun)} is the {noun} {pron} {clause}?"
    if pron == "who" or (pron in ("that", "which") and noun.split()[-1] in PERSON_RELATIONS):
        return f"Who {clause}?"
    if pron in ("that", "which"):
        return f"Which {noun} {clause}?"
    return f"{_wh(noun)} is the {noun} {pron} {clause}?"


def _looks_like_name(text: str) -> bool:
    return bool(text) and (text.startswith("#") or text[0].isupper() or text[0].isdigit())


def _trim_name(name: str) -> str:
    """A name runs to its last capitalised word (a lower-case tail is the sentence going on)."""
    words = name.split()
    while words and not (words[-1][0].isupper() or words[-1][0].isdigit() or words[-1].startswith("#")):
        words = words[:-1]
    return " ".join(words).rstrip(",")


def _at_end(text: str, end: int) -> bool:
    return not text[end:].strip(" ?.!")


def _do_support(text: str) -> bool:
    return (
        re.match(
            r"^\s*(?:(?:in|on|at|from|for|by|to|of)\s+)?(?:what|which|when|where|why|how|who|whom)\b[^?]*?\s(?:did|does|do)\s", text.lower()
        )
        is not None
    )


def _trim_clause(clause: str, in_subject: bool, at_end: bool = False, do_support: bool = False) -> str:
    """A description in the subject of "When was the country that produced Fist Power taken by the
    British?" ends with its name; in "... does the team that owns the search service work?" the
    last word is the main verb."""
    if not in_subject:
        return clause
    words = clause.split()
    own_passive = words[-2:-1] in (["is"], ["was"], ["are"], ["were"])  # "the city where X was born": the clause's own verb
    verb_phrase = _BASE_VERB_AFTER_NAME.search(clause) if at_end and do_support else None
    if verb_phrase and len(clause[verb_phrase.start(1) :].split()) > 2:
        return clause[: verb_phrase.start(1)]  # "... in the series "Due South" | have a child with?"
    if at_end and len(words) > 2 and (do_support or (_PARTICIPLE.fullmatch(words[-1]) and not own_passive)):
        # the question's own verb ends it: "... the Lowmoor river gauge report to?", "... the Zephyr engine born?"
        verb = 2 if do_support and words[-1] in _PREPOSITIONS else 1
        return " ".join(words[:-verb])
    m = re.match(
        rf"^(.*?(?:{_NAME})(?:\s+(?:[a-z][\w-]*\s+)?(?:{_NAME_NOUNS}))?)(\s+(?!(?:is|was|are|were|has|had)\b)[a-z][\w-]*(?:\s+[\w-]+)*)$",
        clause,
    )
    if m and re.search(r"[A-Z0-9#]", m.group(1)):
        return m.group(1)
    return clause
