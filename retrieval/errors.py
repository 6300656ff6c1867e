"""The one base class of errors meant for the person using dagrag.

Anything raised as a ``DagragError`` is reported by the command line as one line that
says what to fix (exit code 2), never as a traceback. It lives in the lowest package so
that every layer (retrieval, kb, agent) can raise it.
"""

from __future__ import annotations


class DagragError(Exception):
    """An error the user can fix; its message says how."""
