"""Load on `dagrag serve`: N clients asking through /api for a fixed time, and a warm server against a cold `dagrag ask`.

    .venv/bin/python benchmarks/bench_serve.py [--seconds 30] [--levels 1,2,4,8] [--method dag|vanilla]
    .venv/bin/python benchmarks/bench_load.py --serve …          (the same, from the load benchmark)

Starts the real `dagrag serve` (embedded GGUF in process, sentence-transformers, Chroma) on a free
loopback port with a temporary knowledge base holding the demo collection. Only loopback traffic;
every level is bounded in time (closed loop: a client asks, waits, asks again, and starts nothing
after the deadline) and in count. Then, with the server warm, one demo question is timed through
/api/ask, the server is stopped, and the same question is asked by a cold `dagrag ask` process (it
loads the models and opens the knowledge base first): the ratio is what keeping one process
warm saves. Prints a markdown section and writes benchmarks/out/serve.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
from retrieval.offline import OFFLINE_ENV  # noqa: E402

OUT = ROOT / "benchmarks" / "out"
DAGRAG = Path(sys.executable).with_name("dagrag")
MAX_QUESTIONS_PER_CLIENT = 1000
REQUEST_TIMEOUT_S = 600
START_TIMEOUT_S = 300


def dagrag_env(kb: Path) -> dict[str, str]:
    """A dagrag subprocess's environment: offline, no DAGRAG_* setting of the caller's shell, this knowledge base."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DAGRAG_")} | OFFLINE_ENV | {"DAGRAG_KB_PATH": str(kb)}


