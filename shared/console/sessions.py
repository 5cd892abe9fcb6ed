"""The console's sessions, kept server-side in their own table; the browser holds only an id.

Table `xtenantconsole`. Partition `session`: one signed-in operator (object id, name, roles, a
CSRF token), valid for `SESSION_HOURS` at most and ended after `IDLE_MINUTES` without a request.
Partition `flow`: one sign-in on its way (MSAL's auth code flow: state, nonce, PKCE verifier),
valid `FLOW_MINUTES` and taken once. The cookie carries 256 random bits; the table keeps only
their SHA-256, so whoever reads the table cannot act as anyone. A sign-in always ends in a new
id (the flow's is deleted), so an id planted before sign-in is worth nothing afterwards
(session fixation, OWASP Session Management Cheat Sheet).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.auth.principal import Principal, PrincipalKind
from shared.auth.roles import Role

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

TABLE = "xtenantconsole"
SESSION_HOURS = 8
IDLE_MINUTES = 60
FLOW_MINUTES = 10
#: A session's idle deadline is written again only once it is this old: not on every page.
_TOUCH_AFTER = timedelta(minutes=5)
_SESSION, _FLOW = "session", "flow"
_ID_CHARS = 43  # secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    """A signed-in operator, as the console serves them."""

    principal: Principal
    csrf: str
    expires_at: datetime
    idle_until: datetime


@dataclass(frozen=True)
class PendingSignIn:
    """MSAL's auth code flow, and the console page the operator asked for."""

    flow: dict[str, Any]
    next_path: str


def new_id() -> str:
    return secrets.token_urlsafe(32)


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _usable(session_id: str | None) -> bool:
    return bool(session_id) and len(session_id or "") == _ID_CHARS


class SessionStore:
    """Sessions and pending sign-ins by cookie value; nothing here knows HTTP."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    async def ensure_table(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            await self.table.create_table()

    async def start_sign_in(self, pending: PendingSignIn, *, now: datetime) -> str:
        """Keep a sign-in's flow; returns the id the browser carries to the callback."""
        flow_id = new_id()
        await self._purge(_FLOW, now)
        await self.table.create_entity(
            {
                "PartitionKey": _FLOW,
                "RowKey": _key(flow_id),
                "flow": json.dumps(pending.flow),
                "next_path": pending.next_path,
                "expires_at": (now + timedelta(minutes=FLOW_MINUTES)).isoformat(),
            }
        )
        return flow_id

    async def take_sign_in(self, flow_id: str | None, *, now: datetime) -> PendingSignIn | None:
        """The pending sign-in, once (a conditional delete: of two callbacks, one gets it)."""
        entity = await self._entity(_FLOW, flow_id)
        if entity is None or not await self._delete(entity):
            return None
        if datetime.fromisoformat(entity["expires_at"]) <= now:
            return None
        return PendingSignIn(json.loads(entity["flow"]), str(entity["next_path"]))

    async def create(self, principal: Principal, *, now: datetime) -> tuple[str, Session]:
        """A new session for a verified operator; returns the cookie value and the session."""
        session_id = new_id()
        session = Session(
            principal=principal,
            csrf=secrets.token_urlsafe(32),
            expires_at=now + timedelta(hours=SESSION_HOURS),
            idle_until=now + timedelta(minutes=IDLE_MINUTES),
        )
        await self._purge(_SESSION, now)
        await self.table.create_entity({"RowKey": _key(session_id), **_session_entity(session)})
        return session_id, session

    async def get(self, session_id: str | None, *, now: datetime) -> Session | None:
        """The live session for a cookie value; an ended one is deleted and None returned."""
        entity = await self._entity(_SESSION, session_id)
        if entity is None:
            return None
        session = _session(entity)
        if session.expires_at <= now or session.idle_until <= now:
            await self._delete(entity)
            return None
        return await self._touched(entity, session, now)

    async def end(self, session_id: str | None) -> None:
        """Sign out: the session is gone, whatever the cookie still says."""
        from azure.core.exceptions import ResourceNotFoundError

        if _usable(session_id):
            with contextlib.suppress(ResourceNotFoundError):
                await self.table.delete_entity(_SESSION, _key(str(session_id)))

    async def _touched(self, entity: dict[str, Any], session: Session, now: datetime) -> Session:
        """Slide the idle deadline, writing only when the last write is `_TOUCH_AFTER` old."""
        idle_until = min(now + timedelta(minutes=IDLE_MINUTES), session.expires_at)
        if idle_until - session.idle_until < _TOUCH_AFTER:
            return session
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        update = {"PartitionKey": _SESSION, "RowKey": entity["RowKey"]}
        with contextlib.suppress(ResourceNotFoundError):  # signed out meanwhile: this page only
            await self.table.update_entity(
                update | {"idle_until": idle_until.isoformat()}, mode=UpdateMode.MERGE
            )
        return Session(session.principal, session.csrf, session.expires_at, idle_until)

    async def _entity(self, partition: str, some_id: str | None) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        if not _usable(some_id):
            return None
        try:
            found = await self.table.get_entity(partition, _key(str(some_id)))
        except ResourceNotFoundError:
            return None
        return dict(found) | {"etag": found.metadata["etag"]}

    async def _delete(self, entity: dict[str, Any]) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        try:
            await self.table.delete_entity(
                entity["PartitionKey"],
                entity["RowKey"],
                etag=entity["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    async def _purge(self, partition: str, now: datetime) -> None:
        """Delete a few ended entries of the partition: it stays small without a timer."""
        old = self.table.query_entities(
            "PartitionKey eq @p and expires_at lt @now",
            parameters={"p": partition, "now": now.isoformat()},
            select=["PartitionKey", "RowKey"],
            results_per_page=20,
        )
        from azure.core.exceptions import ResourceNotFoundError

        deleted = 0
        async for entity in old:
            with contextlib.suppress(ResourceNotFoundError):
                await self.table.delete_entity(partition, entity["RowKey"])
            deleted += 1
            if deleted >= 20:
                break


def _session_entity(session: Session) -> dict[str, Any]:
    principal = session.principal
    return {
        "PartitionKey": _SESSION,
        "object_id": principal.object_id,
        "name": principal.name,
        "app_id": principal.app_id,
        "roles": ",".join(sorted(r.value for r in principal.roles)),
        "csrf": session.csrf,
        "expires_at": session.expires_at.isoformat(),
        "idle_until": session.idle_until.isoformat(),
    }


def _session(entity: dict[str, Any]) -> Session:
    values = {role.value: role for role in Role}
    roles = frozenset(values[r] for r in str(entity.get("roles", "")).split(",") if r in values)
    principal = Principal(
        object_id=str(entity["object_id"]),
        kind=PrincipalKind.USER,
        name=str(entity.get("name", "")),
        app_id=str(entity.get("app_id", "")),
        roles=roles,
    )
    return Session(
        principal=principal,
        csrf=str(entity["csrf"]),
        expires_at=datetime.fromisoformat(str(entity["expires_at"])),
        idle_until=datetime.fromisoformat(str(entity["idle_until"])),
    )
