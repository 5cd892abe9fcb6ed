"""The runs pages: the list, one run (progress, rows, the actions its state allows), one row,
and starting a run. Each reads and acts through the same functions as the API routes.

Buttons are shown by role and state, but that is for the operator's eyes only: each action is
checked again by its route's role (shared/console/app.py) and by the shared function itself
(an apply needs the apply role, an approver must not be the requester).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from shared import api, run_actions
from shared.auth.roles import Role
from shared.console.render import outcome, problem, refused, render
from shared.console.routes import ROUTES, Visit, url
from shared.console.web import Answer, json_answer
from shared.jobs import JOBS
from shared.ledger import FINAL
from shared.results import RunState, Status

RUNS_PAGE = 20
ROWS_PAGE = 100
#: A run's rows a re-run would repeat, by status (shared/run_actions.py).
_RERUN = {s.value for s in run_actions.RERUN}
_OPEN = {Status.QUEUED.value, Status.HELD.value, Status.RUNNING.value}
_FINAL = {s.value for s in FINAL}


@ROUTES.page("GET", "runs", Role.READ)
async def runs_page(visit: Visit) -> Answer:
    query = {"limit": str(RUNS_PAGE)}
    query |= {k: visit.query(k) for k in ("status", "job", "cursor") if visit.query(k)}
    response = await api.list_runs(visit.services, query)
    if response.status != 200:
        return refused(visit, response)
    body = response.body
    assert isinstance(body, dict)
    filters = {k: visit.query(k) for k in ("status", "job")}
    return render(
        visit,
        "runs.html",
        runs=body["runs"],
        next=body["next"],
        filters=filters,
        jobs=sorted(JOBS),
        statuses=_STATUS_CHOICES,
    )


_STATUS_CHOICES = (
    "running",
    "succeeded",
    "partially_failed",
    "failed",
    "cancelled",
    RunState.AWAITING_APPROVAL.value,
    RunState.HALTED.value,
    RunState.REJECTED.value,
    RunState.EXPIRED.value,
)


@ROUTES.page("GET", "runs/{run_id}", Role.READ)
async def run_page(visit: Visit, run_id: str) -> Answer:
    query = {"rows_limit": str(ROWS_PAGE), "rows_after": visit.query("rows_after")}
    response = await api.get_run(visit.services, run_id, query)
    if response.status != 200:
        return refused(visit, response)
    run = response.body
    assert isinstance(run, dict)
    return render(
        visit,
        "run.html",
        run=run,
        actions=actions(visit, run),
        progress=progress(run),
        # one re-run per page shown, however often the button is pressed
        idempotency_key=secrets.token_urlsafe(16),
    )


def progress(run: dict[str, Any]) -> dict[str, Any]:
    """How far a run is: rows done of all, and whether it is still going."""
    totals: dict[str, int] = run.get("totals") or {}
    done = sum(n for status, n in totals.items() if status in _FINAL)
    total = int(run.get("rows_total") or sum(totals.values()))
    going = any(totals.get(s) for s in (Status.QUEUED.value, Status.RUNNING.value))
    return {"done": done, "total": total, "going": going and run.get("status") == "running"}


def actions(visit: Visit, run: dict[str, Any]) -> list[str]:
    """The actions this operator may take on this run now, in the order shown."""
    may, totals, state = visit.principal.may, run.get("totals") or {}, run.get("state")
    shown = []
    if may(Role.PLAN) and any(totals.get(s) for s in _RERUN):
        shown.append("rerun")
    if may(Role.PLAN) and any(totals.get(s) for s in _OPEN - {Status.RUNNING.value}):
        shown.append("cancel")
    own = run.get("requested_by_id") == visit.principal.object_id
    if state == RunState.AWAITING_APPROVAL and may(Role.ADMIN):
        shown += ["reject"] if own else ["approve", "reject"]
    if state == RunState.HALTED and may(Role.APPLY):
        shown.append("resume")
    if state in (RunState.HALTED, RunState.ROLLING) and may(Role.APPLY):
        shown.append("abort")
    return shown


@ROUTES.page("GET", "runs/{run_id}/progress", Role.READ)
async def run_progress(visit: Visit, run_id: str) -> Answer:
    """What the page's script polls while a run goes: status and counts, no rows."""
    response = await api.get_run(visit.services, run_id, {"rows_limit": "1"})
    if response.status != 200:
        return json_answer(response.status, response.body)
    run = response.body
    assert isinstance(run, dict)
    return json_answer(200, {"status": run["status"], "totals": run["totals"], **progress(run)})


@ROUTES.page("GET", "runs/{run_id}/rows/{tenant_id}/{job}", Role.READ)
async def row_page(visit: Visit, run_id: str, tenant_id: str, job: str) -> Answer:
    run = await api.get_run(visit.services, run_id, {"rows_limit": "1"})
    if run.status != 200:
        return refused(visit, run)
    row = await visit.services.runs.get_row(run_id, tenant_id.lower(), job)
    if row is None:
        return problem(visit, 404, "Not found", f"Run {run_id} has no row for that tenant and job.")
    return render(visit, "row.html", run=run.body, row=row)


