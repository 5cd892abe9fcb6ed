"""The console's pages and actions: each with its path, method, the app role it needs and
whether it is audited, exactly as the API route it stands beside (function_app.py).

    @ROUTES.page("GET", "runs/{run_id}", Role.READ)
    async def run_page(visit: Visit, run_id: str) -> Answer: ...

A `Visit` is one request that passed the console's guard (shared/console/app.py): a live
session, the CSRF token on a POST, the role. An action calls the same shared function its API
route calls and hands the answer to `visit.outcome`, which the audit record reports.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from shared.api import ApiResponse
from shared.auth.guard import HttpCall
from shared.auth.principal import Principal
from shared.auth.roles import Role
from shared.console.sessions import Session
from shared.console.web import Answer
from shared.services import Services

BASE = "/api/console"
_SEGMENT = re.compile(r"\{(\w+)\}")
#: A form body larger than this is refused before it is parsed.
MAX_FORM_BYTES = 200_000


@dataclass
class Visit:
    """One guarded request: who, their session, the route's values and the form posted."""

    services: Services
    session: Session
    request: HttpCall
    form: dict[str, list[str]]
    now: datetime
    #: what the shared function behind an action answered (the audit record's status)
    answered: ApiResponse | None = None

    @property
    def principal(self) -> Principal:
        return self.session.principal

    def query(self, name: str, default: str = "") -> str:
        return str(self.request.params.get(name) or default)[:500]

    def field(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0] if values else default

    def fields(self, name: str) -> list[str]:
        return list(self.form.get(name, []))


Handler = Callable[..., Awaitable[Answer]]


@dataclass(frozen=True)
class Page:
    method: str
    template: str
    pattern: re.Pattern[str]
    role: Role
    handler: Handler
    audited: bool


@dataclass
class Routes:
    pages: list[Page] = field(default_factory=list)

    def page(
        self, method: str, template: str, role: Role, *, audited: bool = False
    ) -> Callable[[Handler], Handler]:
        """Register a handler for `method template`: literal segments (letters, digits, `-`)
        and `{name}`, which takes one path segment."""

        def register(handler: Handler) -> Handler:
            compiled = re.compile(_SEGMENT.sub(r"(?P<\1>[^/]+)", template))
            self.pages.append(Page(method, template, compiled, role, handler, audited))
            return handler

        return register

    def find(self, method: str, path: str) -> tuple[Page, dict[str, str]] | None:
        """The page for a method and a path below BASE (no leading slash), with its values;
        literal segments win over `{name}` ones (`runs/new` is not the run `new`)."""
        for page in sorted(self.pages, key=lambda p: p.template.count("{")):
            found = page.pattern.fullmatch(path)
            if found is not None and page.method == method:
                return page, found.groupdict()
        return None

    def allows(self, path: str) -> bool:
        """Whether some method serves `path` (405 rather than 404)."""
        return any(page.pattern.fullmatch(path) for page in self.pages)


ROUTES = Routes()


def url(path: str = "", **query: Any) -> str:
    """A console URL: BASE/path with the query's non-empty values."""
    shown = {k: v for k, v in query.items() if v not in (None, "")}
    suffix = f"?{urlencode(shown)}" if shown else ""
    return f"{BASE}/{path}".rstrip("/") + suffix


def parse_form(body: bytes) -> dict[str, list[str]]:
    """An `application/x-www-form-urlencoded` body, keeping repeated fields (checkboxes)."""
    if len(body) > MAX_FORM_BYTES:
        raise ValueError(f"the form is larger than {MAX_FORM_BYTES:,} bytes")
    text = body.decode("utf-8", errors="replace")
    return parse_qs(text, keep_blank_values=True, max_num_fields=2000)
