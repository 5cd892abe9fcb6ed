"""security-defaults: every tenant is protected by security defaults or by Conditional Access,
never planned to have both on, and never left with neither unless the params say so.

Security defaults (MFA registration and challenges, legacy authentication blocked) are free;
Conditional Access needs Entra ID P1, and Entra refuses security defaults while a Conditional
Access policy is enabled (https://learn.microsoft.com/entra/fundamentals/security-defaults).
So: a tenant without P1 should have security defaults on. A tenant with P1 is governed as
`with_entra_id_p1` says: `conditional_access` (the default) wants security defaults off once at
least one policy is enabled and on until then; `security_defaults` wants them on; `off` wants
them off even with no enabled policy (the step before enforcing Conditional Access, when the
conditional-access-baseline standard refuses to enable policies over security defaults).

One finding, `securityDefaults.isEnabled`: desired and observed say whether security defaults
are on and which of the two `governs` the tenant (`security_defaults`, `conditional_access`, or
`none`). Turning them on over an enabled policy is not attempted (Entra would refuse): a note
says which policies stand in the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from shared.errors import NotLicensed
from shared.graph import GraphSession
from shared.jobs.applicability import ENTRA_ID_P1, LICENCE_PERMISSION
from shared.jobs.base import NOTHING_KNOWN, Change, ChangeOutcome, Finding, Job, Known, Plan
from shared.jobs.compare import same
from shared.jobs.identity_reads import SECURITY_DEFAULTS, ca_policies, security_defaults_on
from shared.jobs.params import Params, spec

SETTING = "securityDefaults.isEnabled"
Governance = Literal["conditional_access", "security_defaults", "off"]


@dataclass(frozen=True)
class SecurityDefaultsParams(Params):
    """What governs a tenant that has Entra ID P1 (one without it always gets security defaults)."""

    with_entra_id_p1: Governance = field(
        default="conditional_access",
        metadata=spec(
            "With Entra ID P1: conditional_access (security defaults off once a Conditional "
            "Access policy is enabled, on until then), security_defaults (always on), or off "
            "(off even with no enabled policy: only while switching to Conditional Access)."
        ),
    )


@dataclass(frozen=True)
class TenantProtection:
    """What the tenant has: Entra ID P1, security defaults, the names of enabled policies."""

    has_p1: bool
    security_defaults: bool
    enabled_policies: tuple[str, ...]

    @property
    def governs(self) -> str:
        if self.security_defaults:
            return "security_defaults"
        return "conditional_access" if self.enabled_policies else "none"


def desired(protection: TenantProtection, params: SecurityDefaultsParams) -> dict[str, Any]:
    """Security defaults on or off, and what should then govern the tenant."""
    mode = params.with_entra_id_p1 if protection.has_p1 else "security_defaults"
    on = mode == "security_defaults" or (
        mode == "conditional_access" and not protection.enabled_policies
    )
    enforced = "conditional_access" if protection.enabled_policies else "none"
    return {"isEnabled": on, "governs": "security_defaults" if on else enforced}


def finding(protection: TenantProtection, params: SecurityDefaultsParams) -> Finding:
    wanted = desired(protection, params)
    observed = {"isEnabled": protection.security_defaults, "governs": protection.governs}
    if same(wanted, observed):
        return Finding(SETTING, wanted, observed, True)
    if wanted["isEnabled"] and protection.enabled_policies:
        return Finding(SETTING, wanted, observed, False)  # Entra would refuse: see the note
    after = {"isEnabled": wanted["isEnabled"]}
    change = Change("identitySecurityDefaultsEnforcementPolicy", "set", observed, after)
    return Finding(SETTING, wanted, observed, False, (change,))


class SecurityDefaults(Job[SecurityDefaultsParams]):
    name = "security-defaults"
    description = (
        "Security defaults are on where Conditional Access does not govern the tenant, off "
        "where it does."
    )
    permissions = ("Policy.Read.All", "Policy.ReadWrite.SecurityDefaults", LICENCE_PERMISSION)
    params_type = SecurityDefaultsParams
    kind = "standard"
    reads_licences = True

    async def plan(
        self, session: GraphSession, params: SecurityDefaultsParams, known: Known = NOTHING_KNOWN
    ) -> Plan:
        protection = await _protection(session, known)
        plan = Plan(self.name, session.tenant_id)
        self.find(finding(protection, params), plan)
        plan.notes.append(_summary(protection))
        if desired(protection, params)["isEnabled"] and protection.enabled_policies:
            plan.notes.append(
                "security defaults cannot be turned on while Conditional Access policies are "
                "enabled: " + ", ".join(protection.enabled_policies)
            )
        return plan

    async def apply(self, session: GraphSession, plan: Plan) -> list[ChangeOutcome]:
        outcomes = []
        for change in plan.changes:
            request = session.request("PATCH", SECURITY_DEFAULTS, dict(change.after))
            await session.send(request, idempotent=True)
            outcomes.append(ChangeOutcome(change))
        return outcomes


async def _protection(session: GraphSession, known: Known) -> TenantProtection:
    facts = known.facts
    has_p1 = facts is not None and facts.service_plans is not None and not ENTRA_ID_P1.unmet(facts)
    try:
        policies = await ca_policies(session)
    except NotLicensed:  # a tenant that never had Conditional Access may not list them at all
        policies = []
    enabled = tuple(str(p.get("displayName")) for p in policies if p.get("state") == "enabled")
    return TenantProtection(has_p1, await security_defaults_on(session), enabled)


def _summary(protection: TenantProtection) -> str:
    licence = "Entra ID P1" if protection.has_p1 else "no Entra ID P1"
    count = len(protection.enabled_policies)
    return f"{licence}; {count} enabled Conditional Access policies; {protection.governs} governs"
