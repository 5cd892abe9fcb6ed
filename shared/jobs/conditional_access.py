"""conditional-access-baseline: three Conditional Access policies every tenant with Entra ID P1
should have, each excluding the tenant's emergency (break-glass) accounts.

One finding per policy (shared.jobs.ca_policies says what is governed). A policy is found by the
id xtenant stored when it created it (`known.refs`), else by its display name prefix, so a policy
the customer renamed is neither duplicated nor renamed back. Remediate creates what is missing
(looking it up again right before, never creating twice: docs/decisions.md#no-duplicate-creates)
and PATCHes what differs. Two writes are refused before anything is sent: a policy that would
not exclude every emergency account (none named, or one not in the tenant), and an enforced
(`enabled`) policy while the tenant's security defaults are on (Entra refuses it; report-only is
allowed). https://learn.microsoft.com/graph/api/resources/conditionalaccesspolicy
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from shared.errors import (
    EmergencyAccessUnresolved,
    GraphRequestError,
    NotApplicable,
    SecurityDefaultsOn,
    XtenantError,
)
from shared.graph import GraphSession
from shared.jobs import ca_policies as ca
from shared.jobs.applicability import ENTRA_ID_P1, LICENCE_PERMISSION
from shared.jobs.base import NOTHING_KNOWN, Change, ChangeOutcome, Finding, Job, Known, Plan
from shared.jobs.identity_reads import (
    CA_POLICIES,
    EmergencyAccounts,
    ca_policies,
    emergency_accounts,
    security_defaults_on,
)
from shared.jobs.params import Params, Rule, spec

_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
Account = Annotated[
    str,
    Rule(
        lambda a: bool(_GUID.fullmatch(a)) or ("@" in a and len(a) <= 256),
        "must be user principal names (breakglass@contoso.com) or object ids (GUIDs)",
    ),
]
Prefix = Annotated[str, Rule(lambda p: p.strip() != "", "must not be blank")]


@dataclass(frozen=True)
class ConditionalAccessParams(Params):
    """Which baseline policies to govern, in which state, excluding which accounts."""

    state: Literal["enabledForReportingButNotEnforced", "enabled"] = field(
        default="enabledForReportingButNotEnforced",
        metadata=spec(
            "The policies' state: enabledForReportingButNotEnforced (report-only: sign-ins are "
            "evaluated and logged, nothing is blocked) or enabled (enforced)."
        ),
    )
    emergency_accounts: tuple[Account, ...] = field(
        default=(),
        metadata=spec(
            "The tenant's emergency (break-glass) accounts, by UPN or object id: every policy "
            "excludes them all. Until they are named and found, no policy is written.",
            max_length=10,
        ),
    )
    block_legacy_authentication: bool = field(
        default=True,
        metadata=spec("Govern the policy that blocks legacy authentication.", strict=True),
    )
    require_mfa_for_admins: bool = field(
        default=True,
        metadata=spec("Govern the policy that requires MFA for admin roles.", strict=True),
    )
    require_mfa_for_all_users: bool = field(
        default=True,
        metadata=spec("Govern the policy that requires MFA for all users.", strict=True),
    )
    name_prefix: Prefix = field(
        default="xtenant: ",
        metadata=spec(
            "Start of the display names of the policies xtenant creates; how it finds them "
            "when it has no stored id. Renaming a policy afterwards is fine.",
            max_length=64,
        ),
    )


def managed(params: ConditionalAccessParams) -> list[ca.Template]:
    chosen = (
        params.block_legacy_authentication,
        params.require_mfa_for_admins,
        params.require_mfa_for_all_users,
    )
    return [template for template, on in zip(ca.TEMPLATES, chosen, strict=True) if on]


@dataclass(frozen=True)
class _Evaluation:
    template: ca.Template
    match: ca.Match
    desired: dict[str, Any]

    @property
    def compliant(self) -> bool:
        return ca.complies(self.desired, self.match.policy)


class ConditionalAccessBaseline(Job[ConditionalAccessParams]):
    name = "conditional-access-baseline"
    description = (
        "Conditional Access blocks legacy authentication and requires MFA for admins and all "
        "users, excluding the emergency accounts."
    )
    permissions = (
        "Policy.Read.All",
        "Policy.ReadWrite.ConditionalAccess",
        "User.Read.All",
        LICENCE_PERMISSION,
    )
    params_type = ConditionalAccessParams
    kind = "standard"
    prerequisites = (ENTRA_ID_P1,)

    def check(self, params: ConditionalAccessParams) -> list[str]:
        return [] if managed(params) else ["at least one policy must be governed"]

    async def plan(
        self, session: GraphSession, params: ConditionalAccessParams, known: Known = NOTHING_KNOWN
    ) -> Plan:
        plan = Plan(self.name, session.tenant_id)
        policies = await ca_policies(session)
        accounts = await emergency_accounts(session, params.emergency_accounts)
        evaluations = _evaluate(policies, params, accounts, known)
        refusal = await _refusal(session, params, accounts, evaluations, plan)
        for evaluation in evaluations:
            self.find(_finding(evaluation, params, refusal), plan)
        plan.notes.extend(_notes(evaluations, params))
        return plan

    async def apply(self, session: GraphSession, plan: Plan) -> list[ChangeOutcome]:
        return [await _apply_one(session, change) for change in plan.changes]


def _evaluate(
    policies: list[dict[str, Any]],
    params: ConditionalAccessParams,
    accounts: EmergencyAccounts,
    known: Known,
) -> list[_Evaluation]:
    claimed: set[str] = set()
    evaluations = []
    for template in managed(params):
        name = template.display_name(params.name_prefix)
        match = ca.find(policies, name, ref=known.refs.get(template.setting), claimed=claimed)
        if match.policy is not None:
            claimed.add(str(match.policy["id"]).lower())
        desired = template.governed(params.state, accounts.ids)
        evaluations.append(_Evaluation(template, match, desired))
    return evaluations


async def _refusal(
    session: GraphSession,
    params: ConditionalAccessParams,
    accounts: EmergencyAccounts,
    evaluations: list[_Evaluation],
    plan: Plan,
) -> XtenantError | None:
    """Why no write may be sent in this tenant now (said in a note too), or None."""
    if not accounts.resolved:
        unresolved = _unresolved(accounts, session.tenant_id)
        plan.notes.append(unresolved.message)
        return unresolved
    pending = any(not e.compliant for e in evaluations)
    if params.state == "enabled" and pending and await security_defaults_on(session):
        error = SecurityDefaultsOn(
            "security defaults are on: Entra refuses to enable Conditional Access policies "
            "while they are, so xtenant sends none",
            tenant_id=session.tenant_id,
            remediation=(
                "Keep the policies report-only (state enabledForReportingButNotEnforced), or "
                "turn security defaults off first: the security-defaults standard with "
                'with_entra_id_p1 = "off", then back to "conditional_access" once the policies '
                "are enforced."
            ),
        )
        plan.notes.append(error.message)
        return error
    return None


def _unresolved(accounts: EmergencyAccounts, tenant_id: str) -> EmergencyAccessUnresolved:
    if not accounts.asked:
        why = "no emergency (break-glass) accounts are named"
    else:
        why = "emergency accounts not in this tenant: " + ", ".join(accounts.missing)
    return EmergencyAccessUnresolved(
        f"{why}; xtenant writes no Conditional Access policy that would not exclude them all",
        tenant_id=tenant_id,
        remediation=(
            "Name the tenant's break-glass accounts (UPNs or object ids) in the enrolment's "
            "emergency_accounts param, and check that each exists in the tenant."
        ),
    )


def _finding(
    evaluation: _Evaluation, params: ConditionalAccessParams, refusal: XtenantError | None
) -> Finding:
    template, policy, desired = evaluation.template, evaluation.match.policy, evaluation.desired
    observed = None if policy is None else ca.governed(policy)
    ref = None if policy is None else str(policy["id"])
    if evaluation.compliant:
        return Finding(template.setting, desired, observed, True, ref=ref)
    name = template.display_name(params.name_prefix)
    if policy is None:
        body = {"displayName": name, **desired}
        change = Change(name, "create", None, desired, {"body": body, "refused": refusal})
    else:
        data = {"id": ref, "body": desired, "refused": refusal}
        change = Change(str(policy.get("displayName")), "update", observed, desired, data)
    return Finding(template.setting, desired, observed, False, (change,), ref=ref)


def _notes(evaluations: list[_Evaluation], params: ConditionalAccessParams) -> list[str]:
    state = "report-only" if params.state == ca.REPORT_ONLY else "enforced"
    notes = [f"{len(evaluations)} Conditional Access policies governed ({state})"]
    for e in evaluations:
        if e.match.duplicates:
            notes.append(
                f"{len(e.match.duplicates) + 1} policies are named like "
                f"{e.template.display_name(params.name_prefix)!r}: the oldest is governed, "
                f"not {', '.join(e.match.duplicates)}"
            )
    return notes


async def _apply_one(session: GraphSession, change: Change) -> ChangeOutcome:
    refused = change.data.get("refused")
    if isinstance(refused, XtenantError):
        return ChangeOutcome(change, refused)
    try:
        if change.action == "create":
            return ChangeOutcome(change, ref=await _create_once(session, change))
        await _patch(session, str(change.data["id"]), change.data["body"])
    except GraphRequestError as error:  # Graph refused this policy's write: the others go on
        return ChangeOutcome(change, error)
    return ChangeOutcome(change)


async def _patch(session: GraphSession, policy_id: str, body: dict[str, Any]) -> None:
    request = session.request("PATCH", f"{CA_POLICIES}/{policy_id}", body)
    await session.send(request, idempotent=True)


async def _create_once(session: GraphSession, change: Change) -> str:
    """Create the policy unless it appeared since planning (then make it right); never twice."""
    body = dict(change.data["body"])
    existing = await _named(session, body["displayName"])
    if existing is not None:
        return await _adopt(session, existing, change.after)
    request = session.request("POST", CA_POLICIES, body)
    try:
        created = await session.send(request, idempotent=False)
    except XtenantError as error:
        if isinstance(error, NotApplicable):
            raise
        # Sent but unanswered, or refused: re-read. If it exists now, it was created.
        existing = await _named(session, body["displayName"])
        if existing is None:
            raise
        return await _adopt(session, existing, change.after)
    return str(created["id"])


async def _named(session: GraphSession, name: str) -> dict[str, Any] | None:
    return ca.find(await ca_policies(session), name, ref=None, claimed=set()).policy


async def _adopt(session: GraphSession, policy: dict[str, Any], desired: dict[str, Any]) -> str:
    if not ca.complies(desired, policy):
        await _patch(session, str(policy["id"]), desired)
    return str(policy["id"])
