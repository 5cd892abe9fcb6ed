"""The run ledger (Azure Table storage): one entity per run, one per (tenant, job) in it.

Partition = run id, so a run's rows are read with one query. Row keys: `run` for the run itself,
`<tenant_id>|<job>` for each row. A run's overall status is derived from its rows on every read,
never stored: it cannot drift from what the rows say.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared import telemetry
from shared.errors import XtenantError
from shared.results import Mode, RunOrigin, Status, TenantResult
from shared.stored import MAX_TEXT, to_text

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

TABLE = "xtenantruns"
RUN_ROW = "run"
BAD_MESSAGES = "bad-messages"
FINAL = frozenset(
    {
        Status.CHANGED,
        Status.NO_CHANGES,
        Status.PLANNED,
        Status.FAILED,
        Status.SKIPPED,
        Status.NOT_APPLICABLE,
        Status.BLOCKED,
        Status.CANCELLED,
    }
)
SUCCEEDED = frozenset({Status.CHANGED, Status.NO_CHANGES, Status.PLANNED, Status.NOT_APPLICABLE})
#: Transactions of 100 rows written at once while a run starts (10,000 rows: 100 of them).
_WRITERS = 8


#: Findings kept per row (a standard has a few; an action job's are the objects it acts on).
MAX_FINDINGS = 200

#: A scheduled run's mode and job: each row takes its tenant's enrolment (shown as such).
ENROLLED = "enrolled"


def row_key(tenant_id: str, job: str) -> str:
    return f"{tenant_id}|{job}"


def overall_status(statuses: list[Status]) -> str:
    """running while any row is queued or running; succeeded only if no row failed or skipped;
    cancelled when the rows that did not succeed were all cancelled."""
    if not statuses:
        return "empty"
    if any(s not in FINAL for s in statuses):
        return "running"
    good = sum(1 for s in statuses if s in SUCCEEDED)
    if good == len(statuses):
        return "succeeded"
    if good + statuses.count(Status.CANCELLED) == len(statuses):
        return "cancelled"
    return "failed" if good == 0 else "partially_failed"


async def merge_if_unchanged(table: TableClient, entity: Mapping[str, Any], etag: str) -> bool:
    """Merge `entity` into its stored one only if that is still as read (its ETag): the one
    conditional write of the runs table; False when someone changed it first."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError
    from azure.data.tables import UpdateMode

    try:
        await table.update_entity(
            dict(entity),
            mode=UpdateMode.MERGE,
            etag=etag,
            match_condition=MatchConditions.IfNotModified,
        )
    except ResourceModifiedError:
        return False
    return True


@dataclass(frozen=True)
class RowSpec:
    """One (tenant, job) a run will do, with the mode and params it will do it with."""

    tenant_id: str
    job: str
    mode: Mode
    params: dict[str, Any]
    tenant_name: str = ""
    #: the rollout ring the row belongs to (shared/rollout.py); None when the run has none
    ring: int | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _error_fields(error: XtenantError | None) -> dict[str, Any]:
    if error is None:
        return {"error_class": "", "message": "", "remediation": "", "app_wide": False}
    return {
        "error_class": error.error_class,
        "message": error.message[:2000],
        "remediation": error.remediation[:2000],
        "app_wide": error.app_wide,
    }


