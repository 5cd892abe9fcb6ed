"""One builder per kind of event: what xtenant tells the outside world, once per state change.

`id` is a UUIDv5 of the kind, the subject and the identity of the change (the run that found a
drift, the stored version a health write replaced, the moment an outage began): the same change
sent twice carries the same id, so a receiver deduplicates on it (delivery is at least once).
Builders only build; nothing here does I/O. docs/notifications.md documents every kind.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.notify.schema import Event, EventKind, Severity, event_id

#: Items listed in an event's data at most (tenants, settings); the rest is counted.
MAX_LISTED = 20


def _event(
    kind: EventKind,
    subject: str,
    change: str,
    *,
    now: datetime,
    severity: Severity,
    summary: str,
    data: dict[str, Any],
    links: dict[str, str],
) -> Event:
    return Event(
        id=event_id(kind, subject, change),
        kind=kind,
        occurred_at=now.isoformat(),
        subject=subject,
        severity=severity,
        summary=summary[:500],
        data=data,
        links=links,
    )


def _tenant(tenant_id: str, name: str) -> str:
    """How a summary names a tenant: by its registered name when it has one."""
    return f"tenant {name} ({tenant_id})" if name else f"tenant {tenant_id}"


def _listed(items: Sequence[str]) -> list[str]:
    return list(items[:MAX_LISTED])


def _error(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The parts of an error record an event carries (class, message, remediation)."""
    if not record:
        return None
    return {k: record.get(k) for k in ("error_class", "message", "remediation")}


# --- runs ---------------------------------------------------------------------------------


def run_finished(
    summary: Mapping[str, Any], *, failed_tenants: Sequence[str], now: datetime
) -> Event:
    """Every row of a run is final (the sweeper closed it); `summary` is the run's view
    (shared/run_views.py run_summary): status, job, mode, origin, rows, totals."""
    run_id, status = str(summary["run_id"]), str(summary["status"])
    totals = dict(summary.get("totals") or {})
    rows = sum(int(n) for n in totals.values())
    unsuccessful = sum(int(totals.get(s, 0)) for s in ("failed", "skipped", "blocked"))
    severity = {"failed": Severity.ERROR, "partially_failed": Severity.WARNING}
    data = {k: summary.get(k) for k in ("run_id", "status", "job", "mode", "origin")}
    data |= {"requested_by": summary.get("requested_by"), "rows": rows, "totals": totals}
    data["failed_tenants"] = _listed(failed_tenants)
    return _event(
        EventKind.RUN_FINISHED,
        run_id,
        "finished",
        now=now,
        severity=severity.get(status, Severity.INFO),
        summary=f"Run {run_id} ({summary.get('job')}, {summary.get('mode')}) finished "
        f"{status}: {rows - unsuccessful} of {rows} rows succeeded",
        data=data,
        links={"run": f"/api/runs/{run_id}"},
    )


def run_halted(
    run_id: str, *, ring: str, reason: str, failing_tenants: Sequence[str], now: datetime
) -> Event:
    """A staged run stopped before `ring`: the previous ring failed too often."""
    return _event(
        EventKind.RUN_HALTED,
        run_id,
        f"halted before {ring}",
        now=now,
        severity=Severity.ERROR,
        summary=f"Run {run_id} halted before ring {ring}: {reason}",
        data={
            "run_id": run_id,
            "ring": ring,
            "reason": reason,
            "failing_tenants": _listed(failing_tenants),
        },
        links={"run": f"/api/runs/{run_id}"},
    )


def approval_requested(
    run_id: str, *, job: str, tenants: int, requested_by: str, expires_at: str, now: datetime
) -> Event:
    """An apply run waits for a second operator's approval."""
    return _event(
        EventKind.APPROVAL_REQUESTED,
        run_id,
        "approval requested",
        now=now,
        severity=Severity.WARNING,
        summary=f"Run {run_id} ({job} over {tenants} tenants) by {requested_by} awaits approval",
        data={
            "run_id": run_id,
            "job": job,
            "tenants": tenants,
            "requested_by": requested_by,
            "expires_at": expires_at,
        },
        links={"run": f"/api/runs/{run_id}"},
    )


# --- drift --------------------------------------------------------------------------------


def drift(
    drifted: Mapping[str, Sequence[str]],
    *,
    tenant_id: str,
    standard: str,
    run_id: str,
    evaluated_before: Collection[str],
    now: datetime,
    tenant_name: str = "",
) -> list[Event]:
    """A standard's evaluation (one run, one tenant): settings newly drifted -> drift_new,
    settings fixed -> drift_fixed (`drifted` is a row's `drift`: shared/compliance.py
    since_last_run). Settings still drifted were reported when they drifted: no event. A
    setting's first evaluation is its baseline, not a change: onboarding a hundred tenants must
    not post a hundred cards; their state is in the run and GET /api/compliance."""
    new = [s for s in drifted.get("newly_drifted", []) if s in evaluated_before]
    changes = ((EventKind.DRIFT_NEW, new), (EventKind.DRIFT_FIXED, list(drifted.get("fixed", []))))
    return [
        _drift_event(kind, settings, (tenant_id, tenant_name), standard, run_id, now)
        for kind, settings in changes
        if settings
    ]


