"""The update stream of ``bench_updates.py``: MuSiQue hop paragraphs, half of them edited. Pure functions.

Every gold hop whose supporting paragraph contains the hop's answer becomes a paragraph of the
stream; a seeded half (EDIT) gets a newer version with the answer replaced by another gold
answer of the same shape, the other half (COPY) an unedited copy.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

OLD_FROM = datetime(2020, 1, 1, tzinfo=timezone.utc)
NEW_FROM = datetime(2024, 1, 1, tzinfo=timezone.utc)
BEFORE = datetime(2022, 1, 1, tzinfo=timezone.utc)  # "as of before the edit"
SEED = 13
RESOLVER = "benchmark"  # who resolves the reviews of the edited paragraphs


# --- the stream ---------------------------------------------------------------------------
@dataclass
class Case:
    """One paragraph of the stream: its original, and its newer version (edited or copied)."""

    i: int  # index: doc ids orig/<i> and edit/<i> or copy/<i>
    role: str  # "edit" or "copy"
    qid: str
    hop: int  # 1-based hop in the question decomposition
    question: str  # the hop question with #k replaced by earlier hops' gold answers
    answer: str  # the hop's gold answer (in the original paragraph)
    title: str
    text: str  # original paragraph
    new_text: str  # edited version, or an unedited copy
    replacement: str | None = None  # the answer in the edited version
    occurrences: int = 0  # how many times the answer was replaced

    @property
    def new_doc(self) -> str:
        return f"{self.role}/{self.i}"

    @property
    def orig_doc(self) -> str:
        return f"orig/{self.i}"


@dataclass
class StreamInfo:
    hops: int = 0
    answer_not_in_text: int = 0
    duplicate_paragraph: int = 0
    no_shape: int = 0  # answer neither a number nor capitalised: no "same kind" replacement defined
    no_whole_word: int = 0  # answer occurs only inside a longer word
    no_replacement: int = 0  # edit hop without a same-kind candidate (dropped)
    eligible: int = 0
    edit_total: int = 0
    copy_total: int = 0
    shapes: dict = field(default_factory=dict)


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def shape(answer: str) -> tuple | None:
    """("number", digits, decimal) for pure numbers/years, ("name", words) for capitalised answers without digits, else None."""
    a = answer.strip()
    if _NUMBER.fullmatch(a):
        return ("number", len(re.sub(r"\D", "", a)), "." in a)
    if a[:1].isupper() and not re.search(r"\d", a):  # a date such as "February 4, 1948" is neither
        return ("name", len(a.split()))
    return None


def same_kind(a: tuple, b: tuple | None) -> bool:
    if b is None or a[0] != b[0]:
        return False
    return a[0] == "number" or abs(a[1] - b[1]) <= 1


def whole_word(answer: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(answer.strip()) + r"(?!\w)", re.IGNORECASE)


def resolve_question(text: str, answers: list[str]) -> str:
    """Replace #k (an earlier hop's answer) by that hop's gold answer."""

    def fill(m: re.Match[str]) -> str:
        k = int(m.group(1))
        return answers[k - 1] if 1 <= k <= len(answers) else m.group()

    return " ".join(re.sub(r"#(\d+)", fill, text).split())


def build_stream(questions: list[dict], seed: int = SEED) -> tuple[list[Case], list[Case], StreamInfo]:
    info = StreamInfo()
    pool = sorted({h["answer"].strip() for q in questions for h in q["question_decomposition"] if h["answer"].strip()})
    seen: set[tuple[str, str]] = set()
    eligible: list[dict] = []
    for q in questions:
        answers = [h["answer"].strip() for h in q["question_decomposition"]]
        for n, h in enumerate(q["question_decomposition"], 1):
            info.hops += 1
            para = q["paragraphs"][h["paragraph_support_idx"]]
            answer, text = h["answer"].strip(), para["paragraph_text"]
            if not answer or answer.lower() not in text.lower():
                info.answer_not_in_text += 1
                continue
            key = (para["title"], text)
            if key in seen:
                info.duplicate_paragraph += 1
                continue
            seen.add(key)
            if shape(answer) is None:
                info.no_shape += 1
                continue
            if not whole_word(answer).search(text):
                info.no_whole_word += 1
                continue
            eligible.append(
                {
                    "qid": q["id"],
                    "hop": n,
                    "question": resolve_question(h["question"], answers[: n - 1]),
                    "answer": answer,
                    "title": para["title"],
                    "text": text,
                }
            )
    info.eligible = len(eligible)
    order = list(range(len(eligible)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    edits, copies = [], []
    for rank, idx in enumerate(order):
        e = eligible[idx]
        if rank < half:
            rng = random.Random(f"{seed}:{e['qid']}:{e['hop']}")
            replacement = pick_replacement(e["answer"], e["text"], pool, rng)
            if replacement is None:
                info.no_replacement += 1
                continue
            new_text, count = whole_word(e["answer"]).subn(lambda _m, r=replacement: r, e["text"])
            edits.append(Case(0, "edit", new_text=new_text, replacement=replacement, occurrences=count, **e))
        else:
            copies.append(Case(0, "copy", new_text=e["text"], **e))
    info.edit_total, info.copy_total = len(edits), len(copies)
    info.shapes = dict(Counter(f"{shape(c.answer)[0]}" for c in edits + copies))  # type: ignore[index]
    return edits, copies, info


def pick_replacement(answer: str, text: str, pool: list[str], rng: random.Random) -> str | None:
    """Another gold answer of the same shape that is not in the paragraph and not a variant of ``answer``."""
    kind = shape(answer)
    assert kind is not None
    low, lowtext = answer.lower(), text.lower()
    cands = [
        c
        for c in pool
        if same_kind(kind, shape(c)) and c.lower() != low and c.lower() not in lowtext and low not in c.lower() and c.lower() not in low
    ]
    if kind[0] == "number":  # years for years, integers for integers, where possible
        closer = [c for c in cands if shape(c) == kind]
        cands = closer or cands
    return rng.choice(cands) if cands else None
