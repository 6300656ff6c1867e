"""Nothing is downloaded at run time: the environment that keeps Hugging Face offline and Chroma's telemetry off.

Every entry point (the command line, the embedder, the vector store, tests, benchmarks)
calls ``go_offline()`` before it imports the libraries that read these variables; a value
the user set already is kept.
"""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


def go_offline() -> None:
    """Set every variable of ``OFFLINE_ENV`` that is not set yet."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
