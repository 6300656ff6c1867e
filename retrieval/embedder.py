"""Text embeddings behind a small interface; sentence-transformers by default."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Protocol

from retrieval.offline import go_offline


class Embedder(Protocol):
    """Turns texts into unit-length vectors."""

    name: str

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, on the CPU by default.

    The model loads on first use; ``HF_HUB_OFFLINE`` is set so nothing is ever downloaded.
    """

    def __init__(self, model: str, *, name: str | None = None, batch_size: int = 32, device: str = "cpu") -> None:
        self.name = name or os.path.basename(model.rstrip("/")) or model
        self.model_path = model
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                go_offline()
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                hf_logging.set_verbosity_error()

                self._model = SentenceTransformer(self.model_path, device=self.device, local_files_only=True)
        return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = self._load()
        vectors = model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
        )
        return vectors.tolist()
