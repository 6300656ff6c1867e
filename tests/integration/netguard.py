"""Refuse and record every network access that is not to this machine.

Used in-process by ``conftest.py`` and, through a generated ``sitecustomize.py``, inside
the ``dagrag`` subprocesses the CLI tests start. DNS look-ups and TCP/UDP connections to
anything but loopback raise ``OSError`` and are recorded, so a library that swallows the
error (telemetry clients do) still fails the test that triggered it.
"""

from __future__ import annotations

import ipaddress
import os
import socket

attempts: list[str] = []  # what was refused, in order
active = False  # the patched functions only refuse while this is True
_log_path: str | None = None
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_local(host: object) -> bool:
    if host is None:
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    if not name or name.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _refuse(what: str) -> None:
    attempts.append(what)
    if _log_path:
        with open(_log_path, "a", encoding="utf-8") as f:
            f.write(what + "\n")
    raise OSError(f"network access blocked by the dagrag integration tests: {what}")


def install(log_path: str | None = None, *, activate: bool = False) -> None:
    """Patch ``socket`` once; later calls only update the log path and the switch."""
    global _log_path, active
    _log_path = log_path or _log_path
    active = active or activate
    if getattr(socket, "_dagrag_netguard", False):
        return
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def remote(sock: socket.socket, address: object) -> bool:
        return active and sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and not _is_local(address[0])

    def guarded_connect(self, address):
        if remote(self, address):
            _refuse(f"connect {address[0]}:{address[1]}")
        return connect(self, address)

    def guarded_connect_ex(self, address):
        if remote(self, address):
            _refuse(f"connect {address[0]}:{address[1]}")
        return connect_ex(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if active and not _is_local(host):
            _refuse(f"resolve {host!r}")
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = guarded_getaddrinfo  # type: ignore[assignment]
    socket._dagrag_netguard = True  # type: ignore[attr-defined]


SITECUSTOMIZE = '''\
"""Written by tests/integration/conftest.py: block the network in this process, then chain."""
import importlib.util, os, sys
sys.path.insert(0, {guard_dir!r})
import netguard
netguard.install(os.environ.get("DAGRAG_TEST_NET_LOG"), activate=True)
sys.path.remove({guard_dir!r})
_here = os.path.dirname(os.path.abspath(__file__))
for _entry in list(sys.path):
    _candidate = os.path.join(_entry or ".", "sitecustomize.py")
    if os.path.abspath(_entry or ".") != _here and os.path.isfile(_candidate):
        _spec = importlib.util.spec_from_file_location("_chained_sitecustomize", _candidate)
        _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
        break
'''


def write_sitecustomize(folder: str) -> None:
    """A ``sitecustomize.py`` in ``folder`` that installs this guard (put ``folder`` on PYTHONPATH)."""
    guard_dir = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(folder, "sitecustomize.py"), "w", encoding="utf-8") as f:
        f.write(SITECUSTOMIZE.format(guard_dir=guard_dir))