# --- actions on a run --------------------------------------------------------------------------


@ROUTES.page("POST", "runs/{run_id}/rerun", Role.PLAN, audited=True)
async def rerun(visit: Visit, run_id: str) -> Answer:
    key = visit.field("idempotency_key") or None
    response = await run_actions.rerun(
        visit.services, run_id, caller=visit.principal, idempotency_key=key
    )
    new_id = response.body.get("run_id") if isinstance(response.body, dict) else None
    return outcome(visit, response, url(f"runs/{new_id}", notice="rerun_started"))


@ROUTES.page("POST", "runs/{run_id}/cancel", Role.PLAN, audited=True)
async def cancel(visit: Visit, run_id: str) -> Answer:
    response = await run_actions.cancel(visit.services, run_id, caller=visit.principal)
    return outcome(visit, response, url(f"runs/{run_id}", notice="cancelled"))


@ROUTES.page("POST", "runs/{run_id}/approve", Role.ADMIN, audited=True)
async def approve(visit: Visit, run_id: str) -> Answer:
    response = await run_actions.approve(visit.services, run_id, caller=visit.principal)
    return outcome(visit, response, url(f"runs/{run_id}", notice="approved"))


@ROUTES.page("POST", "runs/{run_id}/reject", Role.ADMIN, audited=True)
async def reject(visit: Visit, run_id: str) -> Answer:
    body = json.dumps({"reason": visit.field("reason")[:1000]}).encode()
    response = await run_actions.reject(visit.services, run_id, body, caller=visit.principal)
    return outcome(visit, response, url(f"runs/{run_id}", notice="rejected"))


@ROUTES.page("POST", "runs/{run_id}/resume", Role.APPLY, audited=True)
async def resume(visit: Visit, run_id: str) -> Answer:
    response = await run_actions.resume(visit.services, run_id, caller=visit.principal)
    return outcome(visit, response, url(f"runs/{run_id}", notice="resumed"))


@ROUTES.page("POST", "runs/{run_id}/abort", Role.APPLY, audited=True)
async def abort(visit: Visit, run_id: str) -> Answer:
    response = await run_actions.abort(visit.services, run_id, caller=visit.principal)
    return outcome(visit, response, url(f"runs/{run_id}", notice="aborted"))


# --- starting a run ----------------------------------------------------------------------------


@ROUTES.page("GET", "runs/new", Role.PLAN)
async def new_run(visit: Visit) -> Answer:
    return await _run_form(visit, chosen=[], job=visit.query("job"))


@ROUTES.page("POST", "runs/new", Role.PLAN)
async def new_run_for(visit: Visit) -> Answer:
    """The form for the tenants ticked on the tenants page (a POST: it can name many)."""
    return await _run_form(visit, chosen=visit.fields("tenant")[:1000], job=visit.field("job"))


async def _run_form(
    visit: Visit,
    *,
    chosen: list[str],
    job: str,
    status: int = 200,
    problems: Sequence[str] = (),
) -> Answer:
    registered = {t.tenant_id: t for t in await visit.services.registry.list()}
    picked = [registered[t] for t in chosen if t in registered]
    values = {
        "jobs": list(JOBS.values()),
        "job": job,
        "picked": picked,
        "enabled": sum(1 for t in registered.values() if t.enabled),
        "tenant_ids": visit.field("tenant_ids"),
        "idempotency_key": secrets.token_urlsafe(16),
        "problems": list(problems),
    }
    return render(visit, "new_run.html", status=status, **values)


@ROUTES.page("POST", "runs", Role.PLAN, audited=True)
async def start_run(visit: Visit) -> Answer:
    """Start the run the form describes (an apply needs the apply role: api.post_run)."""
    request = {
        "job": visit.field("job"),
        "mode": visit.field("mode"),
        "tenants": _tenants(visit),
        "params": _params(visit.field("params")),
    }
    response = await api.post_run(
        visit.services,
        json.dumps(request).encode(),
        caller=visit.principal,
        idempotency_key=visit.field("idempotency_key") or None,
    )
    body = response.body if isinstance(response.body, dict) else {}
    if response.status in (200, 202):
        return outcome(visit, response, url(f"runs/{body['run_id']}", notice="started"))
    visit.answered = response
    if response.status == 400:
        problems = body.get("error", {}).get("problems") or [body.get("error", {}).get("message")]
        return await _run_form(
            visit,
            chosen=visit.fields("tenant"),
            job=visit.field("job"),
            status=400,
            problems=[str(p) for p in problems],
        )
    return refused(visit, response)


def _tenants(visit: Visit) -> list[str] | str:
    if visit.field("scope") == "all":
        return "all"
    typed = visit.field("tenant_ids").replace(",", " ").split()
    return list(dict.fromkeys(visit.fields("tenant") + typed))


def _params(text: str) -> Any:
    """The params field as JSON (an object); anything else goes on to be refused by the API."""
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text
