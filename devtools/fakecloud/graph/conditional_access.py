"""Conditional Access policies as Graph shapes and checks them: validation, defaults, merge.

Shape from https://learn.microsoft.com/graph/api/resources/conditionalaccesspolicy and the
"Create conditionalAccessPolicy" examples: Graph answers a create with the whole policy, every
condition member present (empty lists, nulls) and `id`, `templateId`, `createdDateTime`,
`modifiedDateTime` added. A PATCH merges nested objects (OData PATCH semantics: members left out
keep their values) and replaces lists. Every write is validated as a whole before anything
changes: an unknown property, a value outside an enumeration, or an id in an include/exclude list
that is neither a GUID nor a documented keyword is a 400.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from devtools.fakecloud.graph.errors import (
    GraphError,
    bad_request,
    invalid_property,
    invalid_value,
    read_only,
)
from devtools.fakecloud.graph.model import iso

RESOURCE = "ConditionalAccessPolicy"
STATES = ("enabled", "disabled", "enabledForReportingButNotEnforced")
CLIENT_APP_TYPES = (
    "all",
    "browser",
    "mobileAppsAndDesktopClients",
    "exchangeActiveSync",
    "easSupported",
    "other",
)
OPERATORS = ("AND", "OR")
BUILT_IN_CONTROLS = (
    "block",
    "mfa",
    "compliantDevice",
    "domainJoinedDevice",
    "approvedApplication",
    "compliantApplication",
    "passwordChange",
    "unknownFutureValue",
)
RISK_LEVELS = ("low", "medium", "high", "hidden", "none", "unknownFutureValue")
#: Graph's answer when a create lacks what every policy needs (reported verbatim in
#: hashicorp/terraform-provider-azuread issue #790).
SCHEMA_MISMATCH = (
    "1007: Incoming ConditionalAccessPolicy object is null or does not match the schema of "
    "ConditionalAccessPolicy type. For examples, please see API documentation at "
    "https://docs.microsoft.com/en-us/graph/api/conditionalaccessroot-post-policies"
    "?view=graph-rest-1.0."
)
#: Risk conditions without Entra ID P2 (crossplane-contrib/provider-upjet-azuread issue #5).
NEEDS_P2 = (
    "1039: Cannot create or update policies with premium P2 features. Upgrade to a premium P2 "
    "license and try again."
)
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_USERS = "All None GuestsOrExternalUsers"
_APPS = "All None Office365 MicrosoftAdminPortals"
#: list member -> the keywords it accepts besides GUIDs
_ID_LISTS: dict[str, dict[str, str]] = {
    "users": {
        "includeUsers": _USERS,
        "excludeUsers": "GuestsOrExternalUsers",
        "includeGroups": "",
        "excludeGroups": "",
        "includeRoles": "",
        "excludeRoles": "",
    },
    "applications": {
        "includeApplications": _APPS,
        "excludeApplications": "Office365 MicrosoftAdminPortals",
        "includeUserActions": "urn:user:registersecurityinfo urn:user:registerdevice",
        "includeAuthenticationContextClassReferences": "c1 c2 c3 c4 c5 c6 c7 c8 c9",
    },
    "platforms": {"includePlatforms": "all", "excludePlatforms": ""},
    "locations": {"includeLocations": "All AllTrusted", "excludeLocations": "AllTrusted"},
    "clientApplications": {"includeServicePrincipals": "", "excludeServicePrincipals": ""},
}
_PLATFORMS = ("android", "iOS", "windows", "windowsPhone", "macOS", "linux", "all")
#: nested object -> its members that are not id lists (value: None = any JSON)
_OTHER_MEMBERS: dict[str, dict[str, Any]] = {
    "users": {"includeGuestsOrExternalUsers": None, "excludeGuestsOrExternalUsers": None},
    "applications": {"applicationFilter": None},
    "platforms": {},
    "locations": {},
    "clientApplications": {"servicePrincipalFilter": None},
}
_CONDITION_LISTS = {
    "clientAppTypes": CLIENT_APP_TYPES,
    "signInRiskLevels": RISK_LEVELS,
    "userRiskLevels": RISK_LEVELS,
    "servicePrincipalRiskLevels": RISK_LEVELS,
}
_CONDITION_OBJECTS = ("users", "applications", "platforms", "locations", "clientApplications")
_OPAQUE_CONDITIONS = ("devices", "insiderRiskLevels", "authenticationFlows")
_GRANT_LISTS = ("builtInControls", "customAuthenticationFactors", "termsOfUse")
_SESSION = (
    "applicationEnforcedRestrictions",
    "cloudAppSecurity",
    "persistentBrowser",
    "signInFrequency",
    "disableResilienceDefaults",
)
_WRITABLE = ("displayName", "state", "conditions", "grantControls", "sessionControls")
_SERVER_ADDED = ("id", "templateId", "createdDateTime", "modifiedDateTime")


def new_policy(body: Mapping[str, Any], *, now: datetime, has_p2: bool) -> dict[str, Any]:
    """The policy a create makes of `body`, as Graph returns it; GraphError (400) if invalid."""
    _check_top_level(body)
    if not all(body.get(name) for name in ("displayName", "state", "conditions")):
        raise bad_request(SCHEMA_MISMATCH)
    policy = shaped(body)
    check(policy, has_p2=has_p2)
    server = {"id": str(uuid.uuid4()), "templateId": None, "createdDateTime": iso(now)}
    return {**server, "modifiedDateTime": None, **policy}


def patched_policy(
    current: Mapping[str, Any], body: Mapping[str, Any], *, now: datetime, has_p2: bool
) -> dict[str, Any]:
    """`current` after a PATCH with `body` (nested objects merged, lists replaced)."""
    _check_top_level(body)
    merged = _merged(dict(current), dict(body))
    policy = shaped(merged)
    check(policy, has_p2=has_p2)
    kept = {name: current[name] for name in _SERVER_ADDED if name != "modifiedDateTime"}
    return {**kept, "modifiedDateTime": iso(now), **policy}


def shaped(body: Mapping[str, Any]) -> dict[str, Any]:
    """The writable part of a policy with every member Graph returns (defaults filled in)."""
    conditions = dict(_object(body.get("conditions"), "conditions"))
    grant = body.get("grantControls")
    return {
        "displayName": body.get("displayName"),
        "state": body.get("state"),
        "sessionControls": copy.deepcopy(body.get("sessionControls")),
        "conditions": _shaped_conditions(conditions),
        "grantControls": None if grant is None else _shaped_grant(_object(grant, "grantControls")),
    }


def check(policy: Mapping[str, Any], *, has_p2: bool) -> None:
    """Every rule a whole (shaped) policy must meet."""
    name = policy["displayName"]
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise invalid_value("displayName", RESOURCE)
    _enum("state", policy["state"], STATES)
    conditions = policy["conditions"]
    if conditions["users"] is None or conditions["applications"] is None:
        raise bad_request(SCHEMA_MISMATCH)
    _check_conditions(conditions)
    if policy["grantControls"] is None and policy["sessionControls"] is None:
        raise bad_request(SCHEMA_MISMATCH)
    if policy["grantControls"] is not None:
        _check_grant(policy["grantControls"])
    _check_session(policy["sessionControls"])
    risky = conditions["signInRiskLevels"] or conditions["userRiskLevels"]
    if risky and not has_p2:
        raise bad_request(NEEDS_P2)


def _check_top_level(body: Mapping[str, Any]) -> None:
    for name in body:
        if name.startswith("@"):
            continue
        if name in _SERVER_ADDED:
            raise read_only(name)
        if name not in _WRITABLE:
            raise invalid_property(name)


def _merged(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for name, value in changes.items():
        if name.startswith("@"):
            continue
        old = current.get(name)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            current[name] = _merged(dict(old), dict(value))
        else:
            current[name] = copy.deepcopy(value)
    return current


def _object(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise invalid_value(name, RESOURCE)
    return value


def _shaped_conditions(conditions: Mapping[str, Any]) -> dict[str, Any]:
    known = (*_CONDITION_LISTS, *_CONDITION_OBJECTS, *_OPAQUE_CONDITIONS)
    for name in conditions:
        if name not in known:
            raise invalid_property(name)
    shaped: dict[str, Any] = {name: _list(conditions, name) for name in _CONDITION_LISTS}
    for name in _CONDITION_OBJECTS:
        value = conditions.get(name)
        shaped[name] = None if value is None else _shaped_object(name, _object(value, name))
    shaped.update({name: copy.deepcopy(conditions.get(name)) for name in _OPAQUE_CONDITIONS})
    return shaped


def _shaped_object(kind: str, value: Mapping[str, Any]) -> dict[str, Any]:
    lists, others = _ID_LISTS[kind], _OTHER_MEMBERS[kind]
    for name in value:
        if name not in lists and name not in others:
            raise invalid_property(name)
    shaped: dict[str, Any] = {name: _list(value, name) for name in lists}
    shaped.update({name: copy.deepcopy(value.get(name)) for name in others})
    return shaped


def _shaped_grant(grant: Mapping[str, Any]) -> dict[str, Any]:
    for name in grant:
        if name not in (*_GRANT_LISTS, "operator", "authenticationStrength"):
            raise invalid_property(name)
    shaped: dict[str, Any] = {"operator": grant.get("operator")}
    shaped.update({name: _list(grant, name) for name in _GRANT_LISTS})
    shaped["authenticationStrength"] = copy.deepcopy(grant.get("authenticationStrength"))
    return shaped


def _list(value: Mapping[str, Any], name: str) -> list[Any]:
    items = value.get(name)
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise invalid_value(name, RESOURCE)
    return list(items)


def _check_conditions(conditions: Mapping[str, Any]) -> None:
    for name, allowed in _CONDITION_LISTS.items():
        for item in conditions[name]:
            _enum(name, item, allowed)
    for kind in ("users", "applications", "locations", "clientApplications"):
        if conditions[kind] is not None:
            for name, keywords in _ID_LISTS[kind].items():
                _check_ids(name, conditions[kind][name], keywords)
    if conditions["platforms"] is not None:
        for name in ("includePlatforms", "excludePlatforms"):
            for item in conditions["platforms"][name]:
                _enum(name, item, _PLATFORMS)


def _check_ids(name: str, items: list[str], keywords: str) -> None:
    allowed = {k.casefold() for k in keywords.split()}
    for item in items:
        if not (_GUID.fullmatch(item) or item.casefold() in allowed):
            raise bad_request(
                f"Invalid value '{item}' in '{name}': expected an object id (GUID)"
                + (f" or one of: {', '.join(keywords.split())}." if keywords else ".")
            )


def _check_grant(grant: Mapping[str, Any]) -> None:
    _enum("operator", grant["operator"], OPERATORS)
    controls = grant["builtInControls"]
    for control in controls:
        _enum("builtInControls", control, BUILT_IN_CONTROLS)
    if "block" in controls and len(controls) > 1:
        raise bad_request("The 'block' grant control cannot be combined with other controls.")


def _check_session(session: Any) -> None:
    for name in _object(session, "sessionControls"):
        if name not in _SESSION:
            raise invalid_property(name)


def _enum(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise invalid_value(name, RESOURCE)


def seeded_policy(
    entry: Mapping[str, Any], *, now: datetime, has_p2: bool, index: int
) -> dict[str, Any]:
    """A scenario's policy: Graph-shaped, its optional `id` and `createdDateTime` kept."""
    extra = {k: entry[k] for k in ("id", "createdDateTime", "templateId") if k in entry}
    body = {k: v for k, v in entry.items() if k not in extra and k != "modifiedDateTime"}
    try:
        policy = new_policy(body, now=now, has_p2=has_p2)
    except GraphError as error:
        raise ValueError(f"conditional_access_policies[{index}]: {error.message}") from None
    if "id" in extra and not _GUID.fullmatch(str(extra["id"])):
        raise ValueError(f"conditional_access_policies[{index}]: id must be a GUID")
    return policy | {k: str(v).lower() if k == "id" else v for k, v in extra.items()}
