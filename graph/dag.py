"""Pure helpers for sub-question DAGs: validation, repair, scheduling, substitution and rendering.

Conventions:

* Edges point from a dependency to the node that needs its answer (``dep -> node``), in
  :func:`to_networkx`, Mermaid output, and cycle/edge descriptions in repair notes.
* A sub-question cites the answer of node ``k`` as ``#k`` (regex ``#(\\d+)\\b``). A citation must
  point to a transitive dependency: it is then answered before the citing node runs.
* With duplicate ids, the first node with an id wins (:meth:`Plan.node`, :func:`to_networkx`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

import networkx as nx
from pydantic import BaseModel, ConfigDict

from graph.plan import Plan, PlanNode

REF = re.compile(r"#(\d+)\b")
_TOKEN = re.compile(r"#\d+\b|\w+")
_RESTATES = 0.75  # share of the question's tokens a sub-question must hold to count as a restatement
_SAME = 0.8  # token Jaccard at or above which two questions count as the same


class RepairReport(BaseModel):
    """A repaired plan and one human-readable note per change (empty when nothing changed)."""

    model_config = ConfigDict(frozen=True)

    plan: Plan
    repairs: list[str]


# --- text -----------------------------------------------------------------------------------


def referenced_ids(sub_question: str) -> set[int]:
    """Ids cited as ``#k`` in a sub-question."""
    return {int(k) for k in REF.findall(sub_question)}


def substitute_answers(sub_question: str, answers: dict[int, str]) -> str:
    """Replace each ``#k`` by ``answers[k]`` (single pass); citations without an answer stay."""
    return _sub_refs(sub_question, lambda k, ref: answers.get(k, ref))


def _sub_refs(text: str, repl: Callable[[int, str], str]) -> str:
    return REF.sub(lambda m: repl(int(m.group(1)), m.group(0)), text)


def _tokens(text: str) -> list[str]:
    """Lower-case word tokens; ``#k`` stays one token, with ``#03`` read as ``#3``."""
    return [f"#{int(t[1:])}" if t.startswith("#") else t for t in _TOKEN.findall(text.casefold())]


def normalized(text: str) -> str:
    return " ".join(_tokens(text))


def _jaccard(a: str, b: str) -> float:
    x, y = set(_tokens(a)), set(_tokens(b))
    return len(x & y) / len(x | y) if x | y else 1.0


def _containment(question: str, sub: str) -> float:
    """Share of the question's tokens that also occur in ``sub``."""
    q = set(_tokens(question))
    return len(q & set(_tokens(sub))) / len(q) if q else 1.0


# --- graph ----------------------------------------------------------------------------------


def _first_nodes(nodes: list[PlanNode]) -> dict[int, PlanNode]:
    out: dict[int, PlanNode] = {}
    for n in nodes:
        out.setdefault(n.id, n)
    return out


def _graph(nodes: list[PlanNode]) -> nx.DiGraph:
    by_id = _first_nodes(nodes)
    g = nx.DiGraph()
    g.add_nodes_from((i, {"question": n.question}) for i, n in by_id.items())
    g.add_edges_from((d, i) for i, n in by_id.items() for d in n.depends_on if d in by_id)
    return g


def to_networkx(plan: Plan) -> nx.DiGraph:
    """Directed graph ``dep -> node`` with a ``question`` attribute; edges to unknown ids are skipped."""
    return _graph(plan.nodes)


def topological_generations(plan: Plan) -> list[list[int]]:
    """Ranks of nodes that can run together, ids sorted in each; ``ValueError`` on a cycle."""
    try:
        return [sorted(gen) for gen in nx.topological_generations(to_networkx(plan))]
    except nx.NetworkXUnfeasible as e:
        raise ValueError("plan has a dependency cycle") from e


# --- validation -----------------------------------------------------------------------------


