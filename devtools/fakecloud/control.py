"""Steering the fake cloud while it runs: from Python (tests) or over HTTP under `/_fake/`.

Both faces call the same `Controller` methods, so a test in-process and a demo driving a
separate fakecloud process see the same behaviour:

    GET    /_fake/counters                      counters (RequestLog.snapshot)
    GET    /_fake/requests?service=&tenant_id=  recorded requests
    GET    /_fake/writes                        applied Graph creates and PATCHes, duplicates
    POST   /_fake/reset                         clear the request log and the write log
    GET    /_fake/faults                        faults in force
    POST   /_fake/faults                        add a fault (JSON like a scenario fault)
    DELETE /_fake/faults[?tenant_id=&label=]    clear faults (all, one tenant's, or one label's);
                                                answers the faults it removed, with their hits
    PATCH  /_fake/tenants/{tenant_id}           change or create a tenant: state, roles, name, graph
    PATCH  /_fake/app                           {"federated_credentials", "redirect_uris",
                                                 "required_roles"}: any of them
    POST   /_fake/consent                       the admin's answer to the next admin consent:
                                                 {"grant": true, "tenant_id"?, "roles"?} or
                                                 {"grant": false, "description"?}
    POST   /_fake/app/secrets                   {"value": "..."}   (only its hash is kept)
    POST   /_fake/app/certificates              {"pem": "-----BEGIN CERTIFICATE-----..."}
    POST   /_fake/operator-tokens               an operator's token for xtenant's API:
                                                 {"name", "roles", "kind"?: "user"|"app",
                                                  "flaw"?: one of operators.FLAWS, "claims"?}
    POST   /_fake/operator-keys/rotate          a new operator signing key; the old one goes
    PUT    /_fake/operators                     who the console's sign-in page offers:
                                                 [{"name": UPN, "roles": [...]}] (signin.py)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from aiohttp import web

from devtools.fakecloud.faults import Fault, FaultBook
from devtools.fakecloud.graph import TenantDirectory, WriteLog, directory_from_scenario
from devtools.fakecloud.operators import OperatorIssuer, OperatorKind
from devtools.fakecloud.requestlog import RequestLog, RequestRecord
from devtools.fakecloud.scenario import (
    FederatedCredentialSpec,
    OperatorSpec,
    ScenarioError,
    fault_to_dict,
    read_fault,
    read_federated_credentials,
    read_operators,
)
from devtools.fakecloud.state import CloudState, ConsentAnswer, TenantRecord

CONTROL_PREFIX = "/_fake"


class Controller:
    """The operations tests and tools use to change the fake cloud and read what it saw."""

    def __init__(
        self,
        *,
        state: CloudState,
        faults: FaultBook,
        log: RequestLog,
        directories: MutableMapping[str, Any],
        placeholders: Mapping[str, str],
        operators: OperatorIssuer,
        writes: WriteLog | None = None,
    ) -> None:
        self._operators = operators
        self._state = state
        self._faults = faults
        self._log = log
        self._writes = writes or WriteLog()
        self._directories = directories
        self._placeholders = dict(placeholders)

    def set_tenant(self, tenant_id: str, **changes: Any) -> TenantRecord:
        """Change a tenant (state, roles, name) or create it; `graph` replaces its directory."""
        graph = changes.pop("graph", None)
        record = self._state.set_tenant(tenant_id, **changes)
        if graph is not None or record.tenant_id not in self._directories:
            self._directories[record.tenant_id] = directory_from_scenario(graph or {})
        return record

    def directory(self, tenant_id: str) -> TenantDirectory:
        """The tenant's Graph directory, to read back (or arrange) what Graph would show."""
        key = tenant_id.lower()
        if key not in self._directories:
            raise KeyError(f"no Graph directory for tenant {tenant_id}")
        directory: TenantDirectory = self._directories[key]
        directory.bind(key)  # its default domain comes from the tenant id
        return directory

    def set_federated_credentials(
        self, credentials: Iterable[FederatedCredentialSpec | Mapping[str, Any]]
    ) -> None:
        """Replace the app's federated credentials; `{authority}`-style placeholders are filled."""
        parsed = [
            c if isinstance(c, FederatedCredentialSpec) else read_federated_credentials([c])[0]
            for c in credentials
        ]
        self._state.set_federated_credentials(self._fill(c) for c in parsed)

    def _fill(self, credential: FederatedCredentialSpec) -> FederatedCredentialSpec:
        def fill(text: str) -> str:
            for key, value in self._placeholders.items():
                text = text.replace("{" + key + "}", value)
            return text

        return dataclasses.replace(
            credential,
            issuer=fill(credential.issuer),
            subject=fill(credential.subject),
            audiences=tuple(fill(a) for a in credential.audiences),
        )

    def set_app(
        self,
        *,
        redirect_uris: Iterable[str] | None = None,
        required_roles: Iterable[str] | None = None,
    ) -> None:
        """The app registration's redirect URIs and required Graph application permissions."""
        self._state.set_app(redirect_uris=redirect_uris, required_roles=required_roles)

    def script_consent(self, answer: ConsentAnswer | Mapping[str, Any]) -> ConsentAnswer:
        """Queue the administrator's answer to the next admin-consent request."""
        parsed = answer if isinstance(answer, ConsentAnswer) else _consent_answer(answer)
        self._state.script_consent(parsed)
        return parsed

    def add_fault(self, fault: Fault | Mapping[str, Any]) -> Fault:
        parsed = fault if isinstance(fault, Fault) else read_fault(fault)
        self._faults.add(parsed)
        return parsed

    def clear_faults(self, tenant_id: str | None = None, label: str | None = None) -> list[Fault]:
        return self._faults.clear(tenant_id=tenant_id, label=label)

    def list_faults(self) -> list[Fault]:
        return list(self._faults.faults)

    def add_app_secret(self, value: str) -> None:
        self._state.add_app_secret(value)

    def add_app_certificate(self, pem: str | bytes) -> None:
        self._state.add_app_certificate(pem)

    def counters(self) -> dict[str, int]:
        return self._log.snapshot()

    def requests(
        self, service: str | None = None, tenant_id: str | None = None
    ) -> list[RequestRecord]:
        return self._log.select(service=service, tenant_id=tenant_id)

    def writes(self) -> dict[str, Any]:
        return self._writes.summary()

    def reset_log(self) -> None:
        self._log.reset()
        self._writes.reset()

    def operator_token(
        self,
        *,
        name: str,
        roles: Iterable[str],
        kind: OperatorKind = "user",
        flaw: str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> str:
        """An access token for xtenant's API, signed with the current operator key."""
        if kind not in ("user", "app"):
            raise ValueError('kind must be "user" or "app"')
        key = self._state.operator_keys()[-1]
        return self._operators.token(
            key, name=name, roles=roles, kind=kind, flaw=flaw, overrides=overrides
        )

    def rotate_operator_keys(self) -> str:
        """A new operator signing key replaces the old one; returns its kid."""
        return self._state.rotate_operator_keys().kid

    def set_operators(self, operators: Iterable[OperatorSpec | Mapping[str, Any]]) -> None:
        """Who the console's sign-in page offers, each with their app roles."""
        given = list(operators)
        parsed = [o for o in given if isinstance(o, OperatorSpec)]
        parsed += read_operators([o for o in given if not isinstance(o, OperatorSpec)])
        self._state.set_operators(parsed)


def _consent_answer(data: Mapping[str, Any]) -> ConsentAnswer:
    unknown = set(data) - {"grant", "tenant_id", "roles", "description"}
    if unknown or not isinstance(data.get("grant"), bool):
        raise ValueError('a consent answer is {"grant": true|false, "tenant_id"?, "roles"?, ...}')
    roles = data.get("roles")
    answer = ConsentAnswer(
        data["grant"], data.get("tenant_id"), tuple(roles) if roles is not None else None
    )
    if "description" in data:
        answer = dataclasses.replace(answer, description=str(data["description"]))
    return answer


JsonHandler = Callable[[web.Request], Awaitable[object]]


def _json_endpoint(handler: JsonHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap a handler returning JSON-able data; bad input becomes a 400 naming the problem."""

    async def endpoint(request: web.Request) -> web.Response:
        try:
            result = await handler(request)
        except (ScenarioError, ValueError, TypeError, KeyError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(result)

    return endpoint


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def add_control_routes(app: web.Application, controller: Controller) -> None:
    """Serve `controller` under /_fake/ on `app`."""
    r = app.router
    p = CONTROL_PREFIX

    async def counters(request: web.Request) -> object:
        return controller.counters()

    async def requests(request: web.Request) -> object:
        q = request.query
        records = controller.requests(q.get("service"), q.get("tenant_id"))
        return [dataclasses.asdict(record) for record in records]

    async def writes(request: web.Request) -> object:
        return controller.writes()

    async def reset(request: web.Request) -> object:
        controller.reset_log()
        return {"ok": True}

    async def faults(request: web.Request) -> object:
        return [fault_to_dict(f) for f in controller.list_faults()]

    async def add_fault(request: web.Request) -> object:
        return fault_to_dict(controller.add_fault(await _body(request)))

    async def clear_faults(request: web.Request) -> object:
        q = request.query
        removed = controller.clear_faults(q.get("tenant_id"), q.get("label"))
        return [fault_to_dict(f) for f in removed]

    async def tenant(request: web.Request) -> object:
        record = controller.set_tenant(request.match_info["tenant_id"], **await _body(request))
        return dataclasses.asdict(record)

    async def app_settings(request: web.Request) -> object:
        body = await _body(request)
        unknown = set(body) - {"federated_credentials", "redirect_uris", "required_roles"}
        if unknown:
            raise ValueError(f"unknown app fields: {', '.join(sorted(unknown))}")
        if "federated_credentials" in body:
            controller.set_federated_credentials(body["federated_credentials"])
        controller.set_app(
            redirect_uris=body.get("redirect_uris"), required_roles=body.get("required_roles")
        )
        return {"ok": True}

    async def consent(request: web.Request) -> object:
        return dataclasses.asdict(controller.script_consent(await _body(request)))

    async def secret(request: web.Request) -> object:
        controller.add_app_secret(str((await _body(request))["value"]))
        return {"ok": True}

    async def certificate(request: web.Request) -> object:
        controller.add_app_certificate(str((await _body(request))["pem"]))
        return {"ok": True}

    async def operator_token(request: web.Request) -> object:
        body = await _body(request)
        unknown = set(body) - {"name", "roles", "kind", "flaw", "claims"}
        if unknown or not isinstance(body.get("name"), str):
            raise ValueError('an operator token is {"name", "roles", "kind"?, "flaw"?, "claims"?}')
        token = controller.operator_token(
            name=body["name"],
            roles=[str(r) for r in body.get("roles", [])],
            kind=body.get("kind", "user"),
            flaw=body.get("flaw"),
            overrides=body.get("claims"),
        )
        return {"token_type": "Bearer", "access_token": token}

    async def rotate(request: web.Request) -> object:
        return {"kid": controller.rotate_operator_keys()}

    async def operators(request: web.Request) -> object:
        controller.set_operators(read_operators(await request.json()))
        return {"ok": True}

    r.add_get(f"{p}/counters", _json_endpoint(counters))
    r.add_get(f"{p}/requests", _json_endpoint(requests))
    r.add_get(f"{p}/writes", _json_endpoint(writes))
    r.add_post(f"{p}/reset", _json_endpoint(reset))
    r.add_get(f"{p}/faults", _json_endpoint(faults))
    r.add_post(f"{p}/faults", _json_endpoint(add_fault))
    r.add_delete(f"{p}/faults", _json_endpoint(clear_faults))
    r.add_patch(f"{p}/tenants/{{tenant_id}}", _json_endpoint(tenant))
    r.add_patch(f"{p}/app", _json_endpoint(app_settings))
    r.add_post(f"{p}/consent", _json_endpoint(consent))
    r.add_post(f"{p}/app/secrets", _json_endpoint(secret))
    r.add_post(f"{p}/app/certificates", _json_endpoint(certificate))
    r.add_post(f"{p}/operator-tokens", _json_endpoint(operator_token))
    r.add_post(f"{p}/operator-keys/rotate", _json_endpoint(rotate))
    r.add_put(f"{p}/operators", _json_endpoint(operators))
