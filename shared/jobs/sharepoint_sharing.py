"""sharepoint-sharing: how far SharePoint and OneDrive content may be shared outside the tenant.

The default sharing capability is `existingExternalUserSharingOnly`: files and sites are shared
with guests already in the directory, never with anyone through a link that needs no sign-in,
and new guests arrive only through Entra's invitation controls (which tenant-baseline gives to
admins and Guest Inviters). It is CISA's SCuBA baseline for SharePoint (MS.SHAREPOINT.1.1v1);
`externalUserSharingOnly` (new guests too, still signed in) is the CIS benchmark's minimum and
a param away. Guests may not reshare what they do not own, legacy authentication protocols are
off, and sharing is restricted to or from listed domains only when a param says so.

One finding per setting; apply sends one PATCH of the settings that differ. Graph documents
/admin/sharepoint/settings for the global service and US Government L4 only, and a tenant
without a SharePoint Online plan has no SharePoint settings: elsewhere the job is
`not_applicable`.
https://learn.microsoft.com/graph/api/resources/sharepointsettings
https://learn.microsoft.com/graph/api/sharepointsettings-update
(docs/decisions.md#sharepoint-sharing-baseline)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from shared.graph import GraphSession
from shared.jobs.applicability import LICENCE_PERMISSION, InClouds, ServicePlan
from shared.jobs.base import NOTHING_KNOWN, Change, ChangeOutcome, Finding, Job, Known, Plan
from shared.jobs.compare import Comparison, same
from shared.jobs.params import Params, Rule, spec

SharingCapability = Literal[
    "disabled",
    "existingExternalUserSharingOnly",
    "externalUserSharingOnly",
    "externalUserAndGuestSharing",
]
DomainRestriction = Literal["none", "allowList", "blockList"]
SETTINGS_PATH = "/admin/sharepoint/settings"
#: Any SharePoint Online plan (commercial, education, government, kiosk) gives the tenant a
#: SharePoint tenant (Microsoft's "Product names and service plan identifiers for licensing").
SHAREPOINT_ONLINE = ServicePlan(
    "SharePoint Online",
    (
        "SHAREPOINTSTANDARD",
        "SHAREPOINTENTERPRISE",
        "SHAREPOINTSTANDARD_EDU",
        "SHAREPOINTENTERPRISE_EDU",
        "SHAREPOINTSTANDARD_GOV",
        "SHAREPOINTENTERPRISE_GOV",
        "SHAREPOINTDESKLESS",
        "SHAREPOINTDESKLESS_GOV",
    ),
)
#: Graph's national cloud table for the API: global service and US Government L4
CLOUDS = InClouds("The SharePoint settings API", ("public", "usgov"))
MAX_DOMAINS = 500


def _bare_domain(value: str) -> bool:
    return "@" not in value and "." in value and " " not in value and 0 < len(value) <= 253


Domain = Annotated[str, Rule(_bare_domain, "items must be bare domains like fabrikam.com")]


@dataclass(frozen=True)
class SharePointSharingParams(Params):
    """The tenant-wide sharing settings to enforce."""

    sharing_capability: SharingCapability = field(
        default="existingExternalUserSharingOnly",
        metadata=spec(
            "Who content may be shared with (sharingCapability): disabled (people in the "
            "organization only); existingExternalUserSharingOnly (guests already in the "
            "directory); externalUserSharingOnly (new and existing guests, signed in); "
            "externalUserAndGuestSharing (anyone, with links needing no sign-in)."
        ),
    )
    resharing_by_external_users: bool = field(
        default=False,
        metadata=spec(
            "Whether guests may reshare items they do not own (isResharingByExternalUsersEnabled).",
            strict=True,
        ),
    )
    legacy_auth_protocols: bool = field(
        default=False,
        metadata=spec(
            "Whether apps that do not use modern authentication may reach SharePoint "
            "(isLegacyAuthProtocolsEnabled).",
            strict=True,
        ),
    )
    domain_restriction: DomainRestriction = field(
        default="none",
        metadata=spec(
            "Sharing by guest domain (sharingDomainRestrictionMode): none; allowList (only the "
            "allowed_domains); blockList (all but the blocked_domains)."
        ),
    )
    allowed_domains: tuple[Domain, ...] = field(
        default=(),
        metadata=spec("The domains guests may come from, with allowList.", max_length=MAX_DOMAINS),
    )
    blocked_domains: tuple[Domain, ...] = field(
        default=(),
        metadata=spec(
            "The domains guests may not come from, with blockList.", max_length=MAX_DOMAINS
        ),
    )


@dataclass(frozen=True)
class Setting:
    """One managed setting: its id, the desired value and how it compares."""

    name: str
    desired: Any
    how: Comparison

    @property
    def setting(self) -> str:
        return f"sharepoint.{self.name}"


#: An absent value is what a new tenant has: sharing with anyone, resharing and legacy
#: authentication allowed (SharePoint admin center defaults).
_DEFAULTS = {
    "sharingCapability": "externalUserAndGuestSharing",
    "isResharingByExternalUsersEnabled": True,
    "isLegacyAuthProtocolsEnabled": True,
}
DOMAINS = "sharingDomainRestriction"
_MODE = "sharingDomainRestrictionMode"
_LISTS = {"allowList": "sharingAllowedDomainList", "blockList": "sharingBlockedDomainList"}


def desired_settings(params: SharePointSharingParams) -> list[Setting]:
    values = {
        "sharingCapability": params.sharing_capability,
        "isResharingByExternalUsersEnabled": params.resharing_by_external_users,
        "isLegacyAuthProtocolsEnabled": params.legacy_auth_protocols,
    }
    found = [Setting(n, v, Comparison(default=_DEFAULTS[n])) for n, v in values.items()]
    return [*found, Setting(DOMAINS, desired_domains(params), Comparison())]


def desired_domains(params: SharePointSharingParams) -> dict[str, Any]:
    """The restriction mode, and the list that mode uses (the other list is not compared)."""
    mode = params.domain_restriction
    lists = {"allowList": params.allowed_domains, "blockList": params.blocked_domains}
    return {_MODE: mode} | ({_LISTS[mode]: list(lists[mode])} if mode in _LISTS else {})


def observed_value(setting: Setting, settings: dict[str, Any]) -> Any:
    """The tenant's value of `setting` (for the domain restriction: mode and both lists, an
    absent mode `none` and an absent list empty)."""
    if setting.name != DOMAINS:
        return settings.get(setting.name)
    lists = {name: settings.get(name) or [] for name in _LISTS.values()}
    return {_MODE: settings.get(_MODE) or "none", **lists}


def finding(setting: Setting, settings: dict[str, Any]) -> Finding:
    """Compliant when the tenant's value means the desired one (enums without case, domain
    lists as sets); otherwise the properties to PATCH."""
    observed = observed_value(setting, settings)
    if same(setting.desired, observed, setting.how):
        return Finding(setting.setting, setting.desired, observed, True)
    body = setting.desired if setting.name == DOMAINS else {setting.name: setting.desired}
    change = Change(setting.setting, "set", observed, setting.desired, {"body": body})
    return Finding(setting.setting, setting.desired, observed, False, (change,))


class SharePointSharing(Job[SharePointSharingParams]):
    name = "sharepoint-sharing"
    description = (
        "SharePoint and OneDrive sharing: existing guests only, no resharing by guests, no "
        "legacy authentication; domain allow or block lists when asked."
    )
    permissions = ("SharePointTenantSettings.ReadWrite.All", LICENCE_PERMISSION)
    params_type = SharePointSharingParams
    kind = "standard"
    prerequisites = (CLOUDS, SHAREPOINT_ONLINE)

    def check(self, params: SharePointSharingParams) -> list[str]:
        mode = params.domain_restriction
        problems: list[str] = []
        if params.allowed_domains and mode != "allowList":
            problems.append("allowed_domains needs domain_restriction allowList")
        if params.blocked_domains and mode != "blockList":
            problems.append("blocked_domains needs domain_restriction blockList")
        if mode == "allowList" and not params.allowed_domains:
            problems.append("allowList needs allowed_domains (an empty list lets no guest in)")
        if mode == "blockList" and not params.blocked_domains:
            problems.append("blockList needs blocked_domains")
        return problems

    async def plan(
        self, session: GraphSession, params: SharePointSharingParams, known: Known = NOTHING_KNOWN
    ) -> Plan:
        settings = await session.get_path(SETTINGS_PATH)
        plan = Plan(self.name, session.tenant_id)
        for setting in desired_settings(params):
            self.find(finding(setting, settings), plan)
        return plan

    async def apply(self, session: GraphSession, plan: Plan) -> list[ChangeOutcome]:
        """One PATCH of every differing setting: Graph applies all of it or none."""
        body: dict[str, Any] = {}
        for change in plan.changes:
            body.update(change.data["body"])
        await session.send(session.request("PATCH", SETTINGS_PATH, body), idempotent=True)
        return [ChangeOutcome(change) for change in plan.changes]
