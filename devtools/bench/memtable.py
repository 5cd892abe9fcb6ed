"""An in-memory stand-in for `azure.data.tables.aio.TableClient`, for the benchmark only.

It speaks the few calls the Ledger and the TenantRegistry make (get, upsert replace/merge,
conditional update, transactions, queries by partition), with ETags, so the worker path runs
its real storage code without a storage service competing for the machine's two cores.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableEntity, UpdateMode

_etags = itertools.count(1)


class MemoryTable:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.etags: dict[tuple[str, str], str] = {}
        self.calls = 0

    async def create_table(self) -> None:
        self.calls += 1

    async def get_entity(self, partition_key: str, row_key: str) -> TableEntity:
        self.calls += 1
        key = (partition_key, row_key)
        if key not in self.rows:
            raise ResourceNotFoundError("The specified resource does not exist.")
        entity = TableEntity(self.rows[key])
        entity._metadata = {"etag": self.etags[key], "timestamp": None}
        return entity

    def _put(self, entity: Mapping[str, Any], mode: UpdateMode) -> dict[str, Any]:
        key = (str(entity["PartitionKey"]), str(entity["RowKey"]))
        if mode is UpdateMode.MERGE and key in self.rows:
            self.rows[key] = {**self.rows[key], **entity}
        else:
            self.rows[key] = dict(entity)
        self.etags[key] = f'W/"{next(_etags)}"'
        return {"etag": self.etags[key]}

    async def upsert_entity(
        self, entity: Mapping[str, Any], mode: UpdateMode = UpdateMode.MERGE, **kwargs: Any
    ) -> dict[str, Any]:
        self.calls += 1
        return self._put(entity, mode)

    async def create_entity(self, entity: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if (str(entity["PartitionKey"]), str(entity["RowKey"])) in self.rows:
            raise ResourceExistsError("The specified entity already exists.")
        return self._put(entity, UpdateMode.REPLACE)

    async def update_entity(
        self,
        entity: Mapping[str, Any],
        mode: UpdateMode = UpdateMode.MERGE,
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        self.calls += 1
        key = (str(entity["PartitionKey"]), str(entity["RowKey"]))
        if key not in self.rows:
            raise ResourceNotFoundError("The specified resource does not exist.")
        if match_condition is MatchConditions.IfNotModified and etag != self.etags[key]:
            raise ResourceModifiedError(
                "The update condition specified in the request was not satisfied."
            )
        return self._put(entity, mode)

    async def submit_transaction(self, operations: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        self.calls += 1
        for _, entity in operations:
            self._put(entity, UpdateMode.MERGE)

    async def delete_entity(
        self,
        partition_key: str,
        row_key: str,
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
        **kwargs: Any,
    ) -> None:
        self.calls += 1
        key = (partition_key, row_key)
        conditional = match_condition is MatchConditions.IfNotModified and key in self.rows
        if conditional and etag != self.etags[key]:
            raise ResourceModifiedError("The condition specified was not satisfied.")
        self.rows.pop(key, None)

    def query_entities(self, query: str, **kwargs: Any) -> AsyncIterator[TableEntity]:
        raise NotImplementedError("the benchmark's worker path does not query")

    async def close(self) -> None:
        return None


class MemoryQueue:
    """The queue the worker path never reads (the host delivers its messages); kept for ready()."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def create_queue(self) -> None:
        return None

    async def send_message(self, content: str) -> None:
        self.sent.append(content)

    async def close(self) -> None:
        return None
