"""Read documents (.txt, .md, .pdf, .html, .json) from disk into ``SourceDocument``s."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from pypdf import PdfReader
from selectolax.lexbor import LexborHTMLParser

from retrieval.errors import DagragError

__all__ = ["SUPPORTED_SUFFIXES", "MAX_FILE_MB", "SourceDocument", "LoadError", "iter_files", "load_file"]

SUPPORTED_SUFFIXES = {".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".json"}
MAX_FILE_MB = 50.0  # files larger than this are refused before reading (DAGRAG_MAX_FILE_MB overrides)
MAX_FILE_MB_ENV = "DAGRAG_MAX_FILE_MB"
# what binary files begin with: (signature, what it is, hint)
_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "a PNG image", "images have no text to index; remove it"),
    (b"\xff\xd8\xff", "a JPEG image", "images have no text to index; remove it"),
    (b"GIF8", "a GIF image", "images have no text to index; remove it"),
    (b"%PDF-", "a PDF document", "rename it to .pdf"),
    (b"PK\x03\x04", "a ZIP archive or Office document", "export it as .txt, .md or .pdf"),
    (b"\x1f\x8b", "gzip-compressed data", "decompress it first"),
    (b"\x7fELF", "an executable", "remove it"),
    (b"SQLite format 3\x00", "an SQLite database", "remove it"),
]
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_SNIFF_BYTES = 8192
_SUPPORTED_LIST = ", ".join(sorted(SUPPORTED_SUFFIXES))
_DATE_KEYS = ("valid_from", "date", "effective", "effective_date")  # first present wins
_DATE_LINES = 6  # a date line among a document's first lines says when it holds from
_DATE_LINE = re.compile(r"(?i)(?:effective(?:\s+(?:date|from|as\s+of))?|valid\s+(?:from|as\s+of)|in\s+force\s+from)\s*:?\s*(.+?)\.?$")
_JSON_SHAPE = 'expected a JSON list of objects like [{"title": "...", "text": "..."}]'

_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_ISO_PREFIX = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?![\d])")
_BLANK_RUNS = re.compile(r"\n{3,}")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


@dataclass(frozen=True)
class SourceDocument:
    """One loadable document (a file, or one item of a JSON passage list)."""

    doc_id: str
    source: str
    title: str
    text: str
    metadata: dict[str, str] = field(default_factory=dict)


class LoadError(DagragError):
    """A file could not be loaded; the message is one line naming the file and the fix."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = " ".join(reason.split())
        super().__init__(f"{self.path}: {self.reason}")


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Yield files given directly (any suffix) and supported files found under folders.

    Folder contents are yielded sorted; hidden names (starting with ".") are skipped and
    symlinked directories are not followed. Each file is yielded once. Broken or looping
    symlinks are yielded too, for ``load_file`` to report by name.
    """
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_symlink():  # a broken or looping link is reported by load_file
            raise LoadError(path, "path does not exist; check the spelling or create it")
        if path.is_dir():
            found: list[Path] = []
            for root, dirs, files in os.walk(path, followlinks=False):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                found.extend(
                    Path(root, name) for name in files if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_SUFFIXES
                )
            candidates = sorted(found, key=lambda p: p.as_posix())
        else:
            candidates = [path]
        for candidate in candidates:
            key = _identity(candidate)
            if key not in seen:
                seen.add(key)
                yield candidate


def _identity(path: Path) -> Path:
    """The real path, for de-duplication; a symlink loop (which ``resolve`` refuses) stands for itself."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: "Symlink loop" (Python < 3.13)
        return path.absolute()


