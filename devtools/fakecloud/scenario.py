"""The scenario file: which identity, which app, which customer tenants and how each behaves.

A scenario is JSON (see scenarios/demo.json). It is parsed into frozen dataclasses and validated
once, with every problem reported together, each naming the field it is about
(`tenants[2].state: must be one of ...`). Placeholders `{authority}`, `{home_tenant_id}` and
`{mi_principal_id}` in federated credentials are filled in when the fake cloud starts, because
the authority's port is only known then.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, cast, get_args

from devtools.fakecloud.faults import Fault, FaultKind, Service

TenantStateName = Literal[
    "consented", "not_installed", "consent_missing", "deleted", "app_disabled", "blocked_by_policy"
]
TENANT_STATES: tuple[str, ...] = get_args(TenantStateName)
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
MI_ISSUER_TEMPLATE = "{authority}/{home_tenant_id}/v2.0"
DEMO_ROLES: tuple[str, ...] = (
    "User.ReadWrite.All",
    "AuditLog.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Policy.Read.All",
    "Policy.ReadWrite.Authorization",
    "LicenseAssignment.Read.All",
    "Policy.ReadWrite.ConditionalAccess",
    "Policy.ReadWrite.SecurityDefaults",
    "Policy.ReadWrite.AuthenticationMethod",
    "SharePointTenantSettings.ReadWrite.All",
    "GroupMember.Read.All",
    "RoleManagement.Read.Directory",
)
#: The Graph application permissions the app registration requests: every built-in job's
#: (infra/main.bicep jobPermissions). Admin consent grants these unless a test says otherwise.
APP_REQUIRED_ROLES: tuple[str, ...] = (
    "User.ReadWrite.All",
    "User.Read.All",
    "AuditLog.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Policy.ReadWrite.Authorization",
    "LicenseAssignment.Read.All",
    "Policy.Read.All",
    "Policy.ReadWrite.ConditionalAccess",
    "Policy.ReadWrite.SecurityDefaults",
    "Policy.ReadWrite.AuthenticationMethod",
    "SharePointTenantSettings.ReadWrite.All",
    "GroupMember.Read.All",
    "RoleManagement.Read.Directory",
)
_FAULT_FIELDS = (
    "service",
    "kind",
    "status",
    "retry_after",
    "latency_ms",
    "code",
    "count",
    "path_contains",
    "method",
    "batch_items",
    "label",
)


class ScenarioError(ValueError):
    """The scenario is invalid; the message lists every problem, one per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid scenario:\n  " + "\n  ".join(self.problems))


@dataclass(frozen=True)
class FederatedCredentialSpec:
    """A federated identity credential of the app (Graph's federatedIdentityCredential)."""

    name: str
    issuer: str
    subject: str
    audiences: tuple[str, ...] = (TOKEN_EXCHANGE_AUDIENCE,)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "issuer": self.issuer,
            "subject": self.subject,
            "audiences": list(self.audiences),
        }


@dataclass(frozen=True)
class ManagedIdentitySpec:
    client_id: str
    principal_id: str


@dataclass(frozen=True)
class AppSpec:
    client_id: str
    display_name: str = "xtenant"
    federated_credentials: tuple[FederatedCredentialSpec, ...] = ()
    #: web redirect URIs (the consent callback, the console's sign-in callback)
    redirect_uris: tuple[str, ...] = ()


@dataclass(frozen=True)
class TenantSpec:
    tenant_id: str
    name: str
    state: TenantStateName = "consented"
    roles: tuple[str, ...] = DEMO_ROLES
    faults: tuple[Fault, ...] = ()
    expect: str = "ok"
    graph: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OperatorSpec:
    """A person in the home tenant who may sign in to the console, with their app roles."""

    name: str
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    home_tenant_id: str
    managed_identity: ManagedIdentitySpec
    app: AppSpec
    tenants: tuple[TenantSpec, ...] = ()
    #: who the sign-in page offers (devtools/fakecloud/signin.py)
    operators: tuple[OperatorSpec, ...] = ()

    def resolved_credentials(self, authority: str) -> tuple[FederatedCredentialSpec, ...]:
        """The app's federated credentials with the placeholders filled in."""
        values = {
            "authority": authority,
            "home_tenant_id": self.home_tenant_id,
            "mi_principal_id": self.managed_identity.principal_id,
        }
        return tuple(
            replace(
                fic,
                issuer=_fill(fic.issuer, values),
                subject=_fill(fic.subject, values),
                audiences=tuple(_fill(a, values) for a in fic.audiences),
            )
            for fic in self.app.federated_credentials
        )


