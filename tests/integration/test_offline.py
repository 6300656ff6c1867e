"""The integration folder runs offline, and its network guard really is armed (cheap: no models)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import netguard

pytestmark = pytest.mark.integration


def test_offline_environment_is_set(offline_env):
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["ANONYMIZED_TELEMETRY"] == "False"
    assert offline_env["HF_HUB_OFFLINE"] == "1"


def test_guard_refuses_and_records_remote_access_in_process():
    n = len(netguard.attempts)
    try:
        with pytest.raises(OSError, match="blocked"):
            socket.create_connection(("192.0.2.1", 9), timeout=1)  # TEST-NET-1: never routed anyway
        with pytest.raises(OSError, match="blocked"):
            socket.getaddrinfo("example.invalid", 80)
        assert len(netguard.attempts) == n + 2
    finally:
        del netguard.attempts[n:]  # these two were on purpose; don't fail the test for them
    socket.getaddrinfo("localhost", 80)  # loopback stays allowed


def test_guard_is_installed_in_subprocesses(subprocess_env, tmp_path):
    log = tmp_path / "attempts.log"
    env = {**subprocess_env, "DAGRAG_TEST_NET_LOG": str(log)}
    code = "import socket; socket.getaddrinfo('example.invalid', 80)"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode != 0 and "blocked by the dagrag integration tests" in proc.stderr
    assert "example.invalid" in Path(log).read_text()