def load_file(path: Path, max_file_mb: float | None = None) -> list[SourceDocument]:
    """Load one file into documents (one per file; one per non-empty item for JSON lists).

    Files larger than ``max_file_mb`` (default: ``$DAGRAG_MAX_FILE_MB``, else ``MAX_FILE_MB``)
    are refused from their size alone, before anything is read.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        shown = suffix or "(none)"
        raise LoadError(path, f"unsupported file type '{shown}' (supported: {_SUPPORTED_LIST})")
    limit = _max_file_mb(path) if max_file_mb is None else max_file_mb
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if info.st_size > limit * 2**20:
            raise LoadError(
                path,
                f"file is {_size(info.st_size)}; the limit is {_size(limit * 2**20)} "
                f"(split the file, or set {MAX_FILE_MB_ENV} to raise the limit)",
            )
        data = path.read_bytes()
    except IsADirectoryError:
        raise LoadError(path, "is a directory, not a file; pass the folder to load its files") from None
    except PermissionError:
        raise LoadError(path, "permission denied; check the file's read permissions") from None
    except FileNotFoundError:
        if path.is_symlink():
            raise LoadError(path, "broken symbolic link (its target does not exist); fix or remove the link") from None
        raise LoadError(path, "file not found; check the path") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LoadError(path, "symbolic link loop (following the link leads back to it); fix or remove the link") from None
        raise LoadError(path, f"cannot read file ({exc.strerror or exc}); check the file") from None
    if not data.strip():
        raise LoadError(path, "empty file; add some text or remove it")
    if suffix != ".pdf":
        _refuse_binary(path, data)
    source = path.resolve().as_posix()
    metadata: dict[str, str] = {}
    if suffix == ".json":
        return _read_json(path, source, data)
    if suffix == ".pdf":
        title, text = _read_pdf(path, data)
    elif suffix in {".html", ".htm"}:
        title, text = _read_html(path, data)
    else:
        title, text, metadata = _read_text(path, data)
    if not metadata:
        metadata = _stated_date(text)
    if not text.strip():
        raise LoadError(path, "empty file (no text content); add some text or remove it")
    return [SourceDocument(source, source, title or _fallback_title(text, path), text, metadata)]


def _max_file_mb(path: Path) -> float:
    raw = os.environ.get(MAX_FILE_MB_ENV, "").strip()
    if not raw:
        return MAX_FILE_MB
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise LoadError(path, f"{MAX_FILE_MB_ENV}={raw!r} is not a positive number of megabytes; fix or unset it")
    return value


def _size(n: float) -> str:
    """A byte count for people: "100 MB", "2.5 MB", "3 KB"."""
    mb = n / 2**20
    if mb >= 10:
        return f"{mb:,.0f} MB"
    if mb >= 1:
        return f"{mb:.1f}".removesuffix(".0") + " MB"
    return f"{max(1, round(n / 1024)):,} KB"


def _refuse_binary(path: Path, data: bytes) -> None:
    """A text format holding binary data (an image renamed .txt, random bytes) is refused by name."""
    for magic, what, hint in _MAGIC:
        if data.startswith(magic):
            raise LoadError(path, f"binary file ({what}), not text; {hint}")
    head = data[:_SNIFF_BYTES]
    if head.startswith(_UTF16_BOMS):
        raise LoadError(path, "UTF-16 text, not UTF-8; re-save the file as UTF-8")
    if b"\x00" in head:
        raise LoadError(path, "binary file (contains NUL bytes), not text; remove it or convert it to text")


def _fallback_title(text: str, path: Path) -> str:
    m = _HEADING.search(text)
    return m.group(1).strip() if m else path.stem


def _decode_utf8(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(path, f"not UTF-8 text (invalid byte at offset {exc.start}); re-save the file as UTF-8") from None


def _parse_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split simple ``key: value`` front matter between leading '---' lines from the body."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].strip() in {"---", "..."}:
            break
    else:
        return {}, text  # no closing fence: not front matter
    fields: dict[str, str] = {}
    for line in lines[1:end]:
        key, sep, value = line.partition(":")
        if sep and key.strip() and not line[:1].isspace():
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            fields[key.strip().lower()] = value
    return fields, "\n".join(lines[end + 1 :])


def _normalise_date(path: Path, key: str, value: str) -> str:
    """Return ``value`` as ``YYYY-MM-DD`` or raise LoadError."""
    parsed = _parse_date(value)
    if parsed is None:
        raise LoadError(path, f"date field '{key}: {value}' is not a valid date; use YYYY-MM-DD")
    return parsed


def _parse_date(value: str) -> str | None:
    """``value`` as ``YYYY-MM-DD`` ("2023-03-01", "March 1, 2023", "1 March 2023"), or None."""
    m = _ISO_PREFIX.match(value.strip())
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            pass
    for fmt in ("%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y"):
        try:
            return datetime.strptime(value.strip(), fmt).date().isoformat()
        except ValueError:
            continue
    return None


def _date_metadata(path: Path, fields: Mapping[str, object]) -> dict[str, str]:
    for key in _DATE_KEYS:
        value = fields.get(key)
        if isinstance(value, str) and value.strip():
            return {"valid_from": _normalise_date(path, key, value)}
    return {}


def _stated_date(text: str) -> dict[str, str]:
    """A date the document states near its top ("Effective 2023-03-01.", "Valid from: March 1, 2023")."""
    for line in [re.sub(r"[*_]", "", ln).strip(" #>\t") for ln in text.splitlines() if ln.strip()][:_DATE_LINES]:
        m = _DATE_LINE.match(line)
        if m:
            parsed = _parse_date(m.group(1))
            return {"valid_from": parsed} if parsed else {}
    return {}


def _read_text(path: Path, data: bytes) -> tuple[str, str, dict[str, str]]:
    text = _decode_utf8(path, data).replace("\r\n", "\n")
    fields, body = _parse_front_matter(text)
    return fields.get("title", "").strip(), body.strip(), _date_metadata(path, fields)


def _read_pdf(path: Path, data: bytes) -> tuple[str, str]:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _opens_without_password(reader):
            raise LoadError(path, "encrypted PDF; remove the password protection and try again")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta = reader.metadata
        title = str(meta.title).strip() if meta is not None and meta.title else ""
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many types for damaged files
        raise LoadError(path, f"unreadable or damaged PDF ({type(exc).__name__}: {exc}); re-export or re-download it") from None
    text = "\n\n".join(p for p in pages if p)
    if not text:
        raise LoadError(path, "no extractable text (scanned PDF?); run OCR on it first")
    return title, text


def _opens_without_password(reader: PdfReader) -> bool:
    """Owner-password-only PDFs (e.g. print-restricted) open with an empty user password."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # e.g. AES without the optional crypto dependency
        return False