@dataclass
class Level:
    clients: int
    wall_seconds: float
    completed: int
    errors: int
    throughput_qpm: float
    p50_s: float
    p95_s: float
    max_s: float
    error_samples: list[str] = field(default_factory=list)


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100, interpolated); nan when nothing completed."""
    from agent.evaluation.metrics import percentile

    return percentile(values, q) if values else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """`dagrag serve` as a subprocess on loopback."""

    def __init__(self, kb: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dagrag_env(kb)
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(DAGRAG), "serve", "--port", str(self.port), "--no-mcp"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"dagrag serve exited ({self.proc.returncode}): {log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(self.url + "/api/stats", timeout=2).status_code == 200:
                    self.csrf = httpx.get(self.url + "/api/csrf", timeout=5).json()["csrf_token"]
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"dagrag serve did not answer within {START_TIMEOUT_S}s")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-CSRF-Token": self.csrf}, timeout=REQUEST_TIMEOUT_S)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def ask(client: httpx.Client, method: str, question: str) -> dict:
    """One request; the answer (dag) or the passages (vanilla) as JSON."""
    if method == "dag":
        r = client.post("/api/ask", json={"question": question})
    else:  # plain RAG has no route of its own: retrieval only, the cheapest request that still touches the kb
        r = client.post("/api/retrieve", json={"query": question})
    if r.status_code != 200:
        raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
    return r.json()


def run_level(serve: Serve, n: int, seconds: float, method: str, questions: list[str]) -> Level:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + seconds

    def client(i: int) -> None:
        with serve.client() as c:
            for k in range(MAX_QUESTIONS_PER_CLIENT):
                t0 = time.monotonic()
                if t0 >= deadline:
                    return
                try:
                    ask(c, method, questions[(i + k * n) % len(questions)])
                    with lock:
                        latencies.append(time.monotonic() - t0)
                except Exception as exc:  # an error is a result to report
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}"[:200])

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline + REQUEST_TIMEOUT_S - time.monotonic()))
    errors += ["client still waiting after the request timeout"] * sum(t.is_alive() for t in threads)
    wall = time.monotonic() - start
    return Level(
        n,
        wall,
        len(latencies),
        len(errors),
        60 * len(latencies) / wall,
        pct(latencies, 50),
        pct(latencies, 95),
        max(latencies, default=float("nan")),
        sorted(set(errors))[:5],
    )


def cold_ask(kb: Path, question: str) -> tuple[float, dict]:
    """Wall seconds of a cold `dagrag ask --json`, and its answer."""
    env = dagrag_env(kb)
    t0 = time.monotonic()
    done = subprocess.run([str(DAGRAG), "ask", question, "--json"], env=env, capture_output=True, text=True, timeout=REQUEST_TIMEOUT_S)
    seconds = time.monotonic() - t0
    if done.returncode != 0:
        raise SystemExit(f"dagrag ask failed: {done.stderr[-1000:]}")
    return seconds, json.loads(done.stdout)


def markdown(levels: list[Level], warm: list[float], cold: float, config: dict) -> str:
    warm_s = sorted(warm)[len(warm) // 2]
    same = "the same answer and plan" if config["same_answer"] else "a different answer or plan (compare with care)"
    lines = [
        f"## Load: `dagrag serve`, clients asking through /api ({config['method']})",
        "",
        f"{config['seconds']:g} s per level, closed loop; demo questions; the server holds one DagRAG (embedded "
        f"{config['model']} in process); {config['cpus']} CPUs, load average {config['load_before']} before the run.",
        "",
        "| clients | completed | errors | questions/min | p50 latency (s) | p95 latency (s) | max (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lv in levels:
        lines.append(
            f"| {lv.clients} | {lv.completed} | {lv.errors} | {lv.throughput_qpm:.1f} | {lv.p50_s:.1f} | {lv.p95_s:.1f} | {lv.max_s:.1f} |"
        )
    errors = sum(lv.errors for lv in levels)
    lines += [
        "",
        f"- Errors: {errors} in {sum(lv.completed for lv in levels)} questions"
        + ("" if not errors else f" (e.g. {next(s for lv in levels for s in lv.error_samples)})")
        + ".",
        f'- Warm server against a cold `dagrag ask`, the same question ("{config["question"]}"): '
        f"{warm_s:.1f} s through /api/ask (median of {len(warm)}) vs {cold:.1f} s for the cold command "
        f"(loads the models and opens the knowledge base first): **{cold / warm_s:.1f}×** faster warm. "
        f"The agent's own timing was {config['warm_agent_s']:.1f} s warm and {config['cold_agent_s']:.1f} s cold (the cold one "
        f"includes loading the GGUF at its first call, with an empty prompt cache); the other {cold - config['cold_agent_s']:.1f} s "
        f"of the cold command are process start-up, imports, the embedder and opening the knowledge base. Both gave {same}.",
        "- The server answers one question at a time on the LLM (one llama.cpp context behind a lock): added "
        "clients queue, so latency grows with the client count while throughput stays at one model's speed.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    from agent.demo import demo_docs, demo_questions

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="time per level (default 30)")
    ap.add_argument("--levels", default="1,2,4,8", help="concurrent clients per level (default 1,2,4,8)")
    ap.add_argument("--method", choices=["dag", "vanilla"], default="dag", help="dag: /api/ask (default); vanilla: /api/retrieve only")
    ap.add_argument("--warm-repeats", type=int, default=3, help="warm asks of the ratio's question (default 3)")
    ap.add_argument("--out", type=Path, default=OUT / "serve.json")
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    if not levels or min(levels) < 1 or max(levels) > 64 or args.seconds <= 0:
        raise SystemExit("--levels must list client counts from 1 to 64 and --seconds must be > 0")
    if not DAGRAG.exists():
        raise SystemExit(f"{DAGRAG} not found: pip install -e . in this environment")
    tmp = Path(tempfile.mkdtemp(prefix="dagrag-serve-"))
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    questions = [q["question"] for q in demo_questions()]
    try:
        env = dagrag_env(tmp / "kb")
        subprocess.run([str(DAGRAG), "ingest", str(demo_docs())], env=env, check=True, capture_output=True, timeout=600)
        serve = Serve(tmp / "kb", tmp / "serve.log")
        try:
            with serve.client() as c:
                ask(c, args.method, questions[0])  # first request: model pages, grammar code paths
                warm, warm_answer = [], {}
                for _ in range(max(1, args.warm_repeats)):
                    t0 = time.monotonic()
                    warm_answer = ask(c, "dag", questions[0])
                    warm.append(time.monotonic() - t0)
            results = []
            for n in levels:
                print(f"level {n} client(s) for {args.seconds:g} s…", file=sys.stderr, flush=True)
                results.append(run_level(serve, n, args.seconds, args.method, questions))
                lv = results[-1]
                print(f"  {lv.completed} done, {lv.errors} errors, p50 {lv.p50_s:.1f} s, p95 {lv.p95_s:.1f} s", file=sys.stderr, flush=True)
        finally:
            serve.stop()
        cold, cold_answer = cold_ask(tmp / "kb", questions[0])
        config = {
            "method": args.method,
            "seconds": args.seconds,
            "levels": levels,
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "model": "SmolLM2-135M-Instruct Q4_1",
            "question": questions[0],
            "same_answer": (warm_answer["answer"], warm_answer["plan_source"]) == (cold_answer["answer"], cold_answer["plan_source"]),
            "warm_agent_s": warm_answer["timings"]["total"],
            "cold_agent_s": cold_answer["timings"]["total"],
        }
        text = markdown(results, warm, cold, config)
        print(text)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "config": config,
                    "levels": [asdict(lv) for lv in results],
                    "warm_s": warm,
                    "cold_s": cold,
                    "markdown": text,
                },
                indent=2,
                default=str,
            )
        )
        print(f"\nwrote {args.out}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
