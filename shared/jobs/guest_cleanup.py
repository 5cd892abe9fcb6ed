"""guest-cleanup: disable guest accounts that have not signed in for N days.

A guest is stale when its latest sign-in (interactive, non-interactive or successful) is older
than N days, or when it never signed in and was created more than N days ago. signInActivity
needs Entra ID P1 in the tenant: a tenant without it is `not_applicable` (its licences say so
before any user is read; should Graph answer 403
Authentication_RequestFromNonPremiumTenantOrB2CTenant anyway, the row says `not_applicable` too).
https://learn.microsoft.com/graph/api/resources/signinactivity
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from shared.graph import MAX_PAGE, BatchItem, GraphSession
from shared.jobs.applicability import ENTRA_ID_P1, LICENCE_PERMISSION
from shared.jobs.base import NOTHING_KNOWN, Change, ChangeOutcome, Finding, Job, Known, Plan
from shared.jobs.params import Params, Rule, spec

_SELECT = ["id", "userPrincipalName", "mail", "accountEnabled", "createdDateTime", "signInActivity"]
_SIGN_IN_FIELDS = (
    "lastSignInDateTime",
    "lastNonInteractiveSignInDateTime",
    "lastSuccessfulSignInDateTime",
)


#: Limits that keep a run's message within the queue's 64 KiB.
MAX_EXCLUSIONS = 1000
MAX_NAME = 256


def _bare_domain(value: str) -> bool:
    return "@" not in value and bool(value.strip()) and len(value) <= MAX_NAME


BareDomain = Annotated[str, Rule(_bare_domain, "items must be bare domains like fabrikam.com")]
ExcludedUpn = Annotated[
    str, Rule(lambda upn: 0 < len(upn) <= MAX_NAME, f"items must be 1-{MAX_NAME} characters")
]


@dataclass(frozen=True)
class GuestCleanupParams(Params):
    """Which guests are stale, and which are never disabled."""

    days: int = field(
        default=90,
        metadata=spec(
            "Disable a guest whose latest sign-in, or creation if it never signed in, is older "
            "than this many days.",
            ge=1,
            le=3650,
            strict=True,
        ),
    )
    exclude_upns: tuple[ExcludedUpn, ...] = field(
        default=(),
        metadata=spec(
            "Guests never disabled, by userPrincipalName (any case).", max_length=MAX_EXCLUSIONS
        ),
    )
    exclude_domains: tuple[BareDomain, ...] = field(
        default=(),
        metadata=spec(
            "Guests never disabled, by home domain (from mail, else from the #EXT# UPN); "
            "subdomains included.",
            max_length=MAX_EXCLUSIONS,
        ),
    )


@dataclass(frozen=True)
class Guest:
    """The fields of a guest this job reads: our own record, not an msgraph model."""

    id: str
    upn: str
    mail: str | None
    enabled: bool
    created: datetime | None
    last_sign_in: datetime | None

    @classmethod
    def from_graph(cls, item: dict[str, Any]) -> Guest:
        activity = item.get("signInActivity") or {}
        # the three sign-in times are often the same string: parse each distinct one once
        distinct = {value for value in map(activity.get, _SIGN_IN_FIELDS) if value}
        known = [moment for moment in map(parse_time, distinct) if moment is not None]
        return cls(
            id=str(item["id"]),
            upn=str(item.get("userPrincipalName") or ""),
            mail=item.get("mail"),
            enabled=bool(item.get("accountEnabled", True)),
            created=parse_time(item.get("createdDateTime")),
            last_sign_in=max(known) if known else None,
        )

    @property
    def home_domain(self) -> str:
        """The guest's own domain: from mail, else from the `alice_fabrikam.com#EXT#@` UPN."""
        if self.mail and "@" in self.mail:
            return self.mail.rsplit("@", 1)[1].lower()
        local = self.upn.split("#EXT#", 1)[0]
        return local.rsplit("_", 1)[1].lower() if "_" in local else ""


def parse_time(value: Any) -> datetime | None:
    """Graph's ISO 8601 times ("2026-11-28T03:19:13Z"); no zone means UTC."""
    if not value:
        return None
    moment = datetime.fromisoformat(value if isinstance(value, str) else str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def is_stale(guest: Guest, *, days: int, now: datetime) -> bool:
    cutoff = now - timedelta(days=days)
    if guest.last_sign_in is not None:
        return guest.last_sign_in < cutoff
    return guest.created is not None and guest.created < cutoff


def is_excluded(guest: Guest, params: GuestCleanupParams) -> bool:
    if guest.upn.lower() in {u.lower() for u in params.exclude_upns}:
        return True
    domain = guest.home_domain
    return any(
        domain == d.lower() or domain.endswith("." + d.lower()) for d in params.exclude_domains
    )


class GuestCleanup(Job[GuestCleanupParams]):
    name = "guest-cleanup"
    description = "Disable guest accounts not signed in for N days (default 90)."
    permissions = ("User.ReadWrite.All", "AuditLog.Read.All", LICENCE_PERMISSION)
    params_type = GuestCleanupParams
    prerequisites = (ENTRA_ID_P1,)

    def __init__(self, clock: Any = None) -> None:
        self._now = clock or (lambda: datetime.now(UTC))

    async def plan(
        self, session: GraphSession, params: GuestCleanupParams, known: Known = NOTHING_KNOWN
    ) -> Plan:
        request = session.list_users(filter="userType eq 'Guest'", select=_SELECT, top=MAX_PAGE)
        guests = await session.collect(request, Guest.from_graph)
        now = self._now()
        plan = Plan(self.name, session.tenant_id)
        excluded = 0
        for guest in guests:
            if not guest.enabled or not is_stale(guest, days=params.days, now=now):
                continue
            if is_excluded(guest, params):
                excluded += 1
                continue
            self.find(_stale(guest), plan)
        plan.notes.append(f"{len(guests)} guests read, {excluded} stale guests excluded")
        return plan

    async def apply(self, session: GraphSession, plan: Plan) -> list[ChangeOutcome]:
        items = [
            BatchItem(
                id=str(n),
                method="PATCH",
                url=f"/users/{change.data['id']}",
                body={"accountEnabled": False},
            )
            for n, change in enumerate(plan.changes)
        ]
        results = await session.batch(items)
        return [ChangeOutcome(c, r.error) for c, r in zip(plan.changes, results, strict=True)]


def _stale(guest: Guest) -> Finding:
    """A stale guest still enabled: the finding, and the change that disables it."""
    seen = guest.last_sign_in.date().isoformat() if guest.last_sign_in else "never"
    observed = {"accountEnabled": True, "lastSignIn": seen}
    disable = Change(
        target=guest.upn,
        action="disable",
        before=observed,
        after={"accountEnabled": False},
        data={"id": guest.id},
    )
    return Finding(guest.upn, {"accountEnabled": False}, observed, False, (disable,))
