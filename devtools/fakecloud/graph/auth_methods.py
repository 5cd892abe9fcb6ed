"""The tenant's authenticationMethodsPolicy and its per-method configurations: Graph's shapes, a
new tenant's defaults, and validated partial updates.

Shapes from https://learn.microsoft.com/graph/api/resources/authenticationmethodspolicy and the
per-method resource pages. A new tenant's states follow the GET example of
https://learn.microsoft.com/graph/api/authenticationmethodspolicy-get (SMS and email on; FIDO2,
Microsoft Authenticator and Temporary Access Pass off), with voice, third-party OATH and
certificates off; a tenant starts in `preMigration` (Entra docs, "Manage authentication methods":
pre-migration or migration in progress). Graph requires `@odata.type` in the body of a
configuration's PATCH ("The @odata.type property ... must be included in the body", each
configuration's update page); `check_odata_type` says so in Graph's error shape.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devtools.fakecloud.graph.errors import (
    GraphError,
    bad_request,
    invalid_property,
    invalid_value,
    read_only,
)

RESOURCE = "AuthenticationMethodsPolicy"
MIGRATION_STATES = ("preMigration", "migrationInProgress", "migrationComplete")
STATES = ("enabled", "disabled")
ALL_USERS = "all_users"
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_POLICY_READ_ONLY = ("id", "displayName", "description", "lastModifiedDateTime", "policyVersion")
_CAMPAIGN = "authenticationMethodsRegistrationCampaign"
#: writable property -> rule: a Python type, or a tuple of the enum's values
Rules = Mapping[str, Any]
_CAMPAIGN_RULES: Rules = {
    "snoozeDurationInDays": int,
    "enforceRegistrationAfterAllowedSnoozes": bool,
    "state": ("default", "enabled", "disabled"),
    "includeTargets": list,
    "excludeTargets": list,
}


@dataclass(frozen=True)
class MethodSpec:
    """One authentication method: its id and type as Graph returns them, a new tenant's state,
    its own settings (name -> (default, rule)) and its include targets' extra properties."""

    id: str
    odata_type: str
    state: str
    settings: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    target_extras: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    targets_all_users: bool = True


def _type(name: str) -> str:
    return f"#microsoft.graph.{name}AuthenticationMethodConfiguration"


_KEY_RESTRICTIONS = {"isEnforced": False, "enforcementType": "block", "aaGuids": []}
_DISPLAY = {"state": "default"}
_BINDING = {"x509CertificateField": "PrincipalName", "userProperty": "userPrincipalName"}
METHODS = (
    MethodSpec("Sms", _type("sms"), "enabled", {}, {"isUsableForSignIn": (True, bool)}),
    MethodSpec("Voice", _type("voice"), "disabled", {"isOfficePhoneAllowed": (False, bool)}),
    MethodSpec(
        "Email",
        _type("email"),
        "enabled",
        {"allowExternalIdToUseEmailOtp": ("default", ("default", "enabled", "disabled"))},
        targets_all_users=False,
    ),
    MethodSpec(
        "Fido2",
        _type("fido2"),
        "disabled",
        {
            "isAttestationEnforced": (True, bool),
            "isSelfServiceRegistrationAllowed": (True, bool),
            "keyRestrictions": (_KEY_RESTRICTIONS, dict),
        },
    ),
    MethodSpec(
        "MicrosoftAuthenticator",
        _type("microsoftAuthenticator"),
        "disabled",
        {
            "isSoftwareOathEnabled": (False, bool),
            "featureSettings": (
                {
                    "displayAppInformationRequiredState": _DISPLAY,
                    "displayLocationInformationRequiredState": _DISPLAY,
                },
                dict,
            ),
        },
        {"authenticationMode": ("any", ("any", "deviceBasedPush", "push"))},
    ),
    MethodSpec(
        "TemporaryAccessPass",
        _type("temporaryAccessPass"),
        "disabled",
        {
            "defaultLifetimeInMinutes": (60, int),
            "defaultLength": (8, int),
            "minimumLifetimeInMinutes": (60, int),
            "maximumLifetimeInMinutes": (480, int),
            "isUsableOnce": (False, bool),
        },
    ),
    MethodSpec("SoftwareOath", _type("softwareOath"), "disabled"),
    MethodSpec(
        "X509Certificate",
        _type("x509Certificate"),
        "disabled",
        {
            "certificateUserBindings": ([_BINDING | {"priority": 1}], list),
            "authenticationModeConfiguration": (
                {"x509CertificateAuthenticationDefaultMode": "x509CertificateSingleFactor"},
                dict,
            ),
        },
    ),
)
_BY_ID = {spec.id.casefold(): spec for spec in METHODS}


