"""Identifiers that reach URLs, table keys and queue messages: one rule each, full matches only.

A tenant id goes into the token URL's path and into table keys, a run id into table keys and
routes: only the exact forms below may get there (no `../x`, no host, no trailing newline, which
`re.match` with `$` would let through and Table storage then refuses).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from shared.errors import InvalidTenantId, XtenantError

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_RUN_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


class InvalidRunId(XtenantError, ValueError):
    error_class = "invalid_run_id"


def is_guid(value: object) -> bool:
    """True only for the canonical 8-4-4-4-12 hex form Entra uses for tenant and client ids."""
    return isinstance(value, str) and _GUID.fullmatch(value) is not None


def validate_tenant_id(tenant_id: object) -> str:
    """The tenant id in canonical lower case, or InvalidTenantId (nothing is trimmed)."""
    if not is_guid(tenant_id):
        shown = repr(tenant_id)[:60]
        raise InvalidTenantId(
            f"tenant id must be a GUID like 00000000-0000-0000-0000-000000000000, got {shown}",
            remediation="Use the tenant's directory (tenant) id from Entra ID, not a domain name.",
        )
    assert isinstance(tenant_id, str)
    return tenant_id.lower()


def is_run_id(value: object) -> bool:
    return isinstance(value, str) and _RUN_ID.fullmatch(value) is not None


def validate_run_id(run_id: object) -> str:
    if not is_run_id(run_id):
        raise InvalidRunId(
            f"run id must be 1-64 letters, digits or dashes, got {repr(run_id)[:60]}",
            remediation="Use the run_id that POST /api/runs or GET /api/runs returned.",
        )
    assert isinstance(run_id, str)
    return run_id


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: `20261128T220000Z-<8 hex>`."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{moment}-{uuid.uuid4().hex[:8]}"
