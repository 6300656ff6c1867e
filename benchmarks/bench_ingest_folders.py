"""Conflict detection on the user's path: folders of Markdown files through ``dagrag ingest`` (issue 12).

For each shared corpus (MuSiQue 956 passages, HotpotQA 500; read from ../shared/data at run
time, written to a temporary folder, never into the repository) every passage becomes one
Markdown file with its title as front matter. Then, in one run, each timed wall-clock as a
subprocess so that start-up counts the same way:

- ``dagrag ingest DOCS --kb FRESH`` with the default settings (conflict detection on);
- a bare process that starts, loads the same MiniLM embedder and encodes exactly the texts
  that ingest embedded (read back from the knowledge base), at the same batch size;
- ``dagrag ingest`` again into another fresh folder with ``DAGRAG_DETECT_CONFLICTS=false``.

The knowledge base with detection on is then read as a user would (the Python API:
``DagRAG.open(kb).kb.stats()``, ``.reviews()``, the ledger's items): reviews opened per 100
documents, chunks downgraded (potentially outdated / superseded) without an open review,
LLM judge calls (from ``dagrag ingest``'s summary line) per 100 new passages against the
``judge_max_per_ingest`` budget, and every review with both statements.

    .venv/bin/python benchmarks/bench_ingest_folders.py                 # both corpora, writes REPORT_CONFLICTS.md
    .venv/bin/python benchmarks/bench_ingest_folders.py --limit 100 --no-report   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.api import DagRAG  # noqa: E402
from agent.server.views import differing_statements  # noqa: E402
from agent.settings import Settings, embed_model_path  # noqa: E402
from kb.records import embed_text  # noqa: E402
from retrieval.offline import OFFLINE_ENV  # noqa: E402

DATA = Path(os.environ.get("DAGRAG_SHARED_DATA", ROOT.parent / "shared" / "data"))
CORPORA = {"musique": "musique_dev_corpus.json", "hotpotqa": "hotpotqa_dev_corpus.json"}
REPORT = ROOT / "benchmarks" / "REPORT_CONFLICTS.md"
BIN = Path(sys.executable).parent
DOWNGRADED = ("potentially_outdated", "superseded")
ANALYSIS = "<!-- analysis: kept when the script rewrites the report -->"
_JUDGE_CALLS = re.compile(r"(\d+) LLM judge calls?\b")

BARE = """
import json, sys, time
from sentence_transformers import SentenceTransformer
texts = json.load(open(sys.argv[1]))
model = SentenceTransformer(sys.argv[2], device="cpu", local_files_only=True)
model.encode(texts, batch_size=int(sys.argv[3]), normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True)
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without DAGRAG_* settings (default settings), offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGRAG_")}
    env.update(OFFLINE_ENV, NO_COLOR="1", COLUMNS="400", **extra)
    return env


def write_folder(passages: list[dict], folder: Path) -> None:
    """One Markdown file per passage, the title as front matter, as a user's notes would look."""
    folder.mkdir(parents=True)
    width = len(str(len(passages)))
    for i, p in enumerate(passages):
        slug = re.sub(r"[^a-z0-9]+", "-", p["title"].lower()).strip("-")[:60] or "untitled"
        title = p["title"].replace("\n", " ").strip()
        (folder / f"{i:0{width}d}-{slug}.md").write_text(f"---\ntitle: {title}\n---\n\n{p['text'].strip()}\n", encoding="utf-8")


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout


def ingest(docs: Path, kb: Path, work: Path, detect: bool) -> tuple[float, str]:
    env = clean_env() if detect else clean_env(DAGRAG_DETECT_CONFLICTS="false")
    return timed([str(BIN / "dagrag"), "ingest", str(docs), "--kb", str(kb)], work, env)


def embedded_texts(kb: Path) -> list[str]:
    """Exactly what ingest embedded: each chunk's text with its title (``kb.records.embed_text``)."""
    with DagRAG.open(kb) as rag:
        ledger = rag.kb.ledger
        items = sorted(ledger.items(sorted(ledger.item_ids(ready_only=False))), key=lambda i: (i.doc_id, i.position))
    return [embed_text(i) for i in items]


def bare_encode(texts: list[str], work: Path, settings: Settings) -> float:
    path = work / "texts.json"
    path.write_text(json.dumps(texts), encoding="utf-8")
    cmd = [sys.executable, "-c", BARE, str(path), embed_model_path(settings), str(settings.embed_batch_size)]
    return timed(cmd, work, clean_env())[0]