def find_method(method_id: str) -> MethodSpec | None:
    """The method whose id this is (Graph matches `sms` and `Sms` alike)."""
    return _BY_ID.get(method_id.casefold())


def default_policy(now: str) -> dict[str, Any]:
    """A new tenant's policy, without its configurations."""
    return {
        "id": "authenticationMethodsPolicy",
        "displayName": "Authentication Methods Policy",
        "description": "The tenant-wide policy that controls which authentication methods are "
        "allowed in the tenant, authentication method registration requirements, and "
        "self-service password reset settings",
        "lastModifiedDateTime": now,
        "policyVersion": "1.5",
        "reconfirmationInDays": 0,
        "registrationEnforcement": {
            _CAMPAIGN: {
                "snoozeDurationInDays": 1,
                "enforceRegistrationAfterAllowedSnoozes": True,
                "state": "default",
                "excludeTargets": [],
                "includeTargets": [
                    {
                        "id": ALL_USERS,
                        "targetType": "group",
                        "targetedAuthenticationMethod": "microsoftAuthenticator",
                    }
                ],
            }
        },
        "policyMigrationState": "preMigration",
    }


def default_configuration(spec: MethodSpec) -> dict[str, Any]:
    """The method's configuration in a new tenant, as GET returns it."""
    settings = {name: copy.deepcopy(default) for name, (default, _) in spec.settings.items()}
    targets = [_target_defaults(spec, {"targetType": "group", "id": ALL_USERS})]
    return {
        "@odata.type": spec.odata_type,
        "id": spec.id,
        "state": spec.state,
        **settings,
        "includeTargets": targets if spec.targets_all_users else [],
        "excludeTargets": [],
    }


def check_odata_type(spec: MethodSpec, body: Mapping[str, Any]) -> None:
    """A configuration's PATCH names its type, and the right one (400 otherwise)."""
    given = body.get("@odata.type")
    if given is None:
        raise bad_request(
            f"The '@odata.type' property with a value of '{spec.odata_type}' must be included "
            "in the request body."
        )
    if not isinstance(given, str) or given.lstrip("#") != spec.odata_type.lstrip("#"):
        raise bad_request(
            f"The type '{given}' is not the type of the authentication method '{spec.id}'; "
            f"expected '{spec.odata_type}'."
        )


