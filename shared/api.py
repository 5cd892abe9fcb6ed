"""The HTTP API's logic, JSON in and out, independent of the Functions host.

Every bad input gets a 4xx with `{"error": {"code", "message", "problems"?}}`; nothing raises out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import rollout
from shared.auth.audit import MAX_PAGE as MAX_AUDIT_PAGE
from shared.auth.audit import AuditQuery, InvalidCursor
from shared.auth.principal import Principal
from shared.auth.roles import Role
from shared.errors import InvalidTenantId
from shared.groups import Targeting
from shared.idempotency import InvalidKey, Reservation, check_key
from shared.ids import InvalidRunId, is_guid, new_run_id, validate_run_id, validate_tenant_id
from shared.jobs import JOBS, InvalidParams, UnknownJob, get_job
from shared.ledger import RowSpec
from shared.messages import params_problem
from shared.pipeline import start_manual_run
from shared.results import Mode
from shared.run_views import MAX_PAGE, ROWS_PAGE, InvalidQuery, RunFilter
from shared.services import Services
from shared.tenants import Tenant

#: The fields of POST /api/runs. Who asked and from where are never taken from the body: the
#: origin is the trigger's, the requester the verified caller's.
_RUN_FIELDS = ("job", "mode", "tenants", "params", "rings", "max_failure_rate")


def check_params(job: str, params: Any) -> None:
    """Raise UnknownJob or InvalidParams (naming every bad field) for a job's params."""
    get_job(job).parse_params(params)


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: dict[str, Any] | list[Any]
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> str:
        return json.dumps(self.body, default=str)


def error(status: int, code: str, message: str, problems: list[str] | None = None) -> ApiResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if problems:
        body["problems"] = problems
    return ApiResponse(status, {"error": body})


def forbidden(role: Role) -> ApiResponse:
    """403 naming the app role the call needs (RFC 6750: `insufficient_scope`)."""
    body = {
        "error": {
            "code": "forbidden",
            "message": f"this call needs the app role {role.value}",
            "required_role": role.value,
        }
    }
    challenge = f'Bearer error="insufficient_scope", error_description="needs {role.value}"'
    return ApiResponse(403, body, {"WWW-Authenticate": challenge})


#: A request body larger than this is refused before it is parsed (413).
MAX_BODY_BYTES = 1_000_000
#: Tenants one run may name; the problems listed in one answer.
MAX_TENANTS_PER_RUN = 10_000
_MAX_PROBLEMS = 20


class BodyTooLarge(ValueError):
    """A request body over MAX_BODY_BYTES."""


def parse_json(body: bytes) -> Any:
    """The request body as JSON; ValueError when it is not (BodyTooLarge when it is too big)."""
    if not body:
        raise ValueError("the request needs a JSON body")
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"the body is larger than {MAX_BODY_BYTES:,} bytes")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValueError("the body is not valid JSON (or nested too deeply)") from None


def json_error(exc: ValueError) -> ApiResponse:
    if isinstance(exc, BodyTooLarge):
        return error(413, "body_too_large", str(exc))
    return error(400, "invalid_json", str(exc))


async def post_run(
    services: Services, body: bytes, *, caller: Principal, idempotency_key: str | None = None
) -> ApiResponse:
    """POST /api/runs {job, mode, tenants: [...] | "all" | {"group": name}, params} -> 202.

    The route needs the plan role; a run in apply mode needs the apply role too. With an
    `Idempotency-Key` header, the same key (same caller) within 24 hours returns the same run
    and sends nothing (shared/idempotency.py).
    """
    try:
        request = parse_json(body)
    except ValueError as exc:
        return json_error(exc)
    if not isinstance(request, dict):
        return error(400, "invalid_request", "the body must be a JSON object")
    if _applies(request.get("mode")) and not caller.may(Role.APPLY):
        return forbidden(Role.APPLY)
    problems, tenants = await _check_run_request(services, request)
    ring_of = await _rings(services, request, tenants, problems)
    if problems:
        shown = problems[:_MAX_PROBLEMS]
        if len(problems) > _MAX_PROBLEMS:
            shown.append(f"... and {len(problems) - _MAX_PROBLEMS} more")
        return error(400, "invalid_request", "the run request is invalid", shown)
    run_id = new_run_id()
    if idempotency_key is not None:
        replay = await replay_of(services, caller, idempotency_key, request, run_id)
        if replay is not None:
            return replay
    mode, params = Mode.parse(request["mode"]), dict(request.get("params") or {})
    work = [
        RowSpec(t.tenant_id, request["job"], mode, params, t.name, ring_of.get(t.tenant_id))
        for t in tenants
    ]
    approval = rollout.needs_approval(services, work)
    if ring_of or approval:
        held = await rollout.start_held(
            services,
            work,
            run_id=run_id,
            approval=approval,
            max_failure_rate=float(request.get("max_failure_rate") or 0.0),
            rings=len(set(ring_of.values())),
            requested_by=caller.display,
            requested_by_id=caller.object_id,
            mode=mode,
            job=request["job"],
        )
        return held_answer(services, held)
    started = await start_manual_run(
        services,
        job=request["job"],
        mode=mode,
        tenants=tenants,
        params=params,
        requested_by=caller.display,
        requested_by_id=caller.object_id,
        run_id=run_id,
    )
    status_url = f"{services.settings.public_url}/api/runs/{started.run_id}"
    answer: dict[str, Any] = {
        "run_id": started.run_id,
        "messages": started.messages,
        "status_url": status_url,
    }
    if started.not_queued:
        answer["not_queued"] = started.not_queued
    return ApiResponse(202, answer, {"Location": status_url})


