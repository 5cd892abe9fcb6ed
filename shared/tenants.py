"""The tenant registry (Azure Table storage): tenants, their enrolments, and their health.

Health is a circuit breaker per tenant:
- a permanent auth failure (not onboarded, consent or permission missing -> `needs_consent`;
  federation, policy, disabled app, tenant gone -> `misconfigured`) stops scheduled work for the
  tenant, with the remediation, until a run or check succeeds (manual runs still try);
- repeated transient failures quarantine the tenant for a cool-down; after it, one trial run
  (half-open) decides: success closes the breaker, failure re-opens it;
- any success makes the tenant `healthy` again.

Partitions of the table: `tenant` (the registry), `onboarding` (consent states,
shared/consent_states.py), `group` (tenant groups, shared/groups.py) and `tombstone`: a deleted
tenant leaves one there, so a consent link issued before the deletion cannot register it again;
an admin's PUT removes it.
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.errors import PermissionMissing, XtenantError
from shared.ids import validate_tenant_id
from shared.notify import events
from shared.notify.health import health_changes
from shared.notify.outbox import Emit, nowhere
from shared.results import Mode

if TYPE_CHECKING:
    from azure.data.tables import TableEntity
    from azure.data.tables.aio import TableClient


TABLE = "xtenanttenants"
_PARTITION = "tenant"
_TOMBSTONES = "tombstone"


class HealthStatus(enum.StrEnum):
    HEALTHY = "healthy"
    NEEDS_CONSENT = "needs_consent"
    MISCONFIGURED = "misconfigured"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class Breaker:
    quarantine_after: int = 3
    cooldown: timedelta = timedelta(minutes=30)


@dataclass
class Health:
    status: HealthStatus = HealthStatus.HEALTHY
    consecutive_failures: int = 0
    last_error: dict[str, Any] | None = None
    quarantined_until: datetime | None = None

    def admits(self, *, scheduled: bool, now: datetime) -> bool:
        """Whether a run may go ahead. A quarantine past its cool-down admits one trial."""
        if self.status is HealthStatus.QUARANTINED:
            return self.quarantined_until is None or now >= self.quarantined_until
        if self.status in (HealthStatus.NEEDS_CONSENT, HealthStatus.MISCONFIGURED):
            return not scheduled
        return True

    def after_success(self) -> Health:
        return Health()

    def after_failure(self, error: XtenantError, *, now: datetime, breaker: Breaker) -> Health:
        record = error.as_record()
        if error.health is not None:
            return Health(HealthStatus(error.health.value), self.consecutive_failures + 1, record)
        if not error.retryable:
            return self  # a job-level refusal (bad request, not found) says nothing of the tenant
        failures = self.consecutive_failures + 1
        half_open_failed = self.status is HealthStatus.QUARANTINED
        if failures >= breaker.quarantine_after or half_open_failed:
            return Health(HealthStatus.QUARANTINED, failures, record, now + breaker.cooldown)
        return Health(self.status, failures, record, None)


@dataclass
class Enrolment:
    mode: Mode
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TenantPlans:
    """The service plans the last licence read found in the tenant, and since when."""

    service_plans: tuple[str, ...]
    #: the read that first found this set (a read finding the same set writes nothing)
    since: datetime

    def as_record(self) -> dict[str, Any]:
        return {"service_plans": list(self.service_plans), "since": self.since.isoformat()}


@dataclass
class Tenant:
    tenant_id: str
    name: str = ""
    enabled: bool = True
    enrolments: dict[str, Enrolment] = field(default_factory=dict)
    health: Health = field(default_factory=Health)
    #: per job: a job that lacks a permission is held back alone (`needs_consent`), the
    #: tenant's other jobs go on
    job_health: dict[str, Health] = field(default_factory=dict)
    #: operator-set labels ("tier:gold"), which dynamic groups select on
    tags: list[str] = field(default_factory=list)
    #: set by runs that read the tenant's licences, never by a request
    plans: TenantPlans | None = None

    def as_record(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "name": self.name,
            "enabled": self.enabled,
            "tags": list(self.tags),
            "enrolments": {
                job: {"mode": e.mode.value, "params": e.params}
                for job, e in self.enrolments.items()
            },
            "health": _health_record(self.health),
            "job_health": {job: _health_record(h) for job, h in sorted(self.job_health.items())},
            "plans": self.plans.as_record() if self.plans else None,
        }


def _health_record(h: Health) -> dict[str, Any]:
    return {
        "status": h.status.value,
        "consecutive_failures": h.consecutive_failures,
        "last_error": h.last_error,
        "quarantined_until": h.quarantined_until.isoformat() if h.quarantined_until else None,
    }


def _health_from(raw: dict[str, Any]) -> Health:
    until = raw.get("quarantined_until")
    return Health(
        HealthStatus(raw.get("status", "healthy")),
        int(raw.get("consecutive_failures", 0)),
        raw.get("last_error"),
        datetime.fromisoformat(until) if until else None,
    )


def _plans_from(raw: dict[str, Any] | None) -> TenantPlans | None:
    if not raw:
        return None
    return TenantPlans(tuple(raw["service_plans"]), datetime.fromisoformat(raw["since"]))


def to_entity(tenant: Tenant) -> dict[str, Any]:
    record = tenant.as_record()
    return {
        "PartitionKey": _PARTITION,
        "RowKey": tenant.tenant_id,
        "name": tenant.name,
        "enabled": tenant.enabled,
        "enrolments": json.dumps(record["enrolments"]),
        "health": json.dumps(record["health"]),
        "job_health": json.dumps(record["job_health"]),
        "tags": json.dumps(record["tags"]),
        "plans": json.dumps(record["plans"]),
    }


def from_entity(entity: dict[str, Any]) -> Tenant:
    enrolments = {
        job: Enrolment(Mode(e["mode"]), e.get("params") or {})
        for job, e in json.loads(entity.get("enrolments") or "{}").items()
    }
    job_health = json.loads(entity.get("job_health") or "{}")
    return Tenant(
        entity["RowKey"],
        entity.get("name", ""),
        bool(entity.get("enabled", True)),
        enrolments,
        _health_from(json.loads(entity.get("health") or "{}")),
        {job: _health_from(raw) for job, raw in job_health.items()},
        json.loads(entity.get("tags") or "[]"),
        _plans_from(json.loads(entity.get("plans") or "null")),
    )


class TenantRegistry:
    """Tenants in one Azure Table; health updates use ETags so concurrent jobs do not clobber."""

    def __init__(
        self, table: TableClient, *, breaker: Breaker | None = None, notify: Emit = nowhere
    ) -> None:
        self.table = table
        self.breaker = breaker or Breaker()
        self._notify = notify

    async def ensure_table(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            await self.table.create_table()

    async def list(self) -> list[Tenant]:
        query = self.table.query_entities(f"PartitionKey eq '{_PARTITION}'")
        return [from_entity(e) async for e in query]

    async def get(self, tenant_id: str) -> Tenant | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = await self.table.get_entity(_PARTITION, validate_tenant_id(tenant_id))
        except ResourceNotFoundError:
            return None
        return from_entity(dict(entity))

    async def put(self, tenant: Tenant) -> Tenant:
        """Create or replace name, enabled, tags and enrolments; health and plans are kept."""
        return await self.update(tenant.tenant_id, lambda _: tenant, create=True) or tenant

    async def update(
        self, tenant_id: str, change: Callable[[Tenant | None], Tenant], *, create: bool = False
    ) -> Tenant | None:
        """Apply `change` to the stored tenant with optimistic concurrency; health and plans
        (written by runs only) are kept.

        None when the tenant is not registered and `create` is false.
        """
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        for _ in range(5):  # re-read and re-apply on a lost race
            entity = await self._entity(tenant_id)
            if entity is None and not create:
                return None
            current = from_entity(dict(entity)) if entity is not None else None
            updated = change(current)
            if current is not None:
                updated.health, updated.job_health = current.health, current.job_health
                updated.plans = current.plans
            try:
                if entity is None:
                    await self.table.create_entity(to_entity(updated))
                else:
                    await self.table.update_entity(
                        to_entity(updated),
                        etag=entity.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                return updated
            except (ResourceModifiedError, ResourceExistsError):
                continue
        raise ConcurrentChange(f"tenant {tenant_id} kept changing; send the request again")

    async def _entity(self, tenant_id: str) -> TableEntity | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return await self.table.get_entity(_PARTITION, validate_tenant_id(tenant_id))
        except ResourceNotFoundError:
            return None

    async def delete(self, tenant_id: str, *, now: datetime, by: str = "") -> bool:
        """Remove the tenant and leave a tombstone (first, so no callback slips in between).

        The tombstone is written even for a tenant not registered: deleting a tenant whose
        onboarding is under way stops its consent link from registering it.
        """
        tid = validate_tenant_id(tenant_id)
        existed = await self.get(tid) is not None
        await self.table.upsert_entity(
            {
                "PartitionKey": _TOMBSTONES,
                "RowKey": tid,
                "deleted_at": now.isoformat(),
                "deleted_by": by[:256],
            }
        )
        await self.table.delete_entity(_PARTITION, tid)
        return existed

    async def tombstone(self, tenant_id: str) -> datetime | None:
        """When the tenant was deleted, if it was and no admin has put it back since."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = await self.table.get_entity(_TOMBSTONES, validate_tenant_id(tenant_id))
        except ResourceNotFoundError:
            return None
        return datetime.fromisoformat(str(entity["deleted_at"]))

    async def clear_tombstone(self, tenant_id: str) -> None:
        """An admin brings a deleted tenant back (PUT): links and callbacks may register it."""
        await self.table.delete_entity(_TOMBSTONES, validate_tenant_id(tenant_id))

    async def read(self, tenant_id: str) -> Stored | None:
        """The registered tenant with the version it was read at; None if not registered."""
        entity = await self._entity(tenant_id)
        if entity is None:
            return None
        return Stored(from_entity(dict(entity)), str(entity.metadata["etag"]))

    async def refusal(
        self, stored: Stored, job: str, *, scheduled: bool, now: datetime
    ) -> Health | None:
        """The health that refuses a job now, or None when the job may run.

        The tenant's health first, then the job's own (a permission only that job lacks holds
        back only that job, and only on the schedule). A quarantine past its cool-down admits
        exactly one trial (half-open): the trial pushes `quarantined_until` forward with a
        conditional write, so concurrent messages for the same tenant lose the race and stay
        refused until the trial's outcome is recorded.
        """
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError

        tenant = from_entity(to_entity(stored.tenant))  # a copy: `stored` stays as read
        health = tenant.health
        if not health.admits(scheduled=scheduled, now=now):
            return health
        job_health = tenant.job_health.get(job)
        if job_health is not None and not job_health.admits(scheduled=scheduled, now=now):
            return job_health
        if health.status is not HealthStatus.QUARANTINED:
            return None
        health.quarantined_until = now + self.breaker.cooldown  # the trial holds the others
        try:
            await self.table.update_entity(
                to_entity(tenant), etag=stored.etag, match_condition=MatchConditions.IfNotModified
            )
        except ResourceModifiedError:
            return health  # another message took the trial
        return None

    async def record(
        self,
        tenant_id: str,
        job: str | None,
        error: XtenantError | None,
        *,
        now: datetime,
        stored: Stored | None = None,
    ) -> None:
        """Update health after a job (or, with `job` None, a connection check).

        Success closes the tenant's breaker and clears the job's own health; a missing
        permission marks only that job; other failures count against the tenant. Nothing is
        written when nothing changes (a success on a healthy tenant), and `stored`, the tenant
        as read before the job, saves reading it again.
        """

        def changed(tenant: Tenant) -> Tenant:
            self._apply(tenant, job, error, now)
            return tenant

        await self._update_health(tenant_id, changed, stored=stored)

    def _apply(
        self, tenant: Tenant, job: str | None, error: XtenantError | None, now: datetime
    ) -> None:
        if isinstance(error, PermissionMissing):
            if job is not None:
                failures = tenant.job_health.get(job, Health()).consecutive_failures + 1
                tenant.job_health[job] = Health(
                    HealthStatus.NEEDS_CONSENT, failures, error.as_record()
                )
            return
        if error is None:
            tenant.health = tenant.health.after_success()
            if job is not None:
                tenant.job_health.pop(job, None)
            return
        tenant.health = tenant.health.after_failure(error, now=now, breaker=self.breaker)

    async def record_plans(
        self, tenant_id: str, plans: Iterable[str], now: datetime, *, stored: Stored | None = None
    ) -> None:
        """Keep the service plans a run read in the tenant, only when they changed (no write
        when they did not: `stored`, as read before the job, usually says so)."""
        found = tuple(sorted(set(plans)))

        def changed(tenant: Tenant) -> Tenant:
            if tenant.plans is None or tenant.plans.service_plans != found:
                tenant.plans = TenantPlans(found, now)
            return tenant

        await self._update_health(tenant_id, changed, stored=stored)

    async def clear_job_health(self, tenant_id: str, jobs: Sequence[str]) -> None:
        """Jobs whose permissions a connection check found granted run again on the schedule."""

        def cleared(tenant: Tenant) -> Tenant:
            for job in jobs:
                tenant.job_health.pop(job, None)
            return tenant

        await self._update_health(tenant_id, cleared)

    async def _update_health(
        self, tenant_id: str, change: Callable[[Tenant], Tenant], *, stored: Stored | None = None
    ) -> None:
        """Apply `change` with a conditional write, re-reading after a lost race; no write when
        nothing changes; nothing for an unregistered tenant. A write that changes a health's
        status is an event (the write's own: a lost race emits nothing)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError

        current = stored
        for _ in range(5):
            if current is None:
                current = await self.read(tenant_id)
                if current is None:
                    return
            before = to_entity(current.tenant)
            after = to_entity(change(from_entity(before)))
            if after == before:
                return
            try:
                await self.table.update_entity(
                    after, etag=current.etag, match_condition=MatchConditions.IfNotModified
                )
            except ResourceModifiedError:
                current = None
                continue
            changes = health_changes(current.tenant, from_entity(after))
            now = datetime.now(UTC)
            await self._notify(
                *(events.tenant_health(c, version=current.etag, now=now) for c in changes)
            )
            return


@dataclass(frozen=True)
class Stored:
    """A tenant as read, with the ETag a conditional write of it must match."""

    tenant: Tenant
    etag: str


class ConcurrentChange(XtenantError):
    """A tenant changed under five tries in a row: the caller should send the request again."""

    error_class = "concurrent_change"
