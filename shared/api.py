"""The HTTP API's logic, JSON in and out, independent of the Functions host.

Every bad input gets a 4xx with `{"error": {"code", "message", "problems"?}}`; nothing raises out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shared.errors import InvalidTenantId, XtenantError
from shared.identity import validate_tenant_id
from shared.jobs import JOBS, InvalidParams, Mode, UnknownJob, get_job
from shared.pipeline import Services, start_manual_run
from shared.tenants import InvalidTenant, tenant_from_request


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
        mode=request["mode"],
        tenant_ids=tenant_ids,
        params=request.get("params") or {},
        requested_by=str(request.get("requested_by") or "api"),
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
    problems = [
        f"unknown field {k!r}"
        for k in request
        if k not in ("job", "mode", "tenants", "params", "requested_by")
    ]
    try:
        get_job(str(request.get("job"))).parse_params(request.get("params") or {})
    except (UnknownJob, InvalidParams) as exc:
        problems.append(exc.message)
    if request.get("mode") not in {m.value for m in Mode}:
        problems.append("mode must be plan or apply")
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
    if not run_id or len(run_id) > 64 or not run_id.replace("-", "").isalnum():
        return error(400, "invalid_run_id", "run ids are letters, digits and dashes")
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
        new = tenant_from_request(tid, parse_json(body))
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
    "InvalidTenant",
    "error",
    "get_run",
    "health",
    "list_jobs",
    "list_runs",
    "list_tenants",
    "post_run",
    "tenant",
]
