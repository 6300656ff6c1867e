"""Tests for kb.loaders."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from helpers import encrypted_pdf, minimal_pdf
from kb.loaders import SUPPORTED_SUFFIXES, LoadError, SourceDocument, iter_files, load_file


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def load_one(path: Path) -> SourceDocument:
    docs = load_file(path)
    assert len(docs) == 1
    return docs[0]


def error_of(path: Path) -> str:
    with pytest.raises(LoadError) as info:
        load_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


# --- text and markdown ------------------------------------------------------


def test_txt_plain(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.txt", "Hello there.\r\nSecond line.\n")
    doc = load_one(path)
    resolved = path.resolve().as_posix()
    assert doc == SourceDocument(resolved, resolved, "notes", "Hello there.\nSecond line.", {})


def test_txt_utf8_bom_is_removed(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.txt", "\ufeffCaf\u00e9 au lait.".encode())
    assert load_one(path).text == "Caf\u00e9 au lait."


def test_markdown_front_matter_title_and_date(tmp_path: Path) -> None:
    path = write(
        tmp_path / "policy.md",
        '---\ntitle: "Travel Policy"\ndate: 2024-03-01\nauthor: Ann\n---\n# Heading\n\nBody text.\n',
    )
    doc = load_one(path)
    assert doc.title == "Travel Policy"
    assert doc.text == "# Heading\n\nBody text."
    assert doc.metadata == {"valid_from": "2024-03-01"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("valid_from: 2024-3-1", "2024-03-01"),
        ("effective: 2023/12/31", "2023-12-31"),
        ("effective_date: '2022-01-05T10:00:00Z'", "2022-01-05"),
        ("date: March 5, 2021", "2021-03-05"),
        ("Date: 7 Feb 2020", "2020-02-07"),
    ],
)
def test_front_matter_date_keys_are_normalised(tmp_path: Path, line: str, expected: str) -> None:
    path = write(tmp_path / "d.md", f"---\n{line}\n---\nBody.\n")
    assert load_one(path).metadata == {"valid_from": expected}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("# Equipment policy\nEffective 2023-03-01.\n\nBody.\n", {"valid_from": "2023-03-01"}),
        ("# Policy\n**Effective date:** March 1, 2023\n\nBody.\n", {"valid_from": "2023-03-01"}),
        ("Valid from: 1 March 2023\nBody.\n", {"valid_from": "2023-03-01"}),
        ("# Policy\nEffective immediately, all staff.\n", {}),  # no date on the line
        ("# Policy\nEffective 2023-13-45.\n", {}),  # not a date: the document is still loaded
        ("a\nb\nc\nd\ne\nf\nEffective 2023-01-01.\n", {}),  # too far down to date the document
        ("---\ndate: 2024-05-05\n---\nEffective 2023-03-01.\n", {"valid_from": "2024-05-05"}),  # front matter wins
    ],
)
def test_a_date_line_at_the_top_dates_the_document(tmp_path: Path, body: str, expected: dict[str, str]) -> None:
    assert load_one(write(tmp_path / "p.md", body)).metadata == expected


def test_front_matter_valid_from_wins_over_date(tmp_path: Path) -> None:
    path = write(tmp_path / "d.md", "---\ndate: 2020-01-01\nvalid_from: 2021-06-30\n---\nBody.\n")
    assert load_one(path).metadata == {"valid_from": "2021-06-30"}


def test_front_matter_invalid_date(tmp_path: Path) -> None:
    path = write(tmp_path / "d.md", "---\ndate: someday\n---\nBody.\n")
    message = error_of(path)
    assert "not a valid date" in message and "YYYY-MM-DD" in message


def test_markdown_title_from_first_heading(tmp_path: Path) -> None:
    path = write(tmp_path / "guide.markdown", "Intro.\n\n## Setup Guide ##\n\nText.\n")
    doc = load_one(path)
    assert doc.title == "Setup Guide"
    assert doc.metadata == {}


def test_unclosed_front_matter_is_kept_as_text(tmp_path: Path) -> None:
    path = write(tmp_path / "x.md", "---\ntitle: nope\nBody.\n")
    doc = load_one(path)
    assert doc.title == "x"
    assert doc.text.startswith("---")


def test_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path / "latin.txt", "Caf\u00e9".encode("latin-1"))
    assert "not UTF-8 text" in error_of(path)


def test_empty_and_whitespace_files(tmp_path: Path) -> None:
    assert "empty file" in error_of(write(tmp_path / "empty.txt", b""))
    assert "empty file" in error_of(write(tmp_path / "blank.md", " \n\t\n"))
    assert "empty file" in error_of(write(tmp_path / "fm.md", "---\ntitle: T\n---\n\n"))


# --- PDF ---------------------------------------------------------------------


def test_handwritten_pdf_is_readable_by_pypdf() -> None:
    reader = PdfReader(io.BytesIO(minimal_pdf("Hello PDF world.")))
    assert reader.pages[0].extract_text().strip() == "Hello PDF world."


def test_pdf_text_and_metadata_title(tmp_path: Path) -> None:
    doc = load_one(write(tmp_path / "report.pdf", minimal_pdf("Quarterly revenue grew.", "Q3 Report")))
    assert doc.text == "Quarterly revenue grew."
    assert doc.title == "Q3 Report"
    assert doc.metadata == {}


def test_pdf_pages_are_joined_by_blank_lines(tmp_path: Path) -> None:
    writer = PdfWriter()
    for text in ("Page one text.", "Page two text."):
        writer.add_page(PdfReader(io.BytesIO(minimal_pdf(text))).pages[0])
    buffer = io.BytesIO()
    writer.write(buffer)
    doc = load_one(write(tmp_path / "two.pdf", buffer.getvalue()))
    assert doc.text == "Page one text.\n\nPage two text."
    assert doc.title == "two"


def test_pdf_without_text(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    writer.write(buffer)
    message = error_of(write(tmp_path / "scan.pdf", buffer.getvalue()))
    assert "no extractable text (scanned PDF?)" in message


def test_encrypted_pdf(tmp_path: Path) -> None:
    assert "encrypted PDF" in error_of(write(tmp_path / "locked.pdf", encrypted_pdf("secret")))


def test_owner_password_only_pdf_is_read(tmp_path: Path) -> None:
    assert load_one(write(tmp_path / "restricted.pdf", encrypted_pdf(""))).text == "Secret text."


@pytest.mark.parametrize(
    "content",
    [minimal_pdf("Truncated document.")[:60], b"%PDF-1.4\ngarbage", b"this is not a pdf"],
)
def test_damaged_pdf(tmp_path: Path, content: bytes) -> None:
    assert "unreadable or damaged PDF" in error_of(write(tmp_path / "bad.pdf", content))


# --- HTML ----------------------------------------------------------------------


def test_html(tmp_path: Path) -> None:
    html = (
        "<html><head><title> The  Page </title><style>p{}</style>"
        "<script>var x = 1;</script></head><body>"
        "<h1>Heading</h1>\n\n\n<p>First paragraph.</p>\n\n\n\n<p>Second.</p>"
        "<noscript>enable js</noscript><template>hidden</template>"
        "<script>alert('x')</script></body></html>"
    )
    doc = load_one(write(tmp_path / "page.html", html))
    assert doc.title == "The Page"
    assert doc.text == "Heading\n\nFirst paragraph.\n\nSecond."
    for hidden in ("var x", "alert", "enable js", "hidden", "p{}"):
        assert hidden not in doc.text


def test_htm_without_title_uses_stem_and_meta_charset(tmp_path: Path) -> None:
    html = '<html><head><meta charset="iso-8859-1"></head><body><p>Caf\u00e9.</p></body></html>'
    doc = load_one(write(tmp_path / "cafe.htm", html.encode("latin-1")))
    assert doc.title == "cafe"
    assert doc.text == "Caf\u00e9."


def test_html_not_utf8_without_charset(tmp_path: Path) -> None:
    path = write(tmp_path / "x.html", "<p>Caf\u00e9</p>".encode("latin-1"))
    assert "not UTF-8" in error_of(path)


def test_html_without_text(tmp_path: Path) -> None:
    path = write(tmp_path / "x.html", "<html><body><script>x()</script></body></html>")
    assert "empty file" in error_of(path)


# --- JSON ----------------------------------------------------------------------


def test_json_passages(tmp_path: Path) -> None:
    items = [
        {"title": "First", "text": "Alpha text."},
        {"text": "   "},
        {"text": "# Beta\nBeta text.", "date": "2024-01-02"},
        {"text": "Gamma text."},
    ]
    path = write(tmp_path / "passages.json", json.dumps(items))
    docs = load_file(path)
    resolved = path.resolve().as_posix()
    assert [d.doc_id for d in docs] == [f"{resolved}#0", f"{resolved}#2", f"{resolved}#3"]
    assert [d.title for d in docs] == ["First", "Beta", "passages"]
    assert [d.text for d in docs] == ["Alpha text.", "# Beta\nBeta text.", "Gamma text."]
    assert {d.source for d in docs} == {resolved}
    assert docs[1].metadata == {"valid_from": "2024-01-02"}
    assert docs[0].metadata == {}


@pytest.mark.parametrize(
    "content",
    [
        '{"text": "not a list"}',
        '["just a string"]',
        '[{"title": "no text"}]',
        '[{"text": 5}]',
        '[{"text": "ok", "title": 3}]',
        "[{broken json",
    ],
)
def test_json_bad_shape(tmp_path: Path, content: str) -> None:
    message = error_of(write(tmp_path / "bad.json", content))
    assert '[{"title": "...", "text": "..."}]' in message


def test_json_all_items_empty(tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "empty.json", '[{"text": ""}, {"text": " "}]'))
    assert "empty file" in message


# --- other errors ----------------------------------------------------------------


def test_unsupported_suffix(tmp_path: Path) -> None:
    message = error_of(write(tmp_path / "sheet.xyz", "data"))
    assert "unsupported file type '.xyz'" in message
    for suffix in SUPPORTED_SUFFIXES:
        assert suffix in message


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in error_of(tmp_path / "missing.txt")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    assert "is a directory" in error_of(folder)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "secret.txt", "text")

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    assert "permission denied" in error_of(path)


def test_other_os_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "io.txt", "text")

    def fail(self: Path) -> bytes:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(Path, "read_bytes", fail)
    assert "Input/output error" in error_of(path)


# --- iter_files ------------------------------------------------------------------


def test_iter_files_recursive_sorted_and_hidden_skipped(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    for name in (
        "b.md",
        "a.txt",
        "sub/c.pdf",
        "sub/deeper/d.json",
        "z.HTML",
        "notes.xyz",
        ".hidden.md",
        ".git/config.txt",
        "sub/.cache/e.md",
    ):
        write(root / name, "x")
    found = [p.relative_to(root).as_posix() for p in iter_files([root])]
    assert found == ["a.txt", "b.md", "sub/c.pdf", "sub/deeper/d.json", "z.HTML"]


def test_iter_files_direct_files_any_suffix_and_dedup(tmp_path: Path) -> None:
    odd = write(tmp_path / "data.xyz", "x")
    txt = write(tmp_path / "a.txt", "x")
    assert list(iter_files([str(odd), txt, tmp_path])) == [odd, txt]


def test_iter_files_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(LoadError, match="does not exist") as info:
        list(iter_files([missing]))
    assert str(missing) in str(info.value)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_iter_files_symlink_loop_terminates(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    write(root / "sub/doc.md", "x")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    found = [p.relative_to(root).as_posix() for p in iter_files([root])]
    assert found == ["sub/doc.md"]
