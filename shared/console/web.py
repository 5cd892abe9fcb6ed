"""What the console answers: HTML, a redirect, a little JSON or a static file, always with the
same security headers, and the session cookie.

Every answer carries a strict Content Security Policy: scripts, styles and images only from the
app itself, nothing inline, no framing, forms posting only back to the app
(https://developer.mozilla.org/docs/Web/HTTP/Headers/Content-Security-Policy). Pages are never
cached; static files are, briefly (their URLs carry a version).

The cookie holds only the session id. HttpOnly (no script reads it), SameSite=Lax (a cross-site
POST does not carry it) and, whenever the app is served over https, Secure with the `__Host-`
prefix (only this host, path /, https: RFC 6265bis section 4.1.3.2). Locally the dev host serves
http://127.0.0.1, where a Secure cookie would not be sent back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from shared.settings import Settings

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
_NO_STORE = {"Cache-Control": "no-store"}
SECURE_COOKIE = "__Host-xtenant-console"
LOCAL_COOKIE = "xtenant-console"


@dataclass(frozen=True)
class Answer:
    """One console response, independent of the Functions host."""

    status: int
    body: bytes
    mimetype: str = "text/html"
    headers: dict[str, str] = field(default_factory=dict)

    def with_headers(self, extra: Mapping[str, str]) -> Answer:
        return replace(self, headers=self.headers | dict(extra))


def html(status: int, text: str) -> Answer:
    return Answer(status, text.encode(), "text/html", SECURITY_HEADERS | _NO_STORE)


def redirect(location: str, *, status: int = 303) -> Answer:
    """See Other: after a POST the browser GETs the page (RFC 9110 section 15.4.4)."""
    headers = SECURITY_HEADERS | _NO_STORE | {"Location": location}
    return Answer(status, b"", "text/html", headers)


def json_answer(status: int, body: Any) -> Answer:
    text = json.dumps(body, default=str).encode()
    return Answer(status, text, "application/json", SECURITY_HEADERS | _NO_STORE)


def static(body: bytes, mimetype: str) -> Answer:
    cache = {"Cache-Control": "private, max-age=3600"}
    return Answer(200, body, mimetype, SECURITY_HEADERS | cache)


def secure(settings: Settings) -> bool:
    """Whether the app is served over https (everywhere but the local dev host)."""
    return urlsplit(settings.public_url).scheme == "https"


def cookie_name(settings: Settings) -> str:
    return SECURE_COOKIE if secure(settings) else LOCAL_COOKIE


def set_cookie(settings: Settings, value: str, *, max_age_s: int) -> dict[str, str]:
    """The Set-Cookie header for the session id (`max_age_s=0` deletes it)."""
    attributes = [f"{cookie_name(settings)}={value}", "Path=/", f"Max-Age={max_age_s}"]
    attributes += ["HttpOnly", "SameSite=Lax"] + (["Secure"] if secure(settings) else [])
    return {"Set-Cookie": "; ".join(attributes)}


def read_cookie(settings: Settings, headers: Mapping[str, str]) -> str | None:
    """The session id the browser sent, if any."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(_header(headers, "cookie"))
    except Exception:  # a malformed Cookie header is no session, not an error
        return None
    found = jar.get(cookie_name(settings))
    return found.value if found is not None else None


def same_origin(settings: Settings, headers: Mapping[str, str]) -> bool:
    """A POST's Origin (sent by every current browser) names the app; absent is allowed, the
    CSRF token still decides (OWASP CSRF Prevention Cheat Sheet, "Verifying origin")."""
    origin = _header(headers, "origin")
    if not origin:
        return True
    public = urlsplit(settings.public_url)
    return origin.rstrip("/") == f"{public.scheme}://{public.netloc}"


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header's value whatever the case of its name (the dev host and Azure differ)."""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""