def merged_policy(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The policy after a PATCH; GraphError (400) for a read-only, unknown or ill-typed
    property, and nothing is applied unless every change is valid."""
    updated = copy.deepcopy(dict(current))
    for name, value in changes.items():
        if name in _POLICY_READ_ONLY or name == "authenticationMethodConfigurations":
            raise read_only(name)
        if name == "policyMigrationState":
            _require(value in MIGRATION_STATES, name)
        elif name == "reconfirmationInDays":
            _require(_check(value, int), name)
        elif name == "registrationEnforcement":
            value = _merged_enforcement(updated[name], value)
        else:
            raise invalid_property(name)
        updated[name] = value
    return updated


def merged_configuration(
    spec: MethodSpec, current: Mapping[str, Any], changes: Mapping[str, Any]
) -> dict[str, Any]:
    """A configuration after a PATCH (annotations such as @odata.type already removed)."""
    updated = copy.deepcopy(dict(current))
    for name, value in changes.items():
        updated[name] = _configuration_value(spec, name, value)
    return updated


def _configuration_value(spec: MethodSpec, name: str, value: Any) -> Any:
    if name == "id":
        _require(isinstance(value, str) and value.casefold() == spec.id.casefold(), name)
        return spec.id
    if name == "state":
        _require(value in STATES, name)
        return value
    if name in ("includeTargets", "excludeTargets"):
        return targets(spec, name, value)
    if name not in spec.settings:
        raise invalid_property(name)
    _require(_check(value, spec.settings[name][1]), name)
    return copy.deepcopy(value)


def targets(spec: MethodSpec, name: str, value: Any) -> list[dict[str, Any]]:
    """Validated include or exclude targets, with Graph's defaults filled in. Only groups
    (or `all_users`, to include) may be targeted: Entra no longer targets single users."""
    _require(isinstance(value, list) and all(isinstance(t, Mapping) for t in value), name)
    include = name == "includeTargets"
    allowed = {"targetType", "id"} | ({"isRegistrationRequired"} | set(spec.target_extras))
    checked = [
        _target(spec, item, allowed if include else {"targetType", "id"}, include) for item in value
    ]
    ids = [t["id"].casefold() for t in checked]
    _require(len(set(ids)) == len(ids), name)
    return checked


def _target(
    spec: MethodSpec, item: Mapping[str, Any], allowed: set[str], include: bool
) -> dict[str, Any]:
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise invalid_property(unknown[0])
    _require(item.get("targetType", "group") == "group", "targetType")
    target_id = item.get("id")
    valid_id = isinstance(target_id, str) and (
        bool(_GUID.fullmatch(target_id)) or (include and target_id == ALL_USERS)
    )
    _require(valid_id, "id")
    _require(_check(item.get("isRegistrationRequired", False), bool), "isRegistrationRequired")
    for extra, (_, rule) in spec.target_extras.items():
        _require(extra not in item or _check(item[extra], rule), extra)
    target = {"targetType": "group", **item}
    return _target_defaults(spec, target) if include else target


def _target_defaults(spec: MethodSpec, target: Mapping[str, Any]) -> dict[str, Any]:
    extras = {name: default for name, (default, _) in spec.target_extras.items()}
    return {"isRegistrationRequired": False, **extras, **target}


def _merged_enforcement(current: Mapping[str, Any], changes: Any) -> dict[str, Any]:
    _require(isinstance(changes, Mapping), "registrationEnforcement")
    merged = copy.deepcopy(dict(current))
    for name, campaign in changes.items():
        if name != _CAMPAIGN:
            raise invalid_property(name)
        _require(isinstance(campaign, Mapping), name)
        for key, value in campaign.items():
            if key not in _CAMPAIGN_RULES:
                raise invalid_property(key)
            _require(_check(value, _CAMPAIGN_RULES[key]), key)
        merged[_CAMPAIGN] = {**merged.get(_CAMPAIGN, {}), **copy.deepcopy(dict(campaign))}
    return merged


def _check(value: Any, rule: Any) -> bool:
    """Whether `value` meets `rule`: a type (bool is no int), or a tuple of enum values."""
    if isinstance(rule, tuple):
        return value in rule
    if rule is int:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if rule is dict:
        return isinstance(value, Mapping)
    return isinstance(value, rule)


def _require(condition: bool, name: str) -> None:
    if not condition:
        raise invalid_value(name, RESOURCE)


class AuthMethodsState:
    """One tenant's policy and configurations (the directory's lock guards it)."""

    def __init__(self, now: str) -> None:
        self.policy = default_policy(now)
        self.configurations = {spec.id: default_configuration(spec) for spec in METHODS}

    def document(self) -> dict[str, Any]:
        """What GET /policies/authenticationMethodsPolicy answers (configurations inline)."""
        configurations = [self.configurations[spec.id] for spec in METHODS]
        return copy.deepcopy({**self.policy, "authenticationMethodConfigurations": configurations})

    def update_policy(self, changes: Mapping[str, Any], now: str) -> None:
        self.policy = merged_policy(self.policy, changes) | {"lastModifiedDateTime": now}

    def update_method(self, spec: MethodSpec, changes: Mapping[str, Any], now: str) -> None:
        current = self.configurations[spec.id]
        self.configurations[spec.id] = merged_configuration(spec, current, changes)
        self.policy["lastModifiedDateTime"] = now


def apply_scenario(state: AuthMethodsState, spec: Mapping[str, Any], now: str) -> None:
    """A scenario's `authentication_methods`: {policy: {...}, methods: {<id>: {...}}}, each
    partial and validated as a PATCH would be; ValueError names what is wrong."""
    unknown = set(spec) - {"policy", "methods"}
    if unknown:
        raise ValueError(f"unknown authentication_methods keys: {sorted(unknown)}")
    try:
        state.update_policy(spec.get("policy") or {}, now)
        for method_id, changes in (spec.get("methods") or {}).items():
            method = find_method(method_id)
            if method is None:
                raise ValueError(f"unknown authentication method {method_id!r}")
            state.update_method(method, changes, now)
    except GraphError as error:
        raise ValueError(f"authentication_methods: {error.message}") from error
