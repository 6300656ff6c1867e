"""``dagrag kb`` and ``dagrag review``: inspect and edit the knowledge base, and the human-review queue."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from agent import render
from agent.cli import KbOption, UsageError, _open, console

kb_app = typer.Typer(help="Inspect and edit the knowledge base.", no_args_is_help=True)
review_app = typer.Typer(help="The human-review queue: conflicts and questions waiting for a person.", invoke_without_command=True)


# kb -----------------------------------------------------------------------------
@kb_app.command("stats")
def kb_stats(kb: Optional[Path] = KbOption) -> None:
    """Documents, chunks and statuses in the knowledge base."""
    with _open(kb_path=kb) as rag:
        render.print_table(console, render.stats_table(rag.kb.stats()))


@kb_app.command("list")
def kb_list(kb: Optional[Path] = KbOption) -> None:
    """List the documents in the knowledge base."""
    with _open(kb_path=kb) as rag:
        render.print_table(console, render.documents_table(rag.kb.documents()))


@kb_app.command("rm")
def kb_rm(
    doc: str = typer.Argument(..., help="document id or file path (every passage from that file)"), kb: Optional[Path] = KbOption
) -> None:
    """Forget a document: every version of it leaves Chroma and the ledger (the audit log keeps what happened)."""
    with _open(kb_path=kb) as rag:
        removed = rag.kb.remove(doc)
    if not removed:
        raise UsageError(f"no document '{doc}' in {rag.settings.kb_path}: see `dagrag kb list`")
    console.print(f"[green]✓[/] removed {len(removed)} document(s): " + ", ".join(removed[:5]) + (" …" if len(removed) > 5 else ""))


@kb_app.command("history")
def kb_history(item: str = typer.Argument(..., help="item (chunk) id, or a unique prefix of one"), kb: Optional[Path] = KbOption) -> None:
    """An item's timeline: added, flagged, status changes, resolutions (the audit log)."""
    with _open(kb_path=kb) as rag:
        ledger = rag.kb.ledger
        matches = [i for i in ledger.item_ids(ready_only=False) if i.startswith(item)]
        if len(matches) != 1:
            raise UsageError(f"no item '{item}'" if not matches else f"'{item}' matches {len(matches)} items: give more characters")
        it = ledger.items(matches)[0]
        history = ledger.history(it.item_id)
    console.print(f"[b]{it.item_id}[/b] · {it.title} · {it.source}\n  {render.clip(it.text, 300)}", highlight=False)
    console.print(
        f"  status [b]{it.status.value}[/b]"
        + (f" (superseded by {it.superseded_by})" if it.superseded_by else "")
        + f" · valid {it.valid_from:%Y-%m-%d} → {f'{it.valid_to:%Y-%m-%d}' if it.valid_to else 'now'}",
        highlight=False,
    )
    console.print(f"  {it.added_at:%Y-%m-%d %H:%M} added")
    for e in history:
        console.print(
            f"  {e.at:%Y-%m-%d %H:%M} {e.action} by {e.actor}"
            + (f" (review #{e.review_id})" if e.review_id else "")
            + f": {render.audit_detail(e.detail)}",
            highlight=False,
        )


# review -------------------------------------------------------------------------
@review_app.callback()
def review_list(
    ctx: typer.Context, kb: Optional[Path] = KbOption, all_: bool = typer.Option(False, "--all", help="resolved ones too")
) -> None:
    """List open review items, oldest first (subcommands: show, resolve, answer)."""
    if ctx.invoked_subcommand is not None:
        return
    with _open(kb_path=kb) as rag:
        console.print(render.review_table(rag.reviews(None if all_ else "open")))


@review_app.command("show")
def review_show(review_id: int = typer.Argument(..., help="review id"), kb: Optional[Path] = KbOption) -> None:
    """Both sides with sources and times, the judge's reason, and the questions that hit it."""
    with _open(kb_path=kb) as rag:
        review = rag.kb.ledger.review(review_id)
        # each side by its own id: a side whose document was removed is None, and the other keeps its label
        sides = (
            [next(iter(rag.kb.evidence_for([i or ""])), None) for i in (review.old_item, review.new_item)]
            if review.kind == "conflict"
            else []
        )
        items = rag.kb.ledger.items([s.chunk_id for s in sides if s is not None])
        console.print(render.review_detail(review, sides, rag.kb.ledger.hits(review_id), items))


@review_app.command("resolve")
def review_resolve(
    review_id: int = typer.Argument(..., help="review id"),
    keep: str = typer.Option(..., "--keep", help="new: the old side is superseded; old: the new side is; both: both stay valid"),
    edit: Optional[str] = typer.Option(None, "--edit", help="a corrected statement that replaces both sides"),
    note: Optional[str] = typer.Option(None, "--note", help="why (kept in the audit log)"),
    by: Optional[str] = typer.Option(None, "--by", help="who decides [default: $USER]"),
    kb: Optional[Path] = KbOption,
) -> None:
    """Resolve a conflict. History is kept: nothing is deleted, every decision is logged."""
    if keep not in ("new", "old", "both"):
        raise UsageError("--keep must be new, old or both")
    with _open(kb_path=kb) as rag:
        review = rag.resolve(review_id, keep, by=by, note=note, edit=edit)
    console.print(
        f"[green]✓[/] review #{review.review_id} resolved by {review.resolved_by}: keep {review.resolution}"
        + (f" (new item {review.result_item[:12]})" if review.result_item else "")
    )


@review_app.command("answer")
def review_answer(
    review_id: int = typer.Argument(..., help="review id of a question the agent asked"),
    text: Optional[str] = typer.Argument(None, help="your answer: it becomes knowledge from you"),
    keep: Optional[str] = typer.Option(None, "--keep", help="for a conflict question: new, old or both"),
    by: Optional[str] = typer.Option(None, "--by", help="who answers [default: $USER]"),
    kb: Optional[Path] = KbOption,
) -> None:
    """Answer a question the agent raised; a run paused on it resumes and prints its answer."""
    if not text and not keep:
        raise UsageError("give your answer as TEXT, or --keep new|old|both for a conflict")
    if keep and keep not in ("new", "old", "both"):
        raise UsageError("--keep must be new, old or both")
    with _open(kb_path=kb) as rag:
        answer = rag.answer_review(review_id, keep=keep, text=text, by=by)
        review = rag.kb.ledger.review(review_id)
    if answer is not None:
        console.print(render.full(answer))
    elif review.kind == "clarification":
        console.print(f"[green]✓[/] review #{review_id} answered; your statement is now in the knowledge base")
    else:
        console.print(f"[green]✓[/] review #{review_id} resolved by {review.resolved_by}: keep {review.resolution}")
