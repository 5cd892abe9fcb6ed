"""/policies/authorizationPolicy: the tenant-wide singleton, read and partially updated.

https://learn.microsoft.com/graph/api/authorizationpolicy-get, authorizationpolicy-update.
"""

from __future__ import annotations

from devtools.fakecloud.graph import auth, payload
from devtools.fakecloud.graph.call import Call, GraphResponse
from devtools.fakecloud.graph.query import parse_select
from devtools.fakecloud.graph.router import Route
from devtools.fakecloud.graph.schema import EntitySchema

_CONTEXT = "/v1.0/$metadata#policies/authorizationPolicy/$entity"


def get_policy(call: Call, params: dict[str, str]) -> GraphResponse:
    policy = call.directory.authorization_policy()
    schema = EntitySchema(
        "microsoft.graph.authorizationPolicy",
        "AuthorizationPolicy",
        "policies",
        tuple(policy),
        (),
        {},
    )
    selected = parse_select(dict(call.query).get("$select"), schema)
    fields = {k: v for k, v in policy.items() if selected is None or k in selected}
    return GraphResponse.ok({"@odata.context": call.ctx.base_url + _CONTEXT, **fields})


def update_policy(call: Call, params: dict[str, str]) -> GraphResponse:
    body = call.json_object()
    call.directory.update_authorization_policy(payload.properties(body))
    call.ctx.log.count("graph.patches")
    call.ctx.writes.patched(call.caller.tenant_id, "authorizationPolicy", body)
    return GraphResponse.no_content()


ROUTES = (
    Route("GET", ("policies", "authorizationPolicy"), get_policy, auth.POLICY_READ),
    Route("PATCH", ("policies", "authorizationPolicy"), update_policy, auth.POLICY_WRITE),
)
