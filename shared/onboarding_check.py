"""The connection check: can the app get a token for a tenant, and read Microsoft Graph there?

One token request (through the credential the jobs use) and one cheap Graph read, chosen from
the application permissions the token carries so that the check works whichever jobs the app
registration was deployed for (infra/main.bicep `jobs`):

    User.Read.All, User.ReadWrite.All, Directory.*  ->  GET /users?$top=1&$select=id
    Policy.Read.All, Policy.ReadWrite.Authorization ->  GET /policies/authorizationPolicy
    Group.*, GroupMember.*, Directory.*             ->  GET /groups?$top=1&$select=id
    Policy.*AuthenticationMethod                    ->  GET /policies/authenticationMethodsPolicy
    LicenseAssignment.Read.All, Organization.*      ->  GET /subscribedSkus

The token's `roles` claim is read without verification (Entra signed the token for Graph, not
for this app) and only to choose the read and to report, per job, permissions the tenant has
not granted. The token itself is never logged or shown. If the claim cannot be read, the check
tries the users read.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.errors import (
    PermissionMissing,
    XtenantError,
    classify_token_error,
    consent_remediation,
)
from shared.graph import GraphRequest, GraphSession, RetryBudget
from shared.jobs import JOBS
from shared.permissions import covered, missing
from shared.services import Services

#: Seconds the check may spend on retries: it answers an HTTP request a person waits for.
CHECK_BUDGET_S = 20.0


@dataclass(frozen=True)
class Probe:
    """One cheap Graph read and the permissions any one of which allows it."""

    describe: str
    permissions: frozenset[str]
    build: Callable[[GraphSession], GraphRequest]


PROBES = (
    Probe(
        "GET /users?$top=1&$select=id",
        frozenset(
            {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
        ),
        lambda s: s.list_users(select=["id"], top=1),
    ),
    Probe(
        "GET /policies/authorizationPolicy",
        frozenset({"Policy.Read.All", "Policy.ReadWrite.Authorization"}),
        lambda s: s.request("GET", "/policies/authorizationPolicy"),
    ),
    Probe(
        "GET /groups?$top=1&$select=id",
        frozenset(
            {
                "Group.Read.All",
                "Group.ReadWrite.All",
                "GroupMember.Read.All",
                "GroupMember.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            }
        ),
        lambda s: s.list_groups(select=["id"], top=1),
    ),
    Probe(
        "GET /policies/authenticationMethodsPolicy",
        frozenset({"Policy.Read.AuthenticationMethod", "Policy.ReadWrite.AuthenticationMethod"}),
        lambda s: s.request("GET", "/policies/authenticationMethodsPolicy"),
    ),
    # sharepoint-sharing's own read would fail in a tenant without SharePoint: its licence
    # permission gives the check a read every tenant answers
    Probe(
        "GET /subscribedSkus",
        frozenset(
            {"LicenseAssignment.Read.All", "Organization.Read.All", "Organization.ReadWrite.All"}
        ),
        lambda s: s.request("GET", "/subscribedSkus"),
    ),
)


@dataclass(frozen=True)
class CheckResult:
    """What the check found; `ok` when a token was issued and Graph answered the read."""

    tenant_id: str
    ok: bool
    token_obtained: bool = False
    graph_read: str | None = None
    #: the token was issued and Graph answered the read: the tenant itself is reachable
    reachable: bool = False
    granted: tuple[str, ...] | None = None
    missing: dict[str, list[str]] = field(default_factory=dict)
    error: XtenantError | None = None
    duration_s: float = 0.0

    def as_record(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "ok": self.ok,
            "token_obtained": self.token_obtained,
            "graph_read": self.graph_read,
            "granted_permissions": list(self.granted) if self.granted is not None else None,
            "missing_permissions": self.missing,
            "error": self.error.as_record() if self.error else None,
            "duration_ms": round(self.duration_s * 1000),
        }


def token_roles(token: str) -> tuple[str, ...] | None:
    """The `roles` claim of a JWT access token, unverified; None if it cannot be read."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    roles = claims.get("roles", []) if isinstance(claims, dict) else None
    return tuple(str(r) for r in roles) if isinstance(roles, list) else None


def choose_probe(roles: tuple[str, ...] | None) -> Probe | None:
    """The first read the roles allow (the users read when they are unknown), else None."""
    if roles is None:
        return PROBES[0]
    have = covered(roles)
    return next((p for p in PROBES if not p.permissions.isdisjoint(have)), None)


def missing_per_job(roles: tuple[str, ...] | None) -> dict[str, list[str]]:
    """Each built-in job's permissions the tenant has not granted, counting a broader granted
    permission as granting what it includes (empty when the roles are unknown)."""
    if roles is None:
        return {}
    gaps = {name: missing(job.permissions, roles) for name, job in JOBS.items()}
    return {name: gap for name, gap in sorted(gaps.items()) if gap}


def enrolled_gaps(
    gaps: dict[str, list[str]], enrolled: Sequence[str], tenant_id: str
) -> PermissionMissing | None:
    """A check is not ok while a job the tenant is enrolled in lacks a permission."""
    lacking = {job: gaps[job] for job in enrolled if job in gaps}
    if not lacking:
        return None
    named = "; ".join(f"{job} needs {', '.join(p)}" for job, p in sorted(lacking.items()))
    return PermissionMissing(
        f"the tenant has not granted permissions its enrolled jobs need: {named}",
        tenant_id=tenant_id,
        remediation=consent_remediation(tenant_id),
    )


async def check_connection(
    services: Services, tenant_id: str, *, enrolled: Sequence[str] = ()
) -> CheckResult:
    """Token exchange (a new token: consent may just have changed), then one Graph read;
    never raises for a tenant's failure. Not ok while an `enrolled` job lacks a permission."""
    started = time.monotonic()
    await services.credentials.forget_token(tenant_id)
    try:
        access = await services.credentials.token(tenant_id)
    except Exception as exc:  # typed by identity.py; anything else is classified here
        failure = classify_token_error(exc, tenant_id=tenant_id)
        return CheckResult(tenant_id, False, error=failure, duration_s=time.monotonic() - started)
    roles = token_roles(access.token)
    probe = choose_probe(roles)
    common: dict[str, Any] = {"token_obtained": True, "granted": roles}
    common["missing"] = missing_per_job(roles)
    if probe is None:
        failure = PermissionMissing(
            "the tenant has granted the app no Microsoft Graph application permission",
            tenant_id=tenant_id,
            remediation=consent_remediation(tenant_id),
        )
        return CheckResult(
            tenant_id, False, **common, error=failure, duration_s=time.monotonic() - started
        )
    session = services.pool.session(
        tenant_id, permissions=sorted(probe.permissions), budget=RetryBudget(CHECK_BUDGET_S)
    )
    try:
        await session.get(probe.build(session))
    except XtenantError as exc:
        return CheckResult(
            tenant_id,
            False,
            **common,
            graph_read=probe.describe,
            error=exc,
            duration_s=time.monotonic() - started,
        )
    gap = enrolled_gaps(common["missing"], enrolled, tenant_id)
    return CheckResult(
        tenant_id,
        gap is None,
        **common,
        graph_read=probe.describe,
        reachable=True,
        error=gap,
        duration_s=time.monotonic() - started,
    )
