"""The per-tenant pipeline: start a run (fan out one message per tenant and job), work one
message (the queue worker), and account for poisoned messages. Triggers call these; nothing
here knows about the Functions host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.errors import Recorded, XtenantError
from shared.graph import GraphPool
from shared.identity import TenantCredentialCache
from shared.jobs import Mode
from shared.ledger import FINAL, Ledger
from shared.ledger import TABLE as RUNS_TABLE
from shared.logcontext import job_context
from shared.messages import BadMessage, TenantJobMessage, new_run_id
from shared.runner import Status, run_tenant_job
from shared.settings import Settings
from shared.storage import Storage, storage_config
from shared.tenants import TABLE as TENANTS_TABLE
from shared.tenants import Health, TenantRegistry

log = logging.getLogger(__name__)

QUEUE = "tenant-jobs"
POISON_QUEUE = f"{QUEUE}-poison"
#: How many queue sends run at once while fanning out a large run.
_ENQUEUE_CONCURRENCY = 32


class RetryLater(Exception):
    """Raised to the host so it redelivers the message (a transient failure, budget spent)."""


@dataclass
class Services:
    """Everything that talks to the network, built once per worker process and reused."""

    settings: Settings
    storage: Storage
    credentials: TenantCredentialCache
    pool: GraphPool
    registry: TenantRegistry
    ledger: Ledger
    queue: Any
    _ready: bool = field(default=False, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Services:
        env = os.environ if env is None else env
        settings = Settings.from_env(env)
        storage = Storage(storage_config(env))
        credentials = TenantCredentialCache(settings)
        return cls(
            settings=settings,
            storage=storage,
            credentials=credentials,
            pool=GraphPool(settings, credentials),
            registry=TenantRegistry(storage.table(TENANTS_TABLE)),
            ledger=Ledger(storage.table(RUNS_TABLE)),
            queue=storage.queue(QUEUE),
        )

    async def ready(self) -> Services:
        """Create the tables and queue on first use (idempotent; cheap after the first call)."""
        if not self._ready:
            from azure.core.exceptions import ResourceExistsError

            await self.registry.ensure_table()
            await self.ledger.ensure_table()
            with contextlib.suppress(ResourceExistsError):
                await self.queue.create_queue()
            self._ready = True
        return self

    async def close(self) -> None:
        await self.pool.close()
        await self.credentials.close()
        await self.storage.close()


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    messages: int


async def start_scheduled_run(services: Services) -> RunStarted:
    """Every enabled tenant x every job it is enrolled in, with that enrolment's mode/params."""
    tenants = [t for t in await services.registry.list() if t.enabled]
    work = [
        (t.tenant_id, job, e.mode.value, e.params)
        for t in tenants
        for job, e in sorted(t.enrolments.items())
    ]
    return await _start(services, work, requested_by="schedule", mode="(enrolled)")


async def start_manual_run(
    services: Services,
    *,
    job: str,
    mode: str,
    tenant_ids: Iterable[str],
    params: Mapping[str, Any],
    requested_by: str,
) -> RunStarted:
    work = [(tid, job, mode, dict(params)) for tid in tenant_ids]
    return await _start(services, work, requested_by=requested_by, mode=mode, job=job)


async def _start(
    services: Services,
    work: list[tuple[str, str, str, dict[str, Any]]],
    *,
    requested_by: str,
    mode: str,
    job: str | None = None,
) -> RunStarted:
    """Ledger rows first (so nothing runs unrecorded), then one message per row."""
    run_id = new_run_id()
    now = datetime.now(UTC).isoformat()
    await services.ledger.start_run(
        run_id, [(t, j) for t, j, _, _ in work], mode=mode, requested_by=requested_by, job=job
    )
    messages = [
        TenantJobMessage(run_id, t, j, Mode(m), p, now, requested_by) for t, j, m, p in work
    ]
    gate = asyncio.Semaphore(_ENQUEUE_CONCURRENCY)

    async def send(message: TenantJobMessage) -> None:
        async with gate:
            await services.queue.send_message(message.to_json())

    await asyncio.gather(*(send(m) for m in messages))
    log.info("run %s started: %d messages on %s", run_id, len(messages), QUEUE)
    return RunStarted(run_id, len(messages))


async def process_message(services: Services, body: str, *, message_id: str) -> Status:
    """The queue worker: one message, one tenant, one job. Returns the row's final status.

    Raises RetryLater for a transient failure, so the host redelivers (and, after
    maxDequeueCount, moves the message to the poison queue).
    """
    try:
        message = TenantJobMessage.parse(body)
    except BadMessage as bad:
        log.warning("dropping bad message %s: %s", message_id, bad.message)
        await services.ledger.record_bad_message(message_id, body, bad)
        return Status.FAILED
    with job_context(message.run_id, message.tenant_id, message.job):
        return await _work(services, message)


async def _work(services: Services, message: TenantJobMessage) -> Status:
    ledger = services.ledger
    claim = await ledger.claim(message.run_id, message.tenant_id, message.job)
    if not claim.proceed:
        log.info("already %s: skipping redelivered message", claim.status.value)
        return claim.status
    now = datetime.now(UTC)
    refused = await services.registry.admit(message.tenant_id, scheduled=message.scheduled, now=now)
    if refused is not None:
        await ledger.skip(message.run_id, message.tenant_id, message.job, _skip_reason(refused))
        log.info("skipped: tenant is %s", refused.status.value)
        return Status.SKIPPED
    result = await run_tenant_job(
        services.pool,
        tenant_id=message.tenant_id,
        job=message.job,
        mode=message.mode,
        params=message.params,
    )
    failed = result.status is Status.FAILED
    await services.registry.record(message.tenant_id, result.error if failed else None, now=now)
    if result.retryable:
        assert result.error is not None
        await ledger.will_retry(message.run_id, message.tenant_id, message.job, result.error)
        log.warning("transient failure, the message will be redelivered: %s", result.error)
        raise RetryLater(result.error.message)
    await ledger.finish(message.run_id, result)
    log.info(
        "%s: %d planned, %d applied",
        result.status.value,
        result.changes_planned,
        result.changes_applied,
    )
    return result.status


def _skip_reason(health: Health) -> XtenantError:
    last = health.last_error or {}
    until = health.quarantined_until.isoformat() if health.quarantined_until else ""
    return Recorded(
        health.status.value,
        f"tenant is {health.status.value}"
        + (f" until {until}" if until else "")
        + (f": {last.get('message')}" if last.get("message") else ""),
        remediation=str(last.get("remediation") or "Wait for the cool-down; a trial run follows."),
    )


async def process_poison(services: Services, body: str, *, message_id: str) -> None:
    """A message that kept failing: its row becomes `failed` with the last error it recorded."""
    try:
        message = TenantJobMessage.parse(body)
    except BadMessage as bad:
        await services.ledger.record_bad_message(message_id, body, bad)
        return
    with job_context(message.run_id, message.tenant_id, message.job):
        row = await services.ledger.get_row(message.run_id, message.tenant_id, message.job) or {}
        if Status(row.get("status", Status.QUEUED.value)) in FINAL:
            return  # it finished after all (a late success raced the poisoning)
        last = row.get("message") or "no error recorded"
        error = Recorded(
            row.get("error_class") or "poisoned",
            f"gave up after {row.get('attempts', '?')} attempts; last error: {last}",
            tenant_id=message.tenant_id,
            remediation=row.get("remediation")
            or "Re-run the tenant when the cause is fixed (POST /api/runs).",
        )
        await services.ledger.fail(message.run_id, message.tenant_id, message.job, error)
        log.error("poisoned: %s", error.message)
