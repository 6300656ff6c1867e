"""dagrag: local-first agentic question answering over your documents.

The public API::

    from agent import DagRAG
    rag = DagRAG.open(".dagrag")
    rag.ingest(["my-docs/"])
    answer = rag.ask("Who manages the team that owns billing?")
"""

from agent.api import DagRAG, QuestionError
from agent.settings import ConfigError, Settings, load_settings
from agent.types import Answer, Citation, Evidence, LLMCall, NodeResult, StepEvent, Usage

__all__ = [
    "Answer", "Citation", "ConfigError", "DagRAG", "Evidence", "LLMCall", "NodeResult",
    "QuestionError", "Settings", "StepEvent", "Usage", "load_settings",
]
