"""Demo collection: a small fictional company handbook and questions that need 2-3 hops."""

from __future__ import annotations

import json
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def demo_docs() -> Path:
    """Folder of the bundled demo documents."""
    return _HERE / "docs"


def demo_questions() -> list[dict]:
    """The demo questions with their answers; the first is the one ``dagrag demo`` asks."""
    return json.loads((_HERE / "questions.json").read_text(encoding="utf-8"))
