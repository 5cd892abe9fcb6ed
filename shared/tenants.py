"""The tenant registry (Azure Table storage): tenants, their enrolments, and their health.

Health is a circuit breaker per tenant:
- a permanent auth failure (not onboarded, consent or permission missing -> `needs_consent`;
  federation, policy, disabled app, tenant gone -> `misconfigured`) stops scheduled work for the
  tenant, with the remediation, until a run or check succeeds (manual runs still try);
- repeated transient failures quarantine the tenant for a cool-down; after it, one trial run
  (half-open) decides: success closes the breaker, failure re-opens it;
- any success makes the tenant `healthy` again.
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.errors import XtenantError
from shared.ids import validate_tenant_id
from shared.results import Mode

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

#: Checks one enrolment's params for its job; raises XtenantError or ValueError naming problems.
#: Passed in by the API so that the registry does not import every job to validate a body.
ParamsCheck = Callable[[str, Mapping[str, Any]], None]

TABLE = "xtenanttenants"
_PARTITION = "tenant"


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


@dataclass
class Tenant:
    tenant_id: str
    name: str = ""
    enabled: bool = True
    enrolments: dict[str, Enrolment] = field(default_factory=dict)
    health: Health = field(default_factory=Health)

    def as_record(self) -> dict[str, Any]:
        h = self.health
        return {
            "tenant_id": self.tenant_id,
            "name": self.name,
            "enabled": self.enabled,
            "enrolments": {
                job: {"mode": e.mode.value, "params": e.params}
                for job, e in self.enrolments.items()
            },
            "health": {
                "status": h.status.value,
                "consecutive_failures": h.consecutive_failures,
                "last_error": h.last_error,
                "quarantined_until": h.quarantined_until.isoformat()
                if h.quarantined_until
                else None,
            },
        }


class InvalidTenant(XtenantError, ValueError):
    error_class = "invalid_tenant"


def tenant_from_request(tenant_id: str, body: Any, *, check_params: ParamsCheck) -> Tenant:
    """Validate a PUT body {name, enabled, enrolments: {job: {mode, params}}}; all problems."""
    tid = validate_tenant_id(tenant_id)
    if not isinstance(body, dict):
        raise InvalidTenant("body must be a JSON object")
    problems: list[str] = [
        f"unknown field {k!r}" for k in body if k not in ("name", "enabled", "enrolments")
    ]
    name, enabled = body.get("name", ""), body.get("enabled", True)
    if not isinstance(name, str) or len(name) > 256:
        problems.append("name must be a string of at most 256 characters")
    if not isinstance(enabled, bool):
        problems.append("enabled must be true or false")
    enrolments = _enrolments(body.get("enrolments", {}), problems, check_params)
    if problems:
        raise InvalidTenant(
            "invalid tenant: " + "; ".join(problems),
            remediation="Fix the listed fields and send the tenant again.",
        )
    return Tenant(tid, name, enabled, enrolments)


def _enrolments(raw: Any, problems: list[str], check_params: ParamsCheck) -> dict[str, Enrolment]:
    if not isinstance(raw, dict):
        problems.append("enrolments must be an object of job -> {mode, params}")
        return {}
    enrolments = {}
    for job_name, spec in raw.items():
        try:
            if not isinstance(spec, dict):
                raise ValueError("must be an object {mode, params}")
            mode = Mode.parse(spec.get("mode"))
            params = spec.get("params") or {}
            check_params(job_name, params)
            enrolments[job_name] = Enrolment(mode, dict(params))
        except (XtenantError, ValueError) as exc:
            problems.append(f"enrolments.{job_name}: {getattr(exc, 'message', exc)}")
    return enrolments


def to_entity(tenant: Tenant) -> dict[str, Any]:
    record = tenant.as_record()
    return {
        "PartitionKey": _PARTITION,
        "RowKey": tenant.tenant_id,
        "name": tenant.name,
        "enabled": tenant.enabled,
        "enrolments": json.dumps(record["enrolments"]),
        "health": json.dumps(record["health"]),
    }


def from_entity(entity: dict[str, Any]) -> Tenant:
    enrolments = {
        job: Enrolment(Mode(e["mode"]), e.get("params") or {})
        for job, e in json.loads(entity.get("enrolments") or "{}").items()
    }
    raw = json.loads(entity.get("health") or "{}")
    until = raw.get("quarantined_until")
    health = Health(
        HealthStatus(raw.get("status", "healthy")),
        int(raw.get("consecutive_failures", 0)),
        raw.get("last_error"),
        datetime.fromisoformat(until) if until else None,
    )
    return Tenant(
        entity["RowKey"],
        entity.get("name", ""),
        bool(entity.get("enabled", True)),
        enrolments,
        health,
    )


class TenantRegistry:
    """Tenants in one Azure Table; health updates use ETags so concurrent jobs do not clobber."""

    def __init__(self, table: TableClient, *, breaker: Breaker | None = None) -> None:
        self.table = table
        self.breaker = breaker or Breaker()

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
        """Create or replace name, enabled and enrolments; health is kept as it is."""
        existing = await self.get(tenant.tenant_id)
        if existing is not None:
            tenant.health = existing.health
        await self.table.upsert_entity(to_entity(tenant))
        return tenant

    async def delete(self, tenant_id: str) -> bool:
        existed = await self.get(tenant_id) is not None
        await self.table.delete_entity(_PARTITION, validate_tenant_id(tenant_id))
        return existed

    async def refusal(self, tenant_id: str, *, scheduled: bool, now: datetime) -> Health | None:
        """The health that refuses a job now, or None when the job may run.

        A quarantine past its cool-down admits exactly one trial (half-open): the trial pushes
        `quarantined_until` forward with a conditional write, so concurrent messages for the same
        tenant lose the race and stay refused until the trial's outcome is recorded.
        """
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        try:
            entity = await self.table.get_entity(_PARTITION, validate_tenant_id(tenant_id))
        except ResourceNotFoundError:
            return None  # run by id without registration: no breaker to consult
        tenant = from_entity(dict(entity))
        health = tenant.health
        if not health.admits(scheduled=scheduled, now=now):
            return health
        if health.status is not HealthStatus.QUARANTINED:
            return None
        health.quarantined_until = now + self.breaker.cooldown  # the trial holds the others
        try:
            await self.table.update_entity(
                to_entity(tenant),
                etag=entity.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            return health  # another message took the trial
        return None

    async def record(self, tenant_id: str, error: XtenantError | None, *, now: datetime) -> None:
        """Update the tenant's health after a run: success closes the breaker, failures count."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        for _ in range(5):  # optimistic concurrency: re-read and re-apply on a lost race
            try:
                entity = await self.table.get_entity(_PARTITION, tenant_id)
            except ResourceNotFoundError:
                return  # a tenant run by id but not registered has no health to keep
            tenant = from_entity(dict(entity))
            tenant.health = (
                tenant.health.after_success()
                if error is None
                else tenant.health.after_failure(error, now=now, breaker=self.breaker)
            )
            try:
                await self.table.update_entity(
                    to_entity(tenant),
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return
            except ResourceModifiedError:
                continue
