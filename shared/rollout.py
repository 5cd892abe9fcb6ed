"""Safe rollout of an apply run: four-eyes approval, and rings that halt on failure.

An apply run over more tenants than `XTENANT_APPROVAL_ABOVE` (default 1) starts
`awaiting_approval`: its rows are written `held` (nothing is sent), and a plan run of the same
rows (same jobs and params, mode plan) starts at once, so the approver reads what the apply
would change (`plan_run_id`). Another operator with the admin role approves it (the requester
never can) before `XTENANT_APPROVAL_HOURS` pass, or rejects it; either is in the audit trail and
on the run. A scheduled run needs no approval: the enrolments it applies were set by an admin
with the apply role.

A run may be staged in rings (`rings` in POST /api/runs): each ring's rows are released only
when the previous ring finished with a failure rate at or under `max_failure_rate` (default 0:
one failure halts). A failed, skipped (a tenant's breaker open counts) or blocked row is a
failure; `not_applicable` is not. Otherwise the run is `halted` with the reason and the failing
tenants, until an operator with the apply role resumes it (the next ring goes) or aborts it (the
held rows end `cancelled`). The worker advances the rings when it ends a ring's last row (one
status query of that ring per row it ends); the sweeper does it for any it missed.
docs/decisions.md#rollout
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.ids import validate_tenant_id
from shared.ledger import FINAL, RUN_ROW, RowSpec, merge_if_unchanged
from shared.messages import TenantJobMessage
from shared.notify import events
from shared.results import Mode, RunOrigin, RunState, Status
from shared.services import Services

log = logging.getLogger(__name__)

#: Row statuses that count against a ring.
RING_FAILURES = frozenset({Status.FAILED, Status.SKIPPED, Status.BLOCKED})
MAX_RINGS = 10
_RING_KINDS = '{"tenants": [ids]}, {"group": name}, {"percent": 1-100}, {"rest": true}'


@dataclass(frozen=True)
class RingSpec:
    """One ring: named tenants, a percentage of the tenants not yet in a ring, or the rest."""

    tenants: tuple[str, ...] = ()
    percent: int = 0
    rest: bool = False
    #: a tenant group's name: the run's tenants in it (resolved by the API into `tenants`)
    group: str = ""


def parse_rings(raw: Any, problems: list[str]) -> list[RingSpec]:
    """The `rings` of a run request; every problem appended to `problems`."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_RINGS:
        problems.append(f"rings must be a list of 2-{MAX_RINGS} rings")
        return []
    specs = [_ring(n, item, problems) for n, item in enumerate(raw)]
    if any(s.rest for s in specs[:-1]):
        problems.append('only the last ring may be {"rest": true}')
    return specs


def _ring(n: int, item: Any, problems: list[str]) -> RingSpec:
    where = f"rings[{n}]"
    if not isinstance(item, dict) or len(item) != 1:
        problems.append(f"{where} must be one of {_RING_KINDS}")
        return RingSpec()
    [(kind, value)] = item.items()
    if kind == "tenants" and isinstance(value, list) and value:
        try:
            return RingSpec(tenants=tuple(validate_tenant_id(v) for v in value))
        except ValueError:
            problems.append(f"{where}.tenants must be tenant ids")
            return RingSpec()
    if kind == "percent" and type(value) is int and 1 <= value <= 100:
        return RingSpec(percent=value)
    if kind == "rest" and value is True:
        return RingSpec(rest=True)
    if kind == "group" and isinstance(value, str) and value:
        return RingSpec(group=value)
    problems.append(
        f"{where}: {kind!r} must be a non-empty tenant list, a group name, a percent 1-100 or rest"
    )
    return RingSpec()


def assign_rings(
    tenant_ids: Sequence[str], specs: Sequence[RingSpec], problems: list[str]
) -> dict[str, int]:
    """tenant id -> ring index, in the order the specs give; tenants left over join the last
    ring. A named tenant not in the run, or a ring left empty, is a problem."""
    remaining = list(tenant_ids)
    ring_of: dict[str, int] = {}
    for n, spec in enumerate(specs):
        if spec.tenants:
            chosen = [t for t in spec.tenants if t in remaining]
            problems.extend(
                f"rings[{n}] names tenant {t}, which is not in the run (or in an earlier ring)"
                for t in spec.tenants
                if t not in chosen
            )
        elif spec.percent:
            chosen = remaining[: math.ceil(len(remaining) * spec.percent / 100)]
        else:
            chosen = list(remaining)
        if not chosen and not problems:
            problems.append(f"rings[{n}] has no tenant left")
        ring_of.update((t, n) for t in chosen)
        remaining = [t for t in remaining if t not in set(chosen)]
    ring_of.update((t, len(specs) - 1) for t in remaining)
    return ring_of


def failure_rate(statuses: Sequence[Status]) -> float:
    return sum(1 for s in statuses if s in RING_FAILURES) / len(statuses) if statuses else 0.0


def needs_approval(services: Services, work: Sequence[RowSpec]) -> bool:
    applying = {w.tenant_id for w in work if w.mode is Mode.APPLY}
    return len(applying) > services.settings.approval_above


@dataclass(frozen=True)
class Held:
    """A run written held, with the plan run started for its approver (when approval is due)."""

    run_id: str
    state: RunState
    plan_run_id: str | None
    expires_at: datetime | None


