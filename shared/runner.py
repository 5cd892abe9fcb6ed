"""Run one (tenant, job): the isolation boundary.

Whatever happens inside one tenant's job comes back as a TenantResult — data, never an
exception — so one tenant failing can neither stop nor hide another. Only cancellation passes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import NotApplicable, PermissionMissing, UnexpectedError, XtenantError
from shared.graph import GraphPool, GraphSession
from shared.jobs import ChangeOutcome, Finding, Job, Known, Plan, get_job
from shared.jobs.applicability import LicenceCache, TenantFacts, unmet, usable_plans
from shared.jobs.compare import same
from shared.results import Mode, Status, TenantResult

log = logging.getLogger(__name__)


async def run_tenant_job(
    pool: GraphPool,
    *,
    tenant_id: str,
    job: str,
    mode: Mode | str,
    params: Mapping[str, Any] | None = None,
    accepted: Mapping[str, Any] | None = None,
    run_id: str = "",
    licences: LicenceCache | None = None,
    refs: Mapping[str, str] | None = None,
) -> TenantResult:
    """Plan, and in apply mode apply, one job in one tenant. Never raises (but cancellation).

    `accepted` maps a standard's settings to the value an admin accepted for this tenant: such a
    setting is judged against that value, and its changes leave the plan (never overwritten).

    A job whose prerequisites the tenant lacks ends `not_applicable` before it reads anything
    else; the tenant's licences come from `licences` (one read per `run_id` and tenant).
    `refs`: the object ids a standard's findings named last time (Job.plan).

    A permission refused with a token issued before the customer's admin granted it is asked
    once more with a new token: tokens carry the roles of when they were issued, for an hour.
    """
    started = time.monotonic()
    context = _Context(run_id, licences or LicenceCache(size=16), refs or {})
    result = await _attempt(pool, tenant_id, job, Mode(mode), params, accepted or {}, context)
    if isinstance(result.error, PermissionMissing):
        await pool.forget_token(tenant_id)
        again = await _attempt(pool, tenant_id, job, Mode(mode), params, accepted or {}, context)
        again.graph_requests += result.graph_requests
        again.retries += result.retries
        again.waited_s += result.waited_s
        result = again
    result.duration_s = time.monotonic() - started
    return result


async def _attempt(
    pool: GraphPool,
    tenant_id: str,
    job: str,
    mode: Mode,
    params: Mapping[str, Any] | None,
    accepted: Mapping[str, Any],
    context: _Context,
) -> TenantResult:
    result = TenantResult(tenant_id, job, mode, Status.RUNNING)
    session = None
    try:
        definition = get_job(job)
        typed_params = definition.parse_params(params)
        session = pool.session(tenant_id, permissions=definition.permissions)
        facts = await _tenant_facts(definition, session, pool.settings.cloud.value, context)
        result.service_plans = facts.service_plans
        _check_applicable(definition, facts, tenant_id)
        planned = await definition.plan(session, typed_params, Known(context.refs, facts))
        plan = honour_acceptances(planned, accepted)
        _record_plan(result, plan, accepted)
        if result.mode is Mode.APPLY and plan.changes:
            outcomes = await definition.apply(session, plan)
            _record_outcomes(result, outcomes)
            _mark_fixed(result, plan, outcomes)
        else:  # plan mode, or nothing to apply
            result.status = Status.PLANNED if plan.changes else Status.NO_CHANGES
    except NotApplicable as exc:
        result.status, result.error = Status.NOT_APPLICABLE, exc
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


@dataclass(frozen=True)
class _Context:
    run_id: str
    licences: LicenceCache
    refs: Mapping[str, str]


async def _tenant_facts(
    job: Job[Any], session: GraphSession, cloud: str, context: _Context
) -> TenantFacts:
    """The facts the job needs: the tenant's service plans only if it needs them."""
    if not (job.reads_licences or any(p.needs_licences for p in job.prerequisites)):
        return TenantFacts(cloud=cloud)

    async def read() -> frozenset[str]:
        skus = await session.collect(session.request("GET", "/subscribedSkus"), dict)
        return usable_plans(skus)

    plans = await context.licences.plans(context.run_id, session.tenant_id, read)
    return TenantFacts(cloud=cloud, service_plans=plans)


def _check_applicable(job: Job[Any], facts: TenantFacts, tenant_id: str) -> None:
    """NotApplicable when the tenant lacks one of the job's prerequisites."""
    reason = unmet(job.prerequisites, facts)
    if reason is not None:
        raise NotApplicable(
            f"{job.name} does not apply: {reason}",
            tenant_id=tenant_id,
            remediation="None needed: nothing was read or changed for this job. For it to "
            "apply, give the tenant what it lacks; every run checks again.",
        )


def honour_acceptances(plan: Plan, accepted: Mapping[str, Any]) -> Plan:
    """The plan without the changes of settings whose deviation an admin accepted."""
    held = [id(c) for f in plan.findings if f.setting in accepted for c in f.changes]
    if held:
        plan.changes = [c for c in plan.changes if id(c) not in held]
        plan.notes.append(f"{len(accepted)} accepted deviation(s) left alone")
    return plan


def finding_state(finding: Finding, accepted: Mapping[str, Any]) -> str:
    """compliant / drifted, or accepted while the live value is the accepted one."""
    if finding.setting not in accepted:
        return "compliant" if finding.compliant else "drifted"
    held = same(accepted[finding.setting], finding.observed, finding.how)
    return "accepted" if held else "drifted"


def _record_plan(result: TenantResult, plan: Plan, accepted: Mapping[str, Any]) -> None:
    result.changes_planned = len(plan.changes)
    result.changes = [change.as_record() for change in plan.changes]
    result.findings = [f.as_record() | {"state": finding_state(f, accepted)} for f in plan.findings]
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


def _mark_fixed(result: TenantResult, plan: Plan, outcomes: list[ChangeOutcome]) -> None:
    """A drifted finding whose changes all applied is now compliant, fixed by xtenant; an
    object a change created becomes its finding's `ref`."""
    applied = {id(o.change) for o in outcomes if o.ok}
    created = {id(o.change): o.ref for o in outcomes if o.ok and o.ref}
    for finding, record in zip(plan.findings, result.findings, strict=True):
        ref = next((created[id(c)] for c in finding.changes if id(c) in created), None)
        if ref:
            record["ref"] = ref
        done = finding.changes and all(id(c) in applied for c in finding.changes)
        if record["state"] == "drifted" and done:
            record["state"], record["fixed_by"] = "compliant", "xtenant"
