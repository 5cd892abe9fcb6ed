"""The tenants pages: the registry (paged, with health and enrolments), one tenant (its recent
rows, its compliance, a connection check) and issuing an onboarding link (admin)."""

from __future__ import annotations

from typing import Any

from shared import compliance_api, onboarding, tenant_api
from shared.auth.roles import Role
from shared.console.render import refused, render
from shared.console.routes import ROUTES, Visit
from shared.console.web import Answer
from shared.jobs import JOBS

TENANTS_PAGE = 50
RECENT_ROWS = 20


def offset(visit: Visit) -> int:
    """A list page's start (the `cursor` this console handed out); 0 for anything else."""
    cursor = visit.query("cursor")
    return int(cursor) if cursor.isdigit() and int(cursor) < 1_000_000 else 0


@ROUTES.page("GET", "tenants", Role.READ)
async def tenants_page(visit: Visit) -> Answer:
    tenants = sorted(
        await visit.services.registry.list(), key=lambda t: (t.name.lower(), t.tenant_id)
    )
    start = offset(visit)
    shown = tenants[start : start + TENANTS_PAGE]
    following = start + TENANTS_PAGE if start + TENANTS_PAGE < len(tenants) else None
    records = [t.as_record() for t in shown]
    return render(
        visit, "tenants.html", tenants=records, start=start, next=following, total=len(tenants)
    )


@ROUTES.page("GET", "tenants/{tenant_id}", Role.READ)
async def tenant_page(visit: Visit, tenant_id: str) -> Answer:
    found = await tenant_api.get_tenant(visit.services, tenant_id)
    if found.status != 200:
        return refused(visit, found)
    tenant = found.body
    assert isinstance(tenant, dict)
    rows = await tenant_api.tenant_runs(visit.services, tenant["tenant_id"])
    recent = rows.body.get("rows", []) if isinstance(rows.body, dict) else []
    cells = await standards_of(visit, tenant["tenant_id"])
    return render(visit, "tenant.html", tenant=tenant, rows=recent[:RECENT_ROWS], cells=cells)


async def standards_of(visit: Visit, tenant_id: str) -> dict[str, dict[str, Any]]:
    """The tenant's compliance per standard (GET /api/compliance?tenant=), by standard."""
    response = await compliance_api.overview(visit.services, {"tenant": tenant_id})
    cells = response.body.get("cells", []) if isinstance(response.body, dict) else []
    return {str(c["standard"]): c for c in cells if c.get("standard") in JOBS}


@ROUTES.page("POST", "tenants/{tenant_id}/check", Role.PLAN, audited=True)
async def check(visit: Visit, tenant_id: str) -> Answer:
    response = await onboarding.check(visit.services, tenant_id)
    visit.answered = response
    if response.status != 200:
        return refused(visit, response)
    return render(visit, "check.html", result=response.body)


@ROUTES.page("GET", "onboard", Role.ADMIN)
async def onboard_form(visit: Visit) -> Answer:
    return render(visit, "onboard.html", link=None, tenant=visit.query("tenant"), name="")


@ROUTES.page("POST", "onboard", Role.ADMIN, audited=True)
async def onboard(visit: Visit) -> Answer:
    """A consent link for one tenant: shown once, here (the API's GET /api/onboard)."""
    tenant, name = visit.field("tenant").strip(), visit.field("name").strip()
    response = await onboarding.start(
        visit.services, tenant=tenant or None, name=name or None, issued_by=visit.principal
    )
    visit.answered = response
    if response.status != 200:
        return refused(visit, response)
    return render(visit, "onboard.html", link=response.body, tenant=tenant, name=name)
