"""Sign-in, its callback and sign-out: the only console routes served without a session.

    GET  /api/console/auth/signin?next=   a new sign-in: its flow is kept server-side under a
                                          fresh id (the cookie), the browser goes to Entra
    GET  /api/console/auth/callback       Entra's answer: the flow is taken once, the code
                                          redeemed, the token verified; a new session, and the
                                          browser goes on to the page it asked for
    POST /api/console/auth/signout        the session is deleted (CSRF token checked)

A successful sign-in is written to the audit trail; a failed one is not (no one is known, and
strangers must not fill the trail), and is logged.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from urllib.parse import urlsplit

from shared.auth.audit import Actor, AuditRecord
from shared.auth.guard import HttpCall
from shared.console.render import problem, render
from shared.console.routes import BASE, parse_form, url
from shared.console.sessions import FLOW_MINUTES, SESSION_HOURS, PendingSignIn
from shared.console.signin import CALLBACK_PATH, ConsoleSignIn, SignInFailed
from shared.console.web import Answer, read_cookie, redirect, same_origin, set_cookie
from shared.services import Services

log = logging.getLogger(__name__)


def signin_for(services: Services) -> ConsoleSignIn:
    return ConsoleSignIn(
        services.settings,
        assertion=services.credentials.assertion,
        tokens=services.operator_tokens,
    )


async def serve(services: Services, req: HttpCall, action: str) -> Answer:
    method = req.method.upper()
    if (method, action) == ("GET", "signin"):
        return await _begin(services, req)
    if (method, action) == ("GET", "callback"):
        return await _callback(services, req)
    if (method, action) == ("POST", "signout"):
        return await _sign_out(services, req)
    return problem(None, 404, "Not found", "There is no such page in the console.")


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path only (never another site: open redirect)."""
    parts = urlsplit(value or "")
    inside = parts.path == BASE or parts.path.startswith(BASE + "/")
    if parts.scheme or parts.netloc or not inside or "\\" in (value or ""):
        return url("runs")
    return value or url("runs")


async def _begin(services: Services, req: HttpCall) -> Answer:
    now = datetime.now(UTC)
    try:
        flow = await signin_for(services).begin()
    except Exception:
        log.exception("console sign-in could not start (Entra's metadata unreachable?)")
        return problem(None, 503, "Sign-in is unavailable", "Entra ID could not be reached.")
    pending = PendingSignIn(flow, safe_next(req.params.get("next")))
    await services.sessions.end(read_cookie(services.settings, req.headers))  # one at a time
    flow_id = await services.sessions.start_sign_in(pending, now=now)
    cookie = set_cookie(services.settings, flow_id, max_age_s=FLOW_MINUTES * 60)
    return redirect(str(flow["auth_uri"]), status=302).with_headers(cookie)


async def _callback(services: Services, req: HttpCall) -> Answer:
    now = datetime.now(UTC)
    flow_id = read_cookie(services.settings, req.headers)
    pending = await services.sessions.take_sign_in(flow_id, now=now)
    if pending is None:
        return _failed(services, "this sign-in expired or was already used")
    try:
        principal = await signin_for(services).complete(pending.flow, dict(req.params))
    except SignInFailed as failed:
        log.warning("console sign-in failed: %s", failed.reason)
        return _failed(services, failed.reason)
    session_id, _ = await services.sessions.create(principal, now=now)
    roles = ", ".join(sorted(r.value for r in principal.roles)) or "none"
    await services.audit.write(
        AuditRecord(Actor.of(principal), "GET", CALLBACK_PATH, 200, f"console sign-in; {roles}")
    )
    cookie = set_cookie(services.settings, session_id, max_age_s=SESSION_HOURS * 3600)
    # the URL still holds the code: no referrer, and straight on
    # (docs/decisions.md#console-sign-in)
    return redirect(pending.next_path).with_headers(cookie | {"Referrer-Policy": "no-referrer"})


def _failed(services: Services, reason: str) -> Answer:
    answer = render(None, "signed_out.html", status=400, failed=reason)
    cleared = set_cookie(services.settings, "", max_age_s=0)
    return answer.with_headers(cleared | {"Referrer-Policy": "no-referrer"})


async def _sign_out(services: Services, req: HttpCall) -> Answer:
    session_id = read_cookie(services.settings, req.headers)
    session = await services.sessions.get(session_id, now=datetime.now(UTC))
    try:
        token = (parse_form(req.get_body()).get("csrf") or [""])[0]
    except ValueError:
        token = ""
    genuine = session is not None and hmac.compare_digest(token.encode(), session.csrf.encode())
    if session is not None and not (genuine and same_origin(services.settings, req.headers)):
        return problem(None, 403, "Refused", "The form is stale or came from elsewhere.")
    await services.sessions.end(session_id)
    answer = render(None, "signed_out.html", failed="")
    return answer.with_headers(set_cookie(services.settings, "", max_age_s=0))
