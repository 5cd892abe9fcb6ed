"""Acting on a run after it started: re-run its failed and skipped rows, or cancel its queued ones.

Both need the role that starting the run needed: plan, and apply as well when any of its rows
applies. A re-run is a new run, linked to the original (`rerun_of`), with each row's own job,
mode and params as the original recorded them; rows whose tenant was removed since, or whose
effective enrolment (its own, or its groups') was lowered to report (a manual run never raises
a mode), are left out and said so.
Cancelling ends the queued rows `cancelled` (the worker completes their messages without acting)
and leaves the rest: a row a delivery already took runs to its end.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.api import (
    ApiResponse,
    error,
    forbidden,
    held_answer,
    json_error,
    parse_json,
    replay_of,
)
from shared.auth.principal import Principal
from shared.auth.roles import Role
from shared.groups import Targeting
from shared.ids import InvalidRunId, new_run_id, validate_run_id
from shared.ledger import RowSpec
from shared.pipeline import shared_mode_and_job, start_rerun
from shared.results import Mode, RunState, Status
from shared.rollout import (
    expire_if_due,
    needs_approval,
    release,
    start_held,
    update_run,
)
from shared.services import Services
from shared.stored import from_text
from shared.tenants import Tenant

#: The rows a re-run repeats: those that did not get done (blocked: by an app-wide outage).
RERUN = frozenset({Status.FAILED, Status.SKIPPED, Status.BLOCKED})


async def rerun(
    services: Services, run_id: str, *, caller: Principal, idempotency_key: str | None = None
) -> ApiResponse:
    """POST /api/runs/{id}/rerun -> 202 with the new run, or 404 / 403 / 409."""
    found = await _run(services, run_id)
    if isinstance(found, ApiResponse):
        return found
    rows = await services.runs.rows_in(run_id, RERUN)
    if any(r.get("mode") == Mode.APPLY.value for r in rows) and not caller.may(Role.APPLY):
        return forbidden(Role.APPLY)
    registered = {t.tenant_id: t for t in await services.registry.list()}
    work, left_out = _work(rows, registered, await services.groups.targeting())
    if not work:
        reason = "left out: " + "; ".join(left_out[:5]) if left_out else "none failed or skipped"
        return error(409, "nothing_to_rerun", f"run {run_id} has no row to re-run ({reason})")
    new_id = new_run_id()
    if idempotency_key is not None:
        replay = await replay_of(services, caller, idempotency_key, {"rerun": run_id}, new_id)
        if replay is not None:
            return replay
    if needs_approval(services, work):
        mode, job = shared_mode_and_job(work)
        held = await start_held(
            services,
            work,
            run_id=new_id,
            approval=True,
            max_failure_rate=0.0,
            rings=0,
            requested_by=caller.display,
            requested_by_id=caller.object_id,
            mode=mode,
            job=job,
            rerun_of=run_id,
        )
        answer = held_answer(services, held)
        assert isinstance(answer.body, dict)
        answer.body.update(rerun_of=run_id, rows=len(work), left_out=left_out)
        return answer
    started = await start_rerun(
        services,
        work,
        rerun_of=run_id,
        requested_by=caller.display,
        requested_by_id=caller.object_id,
        run_id=new_id,
    )
    status_url = f"{services.settings.public_url}/api/runs/{started.run_id}"
    body: dict[str, Any] = {
        "run_id": started.run_id,
        "rerun_of": run_id,
        "rows": len(work),
        "messages": started.messages,
        "left_out": left_out,
        "status_url": status_url,
    }
    return ApiResponse(202, body, {"Location": status_url})


async def cancel(services: Services, run_id: str, *, caller: Principal) -> ApiResponse:
    """POST /api/runs/{id}/cancel -> 200 with how many rows were cancelled."""
    found = await _run(services, run_id)
    if isinstance(found, ApiResponse):
        return found
    if not caller.may(Role.APPLY) and await _applies(services, run_id, found):
        return forbidden(Role.APPLY)
    cancelled, taken = await services.ledger.cancel_queued(run_id, f"cancelled by {caller.display}")
    body = {"run_id": run_id, "cancelled": cancelled, "already_started": taken}
    return ApiResponse(200, body)


async def _run(services: Services, run_id: str) -> dict[str, Any] | ApiResponse:
    """The run's entity (with its ETag, for update_run), or the 400 / 404 answer."""
    try:
        validate_run_id(run_id)
    except InvalidRunId as exc:
        return error(400, exc.error_class, exc.message)
    run = await services.runs.run_entity(run_id)
    return run if run is not None else error(404, "run_not_found", f"no run {run_id}")


async def _applies(services: Services, run_id: str, run: dict[str, Any]) -> bool:
    """Whether any row a cancel would end applies (a scheduled run's rows have their own
    modes)."""
    if run.get("mode") in (Mode.APPLY.value, Mode.PLAN.value):
        return bool(run["mode"] == Mode.APPLY.value)
    queued = await services.runs.rows_in(run_id, frozenset({Status.QUEUED}))
    return any(r.get("mode") == Mode.APPLY.value for r in queued)


def _work(
    rows: list[dict[str, Any]], registered: dict[str, Tenant], targeting: Targeting
) -> tuple[list[RowSpec], list[str]]:
    work: list[RowSpec] = []
    left_out: list[str] = []
    for row in rows:
        tenant, job, mode = registered.get(row["tenant_id"]), row["job"], Mode(row["mode"])
        enrolled = targeting.effective(tenant).get(job) if tenant else None
        if tenant is None:
            left_out.append(f"{row['tenant_id']} {job}: the tenant is no longer registered")
        elif enrolled is not None and not enrolled[0].mode.allows(mode):
            left_out.append(f"{row['tenant_id']} {job}: enrolled in report mode now")
        else:
            params = from_text(row.get("params")) or {}
            work.append(RowSpec(tenant.tenant_id, job, mode, params, tenant.name))
    return work, left_out


