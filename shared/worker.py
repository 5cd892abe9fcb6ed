"""The queue worker: one message, one (run, tenant, job), acted on at most once.

    parse ─> app paused? ─> the row the run recorded ─> the message says what it says?
    ─> final already? (done) ─> another delivery holds it? (back off)
    ─> tenant registered? ─> tenant and job health ─> claim: the row's lease; an apply takes
       the (tenant, job) apply lock first, which also excludes other runs
    ─> run the job ─> app-wide failure? (pause the app, come back later; no tenant health)
    ─> transient? (row queued again, come back later) ─> finish the row ─> tenant health

Storage calls per (tenant, job), when all goes well: read the row, read the tenant, claim the
row, finish it (plan: 4); an apply also takes its (tenant, job) apply lock and gives it back
(6). The claim marks the row `running` (an apply's too), and is conditional on the row as read:
a row cancelled meanwhile is never run. The tenant's health, and the service plans a job read in
it (which dynamic groups select on), are written only when they change; the app breaker is read
at most every few seconds per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import rollout, telemetry
from shared.claims import RecordedRow, RejectedMessage, Verdict, mismatch, verdict
from shared.compliance import Standing, since_last_run
from shared.errors import DeliveriesExhausted, TenantSkipped, XtenantError
from shared.jobs import JOBS
from shared.locks import Lock
from shared.logcontext import job_context
from shared.messages import BadMessage, TenantJobMessage
from shared.notify import Event, events
from shared.results import Mode, Status, TenantResult
from shared.runner import run_tenant_job
from shared.services import Services
from shared.sweeper import MAX_SWEEPS, LeftBehind
from shared.tenants import Health, HealthStatus, Stored

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """Raised to the host so it delivers the message again later (it completes nothing)."""


async def process_message(services: Services, body: str, *, message_id: str) -> Status:
    """One message. Returns the row's status; raises RetryLater for "not now, again later"
    (the host redelivers, and after maxDequeueCount moves it to the poison queue)."""
    try:
        message = TenantJobMessage.parse(body)
    except BadMessage as bad:
        log.warning("dropping bad message %s: %s", message_id, bad.message)
        await services.ledger.record_bad_message(message_id, body, bad)
        return Status.FAILED
    with (
        job_context(message.run_id, message.tenant_id, message.job),
        telemetry.tenant_job(message, retry_later=RetryLater) as span,
    ):
        status = await _work(services, message, message_id, body)
        span.returned(status.value)
        return status


async def _work(
    services: Services, message: TenantJobMessage, message_id: str, body: str
) -> Status:
    now = datetime.now(UTC)
    outage = await services.app_breaker.outage(now)
    if outage is not None:
        raise RetryLater(f"app-wide outage until {outage.until.isoformat()}: not now")
    row = await services.claims.read(message.run_id, message.tenant_id, message.job)
    problem = "its run recorded no such row" if row is None else mismatch(row, message)
    if row is not None and row.status is Status.HELD:
        problem = "its row is held (awaiting approval, or an earlier ring): not sent yet"
    if row is None or problem is not None:
        rejected = RejectedMessage(problem or "", tenant_id=message.tenant_id)
        log.warning("message %s %s", message_id, rejected.message)
        await services.ledger.record_bad_message(message_id, body, rejected)
        return Status.FAILED
    state = verdict(row, now)
    if state is Verdict.DONE:
        log.info("already %s: a redelivery, nothing to do", row.status.value)
        return row.status
    if state is Verdict.BUSY:
        raise RetryLater("another delivery of this row is running")
    return await _admitted(services, message, row, now)


async def _admitted(
    services: Services, message: TenantJobMessage, row: RecordedRow, now: datetime
) -> Status:
    stored = await services.registry.read(message.tenant_id)
    if stored is None:
        return await _skip(services, message, row, _not_registered(message.tenant_id))
    refused = await services.registry.refusal(
        stored, message.job, scheduled=message.scheduled, now=now
    )
    if refused is not None:
        log.info("skipped: %s", refused.status.value)
        return await _skip(services, message, row, skip_reason(refused))
    lease = timedelta(seconds=services.settings.lease_seconds)
    if message.mode is Mode.APPLY:  # the (tenant, job) apply lock, then the row's claim
        lock = await _lock(services, message, row, now, lease)
        try:
            if not await services.claims.claim(row, now=now, lease_until=now + lease):
                raise RetryLater("the row changed since it was read (taken, or cancelled)")
            async with _renewing(services, row, lock, lease):
                result = await _run(services, message)
            status = await _record(services, message, result, stored, now, None)
        finally:
            await services.locks.release(lock)
        await rollout.after_row(services, message.run_id, row.ring)
        return status
    if not await services.claims.claim(row, now=now, lease_until=now + lease):
        raise RetryLater("another delivery claimed this row first")
    async with _renewing(services, row, None, lease):
        result = await _run(services, message)
    status = await _record(services, message, result, stored, now, None)
    await rollout.after_row(services, message.run_id, row.ring)
    return status


async def _run(services: Services, message: TenantJobMessage) -> TenantResult:
    """Run the job; a standard is judged against the deviations accepted for this tenant, and
    its findings compared with its stored states (what changed since its last run)."""
    standing = await _standing(services, message)
    result = await run_tenant_job(
        services.pool,
        tenant_id=message.tenant_id,
        job=message.job,
        mode=message.mode,
        params=message.params,
        accepted=standing.accepted(datetime.now(UTC)) if standing else None,
        run_id=message.run_id,
        licences=services.licences,
        refs=standing.refs() if standing else None,
    )
    if standing is not None and result.findings and result.status in _EVALUATED:
        result.drift = since_last_run(standing.states, result.findings)
        result.standing = standing
    if standing is not None and result.status is Status.NOT_APPLICABLE:
        result.standing = standing
    return result


async def _standing(services: Services, message: TenantJobMessage) -> Standing | None:
    job = JOBS.get(message.job)
    if job is None or job.kind != "standard":
        return None
    return await services.compliance.read(message.tenant_id, message.job)


async def _remember(
    services: Services, message: TenantJobMessage, result: TenantResult, tenant_name: str
) -> None:
    """A standard's evaluation, in the compliance store, after its row (never fails the row);
    then its drift, as events."""
    if not isinstance(result.standing, Standing):
        return
    now = datetime.now(UTC)
    try:
        if result.status is Status.NOT_APPLICABLE:
            reason = result.error.message if result.error else "not applicable"
            await services.compliance.not_applicable(
                result.tenant_id, result.job, result.standing, reason, now
            )
            return
        await services.compliance.record(
            result.tenant_id, result.job, result.standing, result.findings, now
        )
    except Exception:  # the row is final; the next evaluation writes the states again
        log.exception("could not record compliance of %s", result.job)
        return
    drift = events.drift(
        result.drift,
        tenant_id=result.tenant_id,
        tenant_name=tenant_name,
        standard=result.job,
        run_id=message.run_id,
        evaluated_before=result.standing.states,
        now=now,
    )
    await services.notifier.emit(*drift)


async def _remember_plans(services: Services, result: TenantResult, stored: Stored) -> None:
    """The service plans the job read, on the tenant, after its row (never fails the row)."""
    if result.service_plans is None:
        return
    try:
        await services.registry.record_plans(
            result.tenant_id, result.service_plans, datetime.now(UTC), stored=stored
        )
    except Exception:  # the row is final; the next run that reads licences writes them again
        log.exception("could not record the tenant's service plans")


_EVALUATED = frozenset({Status.PLANNED, Status.CHANGED, Status.NO_CHANGES})


async def _lock(
    services: Services, message: TenantJobMessage, row: RecordedRow, now: datetime, lease: timedelta
) -> Lock:
    """The (tenant, job) apply lock, or RetryLater while another delivery or run holds it."""
    lock = await services.locks.acquire(
        message.tenant_id, message.job, holder=_holder(message), now=now, until=now + lease
    )
    if lock is None:
        waiting = ApplyInProgress(message.tenant_id, message.job)
        # only if the row is as read: the holder may have finished it meanwhile, and a final
        # row must stay final
        await services.ledger.will_retry(
            message.run_id, message.tenant_id, message.job, waiting, etag=row.etag
        )
        raise RetryLater(waiting.message)
    return lock


async def _record(
    services: Services,
    message: TenantJobMessage,
    result: TenantResult,
    stored: Stored,
    now: datetime,
    attempts: int | None,
) -> Status:
    """The outcome, in the row and the tenant's health; `attempts` when no claim counted it."""
    error = result.error if result.status is Status.FAILED else None
    if error is not None:
        error = result.error = await services.home_check.escalate(error)
    telemetry.job_result(result)
    ledger, where = services.ledger, (message.run_id, message.tenant_id, message.job)
    if error is not None and error.app_wide:
        await services.app_breaker.trip(error, now)
        await ledger.will_retry(*where, error, attempts=attempts)
        log.error("app-wide failure, work paused: %s", error.message)
        raise RetryLater(error.message)
    await services.app_breaker.recovered()
    await services.registry.record(message.tenant_id, message.job, error, now=now, stored=stored)
    if result.retryable:
        assert error is not None
        await ledger.will_retry(*where, error, attempts=attempts)
        log.warning("transient failure, the message will be redelivered: %s", error)
        raise RetryLater(error.message)
    await ledger.finish(message.run_id, result, attempts=attempts)
    await _remember(services, message, result, stored.tenant.name)
    await _remember_plans(services, result, stored)
    log.info(
        "%s: %d planned, %d applied",
        result.status.value,
        result.changes_planned,
        result.changes_applied,
    )
    return result.status


