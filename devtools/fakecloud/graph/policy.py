"""The tenant's authorizationPolicy singleton: defaults, validation and partial update.

Shape from https://learn.microsoft.com/graph/api/resources/authorizationpolicy and the GET
example there; `everyone` is the default allowInvitesFrom outside US Government clouds.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from devtools.fakecloud.graph.errors import invalid_property, invalid_value, read_only

RESOURCE = "AuthorizationPolicy"
ALLOW_INVITES_FROM = (
    "none",
    "adminsAndGuestInviters",
    "adminsGuestInvitersAndAllMembers",
    "everyone",
)
# User, Guest User, Restricted Guest User role templates (the only values Graph accepts).
GUEST_ROLE_IDS = (
    "a0b1b346-4d3e-4e8b-98f8-753987be4970",
    "10dae51f-b6af-4016-8d66-8c2a99b929b3",
    "2af84b1e-32c8-42b7-82bc-daa82404023b",
)
_BOOL_FIELDS = (
    "allowedToSignUpEmailBasedSubscriptions",
    "allowedToUseSSPR",
    "allowEmailVerifiedUsersToJoinOrganization",
    "allowUserConsentForRiskyApps",
    "blockMsolPowerShell",
)
_READ_ONLY = ("id", "displayName", "description")
_ROLE_BOOL_FIELDS = (
    "allowedToCreateApps",
    "allowedToCreateSecurityGroups",
    "allowedToCreateTenants",
    "allowedToReadBitlockerKeysForOwnedDevice",
    "allowedToReadOtherUsers",
)


def default_policy() -> dict[str, Any]:
    return {
        "id": "authorizationPolicy",
        "allowInvitesFrom": "everyone",
        "allowedToSignUpEmailBasedSubscriptions": True,
        "allowedToUseSSPR": True,
        "allowEmailVerifiedUsersToJoinOrganization": True,
        "allowUserConsentForRiskyApps": False,
        "blockMsolPowerShell": False,
        "description": "Used to manage authorization related settings across the company.",
        "displayName": "Authorization Policy",
        "guestUserRoleId": GUEST_ROLE_IDS[1],
        "defaultUserRolePermissions": {
            "allowedToCreateApps": True,
            "allowedToCreateSecurityGroups": True,
            "allowedToCreateTenants": True,
            "allowedToReadBitlockerKeysForOwnedDevice": True,
            "allowedToReadOtherUsers": True,
            "permissionGrantPoliciesAssigned": [
                "ManagePermissionGrantsForSelf.microsoft-user-default-legacy"
            ],
        },
    }


def merged_policy(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The policy after a PATCH: top-level fields replaced, defaultUserRolePermissions merged.

    Raises GraphError (400) for unknown, read-only or ill-typed properties; nothing is applied
    unless every change is valid.
    """
    updated = copy.deepcopy(dict(current))
    for name, value in changes.items():
        if name in _READ_ONLY:
            raise read_only(name)
        if name == "defaultUserRolePermissions":
            updated[name] = _merged_role_permissions(updated[name], value)
        else:
            _check_top_level(name, value)
            updated[name] = value
    return updated


def _check_top_level(name: str, value: Any) -> None:
    if name in _BOOL_FIELDS:
        _require(isinstance(value, bool), name)
    elif name == "allowInvitesFrom":
        _require(value in ALLOW_INVITES_FROM, name)
    elif name == "guestUserRoleId":
        _require(isinstance(value, str) and value.lower() in GUEST_ROLE_IDS, name)
    else:
        raise invalid_property(name)


def _merged_role_permissions(current: Mapping[str, Any], changes: Any) -> dict[str, Any]:
    _require(isinstance(changes, Mapping), "defaultUserRolePermissions")
    merged = dict(current)
    for name, value in changes.items():
        if name in _ROLE_BOOL_FIELDS:
            _require(isinstance(value, bool), name)
        elif name == "permissionGrantPoliciesAssigned":
            _require(isinstance(value, list) and all(isinstance(v, str) for v in value), name)
        else:
            raise invalid_property(name)
        merged[name] = list(value) if isinstance(value, list) else value
    return merged


def _require(condition: bool, name: str) -> None:
    if not condition:
        raise invalid_value(name, RESOURCE)
