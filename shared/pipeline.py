"""The per-tenant pipeline: start a run (fan out one message per tenant and job), work one
message (the queue worker), and account for poisoned messages. Triggers call these; nothing
here knows about the Functions host.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.errors import DeliveriesExhausted, TenantSkipped, XtenantError
from shared.ids import new_run_id
from shared.ledger import FINAL, RowSpec
from shared.logcontext import job_context
from shared.messages import QUEUE, BadMessage, TenantJobMessage
from shared.results import Mode, RunOrigin, Status
from shared.runner import run_tenant_job
from shared.services import Services
from shared.tenants import Health, HealthStatus, Tenant

log = logging.getLogger(__name__)

#: How many queue sends run at once while fanning out a large run.
_ENQUEUE_CONCURRENCY = 32


class RetryLater(Exception):
    """Raised to the host so it redelivers the message (a transient failure, budget spent)."""


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    messages: int


async def start_scheduled_run(services: Services) -> RunStarted:
    """Every enabled tenant x every job it is enrolled in, with that enrolment's mode/params."""
    tenants = [t for t in await services.registry.list() if t.enabled]
    work = [
        RowSpec(t.tenant_id, job, e.mode, e.params, t.name)
        for t in tenants
        for job, e in sorted(t.enrolments.items())
    ]
    return await _start(services, work, origin=RunOrigin.SCHEDULE, requested_by="schedule")


async def start_manual_run(
    services: Services,
    *,
    job: str,
    mode: Mode,
    tenants: Iterable[Tenant],
    params: Mapping[str, Any],
    requested_by: str,
    requested_by_id: str = "",
) -> RunStarted:
    """A run an operator asked for: `requested_by` names them (UPN or app id), with the object
    id of the verified principal in `requested_by_id`."""
    work = [RowSpec(t.tenant_id, job, mode, dict(params), t.name) for t in tenants]
    return await _start(
        services,
        work,
        origin=RunOrigin.MANUAL,
        requested_by=requested_by,
        requested_by_id=requested_by_id,
        mode=mode,
        job=job,
    )


async def _start(
    services: Services,
    work: list[RowSpec],
    *,
    origin: RunOrigin,
    requested_by: str,
    requested_by_id: str = "",
    mode: Mode | None = None,
    job: str | None = None,
) -> RunStarted:
    """Ledger rows first (so nothing runs unrecorded), then one message per row."""
    run_id = new_run_id()
    now = datetime.now(UTC).isoformat()
    await services.ledger.start_run(
        run_id,
        work,
        origin=origin,
        requested_by=requested_by,
        requested_by_id=requested_by_id,
        mode=mode,
        job=job,
    )
    messages = [
        TenantJobMessage(run_id, w.tenant_id, w.job, w.mode, w.params, origin, now, requested_by)
        for w in work
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
    refused = await services.registry.refusal(
        message.tenant_id, message.job, scheduled=message.scheduled, now=now
    )
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
    await services.registry.record(
        message.tenant_id, message.job, result.error if failed else None, now=now
    )
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
    return TenantSkipped(
        health.status.value,
        f"tenant is {health.status.value}"
        + (f" until {until}" if until else "")
        + (f"; last error: {last.get('message')}" if last.get("message") else ""),
        remediation=QUARANTINED
        if health.status is HealthStatus.QUARANTINED
        else str(last.get("remediation") or ""),
    )


#: What a row skipped by a quarantine tells the operator (not the transient error's own text).
QUARANTINED = (
    "Nothing now: after repeated transient failures the tenant waits out its cool-down; then "
    "one trial run decides, and a success heals it. Run the tenant again later (or check it: "
    "POST /api/tenants/{id}/check); if the last error repeats, fix what it names."
)


async def process_poison(services: Services, body: str, *, message_id: str) -> None:
    """A message that kept failing: its row becomes `failed` with the last error it recorded."""
    try:
        message = TenantJobMessage.parse(body)
    except BadMessage as bad:
        await services.ledger.record_bad_message(message_id, body, bad)
        return
    with job_context(message.run_id, message.tenant_id, message.job):
        row = await services.runs.get_row(message.run_id, message.tenant_id, message.job) or {}
        if Status(row.get("status", Status.QUEUED.value)) in FINAL:
            return  # it finished after all (a late success raced the poisoning)
        last = row.get("message") or "no error recorded"
        error = DeliveriesExhausted(
            row.get("error_class") or "poisoned",
            f"gave up after {row.get('attempts', '?')} attempts; last error: {last}",
            tenant_id=message.tenant_id,
            remediation=row.get("remediation")
            or "Re-run the tenant when the cause is fixed (POST /api/runs).",
        )
        await services.ledger.fail(message.run_id, message.tenant_id, message.job, error)
        log.error("poisoned: %s", error.message)