def _decode_html(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    m = _META_CHARSET.search(data[:4096])
    if m:
        try:
            return data.decode(m.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            pass
    raise LoadError(path, "not UTF-8 text and no valid <meta charset> declared; re-save the file as UTF-8")


def _read_html(path: Path, data: bytes) -> tuple[str, str]:
    tree = LexborHTMLParser(_decode_html(path, data))
    for node in tree.css("script, style, noscript, template"):
        node.decompose()
    title_node = tree.css_first("title")
    title = " ".join(title_node.text().split()) if title_node is not None else ""
    root = tree.body if tree.body is not None else tree.root
    raw = root.text(separator="\n") if root is not None else ""
    lines = "\n".join(line.strip() for line in raw.splitlines())
    return title, _BLANK_RUNS.sub("\n\n", lines).strip()


def _read_json(path: Path, source: str, data: bytes) -> list[SourceDocument]:
    try:
        items = json.loads(_decode_utf8(path, data))
    except json.JSONDecodeError as exc:
        raise LoadError(path, f"invalid JSON ({exc.msg} at line {exc.lineno}); {_JSON_SHAPE}") from None
    if not isinstance(items, list):
        raise LoadError(path, f"top level is {type(items).__name__}; {_JSON_SHAPE}")
    docs: list[SourceDocument] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise LoadError(path, f'item {index} has no string "text"; {_JSON_SHAPE}')
        title = item.get("title")
        if title is not None and not isinstance(title, str):
            raise LoadError(path, f'item {index} has a non-string "title"; {_JSON_SHAPE}')
        text = item["text"].strip()
        if not text:
            continue
        docs.append(
            SourceDocument(
                doc_id=f"{source}#{index}",
                source=source,
                title=(title or "").strip() or _fallback_title(text, path),
                text=text,
                metadata=_date_metadata(path, item),
            )
        )
    if not docs:
        raise LoadError(path, f"empty file (no item with non-empty text); {_JSON_SHAPE}")
    return docs
