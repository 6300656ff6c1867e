"""Tests for retrieval.chunking."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.chunking import TextChunk, chunk_text, content_hash, split_sentences


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


# --- split_sentences -------------------------------------------------------


def test_split_sentences_basic_punctuation() -> None:
    text = 'It rained. Did it stop? Yes! "Quoted." 42 is a number.'
    assert sentences(text) == ["It rained.", "Did it stop?", "Yes!", '"Quoted."', "42 is a number."]


@pytest.mark.parametrize(
    "text",
    [
        "Dr. Smith met Mr. Jones and Mrs. Brown on Main St. near the park.",
        "Use a tool, e.g. Python, i.e. a language, etc. and more.",
        "The U.S. Army grew by 3.5 percent in 1990.",
        "The author J. R. R. Tolkien wrote it.",
    ],
)
def test_split_sentences_does_not_split_abbreviations(text: str) -> None:
    assert sentences(text) == [text]


def test_split_sentences_requires_capital_or_digit_after() -> None:
    assert sentences("See fig. lower case continues. Next one.") == [
        "See fig. lower case continues.",
        "Next one.",
    ]


def test_split_sentences_spans_are_stripped_and_empty_input() -> None:
    text = "  First one.   Second one.  \n"
    assert split_sentences(text) == [(2, 12), (15, 26)]
    assert split_sentences("") == []
    assert split_sentences(" \n\t ") == []


# --- chunk_text: exact examples ---------------------------------------------


def test_empty_and_whitespace_input() -> None:
    assert chunk_text("") == []
    assert chunk_text("  \n\n \t ") == []


def test_single_chunk_is_stripped() -> None:
    assert chunk_text("  Hello world.  \n") == [TextChunk("Hello world.", 2, 14, 0)]


def test_small_paragraphs_are_packed_with_source_separators() -> None:
    text = "First para here.\n\nSecond para text.\n\nThird one."
    assert chunk_text(text, max_chars=50, overlap_chars=20) == [TextChunk(text, 0, 47, 0)]


def test_paragraph_that_fits_is_never_split() -> None:
    para1 = "Alpha beta gamma. Delta epsilon."  # 32 chars
    para2 = "Zeta eta theta. Iota kappa lambda."  # 34 chars
    text = f"{para1}\n\n{para2}"
    assert chunk_text(text, max_chars=50, overlap_chars=0) == [
        TextChunk(para1, 0, 32, 0),
        TextChunk(para2, 34, 68, 1),
    ]


def test_sentences_are_packed_with_overlap() -> None:
    text = "One two three. Four five six. Seven eight nine. Ten eleven twelve. Thirteen."
    assert chunk_text(text, max_chars=50, overlap_chars=20) == [
        TextChunk("One two three. Four five six. Seven eight nine.", 0, 47, 0),
        TextChunk("Seven eight nine. Ten eleven twelve. Thirteen.", 30, 76, 1),
    ]
    assert chunk_text(text, max_chars=50, overlap_chars=0) == [
        TextChunk("One two three. Four five six. Seven eight nine.", 0, 47, 0),
        TextChunk("Ten eleven twelve. Thirteen.", 48, 76, 1),
    ]


def test_long_sentence_split_at_whitespace() -> None:
    long_para = "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo."
    text = "Intro line.\n\n" + long_para
    assert chunk_text(text, max_chars=50, overlap_chars=10) == [
        TextChunk("Intro line.", 0, 11, 0),
        TextChunk("aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj", 13, 62, 1),
        TextChunk("kkkk llll mmmm nnnn oooo.", 63, 88, 2),
    ]


def test_long_word_is_hard_split() -> None:
    assert chunk_text("x" * 120, max_chars=50, overlap_chars=0) == [
        TextChunk("x" * 50, 0, 50, 0),
        TextChunk("x" * 50, 50, 100, 1),
        TextChunk("x" * 20, 100, 120, 2),
    ]


def test_abbreviations_do_not_split_chunks() -> None:
    sentence = "Dr. Smith and Mr. J. R. R. Tolkien visited the U.S. in 1950, e.g. in May."
    chunks = chunk_text(f"{sentence} {sentence}", max_chars=len(sentence) + 5, overlap_chars=0)
    assert [c.text for c in chunks] == [sentence, sentence]


def test_overlap_happens_with_small_sentences() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    chunks = chunk_text(text, max_chars=120, overlap_chars=40)
    assert len(chunks) > 3
    for prev, nxt in zip(chunks, chunks[1:]):
        assert nxt.start < prev.end  # shares at least one trailing sentence
        assert text[nxt.start : prev.end].startswith("Sentence number")


def test_overlap_never_exceeds_max_chars() -> None:
    text = "Short one. " + "B" * 40 + " ends here. Tiny. " + "C" * 45 + "."
    for chunk in chunk_text(text, max_chars=50, overlap_chars=24):
        assert len(chunk.text) <= 50


@pytest.mark.parametrize(
    ("max_chars", "overlap_chars"),
    [(49, 0), (0, 0), (100, -1), (100, 50), (100, 60)],
)
def test_invalid_arguments(max_chars: int, overlap_chars: int) -> None:
    with pytest.raises(ValueError, match="max_chars|overlap_chars"):
        chunk_text("Some text.", max_chars=max_chars, overlap_chars=overlap_chars)


def test_boundary_arguments_are_accepted() -> None:
    assert chunk_text("Some text.", max_chars=50, overlap_chars=24)
    assert chunk_text("Some text.", max_chars=100, overlap_chars=49)


def test_large_input_is_fast() -> None:
    text = ("Alpha beta gamma delta. " * 40 + "\n\n") * 2000 + "word " * 200_000
    began = time.perf_counter()
    chunks = chunk_text(text)
    assert time.perf_counter() - began < 10
    assert chunks and chunks[-1].end == len(text.rstrip())


# --- content_hash ------------------------------------------------------------


def test_content_hash() -> None:
    digest = content_hash("a", "b")
    assert len(digest) == 32 and all(ch in "0123456789abcdef" for ch in digest)
    assert digest == content_hash("a", "b")
    assert digest != content_hash("ab")
    assert digest != content_hash("a\x1fb", "")


# --- properties --------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "word",
        "Word",
        "Dr.",
        "e.g.",
        "U.S.",
        "3.5",
        "J.",
        "etc.",
        "A",
        "x" * 30,
        ". ",
        "? ",
        "! ",
        " ",
        "  ",
        "\n",
        "\n\n",
        "\n \n",
        "\t",
        '"',
        "The",
        "1990.",
        "end. Next",
        "Yes! No",
        "long" * 20,
    ]
)
_TEXTS = st.one_of(st.lists(_PIECES, max_size=200).map("".join), st.text(max_size=400))
_PARAMS = st.integers(min_value=50, max_value=200).flatmap(lambda m: st.tuples(st.just(m), st.integers(min_value=0, max_value=m // 2 - 1)))


@settings(max_examples=300, deadline=None)
@given(text=_TEXTS, params=_PARAMS)
def test_chunk_properties(text: str, params: tuple[int, int]) -> None:
    max_chars, overlap_chars = params
    chunks = chunk_text(text, max_chars=max_chars, overlap_chars=overlap_chars)
    covered = bytearray(len(text))
    for i, chunk in enumerate(chunks):
        assert chunk.position == i
        assert chunk.text == text[chunk.start : chunk.end]
        assert 0 < len(chunk.text) <= max_chars
        assert chunk.text == chunk.text.strip()
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    for a, b in zip(chunks, chunks[1:]):
        assert a.start < b.start
    lost = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert lost == []
    if not text.strip():
        assert chunks == []


@settings(max_examples=200, deadline=None)
@given(text=_TEXTS)
def test_sentence_spans_cover_all_text(text: str) -> None:
    spans = split_sentences(text)
    covered = bytearray(len(text))
    prev_end = 0
    for s, e in spans:
        assert prev_end <= s < e
        assert text[s:e] == text[s:e].strip()
        covered[s:e] = b"\x01" * (e - s)
        prev_end = e
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())
