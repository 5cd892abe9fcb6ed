"""Admin-consent states: single-use, expiring, kept server-side in the tenants table.

The `state` of an admin-consent link is random, stored (partition `onboarding`) with an expiry
and the one tenant the link is for, and spent exactly once by a conditional write: nothing is
signed, so no signing secret exists. The callback first finds the state (`find`), checks the
answer against it, and spends it (`spend`) only once the tenant's connection check obtained a
token: an answer for another tenant leaves the real administrator's link usable.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.errors import XtenantError

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

_PARTITION = "onboarding"
_STATE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
#: Spent and expired states are kept this long (to tell "used" and "expired" from "unknown").
_KEEP = timedelta(days=1)


class InvalidState(XtenantError, ValueError):
    """The callback's state is unknown, expired or already used: the answer is not trusted."""

    error_class = "invalid_state"


@dataclass(frozen=True)
class PendingConsent:
    """One `GET /api/onboard`, waiting for Entra's answer."""

    state: str
    expires_at: datetime
    redirect_uri: str
    tenant_id: str
    name: str = ""
    #: the operator who issued the link (UPN or app id) and their object id
    issued_by: str = ""
    issued_by_id: str = ""
    #: the stored entity's version: `spend` succeeds only if it is unchanged
    etag: str = field(default="", repr=False, compare=False)


class ConsentStates:
    """Single-use, expiring states in the tenants table (partition `onboarding`)."""

    def __init__(self, table: TableClient, *, ttl: timedelta) -> None:
        self.table = table
        self.ttl = ttl

    async def issue(self, *, redirect_uri: str, now: datetime, pending: Link) -> PendingConsent:
        """A new state for `pending`'s tenant, valid for `ttl`."""
        await self._purge(now)
        issued = PendingConsent(
            secrets.token_urlsafe(32),
            now + self.ttl,
            redirect_uri,
            pending.tenant_id,
            pending.name,
            pending.issued_by,
            pending.issued_by_id,
        )
        await self.table.create_entity(
            {
                "PartitionKey": _PARTITION,
                "RowKey": issued.state,
                "expires_at": issued.expires_at.isoformat(),
                "redirect_uri": redirect_uri,
                "tenant_id": issued.tenant_id,
                "name": issued.name,
                "issued_by": issued.issued_by[:256],
                "issued_by_id": issued.issued_by_id,
                "used_at": "",
            }
        )
        return issued

    async def find(self, state: str, *, now: datetime) -> PendingConsent:
        """The pending consent for `state`, not spent; InvalidState if it cannot be used."""
        from azure.core.exceptions import ResourceNotFoundError

        if not _STATE.fullmatch(state or ""):
            raise _unknown()
        try:
            found = await self.table.get_entity(_PARTITION, state)
        except ResourceNotFoundError:
            raise _unknown() from None
        entity = dict(found)
        if entity.get("used_at"):
            raise _used()
        if datetime.fromisoformat(entity["expires_at"]) <= now:
            raise _expired(self.ttl)
        return replace(_pending(state, entity), etag=str(found.metadata["etag"]))

    async def spend(self, pending: PendingConsent, *, now: datetime) -> None:
        """Mark the state used, if nothing changed it since `find`; InvalidState otherwise."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        entity = {"PartitionKey": _PARTITION, "RowKey": pending.state, "used_at": now.isoformat()}
        try:  # conditional: of two callbacks racing with the same state, one wins
            await self.table.update_entity(
                entity,
                mode=_merge(),
                etag=pending.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise _used() from None

    async def _purge(self, now: datetime) -> None:
        """Delete states expired more than a day ago; cheap, and keeps the partition small."""
        cutoff = (now - _KEEP).isoformat()
        old = self.table.query_entities(
            "PartitionKey eq @p and expires_at lt @cutoff",
            parameters={"p": _PARTITION, "cutoff": cutoff},
            select=["PartitionKey", "RowKey"],
        )
        async for entity in old:
            await self.table.delete_entity(_PARTITION, entity["RowKey"])


@dataclass(frozen=True)
class Link:
    """What a new consent link is for: one tenant, the name to give it, who asked."""

    tenant_id: str
    name: str = ""
    issued_by: str = ""
    issued_by_id: str = ""


def _merge() -> Any:
    from azure.data.tables import UpdateMode

    return UpdateMode.MERGE


def _pending(state: str, entity: dict[str, Any]) -> PendingConsent:
    return PendingConsent(
        state,
        datetime.fromisoformat(entity["expires_at"]),
        str(entity.get("redirect_uri", "")),
        str(entity.get("tenant_id", "")),
        str(entity.get("name", "")),
        str(entity.get("issued_by", "")),
        str(entity.get("issued_by_id", "")),
    )


def restart(why: str) -> InvalidState:
    return InvalidState(
        why, remediation="Ask the operator for a new consent link (GET /api/onboard)."
    )


def _unknown() -> InvalidState:
    return restart("This consent link is not one this app issued, or it expired long ago.")


def _used() -> InvalidState:
    return restart("This consent link has already been used.")


def _expired(ttl: timedelta) -> InvalidState:
    return restart(f"This consent link has expired (links are valid for {_days(ttl)}).")


def _days(ttl: timedelta) -> str:
    return "one day" if ttl.days == 1 else f"{ttl.days} days"