def _drift_event(
    kind: EventKind,
    settings: list[str],
    tenant: tuple[str, str],
    standard: str,
    run_id: str,
    now: datetime,
) -> Event:
    (tenant_id, tenant_name), new = tenant, kind is EventKind.DRIFT_NEW
    what = "drifted from" if new else "back to"
    return _event(
        kind,
        tenant_id,
        f"{standard}|{run_id}",
        now=now,
        severity=Severity.WARNING if new else Severity.INFO,
        summary=f"{len(settings)} setting(s) of {standard} {what} the standard in "
        f"{_tenant(tenant_id, tenant_name)}: {', '.join(settings[:5])}",
        data={
            "tenant_id": tenant_id,
            "tenant_name": tenant_name,
            "standard": standard,
            "run_id": run_id,
            "settings": _listed(settings),
            "count": len(settings),
        },
        links={
            "compliance": f"/api/tenants/{tenant_id}/compliance",
            "run": f"/api/runs/{run_id}",
        },
    )


# --- tenant health ------------------------------------------------------------------------

_BAD_HEALTH = {
    "needs_consent": (EventKind.TENANT_NEEDS_CONSENT, "needs consent"),
    "misconfigured": (EventKind.TENANT_MISCONFIGURED, "is misconfigured"),
    "quarantined": (EventKind.TENANT_QUARANTINED, "is quarantined"),
}


@dataclass(frozen=True)
class HealthChange:
    """One health (the tenant's, or one job's in it) before and after a write."""

    tenant_id: str
    job: str | None
    before: str
    after: str
    #: the error the new health records, and a quarantine's end
    last_error: Mapping[str, Any] | None = None
    quarantined_until: str | None = None
    tenant_name: str = ""


def tenant_health(change: HealthChange, *, version: str, now: datetime) -> Event | None:
    """The event a health change makes, or None: one when a health turns bad (needs consent,
    misconfigured, quarantined) or changes from one bad to another, one when it heals.
    `version` names the stored state the write replaced (its ETag): one write, one id."""
    if change.before == change.after:
        return None
    if change.after in _BAD_HEALTH:
        kind, words = _BAD_HEALTH[change.after]
        severity = Severity.ERROR
    elif change.before in _BAD_HEALTH and change.after == "healthy":
        kind, words, severity = EventKind.TENANT_RECOVERED, "is healthy again", Severity.INFO
    else:
        return None
    scope = _tenant(change.tenant_id, change.tenant_name)
    scope += f" (job {change.job})" if change.job else ""
    error = _error(change.last_error) if kind is not EventKind.TENANT_RECOVERED else None
    reason = f": {error['message']}" if error and error.get("message") else ""
    return _event(
        kind,
        change.tenant_id,
        f"{change.job or ''}|{version}",
        now=now,
        severity=severity,
        summary=f"{scope} {words}{reason}",
        data={
            "tenant_id": change.tenant_id,
            "tenant_name": change.tenant_name,
            "job": change.job,
            "health": change.after,
            "previous": change.before,
            "error": error,
            "quarantined_until": change.quarantined_until,
        },
        links={"tenant": f"/api/tenants/{change.tenant_id}"},
    )


# --- the app ------------------------------------------------------------------------------

APP_SUBJECT = "app"


def app_outage(error: Mapping[str, Any], *, since: str, until: str, now: datetime) -> Event:
    """The app's own identity failed (app-wide): every tenant's work is paused."""
    record = _error(error) or {}
    return _event(
        EventKind.APP_OUTAGE,
        APP_SUBJECT,
        since,
        now=now,
        severity=Severity.ERROR,
        summary=f"xtenant paused all tenant work: {record.get('message') or 'app-wide failure'}",
        data={"error": record, "since": since, "paused_until": until},
        links={"health": "/api/health"},
    )


def app_recovered(*, since: str, now: datetime) -> Event:
    """A tenant job got through after an app-wide outage that began at `since`."""
    return _event(
        EventKind.APP_RECOVERED,
        APP_SUBJECT,
        since,
        now=now,
        severity=Severity.INFO,
        summary="xtenant works again: the app-wide outage is over",
        data={"since": since, "ended": now.isoformat()},
        links={"health": "/api/health"},
    )


# --- messages -----------------------------------------------------------------------------


def poison_message(
    *,
    run_id: str,
    tenant_id: str,
    job: str,
    status: str,
    error: Mapping[str, Any],
    now: datetime,
    tenant_name: str = "",
) -> Event:
    """A tenant job's message kept failing and its row was ended (`status`) by the poison queue."""
    record = _error(error) or {}
    return _event(
        EventKind.POISON_MESSAGE,
        tenant_id,
        f"{run_id}|{job}",
        now=now,
        severity=Severity.ERROR,
        summary=f"{job} in {_tenant(tenant_id, tenant_name)} gave up ({status}): "
        f"{record.get('message') or ''}",
        data={
            "run_id": run_id,
            "tenant_id": tenant_id,
            "tenant_name": tenant_name,
            "job": job,
            "status": status,
            "error": record,
        },
        links={"run": f"/api/runs/{run_id}", "tenant": f"/api/tenants/{tenant_id}"},
    )