def held_answer(services: Services, held: rollout.Held) -> ApiResponse:
    """202 for a run written held: awaiting approval (with its plan run), or rolling out."""
    status_url = f"{services.settings.public_url}/api/runs/{held.run_id}"
    answer: dict[str, Any] = {
        "run_id": held.run_id,
        "state": held.state.value,
        "status_url": status_url,
    }
    if held.plan_run_id:
        answer["plan_run_id"] = held.plan_run_id
        answer["plan_url"] = f"{services.settings.public_url}/api/runs/{held.plan_run_id}"
        answer["approval_expires_at"] = held.expires_at.isoformat() if held.expires_at else None
        answer["approve_url"] = f"{status_url}/approve"
    return ApiResponse(202, answer, {"Location": status_url})


async def _rings(
    services: Services, request: dict[str, Any], tenants: list[Tenant], problems: list[str]
) -> dict[str, int]:
    """tenant id -> ring, when the request stages the run (apply only); {} otherwise. A ring
    that names a group holds the run's tenants that are in the group."""
    raw, rate = request.get("rings"), request.get("max_failure_rate", 0.0)
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
        problems.append("max_failure_rate must be a number from 0 to 1")
    if raw is None:
        return {}
    if not _applies(request.get("mode")):
        problems.append("rings stage an apply run: a plan run needs none")
        return {}
    specs = rollout.parse_rings(raw, problems)
    if any(s.group for s in specs):
        targeting = await services.groups.targeting()
        specs = [_group_ring(n, s, tenants, targeting, problems) for n, s in enumerate(specs)]
    ids = [t.tenant_id for t in tenants]
    return rollout.assign_rings(ids, specs, problems) if specs and not problems else {}


def _group_ring(
    n: int, spec: rollout.RingSpec, tenants: list[Tenant], targeting: Targeting, problems: list[str]
) -> rollout.RingSpec:
    if not spec.group:
        return spec
    group = targeting.get(spec.group)
    if group is None:
        problems.append(f"rings[{n}]: group {spec.group!r} does not exist")
        return spec
    members = tuple(t.tenant_id for t in targeting.members(group, tenants))
    if not members:
        problems.append(f"rings[{n}]: group {spec.group!r} holds none of the run's tenants")
    return rollout.RingSpec(tenants=members)


async def replay_of(
    services: Services, caller: Principal, key: str, request: Any, run_id: str
) -> ApiResponse | None:
    """None to go ahead (the caller's `Idempotency-Key` is now reserved for `run_id`); else
    the answer: 400 for a bad key, the run this key already started (200), or 409 when it
    started one from a different request."""
    try:
        reservation = await services.idempotency.reserve(
            caller=caller.object_id,
            key=check_key(key),
            request=request,
            run_id=run_id,
            now=datetime.now(UTC),
        )
    except InvalidKey as exc:
        return error(400, "invalid_idempotency_key", str(exc))
    return _replayed(services, reservation) if reservation.replayed else None


def _replayed(services: Services, reservation: Reservation) -> ApiResponse:
    status_url = f"{services.settings.public_url}/api/runs/{reservation.run_id}"
    if reservation.conflict:
        return error(
            409,
            "idempotency_key_reused",
            f"this Idempotency-Key already started run {reservation.run_id} from a different "
            "request; use a new key for a new run",
        )
    body = {"run_id": reservation.run_id, "replayed": True, "status_url": status_url}
    return ApiResponse(200, body, {"Location": status_url})