def inspect(kb: Path, n_docs: int) -> dict:
    """What a user sees in the knowledge base after the ingest with detection on."""
    with DagRAG.open(kb) as rag:
        stats = rag.kb.stats()
        ledger = rag.kb.ledger
        reviews = [r for r in rag.reviews(None) if r.kind == "conflict"]
        open_sides = {i for r in reviews if r.state == "open" for i in (r.old_item, r.new_item) if i}
        items = {i.item_id: i for i in ledger.items(sorted(ledger.item_ids(ready_only=False)))}
        downgraded = [i for i in items.values() if i.status.value in DOWNGRADED]
        listed = []
        for r in reviews:
            old, new = items.get(r.old_item or ""), items.get(r.new_item or "")
            changed = differing_statements(old.text, new.text, (r.old_statement, r.new_statement)) if old and new else []
            listed.append(
                {
                    "id": r.review_id,
                    "state": r.state,
                    "relation": r.relation,
                    "detector": r.detector,
                    "confidence": r.confidence,
                    "old_title": old.title if old else "?",
                    "new_title": new.title if new else "?",
                    "old": r.old_statement,
                    "new": r.new_statement,
                    "changed_statements": len(changed),
                }
            )
    return {
        "documents": stats.documents,
        "chunks": stats.chunks,
        "by_status": dict(stats.by_status),
        "reviews": listed,
        "downgraded": len(downgraded),
        "downgraded_without_review": sum(i.item_id not in open_sides for i in downgraded),
        "n_docs": n_docs,
    }


def run_corpus(name: str, passages: list[dict], root: Path, settings: Settings) -> dict:
    work = root / name
    docs = work / "docs"
    write_folder(passages, docs)
    print(f"[{name}] {len(passages)} files written; ingest with detection on …", flush=True)
    on_s, on_out = ingest(docs, work / "kb-on", work, detect=True)
    texts = embedded_texts(work / "kb-on")
    print(f"[{name}] {on_s:.1f} s; bare encode of {len(texts)} texts …", flush=True)
    bare_s = bare_encode(texts, work, settings)
    print(f"[{name}] {bare_s:.1f} s; ingest with detection off …", flush=True)
    off_s, off_out = ingest(docs, work / "kb-off", work, detect=False)
    print(f"[{name}] {off_s:.1f} s", flush=True)
    calls = _JUDGE_CALLS.search(on_out)
    state = inspect(work / "kb-on", len(passages))
    return {
        "corpus": name,
        "files": len(passages),
        "passages": len(texts),
        "ingest_on_s": on_s,
        "ingest_off_s": off_s,
        "bare_s": bare_s,
        "judge_calls": int(calls.group(1)) if calls else 0,
        "summary_on": on_out.strip().splitlines()[-1] if on_out.strip() else "",
        "summary_off": off_out.strip().splitlines()[-1] if off_out.strip() else "",
        **state,
    }


def rows(results: list[dict], settings: Settings) -> list[tuple[str, ...]]:
    out = []
    for r in results:
        n_reviews = len(r["reviews"])
        out.append(
            (
                r["corpus"],
                str(r["files"]),
                str(r["passages"]),
                f"{r['bare_s']:.1f}",
                f"{r['ingest_on_s']:.1f}",
                f"{r['ingest_off_s']:.1f}",
                f"{r['bare_s'] / r['ingest_on_s']:.2f}",
                f"{r['bare_s'] / r['ingest_off_s']:.2f}",
                f"{n_reviews} ({100 * n_reviews / r['files']:.2f})",
                f"{r['downgraded']} / {r['downgraded_without_review']}",
                f"{r['judge_calls']} ({100 * r['judge_calls'] / max(1, r['passages']):.2f})",
            )
        )
    return out


HEADERS = (
    "corpus",
    "files",
    "passages",
    "bare encode s",
    "ingest s (detect on)",
    "ingest s (detect off)",
    "ratio on",
    "ratio off",
    "reviews (per 100 docs)",
    "downgraded / without open review",
    "LLM judge calls (per 100 passages)",
)


def table(results: list[dict], settings: Settings) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" + "---:|" * (len(HEADERS) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results, settings)]
    return "\n".join(lines)


def review_lines(results: list[dict]) -> list[str]:
    out = []
    for r in results:
        if not r["reviews"]:
            out.append(f"- **{r['corpus']}**: no review opened.")
            continue
        for v in r["reviews"]:
            out.append(
                f"- **{r['corpus']} #{v['id']}** ({v['state']}, {v['relation']} by the {v['detector']}, "
                f"{v['changed_statements']} changed statement(s) between the chunks): "
                f"*{v['old_title']}*: “{v['old']}” → *{v['new_title']}*: “{v['new']}”"
            )
    return out


def _summary(line: str) -> str:
    """``dagrag ingest``'s summary line without the temporary path, as inline code."""
    return f"`` {line.split(' → ')[0]} ``"


