"""Which healths a tenant write changed: the tenant's own, and each job's (shared/tenants.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.notify.events import HealthChange

if TYPE_CHECKING:
    from shared.tenants import Health, Tenant

_HEALTHY = "healthy"


def health_changes(before: Tenant, after: Tenant) -> list[HealthChange]:
    """Each health whose status the write changed; a job's health the write removed (cleared
    by a success or a check) is healthy again."""
    jobs = sorted(set(before.job_health) | set(after.job_health))
    scopes: list[tuple[str | None, Health | None, Health | None]] = [
        (None, before.health, after.health)
    ]
    scopes += [(job, before.job_health.get(job), after.job_health.get(job)) for job in jobs]
    changes = []
    for job, old, new in scopes:
        was, now = _status(old), _status(new)
        if was != now:
            until = new.quarantined_until if new is not None else None
            error = new.last_error if new is not None else None
            when = until.isoformat() if until else None
            changes.append(HealthChange(after.tenant_id, job, was, now, error, when, after.name))
    return changes


def _status(health: Health | None) -> str:
    return _HEALTHY if health is None else health.status.value
