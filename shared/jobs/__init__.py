"""The jobs xtenant can run in a tenant, by name."""

from __future__ import annotations

from typing import Any

from shared.errors import XtenantError
from shared.jobs.authentication_methods import AuthenticationMethods
from shared.jobs.base import Change, ChangeOutcome, Finding, InvalidParams, Job, Known, Plan
from shared.jobs.conditional_access import ConditionalAccessBaseline
from shared.jobs.emergency_access import EmergencyAccessCheck
from shared.jobs.ensure_group import EnsureGroup
from shared.jobs.guest_cleanup import GuestCleanup
from shared.jobs.security_defaults import SecurityDefaults
from shared.jobs.sharepoint_sharing import SharePointSharing
from shared.jobs.tenant_baseline import TenantBaseline
from shared.results import Mode

__all__ = [
    "JOBS",
    "Change",
    "ChangeOutcome",
    "Finding",
    "InvalidParams",
    "Job",
    "Known",
    "Mode",
    "Plan",
    "UnknownJob",
    "get_job",
]


class UnknownJob(XtenantError, ValueError):
    error_class = "unknown_job"


JOBS: dict[str, Job[Any]] = {
    job.name: job
    for job in (
        GuestCleanup(),
        EnsureGroup(),
        TenantBaseline(),
        ConditionalAccessBaseline(),
        SecurityDefaults(),
        AuthenticationMethods(),
        SharePointSharing(),
        EmergencyAccessCheck(),
    )
}


def get_job(name: str) -> Job[Any]:
    job = JOBS.get(name)
    if job is None:
        known = ", ".join(sorted(JOBS))
        raise UnknownJob(f"unknown job {name!r}", remediation=f"Use one of: {known}.")
    return job
