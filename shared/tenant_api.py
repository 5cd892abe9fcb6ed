"""The tenant registry over HTTP: list, read, replace (PUT), change (PATCH), remove, and a
tenant's recent rows across runs."""

from __future__ import annotations

from shared.api import ApiResponse, check_params, error, parse_json
from shared.errors import InvalidTenantId
from shared.ids import validate_tenant_id
from shared.services import Services
from shared.tenant_requests import InvalidTenant, tenant_from_patch, tenant_from_put
from shared.tenants import ConcurrentChange, Tenant

#: Not `tenant_not_found`: that class is Entra's AADSTS90002 (the tenant does not exist).
NOT_REGISTERED = "tenant_not_registered"


def not_registered(tenant_id: str) -> ApiResponse:
    return error(404, NOT_REGISTERED, f"tenant {tenant_id} is not registered")


async def list_tenants(services: Services) -> ApiResponse:
    tenants = await services.registry.list()
    return ApiResponse(200, {"tenants": [t.as_record() for t in tenants]})


async def tenant(services: Services, method: str, tenant_id: str, body: bytes) -> ApiResponse:
    """GET | PUT | PATCH | DELETE /api/tenants/{tenant_id}."""
    try:
        tid = validate_tenant_id(tenant_id)
    except InvalidTenantId as exc:
        return error(400, exc.error_class, exc.message)
    if method == "GET":
        found = await services.registry.get(tid)
        return ApiResponse(200, found.as_record()) if found else not_registered(tid)
    if method == "DELETE":
        existed = await services.registry.delete(tid)
        return ApiResponse(200 if existed else 404, {"deleted": existed, "tenant_id": tid})
    try:
        return await _write(services, method, tid, parse_json(body))
    except InvalidTenant as exc:
        return error(400, exc.error_class, exc.message, exc.problems)
    except ConcurrentChange as exc:
        return error(409, exc.error_class, exc.message)
    except ValueError as exc:
        return error(400, "invalid_json", str(exc))


async def _write(services: Services, method: str, tid: str, body: object) -> ApiResponse:
    created = False

    def put(current: Tenant | None) -> Tenant:
        nonlocal created
        created = current is None
        return tenant_from_put(tid, body, existing=current, check_params=check_params)

    def patch(current: Tenant | None) -> Tenant:
        assert current is not None
        return tenant_from_patch(current, body, check_params=check_params)

    if method == "PATCH":
        saved = await services.registry.update(tid, patch)
        return ApiResponse(200, saved.as_record()) if saved else not_registered(tid)
    saved = await services.registry.update(tid, put, create=True)
    assert saved is not None
    return ApiResponse(201 if created else 200, saved.as_record())


async def tenant_runs(services: Services, tenant_id: str) -> ApiResponse:
    """GET /api/tenants/{id}/runs: the tenant's recent rows across runs, newest first."""
    try:
        tid = validate_tenant_id(tenant_id)
    except InvalidTenantId as exc:
        return error(400, exc.error_class, exc.message)
    if await services.registry.get(tid) is None:
        return not_registered(tid)
    return ApiResponse(200, {"tenant_id": tid, "rows": await services.runs.tenant_rows(tid)})
