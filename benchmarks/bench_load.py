"""Load on the server setup: N concurrent clients asking demo questions through a Chroma server and a llama.cpp server.

    .venv/bin/python benchmarks/bench_load.py [--seconds 60] [--levels 1,2,4,8] [--method vanilla|dag]
                                              [--chroma-url URL --llm-url URL]

Without URLs it starts ``chroma run`` and ``python -m llama_cpp.server`` (embedded GGUF) on
loopback ports of its own, ingests the demo collection into a temporary knowledge base, and
stops both servers at the end. Each client is a thread with its own DagRAG (its own
knowledge-base object, ledger connection and LLM client; chromadb pools the HTTP connections
to one server per process). They share one embedding model behind a lock, since a Hugging
Face fast tokenizer must not be used by two threads at once.

A level runs closed-loop for ``--seconds``: every client asks, waits for the answer, asks
again, and starts no question after the deadline; questions in flight at the deadline
finish and count. Throughput is completed questions over the level's wall time (start to
last answer). Prints a markdown section and writes benchmarks/out/load.json.

``--serve`` benchmarks `dagrag serve` instead (clients asking through /api, and a warm server
against a cold `dagrag ask`): see benchmarks/bench_serve.py for its options.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # tests/local_servers.py starts the servers

from retrieval.offline import go_offline  # noqa: E402

go_offline()

from agent.api import DagRAG  # noqa: E402
from agent.demo import demo_docs, demo_questions  # noqa: E402
from agent.settings import Settings, embed_model_path, llm_model_path, load_settings  # noqa: E402
from local_servers import CHROMA, LocalServer, ServerStartError, start_chroma, start_llama_server  # noqa: E402
from retrieval.embedder import SentenceTransformerEmbedder  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
START_TIMEOUT_S = 180
MAX_QUESTIONS_PER_CLIENT = 10_000  # a count bound on every client loop, besides the deadline
REQUEST_TIMEOUT_S = 600  # no single question may take longer (the LLM client's read timeout is 300 s)


# servers --------------------------------------------------------------------------------
def start(launch, *args, **kwargs) -> LocalServer:
    """``launch(...)`` from tests/local_servers.py, with a failed start ending the script in a message."""
    try:
        return launch(*args, timeout_s=START_TIMEOUT_S, **kwargs)
    except ServerStartError as e:
        raise SystemExit(str(e)) from None


# clients --------------------------------------------------------------------------------
class LockedEmbedder:
    """One embedding model for all client threads, one call at a time."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner, self.name, self._lock = inner, inner.name, threading.Lock()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            return self.inner.embed(texts)


@dataclass
class Result:
    client: int
    question: str
    start: float  # seconds since the level started
    seconds: float
    ok: bool
    error: str = ""
    retrieval_seconds: float = 0.0
    llm_seconds: float = 0.0
    llm_calls: int = 0
    usable: bool = True  # the model's reply parsed (not an error: a tiny model's miss)


@dataclass
class Level:
    clients: int
    wall_seconds: float
    completed: int
    errors: int
    throughput_qpm: float
    p50_s: float
    p95_s: float
    mean_s: float
    max_s: float
    retrieval_p50_ms: float
    llm_calls_per_question: float
    unusable: int
    error_samples: list[str] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def ask_once(rag: DagRAG, method: str, question: str) -> tuple[float, float, int, bool]:
    answer = rag.ask(question) if method == "dag" else rag.ask_vanilla(question)
    usable = not any(f.startswith("answer unusable") for f in answer.fallbacks)
    return answer.timings.get("retrieval", 0.0), answer.timings.get("llm", 0.0), len(answer.calls), usable


