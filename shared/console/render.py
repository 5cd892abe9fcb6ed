"""HTML from the console's templates (Jinja2, every value escaped), and the answers every page
shares: an error page, an action's outcome.

Jinja2 is imported with the first page, not with the app (`import function_app` stays fast).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.api import ApiResponse
from shared.auth.roles import Role
from shared.console.routes import Visit, url
from shared.console.web import Answer, html, redirect

if TYPE_CHECKING:
    import jinja2

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: The static files the console serves, by name, with their type.
STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}


@cache
def static_version(name: str) -> str:
    """A short digest of a static file: its URL changes when it does (caches stay right)."""
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    return url(f"static/{name}", v=static_version(name))


def when(value: Any) -> str:
    """An ISO time as `2026-05-01 14:03 UTC`; anything else as it is (or a dash)."""
    if not value:
        return "\u2013"  # an en dash
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@cache
def environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(static=static_url, url=url, Role=Role)
    env.filters.update(when=when, json=as_json)
    return env


def page_text(template: str, values: dict[str, Any]) -> str:
    return environment().get_template(template).render(**values)


#: The navigation entry each page belongs to (`aria-current` on it).
_NAV = {
    "runs.html": "runs",
    "run.html": "runs",
    "row.html": "runs",
    "new_run.html": "runs",
    "tenants.html": "tenants",
    "tenant.html": "tenants",
    "check.html": "tenants",
    "onboard.html": "tenants",
    "compliance.html": "compliance",
    "settings.html": "compliance",
    "drift.html": "drift",
    "audit.html": "audit",
}


def render(visit: Visit | None, template: str, *, status: int = 200, **values: Any) -> Answer:
    """A page; with a visit, the page knows who is signed in (navigation, buttons, forms)."""
    shared: dict[str, Any] = {"principal": None, "csrf": "", "notice": ""}
    shared["nav"] = _NAV.get(template, "")
    if visit is not None:
        shared |= {
            "principal": visit.principal,
            "csrf": visit.session.csrf,
            "notice": visit.query("notice"),
        }
    return html(status, page_text(template, shared | values))


def problem(
    visit: Visit | None,
    status: int,
    title: str,
    message: str,
    problems: list[str] | None = None,
) -> Answer:
    """An error page in plain words, with the problems the API listed."""
    values = {"title": title, "message": message, "problems": problems or []}
    return render(visit, "problem.html", status=status, **values)


def refused(visit: Visit | None, response: ApiResponse) -> Answer:
    """The error page for a shared function's 4xx/5xx answer, in its own words."""
    body = response.body if isinstance(response.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    assert isinstance(error, dict)
    message = str(error.get("message") or "the request was refused")
    title = _TITLES.get(response.status, "The request was refused")
    return problem(visit, response.status, title, message, list(error.get("problems") or []))


_TITLES = {
    400: "The request is not valid",
    403: "Not allowed",
    404: "Not found",
    409: "Not possible now",
    413: "Too large",
    503: "Unavailable",
}


def outcome(visit: Visit, response: ApiResponse, then: str) -> Answer:
    """After an action: on success to `then` (a console URL), else the refusal, as a page."""
    visit.answered = response
    if 200 <= response.status < 300:
        return redirect(then)
    return refused(visit, response)
