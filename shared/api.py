"""The HTTP API's logic, JSON in and out, independent of the Functions host.

Every bad input gets a 4xx with `{"error": {"code", "message", "problems"?}}`; nothing raises out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shared.errors import InvalidTenantId, XtenantError
from shared.ids import InvalidRunId, validate_run_id, validate_tenant_id
from shared.jobs import InvalidParams, UnknownJob, get_job
from shared.pipeline import start_manual_run
from shared.results import Mode
from shared.services import Services
from shared.tenants import InvalidTenant, tenant_from_request

#: The fields of POST /api/runs. Who asked and from where are never taken from the body: the
#: origin is the trigger's, the requester the caller's (one value until callers are identified).
_RUN_FIELDS = ("job", "mode", "tenants", "params")
API_CALLER = "api"


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


def parse_json(body: bytes) -> Any:
    """The request body as JSON; ValueError when it is not."""
    if not body:
        raise ValueError("the request needs a JSON body")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("the body is not valid JSON") from None


async def post_run(services: Services, body: bytes, *, base_url: str) -> ApiResponse:
    """POST /api/runs {job, mode, tenants: [...] | "all", params} -> 202 with the run id."""
    try:
        request = parse_json(body)
    except ValueError as exc:
        return error(400, "invalid_json", str(exc))
    if not isinstance(request, dict):
        return error(400, "invalid_request", "the body must be a JSON object")
    problems, tenant_ids = await _check_run_request(services, request)
    if problems:
        return error(400, "invalid_request", "the run request is invalid", problems)
    started = await start_manual_run(
        services,
        job=request["job"],
        mode=Mode.parse(request["mode"]),
        tenant_ids=tenant_ids,
        params=request.get("params") or {},
        requested_by=API_CALLER,
    )
    status_url = f"{base_url}/api/runs/{started.run_id}"
    return ApiResponse(
        202,
        {"run_id": started.run_id, "messages": started.messages, "status_url": status_url},
        {"Location": status_url},
    )


async def _check_run_request(
    services: Services, request: dict[str, Any]
) -> tuple[list[str], list[str]]:
    problems = [f"unknown field {k!r}" for k in request if k not in _RUN_FIELDS]
    try:
        check_params(str(request.get("job")), request.get("params") or {})
    except (UnknownJob, InvalidParams) as exc:
        problems.append(exc.message)
    try:
        Mode.parse(request.get("mode"))
    except ValueError as exc:
        problems.append(str(exc))
    tenant_ids, tenant_problems = await _resolve_tenants(services, request.get("tenants"))
    return problems + tenant_problems, tenant_ids


async def _resolve_tenants(services: Services, raw: Any) -> tuple[list[str], list[str]]:
    registered = {t.tenant_id: t for t in await services.registry.list()}
    if raw == "all":
        ids = [tid for tid, t in sorted(registered.items()) if t.enabled]
        return ids, [] if ids else ["no enabled tenant is registered"]
    if not isinstance(raw, list) or not raw:
        return [], ['tenants must be a non-empty list of tenant ids, or "all"']
    ids, problems = [], []
    for item in raw:
        try:
            tid = validate_tenant_id(str(item))
        except InvalidTenantId:
            problems.append(f"tenant id {str(item)[:60]!r} is not a GUID")
            continue
        if tid not in registered:
            problems.append(f"tenant {tid} is not registered (PUT /api/tenants/{tid} first)")
        ids.append(tid)
    return sorted(set(ids)), problems


async def get_run(services: Services, run_id: str) -> ApiResponse:
    try:
        validate_run_id(run_id)
    except InvalidRunId as exc:
        return error(400, exc.error_class, exc.message)
    run = await services.ledger.get_run(run_id)
    if run is None:
        return error(404, "run_not_found", f"no run {run_id}")
    return ApiResponse(200, run)


async def list_runs(services: Services) -> ApiResponse:
    return ApiResponse(200, {"runs": await services.ledger.list_runs()})


async def list_tenants(services: Services) -> ApiResponse:
    tenants = await services.registry.list()
    return ApiResponse(200, {"tenants": [t.as_record() for t in tenants]})


async def tenant(services: Services, method: str, tenant_id: str, body: bytes) -> ApiResponse:
    """GET | PUT | DELETE /api/tenants/{tenant_id}."""
    try:
        tid = validate_tenant_id(tenant_id)
    except InvalidTenantId as exc:
        return error(400, exc.error_class, exc.message)
    if method == "GET":
        found = await services.registry.get(tid)
        return (
            ApiResponse(200, found.as_record())
            if found
            else error(404, "tenant_not_found", f"tenant {tid} is not registered")
        )
    if method == "DELETE":
        existed = await services.registry.delete(tid)
        return ApiResponse(200 if existed else 404, {"deleted": existed, "tenant_id": tid})
    try:
        new = tenant_from_request(tid, parse_json(body), check_params=check_params)
    except ValueError as exc:
        return error(400, getattr(exc, "error_class", "invalid_json"), str(exc))
    created = await services.registry.get(tid) is None
    saved = await services.registry.put(new)
    return ApiResponse(201 if created else 200, saved.as_record())


async def health(
    services: Services | None, problem: XtenantError | Exception | None
) -> ApiResponse:
    """Settings valid and storage reachable; never touches a tenant."""
    if services is None:
        return ApiResponse(503, {"status": "unhealthy", "settings": str(problem)})
    try:
        await services.registry.list()
    except Exception as exc:  # report, do not raise: this is the endpoint that says what is wrong
        return ApiResponse(503, {"status": "unhealthy", "storage": type(exc).__name__})
    return ApiResponse(
        200,
        {
            "status": "ok",
            "auth_mode": services.settings.auth_mode.value,
            "cloud": services.settings.cloud.value,
        },
    )


__all__ = [
    "ApiResponse",
    "InvalidTenant",
    "error",
    "get_run",
    "health",
    "list_runs",
    "list_tenants",
    "post_run",
    "tenant",
]
