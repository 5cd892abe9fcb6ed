"""emergency-access-check: the tenant's emergency (break-glass) accounts are ready. Report only:
it never writes, whatever the mode.

One finding says whether any account is named (an MSP that has not told xtenant its customer's
break-glass accounts should hear it). For each account named (a UPN or an object id), four
findings: it exists, it is enabled, it holds
Global Administrator (an active role assignment at the directory scope), and every Conditional
Access policy that is on (enabled or report-only) excludes it, directly or through an excluded
group it belongs to. A fifth says when it last signed in, for information: an unused emergency
account is normal, so that finding is always compliant; its observed value gives the date (or
"never") and whether that is within `inactive_days`. Sign-in data needs Entra ID P1; without it
the finding says so.
https://learn.microsoft.com/entra/identity/role-based-access-control/security-emergency-access
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from shared.errors import GraphNotFound
from shared.graph import GraphSession
from shared.jobs.applicability import ENTRA_ID_P1, LICENCE_PERMISSION, TenantFacts
from shared.jobs.base import NOTHING_KNOWN, ChangeOutcome, Finding, Job, Known, Plan
from shared.jobs.guest_cleanup import parse_time
from shared.jobs.identity_reads import ca_policies
from shared.jobs.params import Params, Rule, spec

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
ROLE_ASSIGNMENTS = "/roleManagement/directory/roleAssignments"
_ON = frozenset({"enabled", "enabledforreportingbutnotenforced"})
_USER_FIELDS = "id,userPrincipalName,accountEnabled"
_SIGN_IN = ("lastSignInDateTime", "lastNonInteractiveSignInDateTime")

Account = Annotated[str, Rule(lambda a: 0 < len(a) <= 256, "items must be 1-256 characters")]


@dataclass(frozen=True)
class EmergencyAccessParams(Params):
    """The accounts to check, and how long without a sign-in the report calls unused."""

    accounts: tuple[Account, ...] = field(
        default=(),
        metadata=spec(
            "The tenant's emergency (break-glass) accounts, by userPrincipalName or object id; "
            "none named is itself a finding.",
            max_length=10,
        ),
    )
    inactive_days: int = field(
        default=90,
        metadata=spec(
            "The sign-in finding says whether the last sign-in is within this many days.",
            ge=1,
            le=3650,
            strict=True,
        ),
    )


@dataclass(frozen=True)
class Seen:
    """One account as the tenant has it (None when it does not exist)."""

    asked: str
    user: Mapping[str, Any] | None
    global_admin: bool = False
    groups: frozenset[str] = frozenset()


class EmergencyAccessCheck(Job[EmergencyAccessParams]):
    name = "emergency-access-check"
    description = (
        "Report only: the emergency (break-glass) accounts exist, are enabled, hold Global "
        "Administrator and are excluded from every Conditional Access policy."
    )
    permissions = (
        "User.Read.All",
        "GroupMember.Read.All",
        "RoleManagement.Read.Directory",
        "Policy.Read.All",
        "AuditLog.Read.All",
        LICENCE_PERMISSION,
    )
    params_type = EmergencyAccessParams
    kind = "standard"
    reads_licences = True

    def __init__(self, clock: Any = None) -> None:
        self._now = clock or (lambda: datetime.now(UTC))

    async def plan(
        self, session: GraphSession, params: EmergencyAccessParams, known: Known = NOTHING_KNOWN
    ) -> Plan:
        p1 = _has_p1(known.facts)
        policies = [p for p in await ca_policies(session) if _is_on(p)] if p1 else []
        members = await _excluded_group_members(session, policies)
        plan = Plan(self.name, session.tenant_id)
        named = list(params.accounts)
        self.find(Finding("emergencyAccess.accountsNamed", True, bool(named), bool(named)), plan)
        for account in dict.fromkeys(params.accounts):
            seen = await _seen(session, account, p1, members)
            for finding in self._findings(seen, policies, params, p1):
                self.find(finding, plan)
        plan.notes.append(
            f"{len(params.accounts)} account(s) checked against {len(policies)} policies that "
            "are on" + ("" if p1 else "; no Entra ID P1: no Conditional Access, no sign-in data")
        )
        return plan

    async def apply(self, session: GraphSession, plan: Plan) -> list[ChangeOutcome]:
        return []  # report only: nothing is ever planned to change

    def _findings(
        self,
        seen: Seen,
        policies: list[dict[str, Any]],
        params: EmergencyAccessParams,
        p1: bool,
    ) -> list[Finding]:
        key, user = f"emergencyAccess.{seen.asked.lower()}", seen.user
        found = [Finding(f"{key}.exists", True, user is not None, user is not None)]
        if user is None:
            return found
        enabled = bool(user.get("accountEnabled", True))
        gaps = [str(p.get("displayName")) for p in policies if not _excludes(p, user, seen)]
        return [
            *found,
            Finding(f"{key}.enabled", True, enabled, enabled),
            Finding(f"{key}.globalAdministrator", True, seen.global_admin, seen.global_admin),
            Finding(f"{key}.excludedFromConditionalAccess", [], sorted(gaps), not gaps),
            Finding(f"{key}.lastSignIn", "any", self._sign_in(user, params, p1), True),
        ]

    def _sign_in(self, user: Mapping[str, Any], params: EmergencyAccessParams, p1: bool) -> Any:
        if not p1:
            return {"lastSignIn": None, "why": "sign-in data needs Entra ID P1"}
        activity = user.get("signInActivity") or {}
        moments = [m for m in (parse_time(activity.get(f)) for f in _SIGN_IN) if m is not None]
        if not moments:
            return {"lastSignIn": "never", "withinDays": False}
        last = max(moments)
        recent = last >= self._now() - timedelta(days=params.inactive_days)
        return {"lastSignIn": last.date().isoformat(), "withinDays": recent}


def _has_p1(facts: TenantFacts | None) -> bool:
    return facts is not None and ENTRA_ID_P1.unmet(facts) is None


def _is_on(policy: Mapping[str, Any]) -> bool:
    return str(policy.get("state", "")).lower() in _ON


def _excludes(policy: Mapping[str, Any], user: Mapping[str, Any], seen: Seen) -> bool:
    users = ((policy.get("conditions") or {}).get("users")) or {}
    excluded = {str(u).lower() for u in users.get("excludeUsers") or []}
    groups = {str(g).lower() for g in users.get("excludeGroups") or []}
    return str(user.get("id", "")).lower() in excluded or not groups.isdisjoint(seen.groups)


async def _seen(
    session: GraphSession, account: str, p1: bool, members: Mapping[str, frozenset[str]]
) -> Seen:
    select = _USER_FIELDS + (",signInActivity" if p1 else "")
    try:
        user = await session.get_path(f"/users/{quote(account, safe='@')}?$select={select}")
    except GraphNotFound:
        return Seen(account, None)
    object_id = str(user["id"]).lower()
    groups = frozenset(g for g, ids in members.items() if object_id in ids)
    return Seen(account, user, await _global_admin(session, object_id), groups)


async def _global_admin(session: GraphSession, object_id: str) -> bool:
    query = (
        f"?$filter=roleDefinitionId eq '{GLOBAL_ADMINISTRATOR}' and principalId eq '{object_id}'"
    )
    request = session.request("GET", ROLE_ASSIGNMENTS + query)
    found = await session.collect(request, dict)
    return any(a.get("directoryScopeId", "/") == "/" for a in found)


async def _excluded_group_members(
    session: GraphSession, policies: list[dict[str, Any]]
) -> dict[str, frozenset[str]]:
    """Each group some policy excludes -> its members' object ids (each group read once)."""
    groups = {
        str(g).lower()
        for p in policies
        for g in (((p.get("conditions") or {}).get("users") or {}).get("excludeGroups") or [])
    }
    members: dict[str, frozenset[str]] = {}
    for group in sorted(groups):
        request = session.list_group_members(group, select=["id"])
        ids = await session.collect(request, lambda m: str(m.get("id", "")).lower())
        members[group] = frozenset(ids)
    return members
