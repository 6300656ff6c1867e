"""Rich renderings of answers, citations, DAGs, tables and knowledge-base stats."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agent.evidence import clip as _clip
from agent.server.views import differing_statements
from agent.types import Answer
from graph import Plan, render_tree


def answer_panel(answer: Answer) -> Panel:
    body = Text(answer.answer, style="bold")
    if answer.citations:
        body.append("  " + " ".join(f"[{i}]" for i in range(1, len(answer.citations) + 1)), style="cyan")
    u, t = answer.usage, answer.timings
    subtitle = (
        f"{u.llm_calls} LLM calls · {u.prompt_tokens}+{u.completion_tokens} tokens · {t.get('total', 0):.1f}s · plan: {answer.plan_source}"
    )
    return Panel(body, title=f"[b]{answer.question}", title_align="left", subtitle=subtitle, subtitle_align="right", border_style="green")


def citations_table(answer: Answer) -> RenderableType:
    """Numbered sources: title, file and chunk id, then a short snippet."""
    if not answer.citations:
        return Text("no citations", style="dim")
    lines = Text()
    lines.append("Sources\n", style="bold")
    for i, c in enumerate(answer.citations, 1):
        lines.append(f"[{i}] ", style="cyan")
        lines.append(c.title or "(untitled)", style="bold")
        lines.append(f"  {c.source}  chunk {c.chunk_id[:12]}\n", style="dim")
        lines.append(f"    {' '.join(c.snippet.split())}\n")
    return lines


def dag_tree(answer: Answer) -> RenderableType:
    """The solved DAG (``graph.render_tree``'s layout) with each sub-question as resolved and its answer."""
    if not answer.nodes:
        why = "answered from the warm-up evidence; no sub-questions needed" if answer.plan_source == "warmup" else "no DAG"
        return Text(why, style="dim")
    plan = Plan.model_validate(
        {"nodes": [{"id": n.id, "question": n.resolved_question or n.question, "depends_on": n.depends_on} for n in answer.nodes]}
    )
    tree = render_tree(plan, {n.id: n.answer or "…" for n in answer.nodes})
    return Group(Text.assemble(("DAG", "bold"), (f" ({answer.plan_source}, {len(answer.nodes)} node(s))", "dim")), Text(tree))


def clip(text: str, n: int) -> str:
    """One line of at most ``n`` characters."""
    return _clip(" ".join(text.split()), n)


def caveats(answer: Answer) -> RenderableType:
    """Conflicts under review, and the self-check's confidence."""
    lines = Text()
    for c in answer.caveats:
        lines.append(f"⚠ {c}\n", style="yellow")
    if answer.confidence:
        style = {"high": "green", "moderate": "yellow", "low": "red"}[answer.confidence]
        lines.append("confidence: ", style="dim")
        lines.append(answer.confidence, style=style)
        failed = [c.detail for c in answer.self_check if not c.ok]
        lines.append(f" ({'; '.join(failed)})" if failed else "", style="dim")
    if answer.as_of:
        lines.append(f" · as of {answer.as_of:%Y-%m-%d}", style="dim")
    return lines


# tables --------------------------------------------------------------------------
def print_table(console: Console, table: RenderableType) -> None:
    """Print a table; to a file or a pipe at its natural width, so no column is squeezed to "0.…"."""
    if console.is_terminal:
        console.print(table)
        return
    natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
    width = console.width
    console.width = max(width, natural)
    try:
        console.print(table)
    finally:
        console.width = width


def key_value_table(title: str | None, rows: Iterable[tuple[str, object]], headers: tuple[str, str] | None = None) -> Table:
    """Two columns: a name and its value (None shows as empty)."""
    table = Table(title=title, title_justify="left", show_header=headers is not None)
    for header in headers or ("", ""):
        table.add_column(header, overflow="fold")
    for key, value in rows:
        table.add_row(key, "" if value is None else str(value))
    return table


def stats_table(s) -> Table:
    """``KnowledgeBase.stats()``: documents, chunks, vectors, statuses, embedder."""
    rows = [
        ("documents", s.documents),
        ("chunks", s.chunks),
        ("… of earlier document versions", s.expired),
        ("vectors in Chroma", s.vectors),
        *s.by_status.items(),
        ("embedder", s.embedder),
    ]
    if getattr(s, "entity_index", None) is not None:
        ix = s.entity_index
        rows += [
            ("entity index: chunks indexed", ix.items),
            ("… distinct entities", ix.entities),
            ("… about / mention links", f"{ix.about} / {ix.mentions}"),
        ]
    return key_value_table(f"Knowledge base {s.path}", rows)


def documents_table(documents) -> Table:
    table = Table(title_justify="left")
    for col in ("doc id", "title", "chunks", "ingested (UTC)"):
        table.add_column(col, overflow="fold")
    for d in documents:
        table.add_row(d.doc_id, d.title, str(d.n_chunks), d.ingested_at.strftime("%Y-%m-%d %H:%M"))
    return table


EVAL_COLUMNS = [
    ("n", "n", "{:.0f}"),
    ("EM", "em", "{:.3f}"),
    ("F1", "f1", "{:.3f}"),
    ("Acc", "acc", "{:.3f}"),
    ("R@2", "recall@2", "{:.3f}"),
    ("R@5", "recall@5", "{:.3f}"),
    ("calls", "llm_calls", "{:.1f}"),
    ("tokens", "tokens", "{:.0f}"),
    ("p50 s", "p50_s", "{:.1f}"),
    ("p95 s", "p95_s", "{:.1f}"),
    ("fallback", "fallback_rate", "{:.2f}"),
    ("hops=", "hops_match", "{:.2f}"),
    ("DAG=", "structure_match", "{:.2f}"),
]


def eval_table(summary: dict) -> Table:
    """The evaluation summary: one row per method, the metrics it has."""
    table = Table(title="dagrag eval", title_justify="left")
    table.add_column("method")
    for title, _, _ in EVAL_COLUMNS:
        table.add_column(title, justify="right")
    for variant, row in summary.items():
        table.add_row(variant, *[(fmt.format(row[key]) if key in row else "–") for _, key, fmt in EVAL_COLUMNS])
    return table


def review_table(reviews) -> RenderableType:
    if not reviews:
        return Text("no review items", style="dim")
    table = Table(title="Review queue (oldest first)", title_justify="left", expand=True)
    for col, kw in (("#", {"style": "cyan", "width": 4}), ("kind", {}), ("state", {}), ("created (UTC)", {}), ("question", {"ratio": 3})):
        table.add_column(col, overflow="fold", **kw)
    for r in reviews:
        state = r.state if r.state == "open" else f"{r.state} by {r.resolved_by}: keep {r.resolution}"
        table.add_row(str(r.review_id), r.kind, state, f"{r.created_at:%Y-%m-%d %H:%M}", clip(r.question, 200))
    return table


def review_detail(review, sides, hits, items) -> RenderableType:
    """Both sides of a review with sources and times, the judge's reason and the questions that hit it.

    ``sides``: the older and the newer side's evidence for a conflict (None where its document was removed), else empty.
    """
    out = Text()
    out.append(f"Review #{review.review_id} · {review.kind} · {review.state}\n", style="bold")
    out.append(f"{review.question}\n\n")
    by_id = {i.item_id: i for i in items}
    for label, side, statement in zip(("older", "newer"), sides, (review.old_statement, review.new_statement)):
        out.append(f"{label}: ", style="bold")
        if side is None:
            out.append("its document was removed from the knowledge base\n", style="dim")
            out.append(f"  \u201c{statement}\u201d\n")
            continue
        item = by_id.get(side.chunk_id)
        out.append(f"{side.title} · {side.source} · item {side.chunk_id[:12]}\n", style="dim")
        if item:
            out.append(
                f"  valid from {item.valid_from:%Y-%m-%d}, added {item.added_at:%Y-%m-%d %H:%M}, status {item.status.value}\n", style="dim"
            )
        out.append(f"  \u201c{statement}\u201d\n")
    if len(sides) == 2 and None not in sides:
        _differences(out, differing_statements(sides[0].text, sides[1].text, (review.old_statement, review.new_statement)))
    if review.relation:
        out.append(f"\njudge ({review.detector}): {review.relation}, confidence {review.confidence:.2f} — {review.reason}\n")
    if review.state == "resolved":
        out.append(
            f"resolved by {review.resolved_by} at {review.resolved_at:%Y-%m-%d %H:%M}: keep {review.resolution}"
            + (f" — {review.note}" if review.note else "")
            + "\n",
            style="green",
        )
    if hits:
        out.append(f"\nquestions that hit it ({len(hits)}):\n", style="bold")
        for q, at in hits[-10:]:
            out.append(f"  {at:%Y-%m-%d %H:%M} {clip(q, 120)}\n")
    return out


def _differences(out: Text, diffs: list) -> None:
    """Every statement that differs between the two sides (not only the flagged pair), changed values in bold."""
    if len(diffs) < 2:
        return  # the flagged pair, shown above
    out.append(f"\nevery statement that differs ({len(diffs)}):\n", style="bold")
    for d in diffs:
        for label, segments in (("older", d.old), ("newer", d.new)):
            out.append(f"  {label}{' *' if d.triggered else '  '} ", style="dim")
            if not segments:
                out.append("(not said)\n", style="dim")
                continue
            for s in segments:
                out.append(s.text, style="bold yellow" if s.changed else "")
            out.append("\n")


def audit_detail(detail: dict) -> str:
    if "before" in detail:
        return f"{detail['before']} → {detail['after']}" + (
            f" (superseded by {detail['superseded_by'][:12]})" if detail.get("superseded_by") else ""
        )
    return ", ".join(f"{k}={clip(str(v), 60)}" for k, v in detail.items() if v not in (None, ""))


def fallbacks(answer: Answer) -> RenderableType:
    if not answer.fallbacks:
        return Text("")
    return Text("\n".join(f"• {f}" for f in answer.fallbacks), style="yellow")


def full(answer: Answer) -> Group:
    parts: list[RenderableType] = [answer_panel(answer), caveats(answer), citations_table(answer), dag_tree(answer)]
    if answer.fallbacks:
        parts.append(Text("Fallbacks taken:", style="bold yellow"))
        parts.append(fallbacks(answer))
    return Group(*parts)
