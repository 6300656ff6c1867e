"""The ``dagrag`` command in process (typer's CliRunner, scripted LLM, hash embedder, in-memory store).

The real console command is tested in tests/unit/test_cli.py and tests/integration; these
cover the command line's own logic quickly: every command closes what it opens, errors are
one line, ``--debug`` is accepted wherever it is typed, tables stay readable in a file, and
a review answered after its run went on is resolved directly.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from agent import cli, render
from agent.api import DagRAG
from agent.settings import Settings
from helpers import FakeLLM, HashEmbedder, MemoryStore
from retrieval.errors import DagragError

pytestmark = pytest.mark.usefixtures("no_dagrag_env")

runner = CliRunner()


class Opened:
    """Every DagRAG the command line opens, with scripted parts; a store per knowledge-base folder."""

    def __init__(self) -> None:
        self.llm = FakeLLM([])
        self.stores: dict[Path, MemoryStore] = {}
        self.rags: list[DagRAG] = []
        self.closed = 0

    def __call__(self, settings: Settings) -> DagRAG:
        store = self.stores.setdefault(Path(settings.kb_path).resolve(), MemoryStore())
        rag = DagRAG(settings, llm=self.llm, embedder=HashEmbedder(), store=store)
        close = rag.close

        def counted() -> None:
            self.closed += 1
            close()

        rag.close = counted  # type: ignore[method-assign]
        self.rags.append(rag)
        return rag


@pytest.fixture
def opened(tmp_path, monkeypatch) -> Opened:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "make_rag", Opened())
    monkeypatch.setattr(cli.OPTIONS, "debug", False)
    return cli.make_rag


def dagrag(*args: str):
    result = runner.invoke(cli.app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_ingest_stats_list_history_and_remove_each_close_the_knowledge_base(opened, tmp_path):
    doc = write(tmp_path / "docs" / "teams.md", "# Teams\n\nThe Payments team owns the billing service.\n")
    result = dagrag("ingest", str(tmp_path / "docs"))
    assert result.exit_code == 0 and "1 added" in result.stdout and "1 passages" in result.stdout
    stats = dagrag("kb", "stats")
    assert stats.exit_code == 0 and "documents" in stats.stdout and "vectors in Chroma" in stats.stdout
    listing = dagrag("kb", "list")
    assert "Teams" in listing.stdout
    item = next(iter(opened.stores[(tmp_path / ".dagrag").resolve()].ids()))
    history = dagrag("kb", "history", item[:12])
    assert history.exit_code == 0 and "status valid" in history.stdout
    removed = dagrag("kb", "rm", str(doc))
    assert removed.exit_code == 0 and "removed 1 document(s)" in removed.stdout
    assert opened.closed == len(opened.rags) == 5


def test_a_command_that_fails_inside_still_closes(opened):
    dagrag("kb", "stats")
    with pytest.raises(cli.UsageError, match="no item 'nothing'"):
        dagrag("kb", "history", "nothing")
    assert opened.closed == len(opened.rags) == 2


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        cli.main(list(args))
    out, err = capsys.readouterr()
    return stop.value.code, out, err


@pytest.mark.parametrize(
    "args", [("ingest", "--debug", "/does/not/exist"), ("--debug", "ingest", "/does/not/exist"), ("ingest", "/does/not/exist", "--debug")]
)
def test_bug6_debug_is_accepted_wherever_it_is_typed(opened, capsys, args):
    code, _, err = run_main(capsys, *args)
    assert code == 2 and "No such option" not in err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("error: ") and "/does/not/exist" in err.strip().splitlines()[-1]


def test_without_debug_an_error_is_one_line(opened, capsys):
    code, _, err = run_main(capsys, "ingest", "/does/not/exist")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_every_error_meant_for_the_user_is_a_dagrag_error():
    from agent.api import QuestionError
    from agent.evaluation.runner import EvalError
    from agent.llm import LLMError
    from agent.settings import ConfigError
    from kb.ledger import KBBusyError, LedgerError, ReviewError
    from kb.loaders import LoadError
    from retrieval.store import StoreError

    for error in (cli.UsageError, QuestionError, LLMError, ConfigError, LedgerError, KBBusyError, ReviewError, LoadError, StoreError):
        assert issubclass(error, DagragError), error
    assert cli._is_user_error(ReviewError("x")) and not cli._is_user_error(KeyError("x"))
    assert EvalError  # wrapped in a UsageError by `dagrag eval`


SUMMARY = {
    "dag (llm)": {
        "n": 50,
        "em": 0.123,
        "f1": 0.2346,
        "acc": 0.31,
        "recall@2": 0.4567,
        "recall@5": 0.5678,
        "llm_calls": 4.5,
        "tokens": 12345,
        "p50_s": 3.21,
        "p95_s": 9.87,
        "fallback_rate": 0.12,
        "hops_match": 0.5,
        "structure_match": 0.25,
    },
    "vanilla": {
        "n": 50,
        "em": 0.111,
        "f1": 0.222,
        "acc": 0.333,
        "recall@2": 0.444,
        "recall@5": 0.555,
        "llm_calls": 1.0,
        "tokens": 2345,
        "p50_s": 1.0,
        "p95_s": 2.0,
        "fallback_rate": 0.0,
    },
}


def test_bug5_a_table_written_to_a_file_keeps_every_value_readable():
    file = io.StringIO()
    console = Console(file=file, width=80, color_system=None)  # what `dagrag eval > results.txt` gets
    assert not console.is_terminal
    render.print_table(console, render.eval_table(SUMMARY))
    text = file.getvalue()
    for value in ("0.123", "0.235", "0.457", "0.568", "4.5", "12345", "9.9", "0.12", "0.50", "0.25", "0.111", "2345"):
        assert value in text, (value, text)
    assert "…" not in text and "dag (llm)" in text


def test_a_table_on_a_terminal_is_printed_as_rich_prints_it():
    file = io.StringIO()
    console = Console(file=file, width=200, force_terminal=True, color_system=None)
    render.print_table(console, render.eval_table(SUMMARY))
    assert "0.123" in file.getvalue() and max(len(line) for line in file.getvalue().splitlines()) <= 200


# bug 3: a question skipped in chat ---------------------------------------------------
UNSUPPORTED = {"answer": "Zorblax", "sources": [1], "can_answer": False}
PLAN = {"nodes": [{"id": 1, "question": "Who cleans the office?", "depends_on": []}]}


def skipped_question(rag: DagRAG) -> int:
    """Ask interactively, and skip the question the agent raises (Enter in `dagrag chat`): the run goes on and ends."""
    rag.ingest([write(rag.settings.kb_path.parent / "a.md", "The office opens at nine.")])
    rag.llm.script += [UNSUPPORTED, PLAN]
    events = list(rag.stream("Who cleans the office?", interactive=True))
    assert events[-1].kind == "question"
    review_id = events[-1].review_id
    rest = list(rag.resume(review_id))  # no keep, no text: skipped
    assert rest[-1].kind == "done" and rest[-1].answer is not None
    review = rag.kb.ledger.review(review_id)
    assert review.state == "open" and review.thread_id  # still in the queue, with the run that finished
    assert not rag.paused(review)
    return review_id


def test_bug3_a_skipped_question_answered_later_is_stored_and_resolved(tmp_path):
    rag = DagRAG(
        Settings(kb_path=tmp_path / "kb", clarify_budget=2, reviewer="tester"),
        llm=FakeLLM([]),
        embedder=HashEmbedder(),
        store=MemoryStore(),
    )
    with rag:
        review_id = skipped_question(rag)
        assert rag.answer_review(review_id, text="Sparkle Ltd cleans the office every evening.", by="ana") is None
        review = rag.kb.ledger.review(review_id)
        assert (review.state, review.resolved_by) == ("resolved", "ana")
        found = rag.kb.search("Who cleans the office?", 1).evidence[0]
        assert found.text == "Sparkle Ltd cleans the office every evening." and found.metadata["kind"] == "human"


def test_bug3_through_the_command_line(opened, tmp_path):
    rag = opened(Settings(kb_path=tmp_path / ".dagrag", clarify_budget=2))
    with rag:
        review_id = skipped_question(rag)
    result = dagrag("review", "answer", str(review_id), "Sparkle Ltd cleans the office every evening.", "--by", "ana")
    assert result.exit_code == 0 and f"review #{review_id} answered" in result.stdout
    with opened(Settings(kb_path=tmp_path / ".dagrag")) as again:
        assert again.kb.ledger.review(review_id).state == "resolved"
        assert [i.text for i in again.kb.ledger.items() if i.kind == "human"] == ["Sparkle Ltd cleans the office every evening."]


def test_bug4_close_closes_the_llm_server_client(tmp_path):
    rag = DagRAG(Settings(kb_path=tmp_path / "kb", llm_url="http://127.0.0.1:9/v1"), embedder=HashEmbedder(), store=MemoryStore())
    client = rag.llm._client  # made here, never connected
    rag.close()
    assert client.is_closed


def test_an_llm_passed_in_stays_the_callers(tmp_path):
    from agent.llm import OpenAIServerLLM

    llm = OpenAIServerLLM("http://127.0.0.1:9/v1")
    DagRAG(Settings(kb_path=tmp_path / "kb"), llm=llm, embedder=HashEmbedder(), store=MemoryStore()).close()
    assert not llm._client.is_closed
    llm.close()


def test_review_show_lists_every_statement_that_differs(opened, tmp_path):
    policy = (
        "---\ntitle: Refund policy {}\ndate: {}-01-01\n---\nRefunds are processed within {} days. Claims are filed by {} with the form."
    )
    old, new = policy.format(2024, 2024, 14, "email"), policy.format(2025, 2025, 30, "post")
    opened.llm.script += [{"relation": "updates", "confidence": 90, "reason": "14 days became 30"}] * 3
    assert dagrag("ingest", str(write(tmp_path / "old.md", old))).exit_code == 0
    ingested = dagrag("ingest", str(write(tmp_path / "new.md", new)))
    assert ingested.exit_code == 0 and "1 LLM judge call · 1 conflict to review" in ingested.stdout
    shown = dagrag("review", "show", "1")
    assert shown.exit_code == 0 and "every statement that differs (2)" in shown.stdout
    for said in ("Refunds are processed within 14 days.", "Claims are filed by post with the form."):
        assert said in shown.stdout


def test_review_show_labels_each_side_when_the_other_was_removed(opened, tmp_path):
    policy = "---\ntitle: Refund policy {}\ndate: {}-01-01\n---\nRefunds are processed within {} days of the request."
    opened.llm.script += [{"relation": "updates", "confidence": 90, "reason": "14 days became 30"}] * 3
    old = write(tmp_path / "old.md", policy.format(2024, 2024, 14))
    dagrag("ingest", str(old))
    dagrag("ingest", str(write(tmp_path / "new.md", policy.format(2025, 2025, 30))))
    assert dagrag("kb", "rm", str(old)).exit_code == 0
    shown = dagrag("review", "show", "1").stdout
    older, newer = shown.split("older: ", 1)[1].split("newer: ", 1)
    assert "its document was removed" in older and "Refund policy 2025" in newer and "Refund policy 2025" not in older