def report(results: list[dict], settings: Settings, load: tuple[str, str], started: str, minutes: float) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    total_files = sum(r["files"] for r in results)
    total_reviews = sum(len(r["reviews"]) for r in results)
    worst_on = min(r["bare_s"] / r["ingest_on_s"] for r in results)
    calls = sum(r["judge_calls"] for r in results)
    return "\n".join(
        [
            "# Conflict detection on real collections: folders through `dagrag ingest` (issue 12)",
            "",
            f"Generated by `benchmarks/bench_ingest_folders.py` on {started} UTC in {minutes:.1f} min, commit {commit}.",
            f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"load average (`uptime`, 1/5/15 min) {load[0]} at the start and {load[1]} at the end.",
            "The machine is shared with other engineers' jobs, so wall-clock seconds are noisy: the bare encode and both "
            "ingests of a corpus run one after the other in the same minutes, which keeps their ratio comparable, but a "
            "rerun can move each ratio by up to about 0.3 (see Noise below).",
            "",
            "Each passage of the shared corpus is one Markdown file (front matter `title:`, then the text) in a temporary "
            "folder; `dagrag ingest FOLDER --kb FRESH` runs as a subprocess with the default settings (no `DAGRAG_*` "
            "variables, no `dagrag.toml`), once as is and once with `DAGRAG_DETECT_CONFLICTS=false`. The bare process "
            "starts Python, loads the same all-MiniLM-L6-v2 folder with sentence-transformers and encodes exactly the "
            f"texts ingest embedded (title + chunk), batch {settings.embed_batch_size}. Ratio = bare seconds / ingest "
            "seconds, both wall-clock including start-up. The knowledge base is then read through the Python API "
            "(`DagRAG.open(kb)`: `kb.stats()`, `reviews()`, the ledger's items); judge calls are read from "
            "`dagrag ingest`'s summary line.",
            "",
            f"Detection settings (defaults): `judge_llm` = {settings.judge_llm}, `llm_model` = {settings.llm_model or 'embedded'}, "
            f"`conflict_similarity` = {settings.conflict_similarity}, `judge_max_pairs` = {settings.judge_max_pairs}, "
            f"`judge_max_per_ingest` = {settings.judge_max_per_ingest} (the two budgets apply when the LLM judges: "
            f"{'yes' if DagRAG(settings).llm_judges else 'no, the rules judge every pair'}).",
            "",
            table(results, settings),
            "",
            "## Goals",
            "",
            "| goal | measured | |",
            "|---|---|---|",
            f"| at most 1 review per 100 documents | {total_reviews} review(s) for {total_files} documents "
            f"({100 * total_reviews / total_files:.2f} per 100) | {'met' if total_reviews * 100 <= total_files else 'not met'} |",
            f"| no chunk downgraded without an open review | {sum(r['downgraded_without_review'] for r in results)} "
            f"| {'met' if not any(r['downgraded_without_review'] for r in results) else 'not met'} |",
            f"| default ingest ≥ 0.5x a bare encode, detection on | lowest ratio {worst_on:.2f} "
            f"| {'met' if worst_on >= 0.5 else 'not met'} |",
            f"| LLM judge calls bounded by a setting | {calls} in all; at most `judge_max_per_ingest` = "
            f"{settings.judge_max_per_ingest} per ingest and `judge_max_pairs` = {settings.judge_max_pairs} per new document "
            f"| {'met' if all(r['judge_calls'] <= settings.judge_max_per_ingest for r in results) else 'not met'} |",
            "",
            "## Every review opened (detection on)",
            "",
            *review_lines(results),
            "",
            "`dagrag ingest`'s summary lines:",
            "",
            *[f"- {r['corpus']}, detection on: {_summary(r['summary_on'])}" for r in results],
            *[f"- {r['corpus']}, detection off: {_summary(r['summary_off'])}" for r in results],
            "",
        ]
    )


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average:")[-1].strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", nargs="+", choices=sorted(CORPORA), default=list(CORPORA), help="which shared corpora (default: both)")
    ap.add_argument("--limit", type=int, default=None, help="first N passages of each corpus (default: all)")
    ap.add_argument("--report", type=Path, default=REPORT, help=f"Markdown report to write (default: {REPORT.relative_to(ROOT)})")
    ap.add_argument("--no-report", action="store_true", help="print the table only")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw results as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders (printed)")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: shared data not found at {DATA} (set DAGRAG_SHARED_DATA)")
        return 0
    if not (BIN / "dagrag").exists():
        sys.exit(f"{BIN / 'dagrag'} not found: run with the virtualenv's python (.venv/bin/python)")
    settings = Settings()
    load = _load()
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
    t0 = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="dagrag-folders-"))
    try:
        results = []
        for name in args.corpora:
            passages = json.loads((DATA / CORPORA[name]).read_text(encoding="utf-8"))[: args.limit]
            results.append(run_corpus(name, passages, root, settings))
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    loads = (load, _load())
    print(table(results, settings))
    print("\n".join(review_lines(results)))
    if args.json:
        args.json.write_text(json.dumps({"started": started, "load": loads, "results": results}, indent=2), encoding="utf-8")
    if not args.no_report:
        text = report(results, settings, loads, started, (time.perf_counter() - t0) / 60)
        kept = args.report.read_text(encoding="utf-8").partition(ANALYSIS)[2] if args.report.exists() else ""
        args.report.write_text(f"{text}\n{ANALYSIS}{kept or chr(10)}", encoding="utf-8")
        print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
