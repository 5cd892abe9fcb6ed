"""`Idempotency-Key` for POST /api/runs: the same key within 24 hours is the same run.

A client that retries a POST after a lost answer, or two clicks that race, must not start two
runs (two runs applying ensure-group at once used to create the group twice). The key is
reserved first, by a conditional insert keyed by the caller and the key, naming the run id the
run will have; the second request with that key gets that run back and sends nothing. The same
key with a different request is refused: it names another run. Keys are per caller (one
operator cannot collide with another's keys) and kept in the runs table (partition
`idempotency`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

WINDOW = timedelta(hours=24)
_PARTITION = "idempotency"
_KEY = re.compile(r"[\x21-\x7e]{1,200}")


class InvalidKey(ValueError):
    """An Idempotency-Key header that is empty, too long or not printable ASCII."""


@dataclass(frozen=True)
class Reservation:
    run_id: str
    #: True when the key already named a run: answer with it, start nothing
    replayed: bool
    #: True when the key named a run started from a different request
    conflict: bool = False


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise InvalidKey("Idempotency-Key must be 1-200 printable ASCII characters")
    return key


def fingerprint(request: Any) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeys:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    async def reserve(
        self, *, caller: str, key: str, request: Any, run_id: str, now: datetime
    ) -> Reservation:
        """Reserve `key` for `run_id`, or return the run it already names (within 24 hours)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        entity = {
            "PartitionKey": _PARTITION,
            "RowKey": hashlib.sha256(f"{caller}\n{key}".encode()).hexdigest(),
            "run_id": run_id,
            "request": fingerprint(request),
            "created_at": now.isoformat(),
        }
        for _ in range(3):
            try:
                await self.table.create_entity(entity)
                return Reservation(run_id, replayed=False)
            except ResourceExistsError:
                found = await self.table.get_entity(_PARTITION, entity["RowKey"])
            if datetime.fromisoformat(found["created_at"]) + WINDOW > now:
                same = found.get("request") == entity["request"]
                return Reservation(str(found["run_id"]), replayed=True, conflict=not same)
            try:  # expired: the key may name a new run
                await self.table.update_entity(
                    entity,
                    etag=found.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return Reservation(run_id, replayed=False)
            except ResourceModifiedError:
                continue
        raise InvalidKey("Idempotency-Key is being reused concurrently; send the request again")