def _fill(template: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


class _Reader:
    """Reads typed fields out of JSON objects, collecting problems instead of stopping."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def obj(self, value: object, where: str) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            return value
        self.fail(where, f"must be an object, got {type(value).__name__}")
        return {}

    def string(
        self, data: Mapping[str, Any], key: str, where: str, default: str | None = None
    ) -> str:
        value = data.get(key, default)
        if isinstance(value, str) and value:
            return value
        self.fail(
            f"{where}.{key}", "required non-empty string" if value is None else "must be a string"
        )
        return ""

    def guid(self, data: Mapping[str, Any], key: str, where: str) -> str:
        value = self.string(data, key, where)
        if value and not is_guid(value):
            self.fail(f"{where}.{key}", f"must be a GUID, got {value!r}")
        return value.lower()

    def strings(
        self, data: Mapping[str, Any], key: str, where: str, default: Sequence[str]
    ) -> tuple[str, ...]:
        value = data.get(key, list(default))
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.fail(f"{where}.{key}", "must be a list of strings")
        return ()

    def unknown_keys(self, data: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                self.fail(f"{where}.{key}", f"unknown field (expected one of {', '.join(allowed)})")


def _read_fic(r: _Reader, value: object, where: str) -> FederatedCredentialSpec:
    data = r.obj(value, where)
    r.unknown_keys(
        data, ("name", "issuer", "subject", "audience", "audiences", "description"), where
    )
    if "audience" in data:
        audiences: tuple[str, ...] = (r.string(data, "audience", where),)
    else:
        audiences = r.strings(data, "audiences", where, (TOKEN_EXCHANGE_AUDIENCE,))
    return FederatedCredentialSpec(
        name=r.string(data, "name", where),
        issuer=r.string(data, "issuer", where),
        subject=r.string(data, "subject", where),
        audiences=audiences,
    )


def read_federated_credentials(
    value: object, where: str = "federated_credentials"
) -> tuple[FederatedCredentialSpec, ...]:
    """Parse a JSON list of federated credentials (scenario file or control API)."""
    r = _Reader()
    result = _read_fics(r, value, where)
    if r.problems:
        raise ScenarioError(r.problems)
    return result


def _read_fics(r: _Reader, value: object, where: str) -> tuple[FederatedCredentialSpec, ...]:
    if not isinstance(value, list):
        r.fail(where, "must be a list")
        return ()
    return tuple(_read_fic(r, item, f"{where}[{i}]") for i, item in enumerate(value))


def _read_fault(r: _Reader, value: object, where: str, tenant_id: str | None) -> Fault:
    data = r.obj(value, where)
    r.unknown_keys(data, (*_FAULT_FIELDS, "tenant_id"), where)
    service, kind = data.get("service"), data.get("kind")
    if service not in get_args(Service):
        r.fail(
            f"{where}.service", f"must be one of {', '.join(get_args(Service))}, got {service!r}"
        )
    if kind not in get_args(FaultKind):
        r.fail(f"{where}.kind", f"must be one of {', '.join(get_args(FaultKind))}, got {kind!r}")
    if kind == "aadsts" and not isinstance(data.get("code"), int | str):
        r.fail(f"{where}.code", "required for kind 'aadsts' (the AADSTS number)")
    _check_types(r, data, where)
    options = {k: data[k] for k in _FAULT_FIELDS if k in data and k not in ("service", "kind")}
    return Fault(
        service=cast(Service, service) if service in get_args(Service) else "token",
        kind=cast(FaultKind, kind) if kind in get_args(FaultKind) else "status",
        tenant_id=data.get("tenant_id", tenant_id),
        **options,
    )


def _check_types(r: _Reader, data: Mapping[str, Any], where: str) -> None:
    expected: dict[str, type | tuple[type, ...]] = {
        "status": int,
        "latency_ms": int,
        "count": int,
        "retry_after": str,
        "path_contains": str,
        "method": str,
        "tenant_id": str,
        "code": (int, str),
        "batch_items": bool,
        "label": str,
    }
    for key, kind in expected.items():
        value = data.get(key)
        wrong_bool = isinstance(value, bool) and kind is not bool
        if value is not None and (not isinstance(value, kind) or wrong_bool):
            r.fail(f"{where}.{key}", f"has the wrong type ({type(value).__name__})")


def read_fault(value: object, *, tenant_id: str | None = None, where: str = "fault") -> Fault:
    """Parse one fault from JSON (scenario file or control API)."""
    r = _Reader()
    fault = _read_fault(r, value, where, tenant_id)
    if r.problems:
        raise ScenarioError(r.problems)
    return fault


def _read_tenant(r: _Reader, value: object, where: str) -> TenantSpec:
    data = r.obj(value, where)
    allowed = ("tenant_id", "name", "state", "roles", "faults", "expect", "graph")
    r.unknown_keys(data, allowed, where)
    tenant_id = r.guid(data, "tenant_id", where)
    state = data.get("state", "consented")
    if state not in TENANT_STATES:
        r.fail(f"{where}.state", f"must be one of {', '.join(TENANT_STATES)}, got {state!r}")
    faults = data.get("faults", [])
    if not isinstance(faults, list):
        r.fail(f"{where}.faults", "must be a list")
        faults = []
    return TenantSpec(
        tenant_id=tenant_id,
        name=r.string(data, "name", where, default=tenant_id or "tenant"),
        state=state if state in TENANT_STATES else "consented",
        roles=r.strings(data, "roles", where, DEMO_ROLES),
        faults=tuple(
            _read_fault(r, f, f"{where}.faults[{i}]", tenant_id) for i, f in enumerate(faults)
        ),
        expect=r.string(data, "expect", where, default="ok"),
        graph=dict(r.obj(data.get("graph", {}), f"{where}.graph")),
    )


def _read_app(r: _Reader, value: object) -> AppSpec:
    data = r.obj(value, "app")
    r.unknown_keys(
        data, ("client_id", "display_name", "federated_credentials", "redirect_uris"), "app"
    )
    return AppSpec(
        client_id=r.guid(data, "client_id", "app"),
        display_name=r.string(data, "display_name", "app", default="xtenant"),
        federated_credentials=_read_fics(
            r, data.get("federated_credentials", []), "app.federated_credentials"
        ),
        redirect_uris=r.strings(data, "redirect_uris", "app", ()),
    )


def read_operators(value: object, where: str = "operators") -> tuple[OperatorSpec, ...]:
    """Parse a JSON list of operators, `[{"name": UPN, "roles": [...]}]` (scenario, control)."""
    r = _Reader()
    result = _read_operators(r, value, where)
    if r.problems:
        raise ScenarioError(r.problems)
    return result


def _read_operators(r: _Reader, value: object, where: str) -> tuple[OperatorSpec, ...]:
    if not isinstance(value, list):
        r.fail(where, "must be a list")
        return ()
    operators = []
    for i, item in enumerate(value):
        data = r.obj(item, f"{where}[{i}]")
        r.unknown_keys(data, ("name", "roles"), f"{where}[{i}]")
        name = r.string(data, "name", f"{where}[{i}]")
        operators.append(OperatorSpec(name, r.strings(data, "roles", f"{where}[{i}]", ())))
    return tuple(operators)


def _check_unique_tenants(r: _Reader, tenants: Sequence[TenantSpec]) -> None:
    seen: set[str] = set()
    for i, tenant in enumerate(tenants):
        if tenant.tenant_id in seen:
            r.fail(f"tenants[{i}].tenant_id", f"duplicate tenant {tenant.tenant_id}")
        seen.add(tenant.tenant_id)


def scenario_from_dict(data: object) -> Scenario:
    """Validate a parsed scenario document; raise ScenarioError listing every problem."""
    r = _Reader()
    top = r.obj(data, "scenario")
    r.unknown_keys(
        top,
        ("home_tenant_id", "managed_identity", "app", "tenants", "operators", "description"),
        "scenario",
    )
    mi = r.obj(top.get("managed_identity"), "managed_identity")
    tenants_raw = top.get("tenants", [])
    if not isinstance(tenants_raw, list):
        r.fail("tenants", "must be a list")
        tenants_raw = []
    tenants = tuple(_read_tenant(r, t, f"tenants[{i}]") for i, t in enumerate(tenants_raw))
    _check_unique_tenants(r, tenants)
    scenario = Scenario(
        home_tenant_id=r.guid(top, "home_tenant_id", "scenario"),
        managed_identity=ManagedIdentitySpec(
            client_id=r.guid(mi, "client_id", "managed_identity"),
            principal_id=r.guid(mi, "principal_id", "managed_identity"),
        ),
        app=_read_app(r, top.get("app")),
        tenants=tenants,
        operators=_read_operators(r, top.get("operators", []), "operators"),
    )
    if r.problems:
        raise ScenarioError(r.problems)
    return scenario


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ScenarioError([f"{path}: not valid JSON ({exc})"]) from exc
    return scenario_from_dict(data)


def _guid() -> str:
    return str(uuid.uuid4())


def mi_credential(name: str = "xtenant-mi") -> FederatedCredentialSpec:
    """The federated credential that trusts the scenario's managed identity (Entra docs)."""
    return FederatedCredentialSpec(
        name=name,
        issuer=MI_ISSUER_TEMPLATE,
        subject="{mi_principal_id}",
        audiences=(TOKEN_EXCHANGE_AUDIENCE,),
    )


def make_scenario(
    n_tenants: int = 1,
    *,
    state: TenantStateName = "consented",
    roles: Sequence[str] = DEMO_ROLES,
    federated_credentials: Sequence[FederatedCredentialSpec] | None = None,
    display_name: str = "xtenant",
) -> Scenario:
    """A scenario with fresh GUIDs: one MI, one app trusting it, `n_tenants` tenants in `state`."""
    tenants = tuple(
        TenantSpec(tenant_id=_guid(), name=f"Tenant {i + 1}", state=state, roles=tuple(roles))
        for i in range(n_tenants)
    )
    fics = (mi_credential(),) if federated_credentials is None else tuple(federated_credentials)
    return Scenario(
        home_tenant_id=_guid(),
        managed_identity=ManagedIdentitySpec(client_id=_guid(), principal_id=_guid()),
        app=AppSpec(client_id=_guid(), display_name=display_name, federated_credentials=fics),
        tenants=tenants,
    )


def fault_to_dict(fault: Fault) -> dict[str, Any]:
    """A fault as JSON (for the control API's listings)."""
    return {f.name: getattr(fault, f.name) for f in fields(fault)}