def validate_plan(plan: Plan) -> list[str]:
    """Problems with a plan; ``[]`` means it can be run as is (ids need not be ``1..n``)."""
    if not plan.nodes:
        return ["plan has no nodes"]
    problems: list[str] = []
    ids = {n.id for n in plan.nodes}
    seen: set[int] = set()
    questions: dict[str, int] = {}
    for n in plan.nodes:
        if n.id in seen:
            problems.append(f"duplicate node id {n.id}")
        seen.add(n.id)
        if not n.question.strip():
            problems.append(f"node {n.id}: empty sub-question")
        else:
            if n.question != n.question.strip():
                problems.append(f"node {n.id}: sub-question has surrounding whitespace")
            first = questions.setdefault(normalized(n.question), n.id)
            if first != n.id:
                problems.append(f"nodes {first} and {n.id} ask the same sub-question")
        for j, d in enumerate(n.depends_on):
            if d == n.id:
                problems.append(f"node {n.id} depends on itself")
            elif d not in ids:
                problems.append(f"node {n.id} depends on missing node {d}")
            elif d in n.depends_on[:j]:
                problems.append(f"node {n.id} lists dependency {d} more than once")
    g = to_networkx(plan)
    g.remove_edges_from(list(nx.selfloop_edges(g)))
    try:
        problems.append(f"dependency cycle {_cycle_text(nx.find_cycle(g))}")
    except nx.NetworkXNoCycle:
        pass
    for n in plan.nodes:
        ancestors = nx.ancestors(g, n.id)
        for k in sorted(referenced_ids(n.question)):
            if k not in ids:
                problems.append(f"node {n.id} cites #{k}, which does not exist")
            elif k == n.id:
                problems.append(f"node {n.id} cites itself (#{k})")
            elif k not in ancestors:
                problems.append(f"node {n.id} cites #{k}, which is not among its dependencies")
    return problems


def _cycle_text(cycle: list[tuple[int, int]]) -> str:
    return " -> ".join(str(u) for u, _ in cycle) + f" -> {cycle[0][0]}"


# --- repair ---------------------------------------------------------------------------------


def repair_plan(plan: Plan, max_nodes: int = 5, fallback_question: str | None = None) -> RepairReport:
    """Return a plan that :func:`validate_plan` accepts, with 1..max_nodes nodes numbered ``1..n``
    in topological order, noting every change.

    Steps: strip questions and drop empty ones; drop duplicate ids (first wins); merge identical
    sub-questions; drop self-loops, dangling and repeated edges; add a dependency for every ``#k``
    citation; break cycles; rewrite citations that are still not dependencies (an existing node's
    citation is replaced by its question text, any other loses its ``#``); cap the node count
    (keeping an ancestor-closed set, the last sink's chain first); renumber. A valid plan already
    numbered ``1..n`` in topological order comes back equal, with no notes. If no node has a
    question, the plan becomes ``fallback_question`` as a single node, or ``ValueError`` is raised.
    """
    if max_nodes < 1:
        raise ValueError("max_nodes must be at least 1")
    notes: list[str] = []
    nodes = _clean(plan.nodes, notes)
    if not nodes:
        if fallback_question is None or not fallback_question.strip():
            raise ValueError("plan has no usable nodes and no fallback question was given")
        notes.append("no usable nodes; replaced by the question itself")
        nodes = [PlanNode(id=1, question=fallback_question.strip())]
    while True:  # each pass either changes nothing or removes nodes, edges or citations
        before = len(notes)
        nodes = _merge_duplicates(nodes, notes)
        _fix_edges(nodes, notes)
        _add_citation_edges(nodes, notes)
        _break_cycles(nodes, notes)
        _fix_citations(nodes, notes)
        if len(notes) == before:
            break
    nodes = _cap(nodes, max_nodes, notes)
    nodes = _renumber(nodes, notes)
    return RepairReport(plan=Plan(nodes=nodes, parts=plan.parts if not notes else []), repairs=notes)


def _clean(nodes: list[PlanNode], notes: list[str]) -> list[PlanNode]:
    out: list[PlanNode] = []
    seen: set[int] = set()
    for n in nodes:
        q = n.question.strip()
        if not q:
            notes.append(f"dropped empty sub-question {n.id}")
        elif n.id in seen:
            notes.append(f"dropped node {n.id}: duplicate id (kept the first)")
        else:
            if q != n.question:
                notes.append(f"stripped whitespace from sub-question {n.id}")
            seen.add(n.id)
            out.append(PlanNode(id=n.id, question=q, depends_on=list(n.depends_on)))
    return out


def _merge_duplicates(nodes: list[PlanNode], notes: list[str]) -> list[PlanNode]:
    kept: dict[str, PlanNode] = {}
    alias: dict[int, int] = {}
    for n in nodes:
        first = kept.setdefault(normalized(n.question), n)
        if first is not n:
            alias[n.id] = first.id
            first.depends_on += [d for d in n.depends_on if d not in first.depends_on]
            notes.append(f"merged node {n.id} into node {first.id} (same sub-question)")
    if not alias:
        return nodes
    out = list(kept.values())
    for n in out:
        n.depends_on = list(dict.fromkeys(alias.get(d, d) for d in n.depends_on))
        n.question = _sub_refs(n.question, lambda k, ref: f"#{alias[k]}" if k in alias else ref)
    return out


