"""Run one (tenant, job): the isolation boundary.

Whatever happens inside one tenant's job comes back as a TenantResult — data, never an
exception — so one tenant failing can neither stop nor hide another. Only cancellation passes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from shared.errors import NotLicensed, PermissionMissing, UnexpectedError, XtenantError
from shared.graph import GraphPool
from shared.jobs import ChangeOutcome, Plan, get_job
from shared.results import Mode, Status, TenantResult

log = logging.getLogger(__name__)


async def run_tenant_job(
    pool: GraphPool,
    *,
    tenant_id: str,
    job: str,
    mode: Mode | str,
    params: Mapping[str, Any] | None = None,
) -> TenantResult:
    """Plan, and in apply mode apply, one job in one tenant. Never raises (but cancellation).

    A permission refused with a token issued before the customer's admin granted it is asked
    once more with a new token: tokens carry the roles of when they were issued, for an hour.
    """
    started = time.monotonic()
    result = await _attempt(pool, tenant_id, job, Mode(mode), params)
    if isinstance(result.error, PermissionMissing):
        await pool.forget_token(tenant_id)
        again = await _attempt(pool, tenant_id, job, Mode(mode), params)
        again.graph_requests += result.graph_requests
        again.retries += result.retries
        again.waited_s += result.waited_s
        result = again
    result.duration_s = time.monotonic() - started
    return result


async def _attempt(
    pool: GraphPool, tenant_id: str, job: str, mode: Mode, params: Mapping[str, Any] | None
) -> TenantResult:
    result = TenantResult(tenant_id, job, mode, Status.RUNNING)
    session = None
    try:
        definition = get_job(job)
        typed_params = definition.parse_params(params)
        session = pool.session(tenant_id, permissions=definition.permissions)
        plan = await definition.plan(session, typed_params)
        _record_plan(result, plan)
        if result.mode is Mode.APPLY and plan.changes:
            _record_outcomes(result, await definition.apply(session, plan))
        else:  # plan mode, or nothing to apply
            result.status = Status.PLANNED if plan.changes else Status.NO_CHANGES
    except NotLicensed as exc:
        result.status, result.error = Status.NOT_LICENSED, exc
    except XtenantError as exc:
        result.status, result.error = Status.FAILED, exc
    except Exception as exc:  # the isolation boundary: a bug in one tenant's job stays there
        log.exception("unexpected failure in %s for tenant %s", job, tenant_id)
        result.status = Status.FAILED
        result.error = UnexpectedError(
            f"{type(exc).__name__}: {str(exc)[:300]}",
            tenant_id=tenant_id,
            remediation="A bug in xtenant: report it with the run id and this message.",
        )
    if session is not None:
        result.graph_requests = session.requests_sent
        result.retries, result.waited_s = session.budget.retries, session.budget.waited_s
    return result


def _record_plan(result: TenantResult, plan: Plan) -> None:
    result.changes_planned = len(plan.changes)
    result.changes = [change.as_record() for change in plan.changes]
    result.notes = list(plan.notes)


def _record_outcomes(result: TenantResult, outcomes: list[ChangeOutcome]) -> None:
    failed = [o for o in outcomes if not o.ok]
    result.changes_applied = len(outcomes) - len(failed)
    for record, outcome in zip(result.changes, outcomes, strict=False):
        record["outcome"] = outcome.error.error_class if outcome.error else "ok"
    if not failed:
        result.status = Status.CHANGED
        return
    result.status = Status.FAILED
    result.error = failed[0].error
    result.notes.append(f"{len(failed)} of {len(outcomes)} changes failed")
