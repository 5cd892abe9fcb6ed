"""The sweeper (a timer): no run stays `running` with nothing left to run.

A row can be left behind two ways: its worker died and its claim's lease ran out long ago, or
its message never arrived (lost, or never sent). For each open run, the sweeper sends such a
row's message again, rebuilt from what the row recorded (a duplicate is harmless: the claim lets
one delivery act); after `MAX_SWEEPS` times it ends the row `failed` with the reason instead. A
run whose rows are all final is closed, so later sweeps skip it, and its closing is the
run_finished event, with the run's totals.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared import rollout
from shared.errors import XtenantError
from shared.ledger import FINAL, RUN_ROW, SUCCEEDED
from shared.messages import TenantJobMessage
from shared.notify import events
from shared.notify.events import MAX_LISTED
from shared.pipeline import send_messages
from shared.results import RunState, Status
from shared.run_views import run_summary
from shared.services import Services

log = logging.getLogger(__name__)

#: A queued row untouched this long has lost its message.
STALE_QUEUED = timedelta(hours=1)
#: A running row whose lease ended this long ago has lost its worker.
STALE_LEASE = timedelta(minutes=5)
MAX_SWEEPS = 3
#: Every five minutes (NCRONTAB, seconds first).
SCHEDULE = "0 */5 * * * *"


class LeftBehind(XtenantError):
    error_class = "left_behind"


@dataclass
class SweepReport:
    runs: int = 0
    resent: int = 0
    ended: int = 0
    closed: int = 0


async def sweep(services: Services, now: datetime) -> SweepReport:
    report = SweepReport()
    table = services.ledger.table
    runs = table.query_entities("RowKey eq @run and open eq true", parameters={"run": RUN_ROW})
    async for run in runs:
        report.runs += 1
        await _sweep_run(services, dict(run), now, report)
    if report.resent or report.ended:
        log.warning("sweeper: %s", report)
    return report


async def _sweep_run(
    services: Services, run: dict[str, Any], now: datetime, report: SweepReport
) -> None:
    run_id = str(run["PartitionKey"])
    statuses: list[Status] = []
    failed: list[str] = []
    open_rows = []
    async for e in services.ledger.table.query_entities(
        "PartitionKey eq @run and RowKey ne @run_row",
        parameters={"run": run_id, "run_row": RUN_ROW},
    ):
        statuses.append(Status(e.get("status", Status.QUEUED.value)))
        if statuses[-1] not in FINAL:
            open_rows.append(dict(e))
        elif statuses[-1] not in SUCCEEDED and len(failed) < MAX_LISTED:
            failed.append(str(e.get("tenant_id")))
    if not open_rows:
        await services.ledger.close_run(run_id)
        report.closed += 1
        finished = events.run_finished(run_summary(run, statuses), failed_tenants=failed, now=now)
        await services.notifier.emit(finished)
        return
    for row in open_rows:
        if _left_behind(row, now):
            await _recover(services, run, row, now, report)
    await _rollout(services, run_id, run, now)


async def _rollout(services: Services, run_id: str, run: dict[str, Any], now: datetime) -> None:
    """A staged run: expire an approval that waited too long; move on from a finished ring
    whose last row's worker did not (it stopped before it could)."""
    if run.get("state") == RunState.AWAITING_APPROVAL:
        entity = await services.runs.run_entity(run_id)
        if entity is not None:
            await rollout.expire_if_due(services, entity, now)
    elif run.get("state") == RunState.ROLLING and run.get("rings_total"):
        await rollout.after_row(services, run_id, int(run.get("ring") or 0))


def _left_behind(row: dict[str, Any], now: datetime) -> bool:
    if row.get("status") == Status.HELD.value:
        return False  # not sent on purpose: approval or an earlier ring (shared/rollout.py)
    if row.get("status") == Status.RUNNING.value:
        until = row.get("running_until")
        return not until or datetime.fromisoformat(until) + STALE_LEASE <= now
    touched = row.get("swept_at") or row.get("queued_at")
    return not touched or datetime.fromisoformat(touched) + STALE_QUEUED <= now


async def _recover(
    services: Services, run: dict[str, Any], row: dict[str, Any], now: datetime, report: SweepReport
) -> None:
    tenant_id, job, sweeps = str(row["tenant_id"]), str(row["job"]), int(row.get("sweeps", 0))
    if sweeps >= MAX_SWEEPS:
        why = LeftBehind(
            f"left behind {sweeps} times (its worker stopped or its message was lost)",
            tenant_id=tenant_id,
            remediation="Run the tenant again; if rows keep being left behind, check the "
            "Function App's logs for crashes or timeouts.",
        )
        await services.ledger.end(str(run["PartitionKey"]), tenant_id, job, Status.FAILED, why)
        report.ended += 1
        return
    message = TenantJobMessage.from_row(str(run["PartitionKey"]), run, row)
    if not await send_messages(services, [message]):
        await services.ledger.swept(message.run_id, tenant_id, job, sweeps + 1, now)
        report.resent += 1
