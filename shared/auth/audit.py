"""The audit trail: one record per call that changes something, kept in its own table.

Table `xtenantaudit`, one partition; RowKey = inverted time + random, so a plain query reads
newest first and a page continues after the last RowKey it showed. The API only appends and
reads: there is no route that changes or deletes a record. A record says who (object id, name,
app id), when, the method and path, the targets (tenant ids, run id), a short summary of the
request (never a token: the Authorization header is not read here) and the answer's status.

Writing a record never fails a call: a failure is logged at ERROR with the record's content,
so the call's effect is still traceable from the logs.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.auth.principal import Principal

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

log = logging.getLogger(__name__)

TABLE = "xtenantaudit"
_PARTITION = "audit"
MAX_PAGE = 100
SUMMARY_CHARS = 1000
#: Larger than any time in microseconds since 1970 until the year 5138.
_INVERT = 10**17 - 1
#: A run over every enabled tenant names no tenant ids; a tenant filter still finds it.
ALL_TENANTS = "all"


@dataclass(frozen=True)
class Actor:
    """Who made a call, as the record keeps it (a principal, or the anonymous consent page)."""

    kind: str
    object_id: str = ""
    name: str = ""
    app_id: str = ""

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.kind.value, principal.object_id, principal.name, principal.app_id)


#: The consent callback is anonymous: Entra redirects the customer's administrator to it.
CONSENT_CALLBACK = Actor("anonymous", name="admin-consent callback")


@dataclass(frozen=True)
class AuditRecord:
    actor: Actor
    method: str
    path: str
    status: int
    summary: str = ""
    tenant_ids: tuple[str, ...] = ()
    run_id: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def view(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "principal": asdict(self.actor),
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "tenant_ids": list(self.tenant_ids),
            "run_id": self.run_id or None,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class AuditQuery:
    principal: str | None = None
    tenant: str | None = None
    limit: int = 50
    cursor: str | None = None


class InvalidCursor(ValueError):
    """A cursor this API did not hand out."""


def summarize(query: Mapping[str, str], body: Any) -> str:
    """The request's query and JSON body, compact and cut at SUMMARY_CHARS."""
    parts = []
    shown = {k: v[:200] for k, v in query.items() if k != "code"}  # `code`: a function key
    if shown:
        parts.append("query " + json.dumps(shown, sort_keys=True))
    if body is not None:
        parts.append("body " + json.dumps(body, sort_keys=True, separators=(",", ":")))
    text = "; ".join(parts)
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 12] + " (truncated)"


def _row_key(at: datetime) -> str:
    micros = int(at.timestamp() * 1_000_000)
    return f"{_INVERT - micros:017d}-{secrets.token_hex(4)}"


def _entity(record: AuditRecord) -> dict[str, Any]:
    return {
        "PartitionKey": _PARTITION,
        "RowKey": _row_key(record.at),
        "at": record.at.isoformat(),
        "principal_kind": record.actor.kind,
        "principal_id": record.actor.object_id,
        "principal_name": record.actor.name,
        "principal_app_id": record.actor.app_id,
        "method": record.method,
        "path": record.path[:300],
        "status": record.status,
        "tenant_ids": ",".join(record.tenant_ids),
        "run_id": record.run_id,
        "summary": record.summary[:SUMMARY_CHARS],
    }


def _view(entity: Mapping[str, Any]) -> dict[str, Any]:
    tenants = str(entity.get("tenant_ids") or "")
    record = AuditRecord(
        actor=Actor(
            str(entity.get("principal_kind", "")),
            str(entity.get("principal_id", "")),
            str(entity.get("principal_name", "")),
            str(entity.get("principal_app_id", "")),
        ),
        method=str(entity.get("method", "")),
        path=str(entity.get("path", "")),
        status=int(entity.get("status", 0)),
        summary=str(entity.get("summary", "")),
        tenant_ids=tuple(t for t in tenants.split(",") if t),
        run_id=str(entity.get("run_id", "")),
        at=datetime.fromisoformat(str(entity["at"])),
    )
    return record.view()


def _concerns(entity: Mapping[str, Any], tenant: str | None) -> bool:
    if tenant is None:
        return True
    named = str(entity.get("tenant_ids") or "").split(",")
    return tenant in named or ALL_TENANTS in named


class AuditTrail:
    """Append and read audit records (no update, no delete)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    async def ensure_table(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            await self.table.create_table()

    async def write(self, record: AuditRecord) -> None:
        """Append one record; a failure is logged loudly, never raised to the caller."""
        try:
            await self.table.create_entity(_entity(record))
        except Exception:
            log.exception("AUDIT RECORD NOT WRITTEN: %s", json.dumps(record.view()))

    async def page(self, query: AuditQuery) -> dict[str, Any]:
        """Newest first, `limit` records, filtered; `next` is the cursor of the next page."""
        clauses, parameters = ["PartitionKey eq @p"], {"p": _PARTITION}
        after = _decode(query.cursor)
        if after is not None:
            clauses.append("RowKey gt @after")
            parameters["after"] = after
        if query.principal is not None:
            clauses.append("principal_id eq @principal")
            parameters["principal"] = query.principal
        entities = self.table.query_entities(" and ".join(clauses), parameters=parameters)
        found: list[Mapping[str, Any]] = []
        async for entity in entities:
            if _concerns(entity, query.tenant):
                found.append(entity)
                if len(found) > query.limit:
                    break
        return _page(found, query.limit)


def _page(found: Sequence[Mapping[str, Any]], limit: int) -> dict[str, Any]:
    shown = found[:limit]
    more = len(found) > limit
    return {
        "records": [_view(e) for e in shown],
        "next": _encode(str(shown[-1]["RowKey"])) if more else None,
    }


def _encode(row_key: str) -> str:
    return base64.urlsafe_b64encode(row_key.encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        row_key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        raise InvalidCursor("cursor is not one this API returned (use `next` as given)") from None
    if not row_key[:17].isdigit():
        raise InvalidCursor("cursor is not one this API returned (use `next` as given)")
    return row_key
