"""The last failed delivery, kept where every worker process and GET /api/health can read it.

One entity in the tenants table (partition `app`, beside the app breaker's): the sink's kind,
the event's kind and id, what the sink answered (an HTTP status, or `timeout` / the kind of
connection failure), when, and whether xtenant gave up on it. Never the URL: it is a secret.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

_PARTITION, _ROW = "app", "notifications"


@dataclass(frozen=True)
class DeliveryFailure:
    sink: str
    event_kind: str
    event_id: str
    #: "HTTP 500", "timeout", "ConnectError", ...
    answer: str
    at: str
    #: false: the queue tries again later; true: nothing more will be tried
    gave_up: bool

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


class FailedDeliveries:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    async def record(self, failure: DeliveryFailure) -> None:
        entity = {"PartitionKey": _PARTITION, "RowKey": _ROW, "last": json.dumps(asdict(failure))}
        await self.table.upsert_entity(entity)

    async def last(self) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = await self.table.get_entity(_PARTITION, _ROW)
        except ResourceNotFoundError:
            return None
        try:
            return dict(json.loads(entity.get("last") or "null") or {}) or None
        except ValueError:
            return None
