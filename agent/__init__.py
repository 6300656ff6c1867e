"""dagrag: local-first agentic question answering over your documents.

The public API::

    from agent import DagRAG
    rag = DagRAG.open(".dagrag")
    rag.ingest(["my-docs/"])
    answer = rag.ask("Who manages the team that owns billing?")
"""

from typing import TYPE_CHECKING

__all__ = [
    "Answer",
    "Citation",
    "ConfigError",
    "DagRAG",
    "Evidence",
    "LLMCall",
    "NodeResult",
    "QuestionError",
    "Settings",
    "StepEvent",
    "Usage",
    "load_settings",
]

_WHERE = {
    "DagRAG": "agent.api",
    "QuestionError": "agent.api",
    "ConfigError": "agent.settings",
    "Settings": "agent.settings",
    "load_settings": "agent.settings",
    **{n: "agent.types" for n in ("Answer", "Citation", "Evidence", "LLMCall", "NodeResult", "StepEvent", "Usage")},
}

if TYPE_CHECKING:  # pragma: no cover
    from agent.api import DagRAG, QuestionError
    from agent.settings import ConfigError, Settings, load_settings
    from agent.types import Answer, Citation, Evidence, LLMCall, NodeResult, StepEvent, Usage


def __getattr__(name: str):
    """Import lazily, so `dagrag --help` does not pay for LangGraph."""
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