@contextlib.asynccontextmanager
async def _renewing(
    services: Services, row: RecordedRow | None, lock: Lock | None, lease: timedelta
) -> AsyncIterator[None]:
    """Keep the claim's lease (the row's, or the apply lock's) alive while the job runs longer
    than a third of it; a job that ends sooner costs no renewal."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease.total_seconds() / 3)
            until = datetime.now(UTC) + lease
            if row is not None:
                await services.claims.renew(row, until)
            if lock is not None:
                await services.locks.renew(lock, until)

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _skip(
    services: Services, message: TenantJobMessage, row: RecordedRow, reason: XtenantError
) -> Status:
    await services.ledger.skip(message.run_id, message.tenant_id, message.job, reason)
    await rollout.after_row(services, message.run_id, row.ring)
    return Status.SKIPPED


def _not_registered(tenant_id: str) -> XtenantError:
    return TenantSkipped(
        "tenant_not_registered",
        f"tenant {tenant_id} is not registered (removed after the run started?): not acted on",
        tenant_id=tenant_id,
        remediation="Nothing was done in the tenant. Register it again to include it in runs.",
    )


def skip_reason(health: Health) -> XtenantError:
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
    """A message that kept failing: its row ends with the last error it recorded (`blocked`
    when that was the app's own identity). Never raises: a failure here would only cycle."""
    telemetry.poison_message()
    try:
        await _poisoned(services, body, message_id)
    except Exception:  # the last stop: log it loudly rather than cycle the message
        log.exception("could not record poisoned message %s", message_id)


async def _poisoned(services: Services, body: str, message_id: str) -> None:
    try:
        message = TenantJobMessage.parse(body)
    except BadMessage as bad:
        await services.ledger.record_bad_message(message_id, body, bad)
        return
    with job_context(message.run_id, message.tenant_id, message.job):
        row = await services.runs.get_row(message.run_id, message.tenant_id, message.job)
        if row is None:
            rejected = RejectedMessage("its run recorded no such row", tenant_id=message.tenant_id)
            await services.ledger.record_bad_message(message_id, body, rejected)
            return
        if Status(row["status"]) in _FINAL_STATUSES:
            return  # it finished after all (a late success raced the poisoning)
        if await _still_held(services, message, row):
            await _later_again(services, message, row)
            return
        error = DeliveriesExhausted(
            row.get("error_class") or "poisoned",
            f"gave up after {row.get('attempts', '?')} attempts; "
            f"last error: {row.get('message') or 'no error recorded'}",
            tenant_id=message.tenant_id,
            remediation=row.get("remediation")
            or "Re-run the tenant when the cause is fixed (POST /api/runs).",
        )
        blocked = await services.app_breaker.outage(datetime.now(UTC)) is not None
        status = Status.BLOCKED if blocked or row.get("app_wide") else Status.FAILED
        await services.ledger.end(message.run_id, message.tenant_id, message.job, status, error)
        log.error("poisoned: %s", error.message)
        await rollout.after_row(services, message.run_id, row.get("ring"))
        if status is Status.FAILED:  # blocked rows: the app_outage event said it, once
            await services.notifier.emit(_poison_event(message, row, status, error))


async def _later_again(services: Services, message: TenantJobMessage, row: dict[str, Any]) -> None:
    """The row's claim is still held: by a delivery still working, or by a worker that died and
    whose lease has not run out yet. Either way the row is not this message's to end: send it
    back to the queue, visible once the lease has run out (three times at most, like the
    sweeper), and the next delivery finds the row done, or takes it over."""
    resent = int(row.get("resent") or 0)
    where = (message.run_id, message.tenant_id, message.job)
    if resent >= MAX_SWEEPS:
        left = LeftBehind(
            f"its claim was still held after {resent} more tries; its worker kept stopping",
            tenant_id=message.tenant_id,
            remediation="Run the tenant again; if it repeats, read the Function App's logs.",
        )
        await services.ledger.end(*where, Status.FAILED, left)
        return
    delay = services.settings.lease_seconds + 5
    await services.queue.send_message(message.to_json(), visibility_timeout=delay)
    await services.ledger.swept(*where, resent + 1, datetime.now(UTC))
    log.warning("claim still held: message sent again, visible in %d s", delay)


async def _still_held(services: Services, message: TenantJobMessage, row: dict[str, Any]) -> bool:
    now = datetime.now(UTC)
    until = row.get("running_until")
    if row["status"] == Status.RUNNING.value and until:
        return datetime.fromisoformat(until) > now
    apply = message.mode is Mode.APPLY
    return apply and await services.locks.held_by(
        message.tenant_id, message.job, _holder(message), now
    )


def _poison_event(
    message: TenantJobMessage, row: dict[str, Any], status: Status, error: XtenantError
) -> Event:
    return events.poison_message(
        run_id=message.run_id,
        tenant_id=message.tenant_id,
        tenant_name=str(row.get("tenant_name") or ""),
        job=message.job,
        status=status.value,
        error=error.as_record(),
        now=datetime.now(UTC),
    )


def _holder(message: TenantJobMessage) -> str:
    """Who holds an apply lock: the run's row, so a second delivery of it is told apart."""
    return f"{message.run_id}|{message.tenant_id}|{message.job}"


class ApplyInProgress(XtenantError):
    """Another run holds this (tenant, job)'s apply lock: this row waits its turn."""

    error_class = "apply_in_progress"
    retryable = True

    def __init__(self, tenant_id: str, job: str) -> None:
        super().__init__(
            f"{job} is being applied in this tenant (by another run, or another delivery of "
            "this row): this row waits its turn",
            tenant_id=tenant_id,
            remediation="None: it runs when the other run's apply ends; if this row ends "
            "failed meanwhile, run the tenant again.",
        )


_FINAL_STATUSES = frozenset({s for s in Status if s not in (Status.QUEUED, Status.RUNNING)})