def _fix_edges(nodes: list[PlanNode], notes: list[str]) -> None:
    ids = {n.id for n in nodes}
    for n in nodes:
        deps: list[int] = []
        for d in n.depends_on:
            if d == n.id:
                notes.append(f"dropped self-loop on node {d}")
            elif d not in ids:
                notes.append(f"dropped edge {d} -> {n.id}: node {d} does not exist")
            elif d in deps:
                notes.append(f"dropped repeated edge {d} -> {n.id}")
            else:
                deps.append(d)
        n.depends_on = deps


def _add_citation_edges(nodes: list[PlanNode], notes: list[str]) -> None:
    g = _graph(nodes)
    for n in nodes:
        for k in sorted(referenced_ids(n.question)):
            if k in g and k != n.id and k not in nx.ancestors(g, n.id):
                n.depends_on.append(k)
                g.add_edge(k, n.id)
                notes.append(f"added edge {k} -> {n.id}: node {n.id} cites #{k}")


def _break_cycles(nodes: list[PlanNode], notes: list[str]) -> None:
    g = _graph(nodes)
    by_id = {n.id: n for n in nodes}
    while True:
        try:
            cycle = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            return
        # Prefer an edge no citation relies on, then a back edge (higher id -> lower id).
        u, v = min(cycle, key=lambda e: (e[0] in referenced_ids(by_id[e[1]].question), e[0] < e[1], -e[0], -e[1]))
        g.remove_edge(u, v)
        by_id[v].depends_on.remove(u)
        notes.append(f"broke cycle {_cycle_text(cycle)} by dropping edge {u} -> {v}")


def _fix_citations(nodes: list[PlanNode], notes: list[str]) -> None:
    g = _graph(nodes)
    by_id = {n.id: n for n in nodes}
    for n in nodes:
        n.question = _sub_refs(n.question, partial(_fix_citation, n.id, nx.ancestors(g, n.id), by_id, notes))


def _fix_citation(node_id: int, ancestors: set[int], by_id: dict[int, PlanNode], notes: list[str], k: int, ref: str) -> str:
    if k in ancestors:
        return ref
    if k in by_id and k != node_id:
        notes.append(f"node {node_id}: replaced {ref} by the text of node {k}, which it does not depend on")
        return f'the answer to "{REF.sub("it", by_id[k].question)}"'
    notes.append(f"node {node_id}: {ref} cites {'itself' if k == node_id else 'no node'}; removed the '#'")
    return ref[1:]


def _cap(nodes: list[PlanNode], max_nodes: int, notes: list[str]) -> list[PlanNode]:
    if len(nodes) <= max_nodes:
        return nodes
    g = _graph(nodes)
    order = list(nx.lexicographical_topological_sort(g))
    sinks = [i for i in order if g.out_degree(i) == 0]
    keep: set[int] = set()
    for c in [*reversed(sinks), *order]:  # the last sink with its whole chain first, then fill up
        need = (nx.ancestors(g, c) | {c}) - keep
        if len(keep) + len(need) <= max_nodes:
            keep |= need
    dropped = ", ".join(str(n.id) for n in nodes if n.id not in keep)
    notes.append(f"capped plan at {max_nodes} nodes (dropped {dropped})")
    return [n for n in nodes if n.id in keep]


def _renumber(nodes: list[PlanNode], notes: list[str]) -> list[PlanNode]:
    order = list(nx.lexicographical_topological_sort(_graph(nodes)))
    new = {old: i for i, old in enumerate(order, start=1)}
    if [n.id for n in nodes] == order and all(old == i for old, i in new.items()):
        return nodes
    changed = [f"{old}->{i}" for old, i in new.items() if old != i]
    notes.append(f"renumbered ids ({', '.join(changed)})" if changed else "reordered nodes topologically")
    by_id = {n.id: n for n in nodes}
    return [
        PlanNode(
            id=new[old],
            question=_sub_refs(by_id[old].question, lambda k, ref: f"#{new[k]}" if k in new else ref),
            depends_on=[new[d] for d in by_id[old].depends_on],
        )
        for old in order
    ]


# --- degenerate plans -----------------------------------------------------------------------


_NAME = re.compile(r"(?<![.?!]\s)(?<!^)\b[A-Z][\w'-]+")  # a capitalised word that does not start a sentence


def example_names(examples: list[str]) -> frozenset[str]:
    """The names in a prompt's few-shot examples ("Acme", "Titanic"), case-folded."""
    return frozenset(m.casefold() for text in examples for m in _NAME.findall(text.strip()))


def borrowed_names(text: str, question: str, names: frozenset[str]) -> list[str]:
    """Names from the few-shot examples that ``text`` uses and ``question`` does not: a weak
    model copying the prompt's example instead of decomposing the question."""
    own = set(_tokens(question))
    return sorted({t for t in _tokens(text) if t in names and t not in own})


