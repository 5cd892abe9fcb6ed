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

from shared import telemetry
from shared.errors import XtenantError
from shared.ids import new_run_id
from shared.ledger import RowSpec
from shared.messages import QUEUE, TenantJobMessage
from shared.results import Mode, RunOrigin, Status
from shared.services import Services
from shared.tenants import Tenant

log = logging.getLogger(__name__)

#: How many queue sends run at once while fanning out a large run.
_ENQUEUE_CONCURRENCY = 32


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    messages: int
    #: rows whose message could not be sent: each ended `failed` with the reason
    not_queued: int = 0


async def start_scheduled_run(services: Services) -> RunStarted:
    """Every enabled tenant x every job it is enrolled in, with that enrolment's mode/params:
    its effective enrolments (its own, else its groups', else `all`'s: shared/groups.py)."""
    tenants = [t for t in await services.registry.list() if t.enabled]
    targeting = await services.groups.targeting()
    work = [
        RowSpec(t.tenant_id, job, e.mode, e.params, t.name)
        for t in tenants
        for job, (e, _) in targeting.effective(t).items()
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
    run_id: str | None = None,
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
        run_id=run_id,
    )


def shared_mode_and_job(work: list[RowSpec]) -> tuple[Mode | None, str | None]:
    """The run's mode and job when all its rows share them; None for what they do not (a
    re-run of a scheduled run's rows, each with its own enrolment)."""
    modes, jobs = {w.mode for w in work}, {w.job for w in work}
    return (modes.pop() if len(modes) == 1 else None), (jobs.pop() if len(jobs) == 1 else None)


async def start_rerun(
    services: Services,
    work: list[RowSpec],
    *,
    rerun_of: str,
    requested_by: str,
    requested_by_id: str,
    run_id: str | None = None,
) -> RunStarted:
    """A new run of `work` (rows of run `rerun_of`, with their own modes and params)."""
    mode, job = shared_mode_and_job(work)
    return await _start(
        services,
        work,
        origin=RunOrigin.MANUAL,
        requested_by=requested_by,
        requested_by_id=requested_by_id,
        mode=mode,
        job=job,
        run_id=run_id,
        rerun_of=rerun_of,
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
    run_id: str | None = None,
    rerun_of: str = "",
) -> RunStarted:
    """Ledger rows first (so nothing runs unrecorded), then one message per row.

    A message that cannot be sent (after the SDK's own retries) ends its row `failed` with the
    reason, so the run never waits for work that was never queued.
    """
    run_id = run_id or new_run_id()
    now = datetime.now(UTC).isoformat()
    with telemetry.run_fanout(run_id, rows=len(work), origin=origin.value) as fanout:
        await services.ledger.start_run(
            run_id,
            work,
            origin=origin,
            requested_by=requested_by,
            requested_by_id=requested_by_id,
            mode=mode,
            job=job,
            rerun_of=rerun_of,
        )
        messages = [
            TenantJobMessage(
                run_id, w.tenant_id, w.job, w.mode, w.params, origin, now, requested_by
            )
            for w in work
        ]
        unsent = await send_messages(services, messages)
        for message, failure in unsent:
            error = NotQueued(message, failure)
            await services.ledger.end(run_id, message.tenant_id, message.job, Status.FAILED, error)
        fanout.sent(len(messages) - len(unsent), len(unsent))
    log.info("run %s started: %d messages on %s", run_id, len(messages) - len(unsent), QUEUE)
    return RunStarted(run_id, len(messages) - len(unsent), len(unsent))


async def send_messages(
    services: Services, messages: list[TenantJobMessage]
) -> list[tuple[TenantJobMessage, BaseException]]:
    """Send every message, a few at a time; the ones that could not be sent, with why."""
    gate = asyncio.Semaphore(_ENQUEUE_CONCURRENCY)

    async def send(message: TenantJobMessage) -> None:
        async with gate:
            await services.queue.send_message(message.to_json())

    outcomes = await asyncio.gather(*(send(m) for m in messages), return_exceptions=True)
    return [
        (message, outcome)
        for message, outcome in zip(messages, outcomes, strict=True)
        if isinstance(outcome, BaseException)
    ]


class NotQueued(XtenantError):
    """A row whose message could not be put on the queue: it never ran."""

    error_class = "not_queued"

    def __init__(self, message: TenantJobMessage, failure: BaseException) -> None:
        super().__init__(
            f"the message could not be queued: {type(failure).__name__}: "
            f"{str(failure).splitlines()[0][:200] if str(failure) else ''}",
            tenant_id=message.tenant_id,
            remediation="Nothing ran for this row. Check storage (GET /api/health), then run "
            "the tenant again.",
        )
