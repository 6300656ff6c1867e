"""Who may talk to ``dagrag serve`` and how state changes are protected.

* Loopback by default. Listening anywhere else needs a token; with a token every request
  (except the login page and static files) must carry it: ``Authorization: Bearer TOKEN``,
  or the ``dagrag_token`` cookie the login page sets (HttpOnly, SameSite=Strict).
* On loopback the ``Host`` header must name a loopback address, so a web page cannot reach
  the server through a DNS name that resolves to 127.0.0.1 (DNS rebinding).
* Cross-site request forgery: every state-changing request (POST, PUT, PATCH, DELETE) is
  refused when the browser says it comes from another site (``Sec-Fetch-Site``, ``Origin``),
  and, except on ``/mcp`` (a JSON protocol that only scripts speak, behind the same origin
  check), must carry the server's CSRF token as the ``X-CSRF-Token`` header or a
  ``csrf_token`` form field. Pages embed the token; API clients read it from ``GET /api/csrf``
  (another site cannot read that response, so cannot learn the token).

Pure functions over header values; the middleware in ``app.py`` applies them.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from retrieval.errors import DagragError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_COOKIE = "dagrag_token"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
OPEN_PATHS = ("/login", "/static/")  # reachable without the token (the login form and its stylesheet)


class SecurityConfigError(DagragError):
    """The server cannot start safely as configured."""


def is_loopback(host: str) -> bool:
    """Whether a bind address or Host name is loopback (127.0.0.0/8, ::1, localhost)."""
    name = host.strip("[]").lower()
    if name in ("localhost", "localhost.localdomain") or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen off loopback without a token."""
    if not is_loopback(host) and not token:
        raise SecurityConfigError(
            f"listening on {host} (not loopback) needs a token: add --token SECRET or set DAGRAG_TOKEN; every request will then need it"
        )


def host_name(host_header: str) -> str:
    """The name part of a Host header ("127.0.0.1:8321" -> "127.0.0.1", "[::1]:80" -> "::1")."""
    value = host_header.strip()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


@dataclass(frozen=True)
class Verdict:
    status: int  # 0: allowed
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.status == 0


ALLOW = Verdict(0)


def check_request(
    *,
    method: str,
    path: str,
    headers: dict[str, str],
    cookies: dict[str, str],
    loopback_only: bool,
    token: str | None,
    csrf_token: str,
    form_csrf: str | None = None,
) -> Verdict:
    """Decide one request. ``headers`` have lower-case names; ``form_csrf`` is the form field, if any."""
    if loopback_only and not is_loopback(host_name(headers.get("host", ""))):
        return Verdict(421, "this server only answers requests addressed to a loopback host (127.0.0.1 or localhost)")
    if token and not path.startswith(OPEN_PATHS) and not has_token(headers, cookies, token):
        return Verdict(401, "a token is required: send 'Authorization: Bearer TOKEN' or sign in at /login")
    if method.upper() in SAFE_METHODS:
        return ALLOW
    if cross_site(headers):
        return Verdict(403, "cross-site request refused (CSRF protection)")
    if path == "/mcp" or path.startswith("/mcp/") or path == "/login":
        return ALLOW
    sent = headers.get(CSRF_HEADER) or form_csrf or ""
    if not hmac.compare_digest(sent.encode(), csrf_token.encode()):
        return Verdict(403, "missing or wrong CSRF token: send the X-CSRF-Token header (GET /api/csrf) or reload the page")
    return ALLOW


def has_token(headers: dict[str, str], cookies: dict[str, str], token: str) -> bool:
    auth = headers.get("authorization", "")
    given = auth[7:].strip() if auth.lower().startswith("bearer ") else cookies.get(TOKEN_COOKIE, "")
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def cross_site(headers: dict[str, str]) -> bool:
    """Whether the browser says the request comes from a page of another origin."""
    fetch_site = headers.get("sec-fetch-site", "").lower()
    if fetch_site in ("cross-site", "same-site"):
        return True
    origin = headers.get("origin")
    if origin is None:
        return False  # not a browser, or a same-origin GET-like navigation: the CSRF token decides
    if origin == "null":
        return True
    parts = urlsplit(origin)
    return (parts.netloc or "").lower() != headers.get("host", "").lower()
