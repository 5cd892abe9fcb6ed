"""/policies/authenticationMethodsPolicy and its authenticationMethodConfigurations/{id}: read and
partially updated.

https://learn.microsoft.com/graph/api/authenticationmethodspolicy-get (the configurations come
inline), authenticationmethodspolicy-update, and each method's configuration get and update
(e.g. smsauthenticationmethodconfiguration-update: `@odata.type` required, 204 No Content).
"""

from __future__ import annotations

from typing import Any

from devtools.fakecloud.graph import auth, payload
from devtools.fakecloud.graph.auth_methods import MethodSpec, check_odata_type, find_method
from devtools.fakecloud.graph.call import Call, GraphResponse
from devtools.fakecloud.graph.errors import not_found
from devtools.fakecloud.graph.router import Route

_POLICY = ("policies", "authenticationMethodsPolicy")
_METHOD = (*_POLICY, "authenticationMethodConfigurations", "{id}")
_CONTEXT = "/v1.0/$metadata#policies/authenticationMethodsPolicy"


def get_policy(call: Call, params: dict[str, str]) -> GraphResponse:
    document = call.directory.authentication_methods_policy()
    return GraphResponse.ok({"@odata.context": call.ctx.base_url + _CONTEXT, **document})


def update_policy(call: Call, params: dict[str, str]) -> GraphResponse:
    body = call.json_object()
    call.directory.update_authentication_methods_policy(payload.properties(body))
    _record(call, "authenticationMethodsPolicy", body)
    return GraphResponse.no_content()


def get_method(call: Call, params: dict[str, str]) -> GraphResponse:
    method = _method(params["id"])
    policy = call.directory.authentication_methods_policy()
    configurations = policy["authenticationMethodConfigurations"]
    found = next(c for c in configurations if c["id"] == method.id)
    context = f"{call.ctx.base_url}{_CONTEXT}/authenticationMethodConfigurations/$entity"
    return GraphResponse.ok({"@odata.context": context, **found})


def update_method(call: Call, params: dict[str, str]) -> GraphResponse:
    method = _method(params["id"])
    body = call.json_object()
    check_odata_type(method, body)
    call.directory.update_authentication_method(method.id, payload.properties(body))
    _record(call, f"authenticationMethodConfigurations/{method.id}", body)
    return GraphResponse.no_content()


def _method(method_id: str) -> MethodSpec:
    method = find_method(method_id)
    if method is None:
        raise not_found(method_id)
    return method


def _record(call: Call, target: str, body: dict[str, Any]) -> None:
    call.ctx.log.count("graph.patches")
    call.ctx.writes.patched(call.caller.tenant_id, target, body)


ROUTES = (
    Route("GET", _POLICY, get_policy, auth.AUTH_METHODS_READ),
    Route("PATCH", _POLICY, update_policy, auth.AUTH_METHODS_WRITE),
    Route("GET", _METHOD, get_method, auth.AUTH_METHODS_READ),
    Route("PATCH", _METHOD, update_method, auth.AUTH_METHODS_WRITE),
)
