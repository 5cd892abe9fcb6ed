"""At most one apply per (tenant, job) at a time, across runs and worker processes.

Two runs applying ensure-group to one tenant at once could both find no group and both create
one. The apply holds a lock entity (tenants table, partition `apply-lock`) with a lease: taken
by a conditional insert, or over an expired lease by a conditional update; released by a
conditional delete. A worker that dies leaves a lease that expires.

The lock is also the apply's claim on its ledger row (its holder names the run's row): a second
delivery of the same row finds it held and backs off, exactly as for another run. So an apply
costs one storage call more than a plan, not two.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

_PARTITION = "apply-lock"


@dataclass
class Lock:
    tenant_id: str
    job: str
    holder: str
    etag: str


class ApplyLocks:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    async def acquire(
        self, tenant_id: str, job: str, *, holder: str, now: datetime, until: datetime
    ) -> Lock | None:
        """The lock, or None while another holder's lease runs."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        entity = {
            "PartitionKey": _PARTITION,
            "RowKey": f"{tenant_id}|{job}",
            "holder": holder,
            "until": until.isoformat(),
        }
        try:
            created = await self.table.create_entity(entity)
            return Lock(tenant_id, job, holder, str(created["etag"]))
        except ResourceExistsError:
            pass
        current = await self.table.get_entity(_PARTITION, entity["RowKey"])
        if datetime.fromisoformat(current["until"]) > now:
            return None  # held: by another run, or by another delivery of this very row
        try:  # expired (its worker died): take it over
            updated = await self.table.update_entity(
                entity,
                etag=current.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            return None
        return Lock(tenant_id, job, holder, str(updated["etag"]))

    async def held_by(self, tenant_id: str, job: str, holder: str, now: datetime) -> bool:
        """Whether `holder` holds the lock now (the poison handler leaves such a row alone)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            current = await self.table.get_entity(_PARTITION, f"{tenant_id}|{job}")
        except ResourceNotFoundError:
            return False
        held = datetime.fromisoformat(current["until"]) > now
        return held and current.get("holder") == holder

    async def renew(self, lock: Lock, until: datetime) -> None:
        from azure.core import MatchConditions

        entity = {
            "PartitionKey": _PARTITION,
            "RowKey": f"{lock.tenant_id}|{lock.job}",
            "holder": lock.holder,
            "until": until.isoformat(),
        }
        updated = await self.table.update_entity(
            entity, etag=lock.etag, match_condition=MatchConditions.IfNotModified
        )
        lock.etag = str(updated["etag"])

    async def release(self, lock: Lock) -> None:
        """Give the lock back; one taken over after our lease expired is no longer ours."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        with contextlib.suppress(ResourceModifiedError, ResourceNotFoundError):
            await self.table.delete_entity(
                _PARTITION,
                f"{lock.tenant_id}|{lock.job}",
                etag=lock.etag,
                match_condition=MatchConditions.IfNotModified,
            )