def run_level(n: int, seconds: float, method: str, settings: Settings, embedder: LockedEmbedder, questions: list[str]) -> Level:
    rags = [DagRAG(settings, embedder=embedder) for _ in range(n)]
    for rag in rags:
        rag.kb  # noqa: B018 - open the kb (ledger + Chroma client) before the clock starts
    results: list[Result] = []
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + seconds

    def client(i: int) -> None:
        rag = rags[i]
        for k in range(MAX_QUESTIONS_PER_CLIENT):
            t0 = time.monotonic()
            if t0 >= deadline:
                return
            question = questions[(i + k * n) % len(questions)]
            try:
                retrieval, llm, calls, usable = ask_once(rag, method, question)
                r = Result(
                    i,
                    question,
                    t0 - start,
                    time.monotonic() - t0,
                    True,
                    retrieval_seconds=retrieval,
                    llm_seconds=llm,
                    llm_calls=calls,
                    usable=usable,
                )
            except Exception as exc:  # an error is a result to report, not a crash of the benchmark
                r = Result(i, question, t0 - start, time.monotonic() - t0, False, error=f"{type(exc).__name__}: {exc}"[:300])
            with lock:
                results.append(r)

    threads = [threading.Thread(target=client, args=(i,), daemon=True, name=f"client-{i}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:  # bounded: the last question may start just before the deadline
        t.join(timeout=max(0.0, deadline + REQUEST_TIMEOUT_S - time.monotonic()))
    hung = sum(t.is_alive() for t in threads)
    wall = time.monotonic() - start
    if not hung:
        for rag in rags:
            rag.close()
            getattr(rag.llm, "close", lambda: None)()
    done = [r for r in results if r.ok]
    latencies = [r.seconds for r in done]
    errors = [r.error for r in results if not r.ok] + [f"client thread still running after {REQUEST_TIMEOUT_S}s"] * hung
    return Level(
        clients=n,
        wall_seconds=wall,
        completed=len(done),
        errors=len(errors),
        throughput_qpm=60.0 * len(done) / wall if wall > 0 else 0.0,
        p50_s=percentile(latencies, 50),
        p95_s=percentile(latencies, 95),
        mean_s=statistics.fmean(latencies) if latencies else float("nan"),
        max_s=max(latencies, default=float("nan")),
        retrieval_p50_ms=1000 * percentile([r.retrieval_seconds for r in done], 50),
        llm_calls_per_question=statistics.fmean([r.llm_calls for r in done]) if done else 0.0,
        unusable=sum(not r.usable for r in done),
        error_samples=sorted(set(errors))[:5],
        results=[asdict(r) for r in results],
    )


# report ---------------------------------------------------------------------------------
def markdown(levels: list[Level], config: dict) -> str:
    base = levels[0].p50_s if levels and levels[0].completed else float("nan")
    lines = [
        f"## Load: concurrent clients on a Chroma server + llama.cpp server ({config['method']})",
        "",
        f"{config['seconds']:g} s per level, closed loop (each client asks, waits, asks again); demo questions; "
        f"Chroma `{config['chroma']}`, LLM `{config['llm']}` ({config['model']}, n_ctx {config['n_ctx']}); "
        f"{config['cpus']} CPUs, load average {config['load_before']} before the run.",
        "",
        "| clients | completed | errors | questions/min | p50 latency (s) | p95 latency (s) | p50 vs 1 client "
        "| retrieval p50 (ms) | LLM calls/question |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lv in levels:
        growth = lv.p50_s / base if base == base and base > 0 and lv.completed else float("nan")
        lines.append(
            f"| {lv.clients} | {lv.completed} | {lv.errors} | {lv.throughput_qpm:.1f} | {lv.p50_s:.1f} | {lv.p95_s:.1f} | "
            f"{growth:.1f}× | {lv.retrieval_p50_ms:.0f} | {lv.llm_calls_per_question:.1f} |"
        )
    first, last = levels[0], levels[-1]
    total_errors = sum(lv.errors for lv in levels)
    lines += [
        "",
        f"- Errors: {total_errors} in {sum(lv.completed for lv in levels)} questions"
        + ("" if not total_errors else f" (e.g. {next(s for lv in levels for s in lv.error_samples)})")
        + ".",
    ]
    if first.completed and last.completed:
        lines.append(
            f"- From {first.clients} to {last.clients} clients: throughput {first.throughput_qpm:.1f} → {last.throughput_qpm:.1f} "
            f"questions/min ({last.throughput_qpm / first.throughput_qpm:.1f}×), p50 latency {first.p50_s:.1f} → {last.p50_s:.1f} s "
            f"({last.p50_s / first.p50_s:.1f}×); retrieval p50 on the Chroma server {first.retrieval_p50_ms:.0f} → "
            f"{last.retrieval_p50_ms:.0f} ms. `python -m llama_cpp.server` evaluates one request at a time per model, "
            "so added clients queue at the LLM: latency grows with the client count and throughput cannot grow "
            "beyond one model's speed (llama-server with --parallel N slots, or more servers behind a balancer, is the way to scale)."
        )
    unusable = sum(lv.unusable for lv in levels)
    if unusable:
        lines.append(f"- {unusable} answers had an unusable model reply (the tiny model, not the servers; counted as completed).")
    lines.append("- Short levels count few questions, so p95 is close to the maximum; use --seconds 60 or more for steadier figures.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="time per level (default 60)")
    ap.add_argument("--levels", default="1,2,4,8", help="concurrent clients per level (default 1,2,4,8)")
    ap.add_argument("--method", choices=["vanilla", "dag"], default="vanilla", help="plain RAG (default) or the DAG agent (slower)")
    ap.add_argument("--chroma-url", help="use this running Chroma server instead of starting one")
    ap.add_argument("--llm-url", help="use this running OpenAI-compatible llama.cpp server (…/v1) instead of starting one")
    ap.add_argument("--n-ctx", type=int, default=2048, help="context of the llama.cpp server this script starts")
    ap.add_argument("--server-threads", type=int, default=None, help="--n_threads of that server (default: its own)")
    ap.add_argument("--out", type=Path, default=OUT / "load.json")
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    if not levels or min(levels) < 1 or args.seconds <= 0:
        raise SystemExit("--levels must list client counts >= 1 and --seconds must be > 0")

    tmp = Path(tempfile.mkdtemp(prefix="dagrag-load-"))
    servers: list[LocalServer] = []
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    try:
        base = load_settings()
        if args.chroma_url:
            chroma_url = args.chroma_url
        elif not CHROMA.is_file():
            raise SystemExit(f"`chroma` not found next to {sys.executable}: it comes with chromadb (pip install -e .)")
        else:
            servers.append(start(start_chroma, tmp))
            chroma_url = servers[-1].url
        if args.llm_url:
            llm_url = args.llm_url
        else:
            servers.append(start(start_llama_server, tmp, llm_model_path(base), n_ctx=args.n_ctx, n_threads=args.server_threads))
            llm_url = servers[-1].url
        print(f"servers: chroma {chroma_url}, llm {llm_url}", file=sys.stderr, flush=True)
        settings = base.with_overrides(kb_path=tmp / "kb", chroma_url=chroma_url, llm_url=llm_url)
        embedder = LockedEmbedder(SentenceTransformerEmbedder(embed_model_path(settings), name="all-MiniLM-L6-v2 (embedded)"))
        with DagRAG(settings.with_overrides(detect_conflicts=False), embedder=embedder) as rag:
            t0 = time.monotonic()
            report = rag.ingest([demo_docs()])
            print(f"ingested {report.chunks} chunks in {time.monotonic() - t0:.1f} s; warming up", file=sys.stderr, flush=True)
            ask_once(rag, args.method, "Who owns the billing service?")  # first request: model pages, grammar code paths
        questions = [q["question"] for q in demo_questions()]
        results: list[Level] = []
        for n in levels:
            print(f"level {n} client(s) for {args.seconds:g} s…", file=sys.stderr, flush=True)
            lv = run_level(n, args.seconds, args.method, settings, embedder, questions)
            print(
                f"  {lv.completed} done, {lv.errors} errors, {lv.throughput_qpm:.1f} q/min, p50 {lv.p50_s:.1f} s, "
                f"p95 {lv.p95_s:.1f} s, wall {lv.wall_seconds:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            results.append(lv)
        config = {
            "method": args.method,
            "seconds": args.seconds,
            "levels": levels,
            "chroma": chroma_url,
            "llm": llm_url,
            "model": "local" if args.llm_url else llm_model_path(base).name,
            "n_ctx": args.n_ctx,
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "top_k": settings.top_k,
            "evidence_chars": settings.evidence_chars,
        }
        text = markdown(results, config)
        print(text)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "python": platform.python_version(),
                    "machine": platform.machine(),
                    "config": config,
                    "levels": [asdict(lv) for lv in results],
                    "markdown": text,
                },
                indent=2,
                default=str,
            )
        )
        print(f"\nwrote {args.out}", file=sys.stderr)
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if "--serve" in sys.argv[1:]:  # clients asking through `dagrag serve` instead: benchmarks/bench_serve.py
        from bench_serve import main as serve_main

        serve_main([a for a in sys.argv[1:] if a != "--serve"])
    else:
        main()
