"""Who may use a knowledge base's vector store now: an advisory lock on ``<kb>/write.lock``.

Chroma's PersistentClient is not process-safe: two processes writing one folder at once
lose vectors or leave an index that crashes the next open, and a client opened before
another process wrote neither finds the new vectors nor keeps them when it writes next.
So writers hold the lock exclusively and readers shared (``fcntl.flock``, waiting at most
``timeout`` seconds, then ``KBBusyError``), the threads of a process take turns, and the
file holds a token that every writer changes first: a process finding a token it did not
see last reopens its Chroma client.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kb.ledger import KBBusyError

log = logging.getLogger(__name__)


class FolderLock:
    """A re-entrant shared/exclusive lock on a file, across processes and threads."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path, self.timeout = path, timeout
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._mutex = threading.RLock()
        self._depth = 0
        self._exclusive = False

    @contextmanager
    def hold(self, exclusive: bool) -> Iterator[bool]:
        """Hold the lock (re-entrant); yields True where this call took it, False where it was held already."""
        if not self._mutex.acquire(timeout=self.timeout):
            raise KBBusyError(self.path.parent)
        try:
            if self._depth:
                if exclusive and not self._exclusive:
                    raise RuntimeError("cannot write to the knowledge base while reading it")
                self._depth += 1
                try:
                    yield False
                finally:
                    self._depth -= 1
            else:
                self._flock(fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                self._depth, self._exclusive = 1, exclusive
                try:
                    yield True
                finally:
                    self._depth, self._exclusive = 0, False
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._mutex.release()

    def _flock(self, mode: int) -> None:
        start, pause, told = time.monotonic(), 0.005, False
        while True:
            try:
                fcntl.flock(self._fd, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited >= self.timeout:
                    raise KBBusyError(self.path.parent) from None
                if waited >= 2.0 and not told:
                    log.warning("knowledge base %s: waiting for another dagrag process to finish writing", self.path.parent)
                    told = True
                time.sleep(pause)
                pause = min(pause * 2, 0.1)

    def token(self) -> bytes:
        return os.pread(self._fd, 32, 0)

    def new_token(self) -> bytes:
        token = uuid.uuid4().hex.encode()
        os.pwrite(self._fd, token, 0)
        return token

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
