"""authentication-methods: which sign-in methods the tenant's authentication methods policy
allows, and for whom.

Defaults follow Microsoft's advice to move off phone transports: SMS and voice calls off;
Microsoft Authenticator and FIDO2 passkeys on, for all users. One finding per managed method
(`authenticationMethods.<method>`): its state and, for a method to be on, its include targets
(group ids, or `all_users`). The policy's migration off the legacy MFA and SSPR policies is one
more finding (`authenticationMethodsPolicy.policyMigrationState`), reported, and changed to
`migrationComplete` only when `complete_migration` is set: completing it makes the legacy
policies' methods stop working, which an operator decides per tenant.

Plan reads one document (GET /policies/authenticationMethodsPolicy has the configurations
inline); apply PATCHes only the configurations that differ, each with the `@odata.type` Graph
requires in that body. Methods are turned on before any is turned off, and nothing is turned off
if turning one on failed: a tenant is never left with fewer working methods than it had.
Graph's v1.0 pages mark this API unavailable in the China (21Vianet) cloud, so the job applies in
the public and US Government clouds only.
https://learn.microsoft.com/graph/api/resources/authenticationmethodspolicy
https://learn.microsoft.com/graph/api/authenticationmethodspolicy-update
(docs/decisions.md#authentication-methods-standard)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from shared.errors import XtenantError
from shared.graph import GraphSession
from shared.jobs.applicability import InClouds
from shared.jobs.base import NOTHING_KNOWN, Change, ChangeOutcome, Finding, Job, Known, Plan
from shared.jobs.compare import Comparison, same
from shared.jobs.params import Params, Rule, spec

MethodName = Literal[
    "sms",
    "voice",
    "email",
    "fido2",
    "microsoftAuthenticator",
    "temporaryAccessPass",
    "softwareOath",
    "x509Certificate",
]
#: method -> its configuration's id, as Graph returns it
GRAPH_IDS: dict[str, str] = {
    "sms": "Sms",
    "voice": "Voice",
    "email": "Email",
    "fido2": "Fido2",
    "microsoftAuthenticator": "MicrosoftAuthenticator",
    "temporaryAccessPass": "TemporaryAccessPass",
    "softwareOath": "SoftwareOath",
    "x509Certificate": "X509Certificate",
}
ALL_USERS = "all_users"
POLICY_PATH = "/policies/authenticationMethodsPolicy"
MIGRATION_SETTING = "authenticationMethodsPolicy.policyMigrationState"
MIGRATION_COMPLETE = "migrationComplete"
#: the cloud names of shared.settings.Cloud where the API exists (Graph's national cloud table)
CLOUDS = InClouds("The authentication methods policy API", ("public", "usgov"))
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
MAX_TARGETS = 50
#: Targets compare as a set, ids and enums without case. A target's `id` is the group it names,
#: not a server-added key: nothing is dropped (observed_method keeps only what is compared).
HOW = Comparison(read_only=frozenset())


def _is_target(value: str) -> bool:
    return value == ALL_USERS or bool(_GUID.fullmatch(value))


Target = Annotated[str, Rule(_is_target, "items must be group ids (GUIDs) or all_users")]


@dataclass(frozen=True)
class AuthenticationMethodsParams(Params):
    """Which methods are on (and for whom) and which are off; a method in neither list is left
    as the tenant has it."""

    enable: tuple[MethodName, ...] = field(
        default=("microsoftAuthenticator", "fido2"),
        metadata=spec("Methods to turn on, for the include_targets (state enabled)."),
    )
    disable: tuple[MethodName, ...] = field(
        default=("sms", "voice"),
        metadata=spec("Methods to turn off for everyone (state disabled)."),
    )
    include_targets: tuple[Target, ...] = field(
        default=(ALL_USERS,),
        metadata=spec(
            "Who may use the methods turned on: group object ids, or all_users.",
            max_length=MAX_TARGETS,
        ),
    )
    complete_migration: bool = field(
        default=False,
        metadata=spec(
            "Set the policy's migration state to migrationComplete, so that the legacy MFA and "
            "SSPR policies' methods stop working; otherwise it is reported only.",
            strict=True,
        ),
    )


@dataclass(frozen=True)
class Wanted:
    """One managed method: on for `targets`, or off (no targets)."""

    method: str
    enabled: bool
    targets: tuple[str, ...] = ()

    @property
    def setting(self) -> str:
        return f"authenticationMethods.{self.method}"

    @property
    def desired(self) -> dict[str, Any]:
        if not self.enabled:
            return {"state": "disabled"}
        return {"state": "enabled", "includeTargets": [_target(t) for t in self.targets]}


def wanted_methods(params: AuthenticationMethodsParams) -> list[Wanted]:
    """The managed methods, those to turn on first: apply sends them in this order."""
    targets = tuple(dict.fromkeys(params.include_targets))
    return [Wanted(m, True, targets) for m in dict.fromkeys(params.enable)] + [
        Wanted(m, False) for m in dict.fromkeys(params.disable)
    ]


def observed_method(configuration: dict[str, Any]) -> dict[str, Any]:
    """What a finding shows of a configuration: its state and who it targets (absent targets
    are none; an absent targetType is Graph's default, group)."""
    targets = configuration.get("includeTargets") or []
    return {
        "state": configuration.get("state"),
        "includeTargets": [_target(t.get("id"), t.get("targetType")) for t in targets],
    }


def method_finding(wanted: Wanted, configuration: dict[str, Any] | None) -> Finding:
    """One method: compliant when its state (and, to be on, its targets as a set, ids without
    case) is the wanted one; otherwise the PATCH that makes it so."""
    if configuration is None:
        return Finding(wanted.setting, wanted.desired, None, False, how=HOW)
    observed = observed_method(configuration)
    if same(wanted.desired, observed, HOW):
        return Finding(wanted.setting, wanted.desired, observed, True, how=HOW)
    change = Change(
        target=wanted.setting,
        action="enable" if wanted.enabled else "disable",
        before=observed,
        after=wanted.desired,
        data={
            "path": f"{POLICY_PATH}/authenticationMethodConfigurations/{configuration['id']}",
            "body": patch_body(wanted, configuration, observed),
        },
    )
    return Finding(wanted.setting, wanted.desired, observed, False, (change,), how=HOW)


def patch_body(
    wanted: Wanted, configuration: dict[str, Any], observed: dict[str, Any]
) -> dict[str, Any]:
    """Only what differs, with the configuration's @odata.type (Graph requires it). Targets
    the tenant already has keep their own settings (isRegistrationRequired, the method's own):
    a PATCH replaces the whole list."""
    body: dict[str, Any] = {"@odata.type": configuration.get("@odata.type") or _type(wanted)}
    desired = wanted.desired
    if not same(desired["state"], observed["state"], HOW):
        body["state"] = desired["state"]
    if wanted.enabled and not same(desired["includeTargets"], observed["includeTargets"], HOW):
        current = configuration.get("includeTargets") or []
        have = {str(t.get("id", "")).casefold(): t for t in current}
        body["includeTargets"] = [have.get(t.casefold(), _target(t)) for t in wanted.targets]
    return body


def migration_finding(policy: dict[str, Any], complete: bool) -> Finding:
    """The policy's migration state: reported; changed only when `complete` is set."""
    observed = policy.get("policyMigrationState")
    if same(MIGRATION_COMPLETE, observed):
        return Finding(MIGRATION_SETTING, MIGRATION_COMPLETE, observed, True)
    changes: tuple[Change, ...] = ()
    if complete:
        body = {"policyMigrationState": MIGRATION_COMPLETE}
        data = {"path": POLICY_PATH, "body": body}
        changes = (Change(MIGRATION_SETTING, "set", observed, MIGRATION_COMPLETE, data),)
    return Finding(MIGRATION_SETTING, MIGRATION_COMPLETE, observed, False, changes)


def _target(target_id: Any, target_type: Any = None) -> dict[str, Any]:
    return {"targetType": target_type or "group", "id": target_id}


def _type(wanted: Wanted) -> str:
    return f"#microsoft.graph.{wanted.method}AuthenticationMethodConfiguration"


class AuthenticationMethods(Job[AuthenticationMethodsParams]):
    name = "authentication-methods"
    description = (
        "The authentication methods policy: weak methods (SMS, voice) off, phishing-resistant "
        "ones (Microsoft Authenticator, FIDO2 passkeys) on; the legacy policy migration reported."
    )
    permissions = ("Policy.ReadWrite.AuthenticationMethod",)
    params_type = AuthenticationMethodsParams
    kind = "standard"
    prerequisites = (CLOUDS,)

    def check(self, params: AuthenticationMethodsParams) -> list[str]:
        both = sorted(set(params.enable) & set(params.disable))
        problems = [f"enable and disable both name {', '.join(both)}"] if both else []
        if params.enable and not params.include_targets:
            problems.append("include_targets must name all_users or a group to enable methods for")
        return problems

    async def plan(
        self,
        session: GraphSession,
        params: AuthenticationMethodsParams,
        known: Known = NOTHING_KNOWN,
    ) -> Plan:
        policy = await session.get_path(POLICY_PATH)
        configurations = {
            str(c.get("id", "")).casefold(): c
            for c in policy.get("authenticationMethodConfigurations") or []
        }
        plan = Plan(self.name, session.tenant_id)
        for wanted in wanted_methods(params):
            found = configurations.get(GRAPH_IDS[wanted.method].casefold())
            if found is None:
                plan.notes.append(f"{wanted.method} is not in this tenant's policy")
            self.find(method_finding(wanted, found), plan)
        self.find(migration_finding(policy, params.complete_migration), plan)
        if not params.complete_migration and not plan.findings[-1].compliant:
            plan.notes.append("policy migration state reported only (complete_migration: false)")
        return plan

    async def apply(self, session: GraphSession, plan: Plan) -> list[ChangeOutcome]:
        """Each change in the plan's order; after a failed `enable`, nothing is turned off."""
        outcomes: list[ChangeOutcome] = []
        held: XtenantError | None = None
        for change in plan.changes:
            if held is not None and change.action != "enable":
                outcomes.append(ChangeOutcome(change, held))
                continue
            outcome = await _patch(session, change)
            held = held or (outcome.error if change.action == "enable" else None)
            outcomes.append(outcome)
        return outcomes


async def _patch(session: GraphSession, change: Change) -> ChangeOutcome:
    request = session.request("PATCH", change.data["path"], dict(change.data["body"]))
    try:
        await session.send(request, idempotent=True)
    except XtenantError as error:
        return ChangeOutcome(change, error)
    return ChangeOutcome(change)
