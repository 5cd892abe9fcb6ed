"""/identity/conditionalAccess/policies and /policies/identitySecurityDefaultsEnforcementPolicy.

https://learn.microsoft.com/graph/api/conditionalaccessroot-list-policies, -post-policies,
conditionalaccesspolicy-get, -update, -delete; identitysecuritydefaultsenforcementpolicy-get,
-update. Conditional Access needs Entra ID P1: in a tenant without it a create or an update is
refused with Graph's "no premium licence" answer, while reading and deleting still work (Entra:
when the licence is gone, "remaining policies can be viewed and deleted, but no longer updated";
docs/decisions.md#conditional-access-without-p1). Creates and PATCHes are recorded in
`ctx.writes` and counted (`graph.creates.conditional_access_policies`, `graph.patches`).
"""

from __future__ import annotations

from typing import Any

from devtools.fakecloud.graph import auth, licences, payload
from devtools.fakecloud.graph.call import Call, GraphResponse
from devtools.fakecloud.graph.errors import invalid_property, no_premium_licence, read_only
from devtools.fakecloud.graph.query import (
    collection_body,
    context_url,
    next_link,
    parse_query,
    project,
    take_page,
)
from devtools.fakecloud.graph.router import Route
from devtools.fakecloud.graph.schema import EntitySchema, PropertySpec

_SET = "identity/conditionalAccess/policies"
_DEFAULTS_RESOURCE = "IdentitySecurityDefaultsEnforcementPolicy"
_DEFAULTS_CONTEXT = "/v1.0/$metadata#policies/identitySecurityDefaultsEnforcementPolicy/$entity"
POLICY = EntitySchema(
    type_name="microsoft.graph.conditionalAccessPolicy",
    resource="ConditionalAccessPolicy",
    entity_set=_SET,
    selectable=(
        "id",
        "templateId",
        "displayName",
        "createdDateTime",
        "modifiedDateTime",
        "state",
        "conditions",
        "grantControls",
        "sessionControls",
    ),
    default_select=(),  # every property
    filterable={
        "id": PropertySpec("id", "string", frozenset({"eq", "in"}), frozenset()),
        "displayname": PropertySpec(
            "displayName", "string", frozenset({"eq", "startswith"}), frozenset()
        ),
        "state": PropertySpec("state", "string", frozenset({"eq", "in"}), frozenset()),
    },
)


def list_policies(call: Call, params: dict[str, str]) -> GraphResponse:
    options = parse_query(call.query, POLICY, consistency_eventual=call.consistency_eventual)
    keep = options.filter.matches if options.filter else None
    page = take_page(
        call.directory.security.policies(),
        key=lambda policy: str(policy["id"]),
        matches=lambda policy: keep is None or keep(policy),
        options=options,
    )
    values = [project(p, options.select, POLICY) for p in page.items]
    base = call.ctx.base_url
    link = next_link(base, call.path, options, page.next_after) if page.next_after else None
    return GraphResponse.ok(
        collection_body(context_url(base, _SET, options.select), values, page, link)
    )


def get_policy(call: Call, params: dict[str, str]) -> GraphResponse:
    options = parse_query(
        call.query, POLICY, consistency_eventual=call.consistency_eventual, collection=False
    )
    policy = call.directory.security.policy(params["id"])
    return GraphResponse.ok(_entity(call, policy, options.select))


def _entity(call: Call, policy: dict[str, Any], select: tuple[str, ...] | None) -> dict[str, Any]:
    context = context_url(call.ctx.base_url, _SET, select) + "/$entity"
    return {"@odata.context": context, **project(policy, select, POLICY)}


def create_policy(call: Call, params: dict[str, str]) -> GraphResponse:
    _require_p1(call)
    body = call.json_object()
    policy = call.directory.security.create(body, has_p2=_has_p2(call))
    call.ctx.log.count("graph.creates.conditional_access_policies")
    call.ctx.writes.created(call.caller.tenant_id, "conditionalAccessPolicy", policy["displayName"])
    return GraphResponse.ok(_entity(call, policy, None), status=201)


def update_policy(call: Call, params: dict[str, str]) -> GraphResponse:
    _require_p1(call)
    body = call.json_object()
    policy = call.directory.security.update(params["id"], body, has_p2=_has_p2(call))
    call.ctx.log.count("graph.patches")
    call.ctx.writes.patched(call.caller.tenant_id, policy["id"], body)
    return GraphResponse.no_content()


def delete_policy(call: Call, params: dict[str, str]) -> GraphResponse:
    call.directory.security.delete(params["id"])
    call.ctx.log.count("graph.deletes")
    return GraphResponse.no_content()


def _require_p1(call: Call) -> None:
    if not call.directory.has_plan(*licences.P1_PLANS):
        raise no_premium_licence()


def _has_p2(call: Call) -> bool:
    return call.directory.has_plan("AAD_PREMIUM_P2")


def get_security_defaults(call: Call, params: dict[str, str]) -> GraphResponse:
    policy = call.directory.security.security_defaults_policy()
    return GraphResponse.ok({"@odata.context": call.ctx.base_url + _DEFAULTS_CONTEXT, **policy})


def update_security_defaults(call: Call, params: dict[str, str]) -> GraphResponse:
    body = call.json_object()
    changes = payload.properties(body)
    for name in changes:
        if name in ("id", "displayName", "description"):
            raise read_only(name)
        if name != "isEnabled":
            raise invalid_property(name)
    if "isEnabled" in changes:
        enabled = payload.boolean(changes, "isEnabled", _DEFAULTS_RESOURCE)
        call.directory.security.set_security_defaults(enabled)
    call.ctx.log.count("graph.patches")
    call.ctx.writes.patched(call.caller.tenant_id, _DEFAULTS[1], body)
    return GraphResponse.no_content()


_POLICIES = ("identity", "conditionalAccess", "policies")
_DEFAULTS = ("policies", "identitySecurityDefaultsEnforcementPolicy")
ROUTES = (
    Route("GET", _POLICIES, list_policies, auth.CA_READ),
    Route("POST", _POLICIES, create_policy, auth.CA_WRITE, auth.CA_WRITE_ALSO),
    Route("GET", (*_POLICIES, "{id}"), get_policy, auth.CA_READ),
    Route("PATCH", (*_POLICIES, "{id}"), update_policy, auth.CA_WRITE, auth.CA_WRITE_ALSO),
    Route("DELETE", (*_POLICIES, "{id}"), delete_policy, auth.CA_WRITE, auth.CA_WRITE_ALSO),
    Route("GET", _DEFAULTS, get_security_defaults, auth.SECURITY_DEFAULTS_READ),
    Route("PATCH", _DEFAULTS, update_security_defaults, auth.SECURITY_DEFAULTS_WRITE),
)