async def start_held(
    services: Services,
    work: list[RowSpec],
    *,
    run_id: str,
    approval: bool,
    max_failure_rate: float,
    rings: int,
    requested_by: str,
    requested_by_id: str,
    mode: Mode | None,
    job: str | None,
    rerun_of: str = "",
) -> Held:
    """Write the run with every row held; start its plan run when it awaits approval, else
    release its first ring."""
    from shared.pipeline import start_rerun

    now = datetime.now(UTC)
    plan_run_id = None
    if approval:
        plan_work = [RowSpec(w.tenant_id, w.job, Mode.PLAN, w.params, w.tenant_name) for w in work]
        plan = await start_rerun(
            services,
            plan_work,
            rerun_of="",
            requested_by=requested_by,
            requested_by_id=requested_by_id,
        )
        plan_run_id = plan.run_id
    expires = now + timedelta(hours=services.settings.approval_hours) if approval else None
    state = RunState.AWAITING_APPROVAL if approval else RunState.ROLLING
    fields: dict[str, Any] = {
        "state": state.value,
        "rings_total": rings,
        "ring": 0,
        "max_failure_rate": max_failure_rate,
        "plan_run_id": plan_run_id or "",
        "approval_expires_at": expires.isoformat() if expires else "",
    }
    await services.ledger.start_run(
        run_id,
        work,
        origin=RunOrigin.MANUAL,
        requested_by=requested_by,
        requested_by_id=requested_by_id,
        mode=mode,
        job=job,
        rerun_of=rerun_of,
        held=True,
        run_fields=fields,
    )
    if not approval:
        await release(services, run_id, 0 if rings else None)
    else:
        await services.notifier.emit(
            events.approval_requested(
                run_id,
                job=job or "several jobs",
                tenants=len({w.tenant_id for w in work}),
                requested_by=requested_by,
                expires_at=expires.isoformat() if expires else "",
                now=now,
            )
        )
    return Held(run_id, state, plan_run_id, expires)


async def release(services: Services, run_id: str, ring: int | None) -> int:
    """Send the held rows of `ring` (or all): they become queued, then their messages go."""
    from shared.pipeline import NotQueued, send_messages

    rows = await services.ledger.release(run_id, ring)
    run = await services.runs.run_entity(run_id) or {}
    messages = [TenantJobMessage.from_row(run_id, run, row) for row in rows]
    for message, failure in await send_messages(services, messages):
        error = NotQueued(message, failure)
        await services.ledger.end(run_id, message.tenant_id, message.job, Status.FAILED, error)
    log.info("run %s: released %d rows (ring %s)", run_id, len(messages), ring)
    return len(messages)


async def after_row(services: Services, run_id: str, ring: int | None) -> None:
    """A row of `ring` ended: if it was the ring's last, release the next ring or halt."""
    if ring is None:
        return
    rows = await _ring_rows(services, run_id, ring)
    if not rows or any(status not in FINAL for status, _ in rows):
        return
    await _ring_done(services, run_id, ring, rows)


_RING_FIELDS = ("tenant_id", "job", "status", "error_class")


async def _ring_rows(
    services: Services, run_id: str, ring: int
) -> list[tuple[Status, dict[str, Any]]]:
    """Each row of the ring: its status, and what a halted run shows of a failing one."""
    query = services.ledger.table.query_entities(
        "PartitionKey eq @run and RowKey ne @run_row and ring eq @ring",
        parameters={"run": run_id, "run_row": RUN_ROW, "ring": ring},
        select=list(_RING_FIELDS),
    )
    return [
        (Status(e.get("status") or Status.QUEUED.value), {k: e.get(k) for k in _RING_FIELDS})
        async for e in query
    ]


async def _ring_done(
    services: Services, run_id: str, ring: int, rows: list[tuple[Status, dict[str, Any]]]
) -> None:
    entity = await services.runs.run_entity(run_id)
    if entity is None or entity.get("state") != RunState.ROLLING or entity.get("ring") != ring:
        return  # another worker moved it on, or the run is halted, aborted or not rolling
    statuses = [status for status, _ in rows]
    rate, allowed = failure_rate(statuses), float(entity.get("max_failure_rate") or 0.0)
    if rate > allowed:
        failing = [row for status, row in rows if status in RING_FAILURES][:100]
        reason = (
            f"ring {ring + 1} of {entity.get('rings_total')} failed in {rate:.0%} of its "
            f"{len(statuses)} rows (allowed: {allowed:.0%})"
        )
        fields = {
            "state": RunState.HALTED.value,
            "halt_reason": reason,
            "halted_rows": json.dumps(failing),
        }
        if await update_run(services, entity, fields):
            log.warning("run %s halted: %s", run_id, reason)
            halted = events.run_halted(
                run_id,
                ring=f"{ring + 2} of {entity.get('rings_total')}",
                reason=reason,
                failing_tenants=[str(f["tenant_id"]) for f in failing],
                now=datetime.now(UTC),
            )
            await services.notifier.emit(halted)
        return
    if ring + 1 >= int(entity.get("rings_total") or 0):
        return
    if await update_run(services, entity, {"ring": ring + 1}):
        await release(services, run_id, ring + 1)


async def update_run(services: Services, entity: Any, fields: Mapping[str, Any]) -> bool:
    """Merge `fields` into the run entity if nobody changed it since it was read."""
    update = {"PartitionKey": entity["PartitionKey"], "RowKey": RUN_ROW, **fields}
    return await merge_if_unchanged(services.ledger.table, update, entity.metadata["etag"])


async def expire_if_due(services: Services, entity: Any, now: datetime) -> bool:
    """End a run whose approval window passed: `expired`, its held rows cancelled."""
    expires = entity.get("approval_expires_at")
    if entity.get("state") != RunState.AWAITING_APPROVAL or not expires:
        return False
    if now < datetime.fromisoformat(expires):
        return False
    if await update_run(services, entity, {"state": RunState.EXPIRED.value}):
        await services.ledger.cancel_queued(
            str(entity["PartitionKey"]), "expired without approval", error_class="expired"
        )
    return True
