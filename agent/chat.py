"""The ``dagrag chat`` REPL: line editing and history (prompt_toolkit), live progress (rich)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory, InMemoryHistory
from rich.console import Console

from agent import render
from agent.api import DagRAG, QuestionError
from agent.types import Answer, StepEvent, follow

HELP = """[b]Ask a question[/b], or:
  /sources   sources of the last answer
  /graph     the DAG of the last answer (add 'mermaid' for Mermaid)
  /help      this help
  /quit      leave (also Ctrl-D)
Ctrl-C stops the answer being written, or clears the line."""


def run_chat(rag: DagRAG, console: Console, session: PromptSession | None = None) -> None:
    """Read questions until /quit or end of input."""
    if session is None:
        history = _history(rag.settings.kb_path / "chat_history")
        session = PromptSession(history=history)
    console.print(f"[b]dagrag chat[/b] · knowledge base {rag.settings.kb_path} · /help for commands")
    last: Answer | None = None
    while True:
        try:
            line = session.prompt("❯ ").strip()
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if not line:
            continue
        if line.startswith("/"):
            command, _, arg = line[1:].partition(" ")
            if command in ("quit", "exit", "q"):
                break
            if command == "help":
                console.print(HELP)
            elif command == "sources":
                console.print(render.citations_table(last) if last else "[dim]no answer yet[/]")
            elif command == "graph":
                if last is None:
                    console.print("[dim]no answer yet[/]")
                elif arg.strip() == "mermaid":
                    console.print(last.dag_mermaid() or "[dim]no DAG[/]", markup=False)
                else:
                    console.print(render.dag_tree(last))
            else:
                console.print(f"[yellow]unknown command /{command}[/]: /help lists them")
            continue
        try:
            last = _ask(rag, line, console, session) or last
        except QuestionError as exc:
            console.print(f"[red]{exc}[/]")
        except KeyboardInterrupt:
            console.print("[yellow]stopped[/]")
    console.print("bye")


def _ask(rag: DagRAG, question: str, console: Console, session: PromptSession) -> Answer | None:
    """Answer interactively: the agent may pause to ask the person a question, answered here."""
    answer, pause = _follow(rag.stream(question, interactive=True), console)
    while pause is not None:  # a skipped question stays in `dagrag review`; the run goes on without the answer
        more, pause = _follow(rag.resume(pause.review_id, **_ask_person(pause, console, session)), console)
        answer = more or answer
    if answer is not None:
        console.print(render.answer_panel(answer))
        console.print(render.caveats(answer))
        console.print(render.dag_tree(answer))
    return answer


def _follow(events: Iterable[StepEvent], console: Console) -> tuple[Answer | None, StepEvent | None]:
    """One stretch of a run under a spinner: its answer, and the question it paused on (if it did)."""
    questions: list[StepEvent] = []
    with console.status("thinking…", spinner="dots") as status:

        def show(event: StepEvent) -> None:
            if event.answer is None and event.kind == "question":
                questions.append(event)
            elif event.answer is None:
                status.update(f"[b]{event.kind}[/b] {event.message[:100]}")

        answer = follow(events, show)
    return answer, (questions[-1] if questions else None)


def _ask_person(event, console: Console, session: PromptSession) -> dict:
    """Put the agent's question to the person; Enter skips (the item stays in `dagrag review`)."""
    console.print(f"[b yellow]? {event.message}[/] [dim](review #{event.review_id})[/]")
    hint = "keep [n]ew / [o]ld / [b]oth, or type a statement; Enter skips" if event.options else "your answer; Enter skips"
    try:
        line = session.prompt(f"  {hint}: ").strip()
    except (KeyboardInterrupt, EOFError):
        line = ""
    keep = {"n": "new", "new": "new", "o": "old", "old": "old", "b": "both", "both": "both"}.get(line.lower()) if event.options else None
    return {"keep": keep, "text": None if keep else (line or None)}


def _history(path: Path):
    try:
        return FileHistory(str(path))
    except OSError:
        return InMemoryHistory()
