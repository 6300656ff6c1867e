"""The real ``dagrag`` console command, for everything that does not need the LLM.

Independent invocations are started together and then awaited, to keep the wall time low.
"""

from __future__ import annotations

import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from helpers import DAGRAG, CliResult, finish_dagrag, start_dagrag

pytestmark = pytest.mark.skipif(not DAGRAG.exists(), reason="the dagrag console script is not installed")

TIMEOUT = 120


Result = CliResult


def start(cwd: Path, *args: str, **env: str) -> tuple[tuple[str, ...], subprocess.Popen]:
    return start_dagrag(cwd, *args, **env)


def finish(started: tuple[tuple[str, ...], subprocess.Popen]) -> Result:
    return finish_dagrag(started, TIMEOUT)


def dagrag(cwd: Path, *args: str, **env: str) -> Result:
    return finish(start(cwd, *args, **env))


COMMANDS = [(), ("ingest",), ("ask",), ("chat",), ("kb",), ("kb", "stats"), ("kb", "list"), ("kb", "rm"), ("config",), ("demo",), ("eval",)]


def test_help_on_every_command_and_subcommand(tmp_path):
    running = [start(tmp_path, *command, "--help") for command in COMMANDS]
    for command, result in zip(COMMANDS, map(finish, running)):
        assert result.code == 0, result
        assert f"Usage: dagrag {' '.join(command)}".rstrip() in result.out, result
        assert "Traceback" not in result.err, result
    assert not (tmp_path / "kb").exists()  # --help opens no knowledge base


def test_user_errors_are_one_line_with_exit_code_2(tmp_path):
    (tmp_path / "toml").mkdir()
    (tmp_path / "toml" / "dagrag.toml").write_text("top_k = 3\ntop_kk = 5\n", encoding="utf-8")
    running = {
        "empty question": start(tmp_path / "q", "ask", ""),
        "empty kb": start(tmp_path / "kb-empty", "ask", "Who owns billing?"),
        "missing config": start(tmp_path / "cfg", "--config", "missing.toml", "config"),
        "unknown key": start(tmp_path / "toml", "config"),
        "missing gguf": start(tmp_path / "gguf", "config", DAGRAG_LLM_MODEL="/nope.gguf"),
        "missing path": start(tmp_path / "ingest", "ingest", "/does/not/exist"),
        "debug": start(tmp_path / "debug", "--debug", "ingest", "/does/not/exist"),
    }
    results = {name: finish(p) for name, p in running.items()}
    debug = results.pop("debug")
    line = {name: r.one_error_line() for name, r in results.items()}
    assert "question is empty" in line["empty question"]
    assert "dagrag ingest" in line["empty kb"] and "empty" in line["empty kb"]
    assert "missing.toml" in line["missing config"] and "not found" in line["missing config"]
    assert "top_kk" in line["unknown key"]
    assert "/nope.gguf" in line["missing gguf"] and "DAGRAG_LLM_MODEL" in line["missing gguf"]
    assert "/does/not/exist" in line["missing path"] and "does not exist" in line["missing path"]
    # --debug shows the traceback, then the same one-line error
    assert debug.code == 2 and "Traceback" in debug.err, debug
    assert debug.err.strip().splitlines()[-1] == line["missing path"]


def test_ingest_stats_list_and_remove(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    good = docs / "teams.md"
    good.write_text("# Teams\n\nThe Payments team owns the billing service.\n", encoding="utf-8")
    empty = docs / "empty.txt"
    empty.write_text("", encoding="utf-8")
    docx = docs / "notes.docx"
    docx.write_bytes(b"PK\x03\x04 not really a docx")

    # a folder only yields supported files, so the .docx is named explicitly as well
    ingest = dagrag(tmp_path, "ingest", str(docs), str(docx))
    assert ingest.code == 1, ingest
    assert "Traceback" not in ingest.err
    failed = [line for line in ingest.err.splitlines() if line.startswith("✗")]
    assert len(failed) == 2, ingest
    assert any("empty.txt" in f and "empty file" in f for f in failed)
    assert any("notes.docx" in f and "unsupported file type '.docx'" in f for f in failed)
    assert "teams.md" not in ingest.err
    assert "1 added" in ingest.out and "2 failed" in ingest.out and "1 passages" in ingest.out

    stats = dagrag(tmp_path, "kb", "stats")
    assert stats.code == 0, stats
    rows = {cells[0]: cells[1] for cells in _table_rows(stats.out)}
    assert rows["documents"] == "1" and rows["chunks"] == "1" and rows["vectors in Chroma"] == "1"

    listing = dagrag(tmp_path, "kb", "list")
    assert listing.code == 0, listing
    assert "Teams" in listing.out and good.name in listing.out

    good.write_text("# Teams\n\nThe Ledger guild owns the billing service.\n", encoding="utf-8")
    changed = dagrag(tmp_path, "ingest", str(good))
    assert changed.code == 0, changed
    assert "1 updated" in changed.out and "1 passages of earlier versions kept as history" in changed.out
    rows = {cells[0]: cells[1] for cells in _table_rows(dagrag(tmp_path, "kb", "stats").out)}
    assert rows["documents"] == "1" and rows["chunks"] == "2" and rows["… of earlier document versions"] == "1"
    with closing(sqlite3.connect(tmp_path / "kb" / "ledger.sqlite3")) as db:
        [(old_item,)] = db.execute("SELECT item_id FROM items WHERE expired_at IS NOT NULL").fetchall()
    history = dagrag(tmp_path, "kb", "history", old_item[:12])
    assert history.code == 0 and "status superseded" in history.out and "expired by ingest: valid → superseded" in history.out, history

    nothing = dagrag(tmp_path, "kb", "rm", "nothing")
    assert "nothing" in nothing.one_error_line() and "dagrag kb list" in nothing.err

    removed = dagrag(tmp_path, "kb", "rm", str(good))
    assert removed.code == 0, removed
    assert "removed 1 document(s)" in removed.out

    with closing(sqlite3.connect(tmp_path / "kb" / "ledger.sqlite3")) as db:  # the ledger itself, rather than one more dagrag run
        assert db.execute("SELECT COUNT(*) FROM documents").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM items").fetchone() == (0,)


def _table_rows(text: str) -> list[list[str]]:
    """Cells of a rich box table printed without colour."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if len(cells) >= 2 and all(not set(c) <= set("─━┼┬┴╇┡┩") for c in cells):
            rows.append(cells)
    return rows