async def _check_run_request(
    services: Services, request: dict[str, Any]
) -> tuple[list[str], list[Tenant]]:
    problems = [f"unknown field {k!r}" for k in request if k not in _RUN_FIELDS]
    try:
        check_params(str(request.get("job")), request.get("params") or {})
    except (UnknownJob, InvalidParams) as exc:
        problems.append(exc.message)
    too_big = params_problem(request.get("params") or {})
    if too_big:
        problems.append(too_big)
    try:
        Mode.parse(request.get("mode"))
    except ValueError as exc:
        problems.append(str(exc))
    targeting = await services.groups.targeting()
    tenants, tenant_problems = await _resolve_tenants(services, request.get("tenants"), targeting)
    if _applies(request.get("mode")):
        tenant_problems += _above_enrolment(str(request.get("job")), tenants, targeting)
    return problems + tenant_problems, tenants


def _applies(mode: Any) -> bool:
    try:
        return Mode.parse(mode) is Mode.APPLY
    except ValueError:
        return False


def _above_enrolment(job: str, tenants: list[Tenant], targeting: Targeting) -> list[str]:
    """A manual run may lower a tenant's effective mode, never raise it: an apply run over a
    tenant enrolled in plan (report) for the job, by itself or a group, is refused for it."""
    problems = []
    for tenant in tenants:
        enrolment, source = targeting.effective(tenant).get(job, (None, ""))
        if enrolment is not None and not enrolment.mode.allows(Mode.APPLY):
            problems.append(
                f"tenant {tenant.tenant_id} is enrolled in {job} in plan (report) mode (source: "
                f"{source}): a manual run may not apply (remediate) there; change that "
                "enrolment to apply first"
            )
    return problems


async def _resolve_tenants(
    services: Services, raw: Any, targeting: Targeting
) -> tuple[list[Tenant], list[str]]:
    registered = {t.tenant_id: t for t in await services.registry.list()}
    if isinstance(raw, dict):
        members, problems = targeting.run_members(raw, registered.values())
        if len(members) > MAX_TENANTS_PER_RUN:
            return [], [f"a run may have at most {MAX_TENANTS_PER_RUN:,} tenants"]
        return members, problems
    if raw == "all":
        enabled = [t for _, t in sorted(registered.items()) if t.enabled]
        if len(enabled) > MAX_TENANTS_PER_RUN:
            return [], [f"a run may have at most {MAX_TENANTS_PER_RUN:,} tenants"]
        return enabled, [] if enabled else ["no enabled tenant is registered"]
    if not isinstance(raw, list) or not raw:
        return [], ['tenants must be a non-empty list of tenant ids, "all" or {"group": name}']
    if len(raw) > MAX_TENANTS_PER_RUN:
        return [], [f"tenants may name at most {MAX_TENANTS_PER_RUN:,} tenants per run"]
    chosen: dict[str, Tenant] = {}
    problems = []
    for item in raw:
        try:
            tid = validate_tenant_id(item)
        except InvalidTenantId:
            problems.append(f"tenant id {str(item)[:60]!r} is not a GUID")
            continue
        if tid not in registered:
            problems.append(f"tenant {tid} is not registered (PUT /api/tenants/{tid} first)")
        else:
            chosen[tid] = registered[tid]
    return [chosen[tid] for tid in sorted(chosen)], problems


async def get_run(
    services: Services, run_id: str, query: Mapping[str, str] | None = None
) -> ApiResponse:
    """GET /api/runs/{run_id}[?rows_after=&rows_limit=]: totals, status, a page of rows."""
    try:
        validate_run_id(run_id)
    except InvalidRunId as exc:
        return error(400, exc.error_class, exc.message)
    query = query or {}
    after, limit = query.get("rows_after", ""), query.get("rows_limit", str(ROWS_PAGE))
    if not (limit.isdigit() and 1 <= int(limit) <= ROWS_PAGE) or len(after) > 200:
        return error(
            400, "invalid_query", f"rows_limit must be 1-{ROWS_PAGE}; rows_after a rows_next"
        )
    run = await services.runs.get_run(run_id, after=after, limit=int(limit))
    if run is None:
        return error(404, "run_not_found", f"no run {run_id}")
    return ApiResponse(200, run)


_RUN_FILTERS = ("status", "job", "origin", "since", "until", "limit", "cursor")


