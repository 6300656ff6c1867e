"""Fixtures for every test; the helpers themselves are in tests/helpers.py (import them from there)."""

from __future__ import annotations

import os

import pytest

from retrieval.offline import go_offline

go_offline()

from helpers import COMPANY, LexicalRetriever  # noqa: E402


@pytest.fixture
def company_retriever() -> LexicalRetriever:
    return LexicalRetriever(list(COMPANY))


@pytest.fixture
def no_dagrag_env(monkeypatch):
    """No DAGRAG_* variable from the caller's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("DAGRAG_"):
            monkeypatch.delenv(name)
