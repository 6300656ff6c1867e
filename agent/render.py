"""Rich renderings of answers, citations, DAGs and knowledge-base stats."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text
from rich.tree import Tree

from agent.types import Answer


def answer_panel(answer: Answer) -> Panel:
    body = Text(answer.answer, style="bold")
    if answer.citations:
        body.append("  " + " ".join(f"[{i}]" for i in range(1, len(answer.citations) + 1)), style="cyan")
    u, t = answer.usage, answer.timings
    subtitle = f"{u.llm_calls} LLM calls · {u.prompt_tokens}+{u.completion_tokens} tokens · {t.get('total', 0):.1f}s · plan: {answer.plan_source}"
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
    if not answer.nodes:
        why = "answered from the warm-up evidence; no sub-questions needed" if answer.plan_source == "warmup" else "no DAG"
        return Text(why, style="dim")
    root = Tree(f"[b]DAG[/b] [dim]({answer.plan_source}, {len(answer.nodes)} node(s))")
    by_id = {n.id: n for n in answer.nodes}
    children: dict[int, list[int]] = {n.id: [] for n in answer.nodes}
    for n in answer.nodes:
        for d in n.depends_on:
            if d in children:
                children[d].append(n.id)

    def add(parent: Tree, node_id: int, path: tuple[int, ...]) -> None:
        n = by_id[node_id]
        also = [d for d in n.depends_on if path and d != path[-1]]
        label = Text(f"[{n.id}] ", style="cyan")
        label.append(n.resolved_question or n.question)
        label.append(f"  → {n.answer or '…'}", style="bold green" if n.answer and n.answer != "unknown" else "yellow")
        if also:
            label.append(f"  (also needs {', '.join(f'[{d}]' for d in also)})", style="dim")
        branch = parent.add(label)
        for child in children[node_id]:
            if child not in path:
                add(branch, child, (*path, node_id))

    for n in answer.nodes:
        if not n.depends_on or all(d not in by_id for d in n.depends_on):
            add(root, n.id, ())
    return root


def fallbacks(answer: Answer) -> RenderableType:
    if not answer.fallbacks:
        return Text("")
    return Text("\n".join(f"• {f}" for f in answer.fallbacks), style="yellow")


def full(answer: Answer) -> Group:
    parts: list[RenderableType] = [answer_panel(answer), citations_table(answer), dag_tree(answer)]
    if answer.fallbacks:
        parts.append(Text("Fallbacks taken:", style="bold yellow"))
        parts.append(fallbacks(answer))
    return Group(*parts)
