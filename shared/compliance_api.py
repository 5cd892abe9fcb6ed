"""Compliance over HTTP: the tenants x standards overview, one tenant's settings, the drift
history across tenants (read role), and accepted deviations (admin role, audited).

An accepted deviation names who accepted it from the caller's verified principal, never from
the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.api import ApiResponse, error, json_error, parse_json
from shared.auth.principal import Principal
from shared.compliance import Acceptance, State
from shared.errors import InvalidTenantId
from shared.ids import validate_tenant_id
from shared.jobs import JOBS
from shared.services import Services

PAGE = 100
_MAX_REASON = 2000
_STATES = {s.value for s in State}


async def accept(
    services: Services,
    tenant_id: str,
    standard: str,
    setting: str,
    body: bytes,
    *,
    caller: Principal,
) -> ApiResponse:
    """PUT /api/tenants/{id}/exceptions/{standard}/{setting}: {value, reason, expires}."""
    target = _target(tenant_id, standard, setting)
    if isinstance(target, ApiResponse):
        return target
    try:
        raw = parse_json(body)
    except ValueError as exc:
        return json_error(exc)
    problems, acceptance = _acceptance(raw, caller)
    if acceptance is None:
        return error(400, "invalid_exception", "the accepted deviation is invalid", problems)
    await services.compliance.accept(*target, acceptance)
    return ApiResponse(200, {"tenant_id": target[0], "standard": standard, "setting": setting})


async def withdraw(services: Services, tenant_id: str, standard: str, setting: str) -> ApiResponse:
    """DELETE /api/tenants/{id}/exceptions/{standard}/{setting}: the desired value applies."""
    target = _target(tenant_id, standard, setting)
    if isinstance(target, ApiResponse):
        return target
    existed = await services.compliance.withdraw(*target)
    return ApiResponse(200 if existed else 404, {"deleted": existed, "setting": setting})


async def tenant_compliance(services: Services, tenant_id: str) -> ApiResponse:
    """GET /api/tenants/{id}/compliance: every setting, desired, observed, state, since."""
    try:
        tid = validate_tenant_id(tenant_id)
    except InvalidTenantId as exc:
        return error(400, exc.error_class, exc.message)
    return ApiResponse(200, {"tenant_id": tid, "settings": await services.compliance.tenant(tid)})


async def overview(services: Services, query: Mapping[str, str]) -> ApiResponse:
    """GET /api/compliance?tenant=&standard=&state=&limit=&cursor=: tenants x standards."""
    state = query.get("state")
    if state is not None and state not in _STATES:
        return error(400, "invalid_query", f"state must be one of {', '.join(sorted(_STATES))}")
    try:
        start, limit = _page(query)
    except ValueError as exc:
        return error(400, "invalid_query", str(exc))
    cells = await services.compliance.summaries(
        tenant=query.get("tenant"), standard=query.get("standard")
    )
    cells = [c for c in cells if state is None or c[state] > 0]
    return _paged("cells", cells, start, limit)


async def drift(services: Services, query: Mapping[str, str]) -> ApiResponse:
    """GET /api/drift?since=&limit=&cursor=: transitions across tenants, newest first."""
    try:
        moment = datetime.fromisoformat(query.get("since", ""))
        limit = int(query.get("limit") or PAGE)
        if not 1 <= limit <= PAGE or len(query.get("cursor", "")) > 400:
            raise ValueError
    except ValueError:
        return error(400, "invalid_query", f"since must be an ISO 8601 time; limit 1-{PAGE}")
    since = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    try:
        found, following = await services.compliance.transitions(
            since, limit=limit, after=query.get("cursor", "")
        )
    except ValueError as exc:
        return error(400, "invalid_query", str(exc))
    shown = [{k: v for k, v in t.items() if not k.startswith("_")} for t in found]
    return ApiResponse(200, {"transitions": shown, "next": following})


def _target(tenant_id: str, standard: str, setting: str) -> tuple[str, str, str] | ApiResponse:
    try:
        tid = validate_tenant_id(tenant_id)
    except InvalidTenantId as exc:
        return error(400, exc.error_class, exc.message)
    job = JOBS.get(standard)
    if job is None or job.kind != "standard":
        known = ", ".join(sorted(n for n, j in JOBS.items() if j.kind == "standard"))
        return error(400, "unknown_standard", f"{standard!r} is no standard; use one of {known}")
    if not setting or len(setting) > 200 or any(c in setting for c in "/\\#?|"):
        return error(400, "invalid_setting", "the setting must be a setting id from a finding")
    return tid, standard, setting


def _acceptance(raw: Any, caller: Principal) -> tuple[list[str], Acceptance | None]:
    if not isinstance(raw, dict):
        return ["the body must be a JSON object"], None
    problems = [] if "value" in raw else ["value: required (the accepted value)"]
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > _MAX_REASON:
        problems.append(f"reason: required, 1-{_MAX_REASON} characters")
    expires = _expiry(raw.get("expires"))
    if expires is None:
        problems.append("expires: required, an ISO 8601 time with a zone, in the future")
    if problems or expires is None:
        return problems, None
    return [], Acceptance(raw["value"], str(reason), caller.display, expires)


def _expiry(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if moment is None or moment.tzinfo is None or moment <= datetime.now(UTC):
        return None
    return moment.astimezone(UTC)


def _page(query: Mapping[str, str]) -> tuple[int, int]:
    start, limit = int(query.get("cursor") or 0), int(query.get("limit") or PAGE)
    if start < 0 or not 1 <= limit <= PAGE:
        raise ValueError(f"limit must be 1-{PAGE} and cursor one this API gave")
    return start, limit


def _paged(name: str, items: list[dict[str, Any]], start: int, limit: int) -> ApiResponse:
    end = start + limit
    following = str(end) if end < len(items) else None
    return ApiResponse(200, {name: items[start:end], "next": following})
