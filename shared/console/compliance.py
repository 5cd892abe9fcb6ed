"""The compliance pages: the tenants x standards matrix, one tenant's settings (desired,
observed, since) with accepted deviations, the drift timeline, and the audit trail (admin).

The matrix pages tenants, not cells: each page reads its tenants' summaries only (one
partition query per tenant, GET /api/compliance?tenant=), so a page costs the same at 1,000
tenants as at 10.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from shared import api, compliance_api
from shared.auth.roles import Role
from shared.console.render import outcome, refused, render
from shared.console.routes import ROUTES, Visit, url
from shared.console.tenants import offset, standards_of
from shared.console.web import Answer
from shared.jobs import JOBS

MATRIX_PAGE = 25
DRIFT_PAGE = 50
AUDIT_PAGE = 50
#: The drift timeline's default window, and an accepted deviation's default lifetime.
DRIFT_DAYS = 7
ACCEPT_DAYS = 90


def standards() -> list[str]:
    return sorted(name for name, job in JOBS.items() if job.kind == "standard")


@ROUTES.page("GET", "compliance", Role.READ)
async def matrix_page(visit: Visit) -> Answer:
    tenants = sorted(
        await visit.services.registry.list(), key=lambda t: (t.name.lower(), t.tenant_id)
    )
    start = offset(visit)
    shown = tenants[start : start + MATRIX_PAGE]
    cells = await asyncio.gather(*(standards_of(visit, t.tenant_id) for t in shown))
    rows = [{"tenant": t, "cells": c} for t, c in zip(shown, cells, strict=True)]
    following = start + MATRIX_PAGE if start + MATRIX_PAGE < len(tenants) else None
    return render(
        visit,
        "compliance.html",
        rows=rows,
        standards=standards(),
        start=start,
        next=following,
        total=len(tenants),
    )


@ROUTES.page("GET", "compliance/{tenant_id}", Role.READ)
async def tenant_settings(visit: Visit, tenant_id: str) -> Answer:
    response = await compliance_api.tenant_compliance(visit.services, tenant_id)
    if response.status != 200:
        return refused(visit, response)
    body = response.body
    assert isinstance(body, dict)
    tenant = await visit.services.registry.get(body["tenant_id"])
    wanted = visit.query("standard")
    settings = [s for s in body["settings"] if not wanted or s["standard"] == wanted]
    expires = (visit.now + timedelta(days=ACCEPT_DAYS)).date().isoformat()
    return render(
        visit,
        "settings.html",
        tenant_id=body["tenant_id"],
        tenant_name=tenant.name if tenant else "",
        settings=settings,
        standard=wanted,
        standards=standards(),
        expires=expires,
    )


@ROUTES.page("POST", "compliance/{tenant_id}/{standard}/{setting}/accept", Role.ADMIN, audited=True)
async def accept(visit: Visit, tenant_id: str, standard: str, setting: str) -> Answer:
    """Accept a deviation (PUT /api/tenants/{id}/exceptions/...): the value, why, until when."""
    body = {
        "value": _value(visit.field("value")),
        "reason": visit.field("reason"),
        "expires": _end_of_day(visit.field("expires")),
    }
    response = await compliance_api.accept(
        visit.services,
        tenant_id,
        standard,
        setting,
        json.dumps(body).encode(),
        caller=visit.principal,
    )
    then = url(f"compliance/{tenant_id}", standard=standard, notice="accepted")
    return outcome(visit, response, then)


@ROUTES.page(
    "POST", "compliance/{tenant_id}/{standard}/{setting}/withdraw", Role.ADMIN, audited=True
)
async def withdraw(visit: Visit, tenant_id: str, standard: str, setting: str) -> Answer:
    response = await compliance_api.withdraw(visit.services, tenant_id, standard, setting)
    then = url(f"compliance/{tenant_id}", standard=standard, notice="withdrawn")
    return outcome(visit, response, then)


def _value(text: str) -> Any:
    """The accepted value as JSON, or the text itself (a string value typed without quotes)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _end_of_day(day: str) -> str:
    """A date from the form's date field as the end of that day, UTC (an ISO time with zone)."""
    day = day.strip()
    return f"{day}T23:59:59+00:00" if len(day) == 10 else day


@ROUTES.page("GET", "drift", Role.READ)
async def drift_page(visit: Visit) -> Answer:
    since = visit.query("since") or (visit.now - timedelta(days=DRIFT_DAYS)).date().isoformat()
    query = {"since": since, "limit": str(DRIFT_PAGE), "cursor": visit.query("cursor")}
    response = await compliance_api.drift(visit.services, {k: v for k, v in query.items() if v})
    if response.status != 200:
        return refused(visit, response)
    body = response.body
    assert isinstance(body, dict)
    names = {t.tenant_id: t.name for t in await visit.services.registry.list()}
    return render(
        visit,
        "drift.html",
        transitions=body["transitions"],
        next=body["next"],
        since=since,
        names=names,
    )


@ROUTES.page("GET", "audit", Role.ADMIN)
async def audit_page(visit: Visit) -> Answer:
    query = {k: visit.query(k) for k in ("tenant", "principal", "cursor") if visit.query(k)}
    response = await api.list_audit(visit.services, query | {"limit": str(AUDIT_PAGE)})
    if response.status != 200:
        return refused(visit, response)
    body = response.body
    assert isinstance(body, dict)
    filters = {k: visit.query(k) for k in ("tenant", "principal")}
    return render(visit, "audit.html", records=body["records"], next=body["next"], filters=filters)
