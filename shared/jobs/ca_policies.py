"""The Conditional Access policies of the baseline: what each must hold, how a tenant's policy is
compared with it, and how xtenant finds its own policies again.

Three of Microsoft's Conditional Access templates
(https://learn.microsoft.com/entra/identity/conditional-access/concept-conditional-access-policy-common):
block legacy authentication (Exchange ActiveSync and other clients), require MFA
for the directory roles of "Require MFA for administrators", require MFA for all users. Each
excludes the tenant's emergency (break-glass) accounts.

What is governed (compared, and written): the state, the users and applications conditions, the
client app types and the grant controls. Other conditions (locations, platforms...), session
controls and the display name are the customer's. Values are compared as Graph means them
(shared.jobs.compare): lists as sets, ids and keywords without case, an absent list as empty,
absent client app types as `all`, and the AND/OR operator of a single control as no matter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.jobs.compare import same

#: Directory roles of Microsoft's "Require MFA for administrators" policy, by role template id
#: (https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
ADMIN_ROLES: dict[str, str] = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
    "c4e39bd9-1100-46d3-8c65-fb160da0071f": "Authentication Administrator",
    "b0f54661-2d74-4c50-afa3-1ec803f12efe": "Billing Administrator",
    "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
    "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
    "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
    "729827e3-9c14-49f7-bb1b-9608f156bbb8": "Helpdesk Administrator",
    "966707d0-3269-4727-9be2-8c3a10f19b9d": "Password Administrator",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13": "Privileged Authentication Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c": "SharePoint Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
}
USER_LISTS = (
    "includeUsers",
    "excludeUsers",
    "includeGroups",
    "excludeGroups",
    "includeRoles",
    "excludeRoles",
)
APP_LISTS = ("includeApplications", "excludeApplications")
REPORT_ONLY = "enabledForReportingButNotEnforced"


@dataclass(frozen=True)
class Template:
    """One baseline policy: the setting it is reported under and what it must contain."""

    setting: str
    title: str
    client_app_types: tuple[str, ...]
    control: str
    include_users: tuple[str, ...] = ()
    include_roles: tuple[str, ...] = ()

    def display_name(self, prefix: str) -> str:
        return f"{prefix}{self.title}"

    def governed(self, state: str, excluded: Iterable[str]) -> dict[str, Any]:
        """The governed part of the policy, shaped as Graph shapes a policy (a PATCH body)."""
        users: dict[str, list[str]] = {name: [] for name in USER_LISTS} | {
            "includeUsers": list(self.include_users),
            "includeRoles": list(self.include_roles),
            "excludeUsers": sorted(excluded),
        }
        return {
            "state": state,
            "conditions": {
                "users": users,
                "applications": {"includeApplications": ["All"], "excludeApplications": []},
                "clientAppTypes": list(self.client_app_types),
            },
            "grantControls": {"operator": "OR", "builtInControls": [self.control]},
        }


BLOCK_LEGACY = Template(
    "conditionalAccess.blockLegacyAuthentication",
    "Block legacy authentication",
    client_app_types=("exchangeActiveSync", "other"),
    control="block",
    include_users=("All",),
)
MFA_ADMINS = Template(
    "conditionalAccess.requireMfaForAdmins",
    "Require MFA for administrators",
    client_app_types=("all",),
    control="mfa",
    include_roles=tuple(ADMIN_ROLES),
)
MFA_ALL_USERS = Template(
    "conditionalAccess.requireMfaForAllUsers",
    "Require MFA for all users",
    client_app_types=("all",),
    control="mfa",
    include_users=("All",),
)
TEMPLATES = (BLOCK_LEGACY, MFA_ADMINS, MFA_ALL_USERS)


def governed(policy: Mapping[str, Any]) -> dict[str, Any]:
    """The governed part of a tenant's policy, absent members as Graph's defaults."""
    conditions = policy.get("conditions") or {}
    users = conditions.get("users") or {}
    apps = conditions.get("applications") or {}
    grant = policy.get("grantControls") or {}
    controls = list(grant.get("builtInControls") or [])
    return {
        "state": policy.get("state"),
        "conditions": {
            "users": {name: list(users.get(name) or []) for name in USER_LISTS},
            "applications": {name: list(apps.get(name) or []) for name in APP_LISTS},
            "clientAppTypes": list(conditions.get("clientAppTypes") or ["all"]),
        },
        "grantControls": {"operator": _operator(grant, controls), "builtInControls": controls},
    }


def _operator(grant: Mapping[str, Any], controls: list[str]) -> Any:
    """AND and OR mean the same over one control: such a policy reads as OR."""
    return "OR" if len(controls) <= 1 else grant.get("operator")


def complies(desired: Mapping[str, Any], policy: Mapping[str, Any] | None) -> bool:
    """Whether the tenant's policy holds what `desired` (a Template.governed value) says."""
    return policy is not None and same(desired, governed(policy))


@dataclass(frozen=True)
class Match:
    """The tenant's policy for a template, and any others that looked like it too."""

    policy: dict[str, Any] | None
    by: str = ""  # "ref" or "name"
    duplicates: tuple[str, ...] = ()


def find(
    policies: list[dict[str, Any]],
    name: str,
    *,
    ref: str | None,
    claimed: set[str],
) -> Match:
    """By the id xtenant stored (`ref`) first, then by display name starting with `name`
    (docs/decisions.md#object-refs); a policy another setting claimed is not matched again."""
    free = [p for p in policies if str(p.get("id", "")).lower() not in claimed]
    if ref:
        by_ref = next((p for p in free if str(p.get("id", "")).lower() == ref.lower()), None)
        if by_ref is not None:
            return Match(by_ref, "ref")
    wanted = name.casefold()
    named = [p for p in free if str(p.get("displayName") or "").casefold().startswith(wanted)]
    if not named:
        return Match(None)
    named.sort(key=lambda p: (str(p.get("createdDateTime") or ""), str(p.get("id"))))
    return Match(named[0], "name", tuple(str(p.get("id")) for p in named[1:]))
