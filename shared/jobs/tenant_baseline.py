"""tenant-baseline: the tenant's authorizationPolicy matches the desired settings.

Plan shows current vs desired for each managed setting; apply PATCHes only what differs.
A setting given as null is left unmanaged. Defaults follow Microsoft's secure-by-default advice:
only admins and Guest Inviters invite guests; users create no apps, security groups or tenants;
users consent only to low-risk permissions of verified publishers.
https://learn.microsoft.com/graph/api/resources/authorizationpolicy
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from shared.graph import GraphSession
from shared.jobs.base import NOTHING_KNOWN, Change, ChangeOutcome, Finding, Job, Known, Plan
from shared.jobs.compare import SET_LIKE, Comparison, same
from shared.jobs.params import Params, spec

InviteSetting = Literal[
    "none", "adminsAndGuestInviters", "adminsGuestInvitersAndAllMembers", "everyone"
]
UserConsent = Literal["none", "low_risk", "all"]

#: user consent setting -> permissionGrantPoliciesAssigned (Entra "user consent settings")
CONSENT_POLICIES: dict[str, list[str]] = {
    "none": [],
    "low_risk": ["ManagePermissionGrantsForSelf.microsoft-user-default-low"],
    "all": ["ManagePermissionGrantsForSelf.microsoft-user-default-legacy"],
}
_ROLE_PERMISSIONS = "defaultUserRolePermissions"
_SELF_CONSENT = "managepermissiongrantsforself."


@dataclass(frozen=True)
class TenantBaselineParams(Params):
    """The authorizationPolicy settings to enforce; a setting given as null is left unmanaged."""

    allow_invites_from: InviteSetting | None = field(
        default="adminsAndGuestInviters",
        metadata=spec("Who may invite guests (allowInvitesFrom)."),
    )
    users_can_create_apps: bool | None = field(
        default=False,
        metadata=spec(
            "Whether users may register applications (allowedToCreateApps).", strict=True
        ),
    )
    users_can_create_security_groups: bool | None = field(
        default=False,
        metadata=spec(
            "Whether users may create security groups (allowedToCreateSecurityGroups).", strict=True
        ),
    )
    users_can_create_tenants: bool | None = field(
        default=False,
        metadata=spec("Whether users may create tenants (allowedToCreateTenants).", strict=True),
    )
    user_consent: UserConsent | None = field(
        default="low_risk",
        metadata=spec(
            "What users may consent to apps for: none; low_risk (low-risk permissions of verified "
            "publishers); all (any permission not needing admin consent)."
        ),
    )


@dataclass(frozen=True)
class Setting:
    """One managed setting: where it lives in the policy, and the desired wire value."""

    name: str
    path: tuple[str, ...]
    desired: Any


def desired_settings(params: TenantBaselineParams) -> list[Setting]:
    role = _ROLE_PERMISSIONS
    wanted = [
        Setting("allowInvitesFrom", ("allowInvitesFrom",), params.allow_invites_from),
        Setting("allowedToCreateApps", (role, "allowedToCreateApps"), params.users_can_create_apps),
        Setting(
            "allowedToCreateSecurityGroups",
            (role, "allowedToCreateSecurityGroups"),
            params.users_can_create_security_groups,
        ),
        Setting(
            "allowedToCreateTenants",
            (role, "allowedToCreateTenants"),
            params.users_can_create_tenants,
        ),
        Setting(
            "permissionGrantPoliciesAssigned",
            (role, "permissionGrantPoliciesAssigned"),
            None if params.user_consent is None else CONSENT_POLICIES[params.user_consent],
        ),
    ]
    return [s for s in wanted if s.desired is not None]


def current_value(policy: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = policy
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def wanted_value(setting: Setting, current: Any) -> Any:
    """The value to PATCH for `setting`, given the tenant's current value.

    User consent is the `ManagePermissionGrantsForSelf.*` entries of a list that also holds
    `ManagePermissionGrantsForOwnedResource.*` ones (team and chat owner consent); a PATCH
    replaces the whole list, so those are carried over untouched. Entra docs, "Configure group
    owner consent": keep the other current policies when updating the collection.
    """
    if setting.name != "permissionGrantPoliciesAssigned" or not isinstance(current, list):
        return setting.desired
    others = [p for p in current if not str(p).lower().startswith(_SELF_CONSENT)]
    return others + [p for p in setting.desired if p not in others]


def _finding(setting: Setting, current: Any) -> Finding:
    """One setting: compliant when the tenant's value means the desired one
    (shared.jobs.compare: consent policy lists are sets, enum strings have no case)."""
    wanted = wanted_value(setting, current)
    how = _COMPARISON.get(setting.name, SET_LIKE)
    if same(wanted, current, how):
        return Finding(_target(setting), setting.desired, current, compliant=True, how=how)
    change = Change(
        target=_target(setting),
        action="set",
        before=current,
        after=wanted,
        data={"path": setting.path},
    )
    return Finding(_target(setting), setting.desired, current, False, (change,), how=how)


def _target(setting: Setting) -> str:
    return f"authorizationPolicy.{setting.name}"


#: Absent booleans are Graph's defaults (true: users may create apps, groups and tenants).
_COMPARISON = {
    name: Comparison(default=True)
    for name in ("allowedToCreateApps", "allowedToCreateSecurityGroups", "allowedToCreateTenants")
} | {"permissionGrantPoliciesAssigned": Comparison(default=[])}


class TenantBaseline(Job[TenantBaselineParams]):
    name = "tenant-baseline"
    description = "The tenant's authorization policy matches the desired baseline."
    permissions = ("Policy.ReadWrite.Authorization",)
    params_type = TenantBaselineParams
    kind = "standard"

    async def plan(
        self, session: GraphSession, params: TenantBaselineParams, known: Known = NOTHING_KNOWN
    ) -> Plan:
        policy = await session.get_path("/policies/authorizationPolicy")
        plan = Plan(self.name, session.tenant_id)
        for setting in desired_settings(params):
            self.find(_finding(setting, current_value(policy, setting.path)), plan)
        plan.notes.append(f"{len(plan.findings)} settings managed")
        return plan

    async def apply(self, session: GraphSession, plan: Plan) -> list[ChangeOutcome]:
        if not plan.changes:
            return []
        body: dict[str, Any] = {}
        for change in plan.changes:
            *parents, leaf = change.data["path"]
            node = body
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = change.after
        request = session.request("PATCH", "/policies/authorizationPolicy", body)
        await session.send(request, idempotent=True)
        return [ChangeOutcome(change) for change in plan.changes]
