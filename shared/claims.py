"""Claiming a ledger row: the worker acts only on what a run recorded, exactly once.

The run is the authority. A message names a (run, tenant, job) and carries the mode, params
and origin to use; the worker reads the row the run recorded and acts only when the row exists,
is not final, and the message says exactly what the row says. Anything else is a rejected
message: recorded, and no tenant is touched (a hand-written message cannot put a tenant into a
run, or weaken its params).

The claim itself is a conditional write (ETag): of two deliveries of one message, one wins and
takes a lease (`running_until`); the other sees a live lease and backs off (the queue delivers
it again later, when the row is final and it completes without acting). A worker that dies
mid-job leaves a lease that expires; the next delivery proceeds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.errors import XtenantError
from shared.ledger import FINAL, merge_if_unchanged, row_key
from shared.messages import TenantJobMessage
from shared.results import Status
from shared.stored import from_text

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient


class RejectedMessage(XtenantError):
    """A message that does not match what its run recorded: nothing was done for it."""

    error_class = "rejected_message"

    def __init__(self, reason: str, *, tenant_id: str | None = None) -> None:
        super().__init__(
            f"rejected: {reason}",
            tenant_id=tenant_id,
            remediation="Nothing was done in any tenant. Runs are started through the API only; "
            "if this message was not written by hand, report it with the run id.",
        )


@dataclass(frozen=True)
class RecordedRow:
    """A ledger row as read, with the ETag a claim must match."""

    run_id: str
    tenant_id: str
    job: str
    status: Status
    attempts: int
    mode: str
    origin: str
    params: Any
    running_until: datetime | None
    etag: str
    #: its rollout ring (shared/rollout.py), None when the run has none
    ring: int | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def leased(self, now: datetime) -> bool:
        """Another delivery holds it: running, with a lease that has not expired."""
        return (
            self.status is Status.RUNNING
            and self.running_until is not None
            and now < self.running_until
        )


class Verdict(enum.Enum):
    PROCEED = "proceed"
    DONE = "done"  # final already: a redelivery completes without acting
    BUSY = "busy"  # another delivery holds the lease: back off, come again later


def mismatch(row: RecordedRow, message: TenantJobMessage) -> str | None:
    """Why a message may not act on its row, or None when it says what the run recorded."""
    if row.mode != message.mode.value:
        return f"mode {message.mode.value!r} is not the run's {row.mode!r}"
    if row.origin != message.origin.value:
        return f"origin {message.origin.value!r} is not the run's {row.origin!r}"
    if row.params != message.params:
        return "params differ from the ones the run recorded"
    return None


def verdict(row: RecordedRow, now: datetime) -> Verdict:
    if row.final:
        return Verdict.DONE
    return Verdict.BUSY if row.leased(now) else Verdict.PROCEED


class Claims:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    async def read(self, run_id: str, tenant_id: str, job: str) -> RecordedRow | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = await self.table.get_entity(run_id, row_key(tenant_id, job))
        except ResourceNotFoundError:
            return None
        until = entity.get("running_until")
        return RecordedRow(
            run_id,
            tenant_id,
            job,
            Status(entity.get("status", Status.QUEUED.value)),
            int(entity.get("attempts", 0)),
            str(entity.get("mode", "")),
            str(entity.get("origin", "")),
            from_text(entity.get("params"), {}),
            datetime.fromisoformat(until) if until else None,
            str(entity.metadata["etag"]),
            entity.get("ring"),
        )

    async def claim(self, row: RecordedRow, *, now: datetime, lease_until: datetime) -> bool:
        """Take the row (attempts + 1) if nobody changed it since it was read (else another
        delivery took it first, or it was cancelled)."""
        entity = {
            "PartitionKey": row.run_id,
            "RowKey": row_key(row.tenant_id, row.job),
            "status": Status.RUNNING.value,
            "attempts": row.attempts + 1,
            "started_at": now.isoformat(),
            "running_until": lease_until.isoformat(),
        }
        return await merge_if_unchanged(self.table, entity, row.etag)

    async def renew(self, row: RecordedRow, lease_until: datetime) -> None:
        """Push the lease forward while a long job runs."""
        from azure.data.tables import UpdateMode

        entity = {
            "PartitionKey": row.run_id,
            "RowKey": row_key(row.tenant_id, row.job),
            "running_until": lease_until.isoformat(),
        }
        await self.table.update_entity(entity, mode=UpdateMode.MERGE)
