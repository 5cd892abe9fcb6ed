"""The app-level breaker: failures of the app's own identity pause the work for every tenant.

A managed identity endpoint that does not answer, a federated credential that matches nothing,
an assertion Entra refuses, a certificate the app does not trust: each hits every tenant at once
(docs/decisions.md#secretless-token-chain). Counting them against each tenant would quarantine
every customer because the app itself blipped. Instead the first such failure trips this
breaker: for `pause` the worker sends its messages back to the queue untouched (no tenant is
called, no tenant's health changes), and `GET /api/health` names the outage with its
remediation. After the pause the next message tries again; a success closes the breaker, a
new app-wide failure extends it. A row whose message runs out of deliveries meanwhile ends
`blocked` with the app-level error.

The state is one entity in the tenants table, shared by every worker process; each process
reads it at most every `cache_s` seconds (a message costs no extra storage call). Opening and
closing it are events (app_outage, app_recovered): only the process whose write opened it (a
conditional create) or closed it (a conditional delete) emits, once per outage.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.errors import AppDisabled, AppDisabledAtHome, XtenantError
from shared.notify import events
from shared.notify.outbox import Emit, nowhere

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

_PARTITION, _ROW = "app", "identity"
#: seconds a home-tenant verdict is reused: a thousand tenants refusing at once cost one probe
HOME_CHECK_TTL_S = 30.0


@dataclass(frozen=True)
class AppOutage:
    """The app-wide failure that pauses the work, until when."""

    until: datetime
    error: dict[str, Any]
    since: datetime

    def as_record(self) -> dict[str, Any]:
        return {
            "status": "paused",
            "until": self.until.isoformat(),
            "since": self.since.isoformat(),
            "error": self.error,
        }


class AppBreaker:
    def __init__(
        self,
        table: TableClient,
        *,
        pause: timedelta = timedelta(seconds=60),
        cache_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        notify: Emit = nowhere,
    ) -> None:
        self.table = table
        self.pause = pause
        self.cache_s = cache_s
        self._notify = notify
        self._clock = clock
        self._cached: AppOutage | None = None
        self._read_at = float("-inf")

    async def outage(self, now: datetime) -> AppOutage | None:
        """The outage in force now, or None (after its pause, the next message tries again)."""
        if self._clock() - self._read_at >= self.cache_s:
            self._cached = await self._read()
            self._read_at = self._clock()
        current = self._cached
        return current if current is not None and now < current.until else None

    async def trip(self, error: XtenantError, now: datetime) -> AppOutage:
        """Pause the work for every process; a longer pause already in force stays."""
        from azure.core.exceptions import ResourceExistsError

        known = await self._read()
        since = known.since if known is not None else now
        until = max(now + self.pause, known.until if known is not None else now)
        outage = AppOutage(until, error.as_record(), since)
        entity = {
            "PartitionKey": _PARTITION,
            "RowKey": _ROW,
            "until": outage.until.isoformat(),
            "since": outage.since.isoformat(),
            "error": json.dumps(outage.error),
        }
        if known is not None:
            await self.table.upsert_entity(entity)
        else:
            try:
                await self.table.create_entity(entity)
            except ResourceExistsError:  # another process opened it first
                return await self.trip(error, now)
            await self._notify(
                events.app_outage(
                    outage.error, since=since.isoformat(), until=until.isoformat(), now=now
                )
            )
        self._cached, self._read_at = outage, self._clock()
        return outage

    async def recovered(self) -> None:
        """A tenant job got through: close the breaker if this process saw it open."""
        if self._cached is None:
            return
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        try:
            entity = await self.table.get_entity(_PARTITION, _ROW)
            await self.table.delete_entity(
                _PARTITION,
                _ROW,
                etag=entity.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceNotFoundError, ResourceModifiedError):
            pass  # closed by another process, or opened again meanwhile: nothing to tell
        else:
            since = str(entity.get("since") or entity.get("until"))
            await self._notify(events.app_recovered(since=since, now=datetime.now(UTC)))
        self._cached, self._read_at = None, self._clock()

    async def _read(self) -> AppOutage | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = await self.table.get_entity(_PARTITION, _ROW)
        except ResourceNotFoundError:
            return None
        return AppOutage(
            datetime.fromisoformat(entity["until"]),
            json.loads(entity.get("error") or "{}"),
            datetime.fromisoformat(entity.get("since") or entity["until"]),
        )


class HomeCheck:
    """Is the app disabled in its own home tenant? Asked when a tenant answers "the app is
    disabled" (AADSTS7000112/500014), which a customer's admin causes in one tenant, and a
    disabled app registration at home causes in every tenant at once. A fresh token request in
    the home tenant tells them apart (docs/decisions.md#app-wide-failures): if it is refused the
    same way, the failure is the app's own (app-wide), else the tenant's.

    `probe` requests a new token in the home tenant and raises the typed error if refused. One
    probe at a time; its verdict is reused for `ttl_s`.
    """

    def __init__(
        self,
        probe: Callable[[], Awaitable[object]],
        *,
        ttl_s: float = HOME_CHECK_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._verdict: bool | None = None
        self._at = float("-inf")
        self.probes = 0

    async def escalate(self, error: XtenantError) -> XtenantError:
        """`error`, or AppDisabledAtHome when it is an AppDisabled the home tenant shares."""
        if isinstance(error, AppDisabled) and await self.disabled_at_home():
            return AppDisabledAtHome(error)
        return error

    async def disabled_at_home(self) -> bool:
        async with self._lock:
            if self._verdict is None or self._clock() - self._at >= self._ttl_s:
                self._verdict = await self._ask()
                self._at = self._clock()
            return self._verdict

    async def _ask(self) -> bool:
        self.probes += 1
        try:
            await self._probe()
        except AppDisabled:
            return True
        except Exception:  # any other answer says nothing about the app being disabled
            return False
        return False