# --- approval and rollout (shared/rollout.py) ---------------------------------------------


async def approve(services: Services, run_id: str, *, caller: Principal) -> ApiResponse:
    """POST /api/runs/{id}/approve (admin): another operator lets the run go."""
    entity = await _awaiting(services, run_id)
    if isinstance(entity, ApiResponse):
        return entity
    if caller.object_id and caller.object_id == entity.get("requested_by_id"):
        return error(
            403,
            "own_run",
            "the requester cannot approve their own run: another operator with the admin role "
            "must (four eyes)",
        )
    fields = {
        "state": RunState.ROLLING.value,
        "approved_by": caller.display,
        "approved_by_id": caller.object_id,
        "approved_at": datetime.now(UTC).isoformat(),
    }
    if not await update_run(services, entity, fields):
        return error(409, "run_changed", "the run changed meanwhile; read it and try again")
    rings = int(entity.get("rings_total") or 0)
    released = await release(services, run_id, 0 if rings else None)
    body = {"run_id": run_id, "state": RunState.ROLLING.value, "approved_by": caller.display}
    return ApiResponse(200, body | {"released": released})


async def reject(services: Services, run_id: str, body: bytes, *, caller: Principal) -> ApiResponse:
    """POST /api/runs/{id}/reject {reason?} (admin): the run never goes; its rows end cancelled."""
    reason = _reason(body)
    if isinstance(reason, ApiResponse):
        return reason
    entity = await _awaiting(services, run_id)
    if isinstance(entity, ApiResponse):
        return entity
    fields = {
        "state": RunState.REJECTED.value,
        "rejected_by": caller.display,
        "rejected_by_id": caller.object_id,
        "rejected_at": datetime.now(UTC).isoformat(),
        "reject_reason": reason,
    }
    if not await update_run(services, entity, fields):
        return error(409, "run_changed", "the run changed meanwhile; read it and try again")
    cancelled, _ = await services.ledger.cancel_queued(
        run_id, f"rejected by {caller.display}", error_class="rejected"
    )
    return ApiResponse(200, {"run_id": run_id, "state": "rejected", "cancelled": cancelled})


async def resume(services: Services, run_id: str, *, caller: Principal) -> ApiResponse:
    """POST /api/runs/{id}/resume (apply): a halted run's next ring goes."""
    entity = await _in_state(services, run_id, RunState.HALTED)
    if isinstance(entity, ApiResponse):
        return entity
    ring = int(entity.get("ring") or 0) + 1
    fields = {"state": RunState.ROLLING.value, "ring": ring, "resumed_by": caller.display}
    if not await update_run(services, entity, fields):
        return error(409, "run_changed", "the run changed meanwhile; read it and try again")
    released = await release(services, run_id, ring)
    return ApiResponse(
        200, {"run_id": run_id, "state": "rolling", "ring": ring, "released": released}
    )


async def abort(services: Services, run_id: str, *, caller: Principal) -> ApiResponse:
    """POST /api/runs/{id}/abort (apply): a halted or rolling run stops; held rows cancelled."""
    entity = await _run(services, run_id)
    if isinstance(entity, ApiResponse):
        return entity
    state = entity.get("state")
    if state not in (RunState.HALTED, RunState.ROLLING):
        return error(
            409,
            "not_abortable",
            f"run {run_id} is {state or 'not staged'}: only a "
            "halted or rolling run can be aborted (cancel ends any run's queued rows)",
        )
    if not await update_run(services, entity, {"state": RunState.ABORTED.value}):
        return error(409, "run_changed", "the run changed meanwhile; read it and try again")
    cancelled, _ = await services.ledger.cancel_queued(
        run_id, f"aborted by {caller.display}", error_class="aborted"
    )
    return ApiResponse(200, {"run_id": run_id, "state": "aborted", "cancelled": cancelled})


async def _awaiting(services: Services, run_id: str) -> Any:
    """The run entity if it awaits approval (an expired one is ended here), else the answer."""
    entity = await _in_state(services, run_id, RunState.AWAITING_APPROVAL)
    if isinstance(entity, ApiResponse):
        return entity
    if await expire_if_due(services, entity, datetime.now(UTC)):
        return error(
            409,
            "approval_expired",
            f"run {run_id} waited too long for approval and expired; start it again",
        )
    return entity


async def _in_state(services: Services, run_id: str, state: RunState) -> Any:
    entity = await _run(services, run_id)
    if isinstance(entity, ApiResponse):
        return entity
    current = entity.get("state")
    if current != state:
        return error(
            409,
            f"not_{state.value}",
            f"run {run_id} is {current or 'not staged'}, not {state.value}",
        )
    return entity


def _reason(body: bytes) -> str | ApiResponse:
    if not body:
        return ""
    try:
        request = parse_json(body)
    except ValueError as exc:
        return json_error(exc)
    if not isinstance(request, dict) or set(request) - {"reason"}:
        return error(400, "invalid_request", 'the body may only be {"reason": "..."}')
    reason = request.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 1000:
        return error(400, "invalid_request", "reason must be a string of at most 1000 characters")
    return reason
