"""Tenant groups over HTTP: list, read (its members resolved, paged), replace (PUT), remove.

Reading needs the read role; changing needs admin. As for tenants (shared/tenant_api.py), a
change that lets the schedule apply what it did not apply before needs the apply role as well:
a group's apply enrolment added or changed (even before the group holds anyone: a dynamic group
fills as runs read licences), or any registered tenant whose effective enrolments would gain an
apply (a tenant added to a group that applies, a group removed whose report enrolment held back
`all`'s apply).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.api import (
    ApiResponse,
    check_params,
    error,
    forbidden,
    json_error,
    page_limit,
    parse_json,
)
from shared.auth.principal import Principal
from shared.auth.roles import Role
from shared.group_requests import InvalidGroup, group_from_put, name_problems
from shared.groups import ALL, Effective, Group, Targeting, gains_apply
from shared.run_views import InvalidQuery
from shared.services import Services
from shared.tenant_api import ApplyRoleNeeded
from shared.tenants import ConcurrentChange, Tenant

GROUP_NOT_FOUND = "group_not_found"
#: Members shown per page of GET /api/groups/{name}.
MEMBERS_PAGE = 500


def not_found(name: str) -> ApiResponse:
    return error(404, GROUP_NOT_FOUND, f"no group {name} (GET /api/groups lists them)")


def invalid(problems: list[str]) -> ApiResponse:
    refused = InvalidGroup(problems)
    return error(400, refused.error_class, refused.message, refused.problems)


async def list_groups(services: Services) -> ApiResponse:
    """GET /api/groups: every group (`all` too), each with how many tenants it holds now."""
    targeting = await services.groups.targeting()
    tenants = await services.registry.list()
    groups = [
        g.as_record() | {"members_total": len(targeting.members(g, tenants))}
        for g in targeting.groups
    ]
    return ApiResponse(200, {"groups": groups})


async def get_group(services: Services, name: str, query: Mapping[str, str]) -> ApiResponse:
    """GET /api/groups/{name}[?limit=&cursor=]: the group and a page of its members."""
    if problems := name_problems(name):
        return invalid(problems)
    try:
        limit = page_limit(query, ("limit", "cursor"), default=MEMBERS_PAGE, most=MEMBERS_PAGE)
    except InvalidQuery as exc:
        return error(400, "invalid_query", str(exc))
    targeting = await services.groups.targeting()
    group = targeting.get(name)
    if group is None:
        return not_found(name)
    tenants = await services.registry.list()
    members = targeting.members(group, tenants)
    return ApiResponse(200, group.as_record() | _members_page(members, query, limit))


def _members_page(members: list[Tenant], query: Mapping[str, str], limit: int) -> dict[str, Any]:
    after = query.get("cursor", "")
    rest = [m for m in members if m.tenant_id > after]
    page = rest[:limit]
    return {
        "members": [{"tenant_id": t.tenant_id, "name": t.name, "enabled": t.enabled} for t in page],
        "members_total": len(members),
        "members_next": page[-1].tenant_id if len(rest) > limit else None,
    }


async def change_group(
    services: Services, method: str, name: str, body: bytes, *, caller: Principal
) -> ApiResponse:
    """PUT | DELETE /api/groups/{name} (admin; apply too when it lets the schedule apply)."""
    try:
        if method == "DELETE":
            return await _delete(services, name, caller)
        return await _put(services, name, parse_json(body), caller)  # names every problem
    except InvalidGroup as exc:
        return error(400, exc.error_class, exc.message, exc.problems)
    except ConcurrentChange as exc:
        return error(409, exc.error_class, exc.message)
    except ApplyRoleNeeded:
        return forbidden(Role.APPLY)
    except ValueError as exc:
        return json_error(exc)


async def _put(services: Services, name: str, body: object, caller: Principal) -> ApiResponse:
    tenants = await services.registry.list()
    targeting = await services.groups.targeting()
    registered = {t.tenant_id for t in tenants}

    def change(current: Group | None) -> Group:
        group = group_from_put(name, body, check_params=check_params, registered=registered)
        if not caller.may(Role.APPLY):
            if gains_apply(_own(current), _own(group)):
                raise ApplyRoleNeeded()
            _within_roles(
                tenants, targeting.with_group(name, current), targeting.with_group(name, group)
            )
        return group

    group, created = await services.groups.replace(name, change)
    return ApiResponse(201 if created else 200, group.as_record())


async def _delete(services: Services, name: str, caller: Principal) -> ApiResponse:
    if problems := name_problems(name):
        return invalid(problems)
    if name == ALL:
        return invalid(["the group all always exists: PUT it with no enrolments to clear them"])
    targeting = await services.groups.targeting()
    if targeting.get(name) is None:
        return not_found(name)
    if not caller.may(Role.APPLY):
        tenants = await services.registry.list()
        _within_roles(tenants, targeting, targeting.with_group(name, None))
    deleted = await services.groups.delete(name)
    return ApiResponse(200 if deleted else 404, {"deleted": deleted, "name": name})


def _within_roles(tenants: Sequence[Tenant], before: Targeting, after: Targeting) -> None:
    """ApplyRoleNeeded when, after the change, the schedule would apply in some tenant what it
    did not apply before."""
    if any(gains_apply(before.effective(t), after.effective(t)) for t in tenants):
        raise ApplyRoleNeeded()


def _own(group: Group | None) -> Effective:
    return {job: (e, "") for job, e in (group.enrolments if group else {}).items()}
