"""The tenant's SharePoint and OneDrive settings (`/admin/sharepoint/settings`): a new tenant's
values, and validated partial updates.

Properties, types and enums from https://learn.microsoft.com/graph/api/resources/sharepointsettings
(`availableManagedPathsForSiteCreation` is read-only); a new tenant shares with anyone
(`externalUserAndGuestSharing`), lets guests reshare and allows legacy authentication protocols,
as SharePoint's admin center defaults are. A tenant without a SharePoint Online plan has no
SharePoint tenant: Graph answers its SharePoint resources 400 `BadRequest` "Tenant does not have
a SPO license." (errors.no_spo_licence).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from devtools.fakecloud.graph.errors import GraphError, invalid_property, invalid_value, read_only

RESOURCE = "SharepointSettings"
ODATA_TYPE = "#microsoft.graph.sharepointSettings"
SHARING_CAPABILITIES = (
    "disabled",
    "externalUserSharingOnly",
    "externalUserAndGuestSharing",
    "existingExternalUserSharingOnly",
)
DOMAIN_RESTRICTION_MODES = ("none", "allowList", "blockList")
_READ_ONLY = ("id", "availableManagedPathsForSiteCreation")
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_IDLE_KEYS = {"isEnabled": bool, "warnAfterInSeconds": int, "signOutAfterInSeconds": int}

_BOOLEANS = (
    "isCommentingOnSitePagesEnabled",
    "isFileActivityNotificationEnabled",
    "isLegacyAuthProtocolsEnabled",
    "isLoopEnabled",
    "isMacSyncAppEnabled",
    "isRequireAcceptingUserToMatchInvitedUserEnabled",
    "isResharingByExternalUsersEnabled",
    "isSharePointMobileNotificationEnabled",
    "isSharePointNewsfeedEnabled",
    "isSiteCreationEnabled",
    "isSiteCreationUIEnabled",
    "isSitePagesCreationEnabled",
    "isSitesStorageLimitAutomatic",
    "isSyncButtonHiddenOnPersonalSite",
    "isUnmanagedSyncAppForTenantRestricted",
)
_INTEGERS = (
    "deletedUserPersonalSiteRetentionPeriodInDays",
    "personalSiteDefaultStorageLimitInMB",
    "siteCreationDefaultStorageLimitInMB",
)
_STRING_LISTS = (
    "excludedFileExtensionsForSyncApp",
    "sharingAllowedDomainList",
    "sharingBlockedDomainList",
)
_STRINGS = ("siteCreationDefaultManagedPath", "tenantDefaultTimezone")
_ENUMS = {
    "sharingCapability": SHARING_CAPABILITIES,
    "sharingDomainRestrictionMode": DOMAIN_RESTRICTION_MODES,
    "imageTaggingOption": ("disabled", "basic", "enhanced"),
}
_OFF_BY_DEFAULT = {
    "isSyncButtonHiddenOnPersonalSite",
    "isUnmanagedSyncAppForTenantRestricted",
    "isRequireAcceptingUserToMatchInvitedUserEnabled",
}


def default_settings() -> dict[str, Any]:
    """A new tenant's settings, as GET returns them."""
    return {
        "allowedDomainGuidsForSyncApp": [],
        "availableManagedPathsForSiteCreation": ["/sites/", "/teams/"],
        "deletedUserPersonalSiteRetentionPeriodInDays": 30,
        "excludedFileExtensionsForSyncApp": [],
        "idleSessionSignOut": {
            "isEnabled": False,
            "warnAfterInSeconds": 0,
            "signOutAfterInSeconds": 0,
        },
        "imageTaggingOption": "basic",
        **{name: name not in _OFF_BY_DEFAULT for name in _BOOLEANS},
        "personalSiteDefaultStorageLimitInMB": 1048576,
        "sharingAllowedDomainList": [],
        "sharingBlockedDomainList": [],
        "sharingCapability": "externalUserAndGuestSharing",
        "sharingDomainRestrictionMode": "none",
        "siteCreationDefaultManagedPath": "/sites/",
        "siteCreationDefaultStorageLimitInMB": 26214400,
        "tenantDefaultTimezone": "(UTC) Coordinated Universal Time",
    }


def merged_settings(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The settings after a PATCH; GraphError (400) for a read-only, unknown or ill-typed
    property, and nothing is applied unless every change is valid."""
    updated = copy.deepcopy(dict(current))
    for name, value in changes.items():
        _check(name, value)
        updated[name] = copy.deepcopy(value)
    return updated


def _check(name: str, value: Any) -> None:
    if name in _READ_ONLY:
        raise read_only(name)
    if name in _BOOLEANS:
        _require(isinstance(value, bool), name)
    elif name in _INTEGERS:
        _require(isinstance(value, int) and not isinstance(value, bool) and value >= 0, name)
    elif name in _STRINGS:
        _require(isinstance(value, str), name)
    elif name in _ENUMS:
        _require(value in _ENUMS[name], name)
    elif name in _STRING_LISTS:
        _require(_strings(value), name)
    elif name == "allowedDomainGuidsForSyncApp":
        _require(_strings(value) and all(_GUID.fullmatch(v) for v in value), name)
    elif name == "idleSessionSignOut":
        _require(_idle_session(value), name)
    else:
        raise invalid_property(name)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _idle_session(value: Any) -> bool:
    if not isinstance(value, Mapping) or not set(value) <= set(_IDLE_KEYS):
        return False
    return all(isinstance(value[k], _IDLE_KEYS[k]) for k in value)


def _require(condition: bool, name: str) -> None:
    if not condition:
        raise invalid_value(name, RESOURCE)


def check_scenario(spec: Mapping[str, Any]) -> None:
    """A scenario's `sharepoint_settings` (partial): ValueError names what Graph would refuse."""
    try:
        merged_settings(default_settings(), spec)
    except GraphError as error:
        raise ValueError(f"sharepoint_settings: {error.message}") from error