async def list_runs(services: Services, query: Mapping[str, str]) -> ApiResponse:
    """GET /api/runs[?status=&job=&origin=&since=&until=&limit=&cursor=]: newest first."""
    try:
        wanted = _run_filter(query)
        return ApiResponse(200, await services.runs.list_runs(wanted))
    except InvalidQuery as exc:
        return error(400, "invalid_query", str(exc))


def page_limit(
    query: Mapping[str, str], allowed: tuple[str, ...], *, default: int, most: int
) -> int:
    """A list query's `limit`, after refusing filters the route does not know (InvalidQuery)."""
    unknown = sorted(k for k in query if k not in allowed)
    if unknown:
        raise InvalidQuery(f"unknown filter {unknown[0]!r}; use {', '.join(allowed)}")
    limit = query.get("limit", str(default))
    if not limit.isdigit() or not 1 <= int(limit) <= most:
        raise InvalidQuery(f"limit must be a whole number from 1 to {most}")
    return int(limit)


def _run_filter(query: Mapping[str, str]) -> RunFilter:
    limit = page_limit(query, _RUN_FILTERS, default=20, most=MAX_PAGE)
    for name in ("since", "until"):
        if name in query:
            _iso_time(name, query[name])
    return RunFilter(
        status=query.get("status"),
        job=query.get("job"),
        origin=query.get("origin"),
        since=query.get("since"),
        until=query.get("until"),
        limit=limit,
        cursor=query.get("cursor"),
    )


def _iso_time(name: str, value: str) -> None:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise InvalidQuery(
            f"{name} must be an ISO 8601 time, e.g. 2026-11-28T00:00:00+00:00"
        ) from None


async def bad_messages(services: Services) -> ApiResponse:
    """GET /api/bad-messages: queue messages the worker could not read (never retried)."""
    return ApiResponse(200, {"bad_messages": await services.runs.bad_messages()})


def unhealthy(*, settings: str | None = None, storage: str | None = None) -> ApiResponse:
    """503 naming what is wrong: the settings (every problem), or storage (the error's type)."""
    problem = {"settings": settings} if settings is not None else {"storage": storage}
    return ApiResponse(503, {"status": "unhealthy", **problem})


async def health(services: Services) -> ApiResponse:
    """Settings valid and storage reachable; never touches a tenant."""
    try:
        await services.registry.list()
        outage = await services.app_breaker.outage(datetime.now(UTC))
        notifications = await services.notifier.health()
    except Exception as exc:  # report, do not raise: this is the endpoint that says what is wrong
        return unhealthy(storage=type(exc).__name__)
    body: dict[str, Any] = {
        "status": "ok" if outage is None else "degraded",
        "auth_mode": services.settings.auth_mode.value,
        "cloud": services.settings.cloud.value,
        "app": {"status": "ok"} if outage is None else outage.as_record(),
        # sinks by kind and the last failed delivery; never a sink's URL (docs/notifications.md)
        "notifications": notifications,
    }
    return ApiResponse(200, body)


_AUDIT_FILTERS = ("principal", "tenant", "limit", "cursor")


async def list_audit(services: Services, query: Mapping[str, str]) -> ApiResponse:
    """GET /api/audit[?principal=<object id>&tenant=<id>&limit=&cursor=]: newest first."""
    try:
        wanted = _audit_query(query)
        return ApiResponse(200, await services.audit.page(wanted))
    except (InvalidQuery, InvalidCursor) as exc:
        return error(400, "invalid_query", str(exc))


def _audit_query(query: Mapping[str, str]) -> AuditQuery:
    limit = page_limit(query, _AUDIT_FILTERS, default=50, most=MAX_AUDIT_PAGE)
    ids = {}
    for name in ("principal", "tenant"):
        if name in query:
            if not is_guid(query[name]):
                raise InvalidQuery(f"{name} must be a GUID (an object id or a tenant id)")
            ids[name] = query[name].lower()
    return AuditQuery(
        principal=ids.get("principal"),
        tenant=ids.get("tenant"),
        limit=limit,
        cursor=query.get("cursor"),
    )


async def list_jobs() -> ApiResponse:
    """GET /api/jobs: each job's name, description, Graph permissions and params as JSON Schema."""
    jobs = [
        {
            "name": job.name,
            "description": job.description,
            "permissions": list(job.permissions),
            "params_schema": job.params_schema(),
        }
        for job in JOBS.values()
    ]
    return ApiResponse(200, {"jobs": jobs})


__all__ = [
    "ApiResponse",
    "error",
    "forbidden",
    "get_run",
    "health",
    "list_audit",
    "list_jobs",
    "list_runs",
    "post_run",
]