class Ledger:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    async def ensure_table(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            await self.table.create_table()

    async def start_run(
        self,
        run_id: str,
        rows: list[RowSpec],
        *,
        origin: RunOrigin,
        requested_by: str,
        requested_by_id: str = "",
        mode: Mode | None = None,
        job: str | None = None,
        rerun_of: str = "",
        held: bool = False,
        run_fields: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the run and one `queued` row per (tenant, job), 100 per transaction.

        Each row keeps the mode and params it runs with, so a run can be reviewed and repeated
        faithfully. A scheduled run has no one mode or job (None): each row has its enrolment's.
        `requested_by` is who asked (a verified operator's UPN or app id, or `schedule`);
        `requested_by_id` the operator's object id (empty for the schedule). `held` rows wait
        for release (approval, rings: shared/rollout.py); `run_fields` go on the run entity.
        """
        await self.table.upsert_entity(
            {
                "PartitionKey": run_id,
                "RowKey": RUN_ROW,
                "origin": origin.value,
                "mode": mode.value if mode else ENROLLED,
                "job": job or ENROLLED,
                "requested_by": requested_by,
                "requested_by_id": requested_by_id,
                "requested_at": _now(),
                "rows": len(rows),
                "rerun_of": rerun_of,
                # until every row is final: the sweeper looks only at open runs
                "open": True,
                **(run_fields or {}),
            }
        )
        queued_at = _now()
        entities = [
            {
                "PartitionKey": run_id,
                "RowKey": row_key(r.tenant_id, r.job),
                "tenant_id": r.tenant_id,
                "tenant_name": r.tenant_name[:256],
                "job": r.job,
                "mode": r.mode.value,
                "origin": origin.value,
                "params": to_text(r.params),
                "status": (Status.HELD if held else Status.QUEUED).value,
                "attempts": 0,
                "queued_at": queued_at,
                **({} if r.ring is None else {"ring": r.ring}),
            }
            for r in rows
        ]
        batches = [entities[n : n + 100] for n in range(0, len(entities), 100)]
        gate = asyncio.Semaphore(_WRITERS)

        async def write(batch: list[dict[str, Any]]) -> None:
            async with gate:
                await self.table.submit_transaction([("upsert", e) for e in batch])

        await asyncio.gather(*(write(batch) for batch in batches))

    async def finish(
        self, run_id: str, result: TenantResult, *, attempts: int | None = None
    ) -> None:
        """The row's outcome; `attempts` when the delivery claimed no row (an apply's claim is
        its lock)."""
        counted = {} if attempts is None else {"attempts": attempts}
        await self._merge(
            run_id,
            result.tenant_id,
            result.job,
            {
                "status": result.status.value,
                "changes_planned": result.changes_planned,
                "changes_applied": result.changes_applied,
                "changes": to_text(result.changes),
                "findings": to_text(result.findings[:MAX_FINDINGS]),
                "drift": to_text(result.drift),
                "notes": to_text(result.notes),
                "duration_s": round(result.duration_s, 3),
                "graph_requests": result.graph_requests,
                "retries": result.retries,
                "waited_s": round(result.waited_s, 3),
                "finished_at": _now(),
                "running_until": "",
                **counted,
                **_error_fields(result.error),
            },
        )
        telemetry.row_ended(result.job, result.status.value, result.error)

    async def will_retry(
        self,
        run_id: str,
        tenant_id: str,
        job: str,
        error: XtenantError,
        *,
        attempts: int | None = None,
        etag: str | None = None,
    ) -> None:
        """A transient failure: back to `queued` with the error, for the redelivery to pick up.

        With `etag`, only if the row is still as it was read (else nothing is written).
        """
        fields = {"status": Status.QUEUED.value, "running_until": "", **_error_fields(error)}
        if attempts is not None:
            fields["attempts"] = attempts
        if etag is None:
            await self._merge(run_id, tenant_id, job, fields)
            return
        entity = {"PartitionKey": run_id, "RowKey": row_key(tenant_id, job), **fields}
        await merge_if_unchanged(self.table, entity, etag)

    async def end(
        self, run_id: str, tenant_id: str, job: str, status: Status, error: XtenantError
    ) -> None:
        """End a row that did not run to completion, with the reason."""
        fields = {"status": status.value, "finished_at": _now(), **_error_fields(error)}
        await self._merge(run_id, tenant_id, job, fields | {"running_until": ""})
        telemetry.row_ended(job, status.value, error)

    async def cancel_queued(
        self, run_id: str, why: str, *, error_class: str = "cancelled"
    ) -> tuple[int, int]:
        """End the run's queued and held rows `cancelled`, each only if no delivery took it
        meanwhile (a conditional write on the row as read). Returns (cancelled, not cancelled).
        """
        query = self.table.query_entities(
            "PartitionKey eq @run and ( status eq @queued or status eq @held )",
            parameters={"run": run_id, "queued": Status.QUEUED.value, "held": Status.HELD.value},
            select=["PartitionKey", "RowKey", "status", "job"],
        )
        rows = [entity async for entity in query]
        fields = {
            "status": Status.CANCELLED.value,
            "finished_at": _now(),
            "running_until": "",
            "error_class": error_class,
            "message": f"{why} before it started: nothing was done in the tenant",
            "remediation": "None needed. To do it after all, start a run for the tenant again.",
            "app_wide": False,
        }
        # a row a delivery took meanwhile is not cancelled: it runs to its end
        done = await self._merge_each(rows, fields)
        for entity, cancelled in zip(rows, done, strict=True):
            if cancelled:
                telemetry.row_ended(str(entity.get("job", "")), Status.CANCELLED.value)
        return sum(done), len(done) - sum(done)

    async def release(self, run_id: str, ring: int | None) -> list[dict[str, Any]]:
        """Held rows (of `ring`, or all) become `queued`; returns them, to send their messages.
        A row no longer held (cancelled meanwhile) is left as it is."""
        query = "PartitionKey eq @run and status eq @held"
        parameters: dict[str, Any] = {"run": run_id, "held": Status.HELD.value}
        if ring is not None:
            query, parameters["ring"] = query + " and ring eq @ring", ring
        rows = [entity async for entity in self.table.query_entities(query, parameters=parameters)]
        fields = {"status": Status.QUEUED.value, "queued_at": _now()}
        done = await self._merge_each(rows, fields)
        return [dict(e) | fields for e, released in zip(rows, done, strict=True) if released]

    async def _merge_each(self, rows: list[Any], fields: Mapping[str, Any]) -> list[bool]:
        """Merge `fields` into each row read (a few at a time), each only if it is still as
        read; whether each was written."""
        gate = asyncio.Semaphore(_WRITERS)

        async def merge(entity: Any) -> bool:
            update = {"PartitionKey": entity["PartitionKey"], "RowKey": entity["RowKey"], **fields}
            async with gate:
                return await merge_if_unchanged(self.table, update, entity.metadata["etag"])

        return list(await asyncio.gather(*(merge(e) for e in rows)))

    async def swept(
        self, run_id: str, tenant_id: str, job: str, sweeps: int, now: datetime
    ) -> None:
        """The sweeper sent the row's message again (the `sweeps`-th time)."""
        fields = {"sweeps": sweeps, "swept_at": now.isoformat()}
        await self._merge(run_id, tenant_id, job, fields)

    async def close_run(self, run_id: str) -> None:
        """Every row is final: the sweeper need not look at this run again."""
        from azure.data.tables import UpdateMode

        entity = {"PartitionKey": run_id, "RowKey": RUN_ROW, "open": False}
        await self.table.upsert_entity(entity, mode=UpdateMode.MERGE)

    async def skip(self, run_id: str, tenant_id: str, job: str, error: XtenantError) -> None:
        await self.end(run_id, tenant_id, job, Status.SKIPPED, error)

    async def record_bad_message(self, message_id: str, body: str, error: XtenantError) -> None:
        """Kept apart (and in its run, when the run id could be read), never retried."""
        await self.table.upsert_entity(
            {
                "PartitionKey": BAD_MESSAGES,
                "RowKey": message_id,
                "body": body[:MAX_TEXT],
                "received_at": _now(),
                **_error_fields(error),
            }
        )
        telemetry.message_rejected(error)

    async def _merge(self, run_id: str, tenant_id: str, job: str, fields: dict[str, Any]) -> None:
        from azure.data.tables import UpdateMode

        entity = {
            "PartitionKey": run_id,
            "RowKey": row_key(tenant_id, job),
            "tenant_id": tenant_id,
            "job": job,
            **fields,
        }
        await self.table.upsert_entity(entity, mode=UpdateMode.MERGE)