def is_followup_question(text: str, question: str, names: frozenset[str] = frozenset(), min_words: int = 3) -> bool:
    """Whether a follow-up sub-question proposed by reflection is worth retrieving for: a
    question of at least ``min_words`` words, not a copy of the question, not borrowed from the examples."""
    words = [t for t in _tokens(text) if not t.startswith("#")]
    return len(words) >= min_words and _jaccard(text, question) < _SAME and not borrowed_names(text, question, names)


def degenerate_reason(plan: Plan, question: str, names: frozenset[str] = frozenset()) -> str | None:
    """Why a plan adds nothing over asking ``question`` directly, or ``None`` if it is fine.

    ``names``: see :func:`example_names`; a plan using them copies the prompt's example.
    """
    if not plan.nodes:
        return "plan has no sub-questions"
    for n in plan.nodes:
        if len(n.question.strip()) < 3:
            return f"sub-question {n.id} is empty or too short"
        if borrowed := borrowed_names(n.question, question, names):
            return f"sub-question {n.id} copies the prompt's example ({', '.join(borrowed)})"
    if len(plan.nodes) == 1:
        if _jaccard(plan.nodes[0].question, question) >= _SAME:
            return "the only sub-question repeats the question"
        return "a single sub-question does not decompose the question"
    if all(_jaccard(n.question, question) >= _SAME for n in plan.nodes):
        return "every sub-question repeats the question"
    if not any(n.depends_on for n in plan.nodes):
        if all(_containment(question, n.question) >= _RESTATES for n in plan.nodes):
            return "every sub-question restates the question and none builds on another"
        if any(_jaccard(n.question, question) >= _SAME for n in plan.nodes):
            return "a sub-question repeats the question and none builds on another"
    if len({normalized(n.question) for n in plan.nodes}) == 1:
        return "all sub-questions are the same"
    return None


# --- rendering ------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_tree(plan: Plan, answers: dict[int, str] | None = None) -> str:
    """Indented text tree from the roots down to the nodes that need them.

    Each node appears once, under its highest-id dependency; its other dependencies are noted as
    ``(also needs [k])``. An answer, when given, follows `` -> ``. Never raises, even on cycles.
    """
    answers = answers or {}
    by_id = _first_nodes(plan.nodes)
    parents = {i: [d for d in dict.fromkeys(n.depends_on) if d in by_id and d != i] for i, n in by_id.items()}
    shown_under = {i: max(ps) for i, ps in parents.items() if ps}
    children: dict[int, list[int]] = {i: [] for i in by_id}
    for i, p in shown_under.items():
        children[p].append(i)
    lines: list[str] = []
    done: set[int] = set()

    def walk(i: int, head: str, indent: str) -> None:
        done.add(i)
        text = f"[{i}] {_one_line(by_id[i].question)}"
        also = [f"[{d}]" for d in parents[i] if d != shown_under.get(i)]
        if also:
            text += f" (also needs {', '.join(also)})"
        if i in answers:
            text += f" -> {_one_line(answers[i])}"
        lines.append(head + text)
        kids = [c for c in children[i] if c not in done]
        for j, c in enumerate(kids):
            last = j == len(kids) - 1
            walk(c, indent + ("└─ " if last else "├─ "), indent + ("   " if last else "│  "))

    for i in [*(i for i in by_id if i not in shown_under), *by_id]:  # roots, then anything on a cycle
        if i not in done:
            walk(i, "", "")
    return "\n".join(lines)


def _mermaid_text(text: str) -> str:
    text = re.sub(r"#(?=\w+;)", "#35;", _one_line(text))  # only where Mermaid would see an entity code
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _mermaid_id(i: int) -> str:
    return f"n{i}" if i >= 0 else f"n_{-i}"


def render_mermaid(plan: Plan, answers: dict[int, str] | None = None) -> str:
    """Mermaid ``flowchart TD``: one line per node, then one ``dep --> node`` line per edge.

    Labels escape ``"``, ``<``, ``>`` (and a ``#`` that would start an entity code) as Mermaid
    entity codes, e.g. ``#quot;``; an answer, when given, goes on a second label line after ``→``.
    """
    answers = answers or {}
    g = to_networkx(plan)
    lines = ["flowchart TD"]
    for i, data in g.nodes(data=True):
        label = f"{i}. {_mermaid_text(data['question'])}"
        if i in answers:
            label += f"<br/>→ {_mermaid_text(answers[i])}"
        lines.append(f'    {_mermaid_id(i)}["{label}"]')
    lines += [f"    {_mermaid_id(u)} --> {_mermaid_id(v)}" for u, v in g.edges]
    return "\n".join(lines)
