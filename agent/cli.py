"""The ``dagrag`` command line: ingest, ask, chat, kb, config, demo, eval."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Optional

from retrieval.offline import go_offline

go_offline()  # before anything imports Hugging Face or Chroma

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from agent import render  # noqa: E402
from agent.settings import Settings, load_settings  # noqa: E402
from agent.types import follow  # noqa: E402
from kb.items import as_utc  # noqa: E402
from retrieval.errors import DagragError  # noqa: E402

app = typer.Typer(
    help="dagrag: ask questions about your documents, answered by a local LLM that plans a DAG of sub-questions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
err = Console(stderr=True)


class UsageError(DagragError):
    """A mistake by the user, reported in one line."""


class _Options:
    config: Optional[Path] = None
    debug: bool = False


OPTIONS = _Options()

KbOption = typer.Option(None, "--kb", help="knowledge-base folder [default: ./.dagrag or DAGRAG_KB_PATH]")
ModelOption = typer.Option(None, "--model", help="GGUF model file [default: embedded SmolLM2-135M or DAGRAG_LLM_MODEL]")


@app.callback()
def _root(
    config: Optional[Path] = typer.Option(None, "--config", help="TOML settings file [default: ./dagrag.toml or DAGRAG_CONFIG]"),
    debug: bool = typer.Option(False, "--debug", help="show full tracebacks on errors"),
) -> None:
    OPTIONS.config, OPTIONS.debug = config, OPTIONS.debug or debug


def _settings(**overrides) -> Settings:
    return load_settings(OPTIONS.config, **overrides)


def make_rag(settings: Settings):
    """The DagRAG every command opens (tests put one with scripted parts here)."""
    from agent.api import DagRAG

    return DagRAG(settings)


def _open(**overrides):
    """DagRAG for the settings with ``overrides``; use it in a ``with`` block, so it is closed on every path."""
    return make_rag(_settings(**overrides))


# ingest -------------------------------------------------------------------------
@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="files or folders (.txt .md .pdf .html, JSON passage lists)"),
    kb: Optional[Path] = KbOption,
    valid_from: Optional[datetime] = typer.Option(
        None, "--valid-from", help="world time the documents are valid from (default: their date, else now)"
    ),
) -> None:
    """Add documents to the knowledge base (unchanged files are skipped; a changed file's earlier version is kept as history)."""
    with _open(kb_path=kb) as rag:
        report = _ingest_with_progress(rag, paths, _utc(valid_from))
    for path, reason in report.failed:
        err.print(f"[red]✗[/] {reason if reason.startswith(path) else f'{path}: {reason}'}", soft_wrap=True, highlight=False)
    console.print(
        f"[green]✓[/] {len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
        f"{len(report.failed)} failed · {report.chunks} passages in {report.seconds:.1f}s ({report.passages_per_second:.1f}/s)"
        + (f" · {report.expired} passages of earlier versions kept as history" if report.expired else "")
        + (f" · {_count(report.judged_pairs, 'LLM judge call')}" if report.judged_pairs else "")
        + (f" · {_count(len(report.reviews), 'conflict')} to review (`dagrag review`)" if report.reviews else "")
        + f" → {rag.settings.kb_path}",
        soft_wrap=True,
    )
    if report.failed:
        raise typer.Exit(1)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _ingest_with_progress(rag, paths, valid_from=None):
    columns = [
        TextColumn("[b]embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("passages"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("ingest", total=None, rate="")
        started = datetime.now()

        def progress(done: int, total: int) -> None:
            bar.update(task, total=total, advance=done)
            elapsed = (datetime.now() - started).total_seconds() or 1e-9
            bar.update(task, rate=f"{bar.tasks[0].completed / elapsed:.1f}/s")

        return rag.ingest(paths, valid_from=valid_from, progress=progress)


# ask ----------------------------------------------------------------------------
@app.command()
def ask(
    question: str = typer.Argument(..., help="the question"),
    kb: Optional[Path] = KbOption,
    model: Optional[str] = ModelOption,
    as_json: bool = typer.Option(False, "--json", help="print the whole Answer as JSON"),
    mermaid: bool = typer.Option(False, "--mermaid", help="also print the DAG as Mermaid"),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="passages retrieved for the question"),
    max_rounds: Optional[int] = typer.Option(None, "--max-rounds", help="reflection rounds that may add sub-questions"),
    as_of: Optional[datetime] = typer.Option(None, "--as-of", help="answer from what was valid at this date (world time)"),
) -> None:
    """Answer one question and print the answer, its citations and the DAG it solved.

    Never waits for a person: a conflict or low confidence is reported with the answer and
    queued for `dagrag review`.
    """
    from agent.api import clean_question

    question = clean_question(question)  # a bad question is reported before the knowledge base is checked
    with _open(kb_path=kb, llm_model=model, top_k=top_k, max_rounds=max_rounds) as rag:
        _require_documents(rag)
        answer = _answer_with_status(rag, question, quiet=as_json, as_of=_utc(as_of))
    if as_json:
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
    else:
        console.print(render.full(answer))
        if mermaid:
            console.print(answer.dag_mermaid(), markup=False, highlight=False)


def _require_documents(rag) -> None:
    if rag.kb.stats().chunks == 0:
        raise UsageError(f"knowledge base {rag.settings.kb_path} is empty: run `dagrag ingest PATH` first (or `dagrag demo`)")


def _utc(when: Optional[datetime]) -> Optional[datetime]:
    """A date typed on the command line (no zone: UTC) as an aware datetime."""
    return as_utc(when) if when else None


def _answer_with_status(rag, question: str, quiet: bool = False, as_of: Optional[datetime] = None):
    with nullcontext() if quiet else err.status("thinking…", spinner="dots") as status:

        def show(event) -> None:
            if status is not None and event.answer is None:
                status.update(f"[b]{event.kind}[/b] {event.message[:100]}")

        return follow(rag.stream(question, as_of=as_of), show)


# chat ---------------------------------------------------------------------------
@app.command()
def chat(kb: Optional[Path] = KbOption, model: Optional[str] = ModelOption) -> None:
    """Interactive REPL with history; /sources, /graph, /help, /quit."""
    from agent.chat import run_chat

    with _open(kb_path=kb, llm_model=model) as rag:
        _require_documents(rag)
        run_chat(rag, console)


# config and demo ----------------------------------------------------------------
@app.command("config")
def show_config() -> None:
    """Print the effective settings (flags > DAGRAG_* variables > dagrag.toml > defaults)."""
    from agent.settings import embed_model_path, llm_model_path

    s = _settings()
    rows = [*s.model_dump().items(), ("→ GGUF in use", llm_model_path(s)), ("→ embedder in use", embed_model_path(s))]
    render.print_table(console, render.key_value_table("Settings", rows, headers=("setting (TOML key / DAGRAG_ variable)", "value")))


@app.command()
def demo(
    kb: Optional[Path] = typer.Option(Path(".dagrag-demo"), "--kb", help="knowledge-base folder for the demo"),
    question: Optional[str] = typer.Option(None, "--question", "-q", help="ask this instead of the demo question"),
) -> None:
    """Ingest the bundled demo collection and answer a multi-hop question about it."""
    from agent.demo import demo_docs, demo_questions

    with _open(kb_path=kb) as rag:
        console.rule("[b]dagrag demo")
        console.print(f"Ingesting the demo collection ({demo_docs()}) into {kb} …")
        report = _ingest_with_progress(rag, [demo_docs()])
        console.print(f"[green]✓[/] {report.chunks} passages embedded, {len(report.unchanged)} documents already present")
        q = question or demo_questions()[0]["question"]
        answer = _answer_with_status(rag, q)
    console.print(render.full(answer))
    if question is None:
        console.print(f"[dim]expected: {demo_questions()[0]['answer']}[/]")


# eval ---------------------------------------------------------------------------
@app.command("eval")
def evaluate(
    questions: Path = typer.Argument(..., help="questions JSON: [{question, answer, answer_aliases?, ...}] (MuSiQue/HotpotQA shapes too)"),
    corpus: Path = typer.Argument(..., help="corpus JSON: [{title, text}]"),
    method: list[str] = typer.Option(["dag", "vanilla"], "--method", "-m", help="dag, vanilla, none (repeat for several)"),
    planner: list[str] = typer.Option(["llm"], "--planner", help="for dag: llm, gold (MuSiQue gold decomposition); repeat for both"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="first N questions only"),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="passages retrieved per question"),
    max_rounds: Optional[int] = typer.Option(None, "--max-rounds", help="reflection rounds of the dag agent"),
    model: Optional[str] = ModelOption,
    out: Optional[Path] = typer.Option(None, "--out", help="results JSON; an existing one is resumed"),
    kb_cache: Path = typer.Option(Path(".dagrag-eval"), "--kb-cache", help="folder caching the indexed corpora"),
) -> None:
    """Score dag, vanilla RAG and no-retrieval side by side: EM, F1, accuracy, recall@k, cost, latency."""
    from agent.evaluation import runner
    from agent.evaluation.datasets import load_questions

    try:
        variants = runner.variants_for(method, planner)
    except runner.EvalError as exc:
        raise UsageError(str(exc)) from None
    qs = _read_eval(lambda: load_questions(questions, limit), questions)
    docs = _read_eval(lambda: runner.corpus_documents(corpus), corpus)
    with _open(llm_model=model, top_k=top_k, max_rounds=max_rounds) as probe:
        kb = runner.corpus_cache_dir(kb_cache, corpus, probe)
    with _open(kb_path=kb, llm_model=model, top_k=top_k, max_rounds=max_rounds, clarify_budget=0) as rag:  # nobody to ask during an eval
        s = rag.settings
        config = {
            "questions": Path(questions).name,
            "corpus": kb.name,
            "model": s.llm_model or "embedded",
            "top_k": s.top_k,
            "max_rounds": s.max_rounds,
            "node_top_k": s.node_top_k,
            "max_nodes": s.max_nodes,
            "entity_expansion": s.entity_expansion,
            "lexical_channel": s.lexical_channel,
        }
        results = _read_eval(lambda: runner.open_results(out, config), out)
        console.print(f"[b]eval[/b] {len(qs)} questions · {', '.join(variants)} · corpus cached in {kb}")
        report = _ingest_docs_with_progress(rag, docs)
        if report.chunks:
            console.print(f"indexed {report.chunks} passages in {report.seconds:.0f}s")
        todo = len(qs) * len(variants) - len(results.done() & {(v, q.qid) for v in variants for q in qs})
        scores: dict[str, list[float]] = {}
        with Progress(
            TextColumn("[b]answering"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[score]}"),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        ) as bar:
            task = bar.add_task("eval", total=todo, score="")

            def on_record(rec: dict) -> None:
                scores.setdefault(rec["variant"], []).append(rec["metrics"]["f1"])
                running = "  ".join(f"{v} F1 {sum(x) / len(x):.2f}" for v, x in scores.items())
                bar.update(task, advance=1, score=running)

            try:
                runner.run(rag, qs, variants, results, on_record)
            except runner.EvalError as exc:
                raise UsageError(str(exc)) from None
    render.print_table(console, render.eval_table(runner.summarize(results.records)))
    if out:
        console.print(f"results → {out}")


def _read_eval(load, path: Path):
    from agent.evaluation.runner import EvalError

    try:
        return load()
    except FileNotFoundError:
        raise UsageError(f"{path} not found") from None
    except EvalError as exc:
        raise UsageError(str(exc)) from None
    except (ValueError, KeyError) as exc:
        raise UsageError(f"{path}: {str(exc).splitlines()[0]}") from None


def _ingest_docs_with_progress(rag, docs):
    with Progress(
        TextColumn("[b]indexing corpus"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("index", total=None)
        return rag.kb.ingest_documents(
            docs, progress=lambda done, total: bar.update(task, total=total, advance=done), detect_conflicts=False
        )


# kb and review (agent/cli_kb.py) ------------------------------------------------------
from agent.cli_kb import kb_app, review_app  # noqa: E402

app.add_typer(kb_app, name="kb")
app.add_typer(review_app, name="review")


# serve and mcp (agent/server/cli.py) ------------------------------------------------
from agent.server.cli import mcp as _mcp  # noqa: E402
from agent.server.cli import serve as _serve  # noqa: E402

app.command("serve")(_serve)
app.command("mcp")(_mcp)


# errors -------------------------------------------------------------------------
def _is_user_error(exc: BaseException) -> bool:
    """Errors meant for the user (``DagragError``) and the operating system's file errors: reported in one line."""
    return isinstance(exc, (DagragError, FileNotFoundError, PermissionError))


def _take_debug(args: list[str]) -> list[str]:
    """``--debug`` anywhere before a ``--`` (``dagrag ingest --debug x`` as well as ``dagrag --debug ingest x``) turns it on."""
    end = args.index("--") if "--" in args else len(args)
    if "--debug" in args[:end]:
        OPTIONS.debug = True
        return [a for a in args[:end] if a != "--debug"] + args[end:]
    return args


def main(args: Optional[list[str]] = None) -> None:
    """Console entry point: one clear line per error, tracebacks only with --debug."""
    args = _take_debug(list(sys.argv[1:] if args is None else args))
    try:
        code = app(args=args, standalone_mode=False)  # without standalone mode click returns typer.Exit's code instead of raising it
    except (KeyboardInterrupt, typer.Abort):  # click turns Ctrl-C into Abort
        err.print("[yellow]interrupted[/]")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        if _is_user_error(exc):
            _fail(str(exc) or type(exc).__name__, exc)
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):  # a click usage error (typer may vendor click)
            show()
            sys.exit(exc.exit_code)
        _fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)", exc)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, exc: BaseException) -> None:
    if OPTIONS.debug:
        err.print_exception()
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)  # one line, never wrapped
    sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
