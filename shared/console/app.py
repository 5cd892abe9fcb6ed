"""The console's guard and dispatcher: every request under /api/console comes through `serve`.

For each request: the settings must load (else 503); static files and the sign-in routes need
no session; every other page needs a live session (a GET without one is sent to sign in, a POST
is refused: its form would be lost in the redirect). A POST must carry the session's CSRF token
and, when the browser sends one, an Origin naming the app (else 403). Then the operator must
hold the page's app role (else 403, whatever the page showed), the handler runs, and an audited
action writes one audit record, as the API's gate does (shared/auth/guard.py).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared.auth.audit import ALL_TENANTS, Actor, AuditRecord, summarize
from shared.auth.guard import HttpCall
from shared.console import auth, compliance, runs, tenants  # noqa: F401 - they add ROUTES
from shared.console.render import STATIC, STATIC_FILES, problem, render
from shared.console.routes import ROUTES, Page, Visit, parse_form, url
from shared.console.sessions import Session
from shared.console.web import Answer, html, read_cookie, redirect, same_origin, static
from shared.services import Services

log = logging.getLogger(__name__)
_NOT_AUDITED_FIELDS = {"csrf", "idempotency_key"}


async def serve(services: Callable[[], Services], req: HttpCall) -> Answer:
    """The answer to one console request."""
    path = req.route_params.get("path", "").strip("/")
    if path.startswith("static/"):
        return _static(path.removeprefix("static/"))
    try:
        ready = await services().ready()
    except Exception:
        log.exception("the console cannot serve %s: settings or storage", path)
        return html(503, "<!doctype html><title>Unavailable</title><p>The app cannot serve now.")
    if path.startswith("auth/") or path == "auth":
        return await auth.serve(ready, req, path.removeprefix("auth").strip("/"))
    if path == "":
        return redirect(url("runs"))
    return await _guarded(ready, req, path)


def _static(name: str) -> Answer:
    mimetype = STATIC_FILES.get(name)
    if mimetype is None:
        return html(404, "<!doctype html><title>Not found</title><p>Not found.")
    return static((STATIC / name).read_bytes(), mimetype)


async def _guarded(services: Services, req: HttpCall, path: str) -> Answer:
    now = datetime.now(UTC)
    method = req.method.upper()
    found = ROUTES.find(method, path)
    if found is None:
        status = 405 if ROUTES.allows(path) else 404
        return problem(None, status, "Not found", "There is no such page in the console.")
    cookie = read_cookie(services.settings, req.headers)
    session = await services.sessions.get(cookie, now=now)
    if session is None:
        return _signed_out(req, method, path)
    page, values = found
    try:
        form = parse_form(req.get_body()) if method == "POST" else {}
    except ValueError as exc:
        return problem(None, 413, "Too large", str(exc))
    visit = Visit(services, session, req, form, now)
    if method == "POST" and not _genuine(services, req, session, form):
        return problem(
            visit, 403, "Refused", "The form is stale or came from elsewhere: reload it."
        )
    return await _authorized(visit, page, values)


def _signed_out(req: HttpCall, method: str, path: str) -> Answer:
    if method == "GET":
        query = req.url.partition("?")[2]
        next_path = url(path) + (f"?{query}" if query else "")
        return redirect(url("auth/signin", next=next_path))
    return problem(
        None, 401, "Signed out", "Your session ended before this form was sent: sign in again."
    )


def _genuine(
    services: Services, req: HttpCall, session: Session, form: dict[str, list[str]]
) -> bool:
    """The form carries this session's CSRF token and, if the browser says, came from here."""
    token = (form.get("csrf") or [""])[0]
    matches = hmac.compare_digest(token.encode(), session.csrf.encode())
    return matches and same_origin(services.settings, req.headers)


async def _authorized(visit: Visit, page: Page, values: dict[str, str]) -> Answer:
    if not visit.principal.may(page.role):
        answer = forbidden(visit, page)
    else:
        try:
            answer = await page.handler(visit, **values)
        except Exception:
            if page.audited:
                await visit.services.audit.write(_record(visit, values, 500))
            raise
    if page.audited:
        status = visit.answered.status if visit.answered is not None else answer.status
        await visit.services.audit.write(_record(visit, values, status))
    return answer


def forbidden(visit: Visit | None, page: Page) -> Answer:
    message = f"This needs the app role {page.role.value}, which your account does not hold."
    return problem(visit, 403, "Not allowed", message)


def _record(visit: Visit, values: dict[str, str], status: int) -> AuditRecord:
    shown = {k: v for k, v in visit.form.items() if k not in _NOT_AUDITED_FIELDS}
    body: dict[str, Any] = {k: v[0] if len(v) == 1 else v[:100] for k, v in shown.items()}
    answered = visit.answered.body if visit.answered is not None else {}
    run_id = values.get("run_id") or (answered.get("run_id") if isinstance(answered, dict) else "")
    tenants_named = [values.get("tenant_id", ""), *visit.form.get("tenant", [])]
    if visit.form.get("scope") == ["all"]:
        tenants_named.append(ALL_TENANTS)
    return AuditRecord(
        actor=Actor.of(visit.principal),
        method=visit.request.method.upper(),
        path=url(visit.request.route_params.get("path", "")),
        status=status,
        summary=summarize({}, body or None),
        tenant_ids=tuple(dict.fromkeys(t.lower() for t in tenants_named if t)),
        run_id=str(run_id or ""),
    )


__all__ = ["Answer", "render", "serve"]
