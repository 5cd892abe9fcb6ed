"""The last failed delivery to each sink, kept where every worker process and GET /api/health
can read it.

One entity per sink in the tenants table (partition `app`, beside the app breaker's): the
event's kind and id, what the sink answered (an HTTP status, or `timeout` / the kind of
connection failure), when, and whether xtenant gave up on it. Never the URL: it is a secret.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

_PARTITION, _PREFIX = "app", "notifications|"


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
        entity = {
            "PartitionKey": _PARTITION,
            "RowKey": _PREFIX + failure.sink,
            "last": json.dumps(failure.as_record()),
        }
        await self.table.upsert_entity(entity)

    async def by_sink(self) -> dict[str, dict[str, Any]]:
        """Each sink's last failed delivery, by sink kind (sinks that never failed: absent)."""
        query = "PartitionKey eq @p and RowKey ge @lo and RowKey lt @hi"
        bounds = {"p": _PARTITION, "lo": _PREFIX, "hi": _PREFIX[:-1] + "}"}
        found = {}
        async for entity in self.table.query_entities(query, parameters=bounds):
            record = _record(entity.get("last"))
            if record is not None:
                found[str(entity["RowKey"])[len(_PREFIX) :]] = record
        return found

    async def last(self) -> dict[str, Any] | None:
        """The newest failed delivery to any sink."""
        failures = list((await self.by_sink()).values())
        return max(failures, key=lambda f: str(f.get("at"))) if failures else None


def _record(text: object) -> dict[str, Any] | None:
    try:
        value = json.loads(str(text))
    except ValueError:
        return None
    return dict(value) if isinstance(value, dict) else None
