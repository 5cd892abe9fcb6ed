"""What must hold after the chaos run, as figures that must all be 0, each with its evidence.

- rows not final: every (tenant, job) row of the run ends in a final status (not queued or
  running), read from GET /api/runs/{id}; a row the run should have and does not counts too;
- duplicate writes: the fake Graph applied no create twice (same natural key) and no PATCH twice
  (same object, same body);
- retries before Retry-After: no request reached Graph or the token endpoint while a
  Retry-After it had been told was running (graph.early_retries, token.early_retries);
- fault-free tenants not healthy: no app-wide fault (identity outage, federation mismatch,
  storage outage, a killed worker) quarantined or marked a tenant that has no fault of its own
  (GET /api/tenants: health and job_health);
- failed rows without a class or remediation: every failed (or blocked) row says what failed and
  what to do.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devtools.chaos.tenants import JOBS, ChaosTenant
from devtools.fakecloud.requestlog import RequestRecord

NOT_FINAL = frozenset({"queued", "running"})
FAILED = frozenset({"failed", "blocked"})
_SHOWN = 12  # evidence lines per figure


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    value: int
    details: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.value == 0

    def explain(self) -> str:
        more = len(self.details) - _SHOWN
        lines = [f"{self.title}: {self.value}", *(f"  {d}" for d in self.details[:_SHOWN])]
        return "\n".join(lines + ([f"  ... and {more} more"] if more > 0 else []))


@dataclass(repr=False)
class ChaosReport:
    run_id: str
    tenants: int
    rows: int
    totals: dict[str, int]
    events: list[str]
    figures: list[Figure]
    wall_s: float
    run_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.figures)

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.key}={f.value}" for f in self.figures)
        return f"ChaosReport(run {self.run_id}: {shown})"

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)

    def text(self) -> str:
        """The events, a table of the figures, the evidence of each that is not 0."""
        totals = ", ".join(f"{status} {n}" for status, n in sorted(self.totals.items()))
        width = max(len(f.title) for f in self.figures)
        lines = [
            f"chaos run {self.run_id}: {self.tenants} tenants, {self.rows} rows ({totals})",
            *(f"  - {event}" for event in self.events),
            *self.notes,
            "",
            f"{'what must hold'.ljust(width)}  figure  want",
            *(
                f"{f.title.ljust(width)}  {f.value:>6}  {'0':>4}  {'ok' if f.ok else 'FAILED'}"
                for f in self.figures
            ),
            "",
            f"wall time {self.wall_s:.1f} s (the run: {self.run_s:.1f} s from its start to the "
            "figures)",
        ]
        failing = [f.explain() for f in self.figures if not f.ok]
        return "\n".join(lines + (["", *failing] if failing else []))


class Names:
    """Tenant ids as the report shows them: the chaos tenant's name, which says its fault."""

    def __init__(self, tenants: Iterable[ChaosTenant]) -> None:
        self._names = {t.tenant_id: t.name for t in tenants}

    def __call__(self, tenant_id: str | None) -> str:
        return self._names.get(tenant_id or "", tenant_id or "(no tenant)")


def rows_not_final(run: Mapping[str, Any], tenants: list[ChaosTenant], name: Names) -> Figure:
    rows = run["rows"]
    stuck = [r for r in rows if r["status"] in NOT_FINAL]
    seen = {(r["tenant_id"], r["job"]) for r in rows}
    missing = [
        (t.tenant_id, job) for t in tenants for job in JOBS if (t.tenant_id, job) not in seen
    ]
    details = [
        f"{name(r['tenant_id'])} {r['job']}: {r['status']} after {r['attempts']} attempts"
        + (f", last error {r['error_class']}" if r.get("error_class") else "")
        for r in stuck
    ] + [f"{name(tid)} {job}: no row in the run" for tid, job in missing]
    return Figure("rows_not_final", "rows not final", len(stuck) + len(missing), tuple(details))


def duplicate_writes(writes: Mapping[str, Any], name: Names) -> Figure:
    details = [
        f"{name(d['tenant_id'])}: {d['kind']} {d['target']} {d['body'][:80]} applied "
        f"{d['count']} times".replace("  ", " ")
        for d in writes["duplicates"]
    ]
    value = int(writes["duplicate_writes"])
    return Figure("duplicate_writes", "duplicate writes (fake Graph)", value, tuple(details))


def early_retries(
    service: str, counters: Mapping[str, int], requests: list[RequestRecord], name: Names
) -> Figure:
    early: dict[str | None, list[RequestRecord]] = defaultdict(list)
    for record in requests:
        if record.service == service and record.early_retry:
            early[record.tenant_id].append(record)
    details = [
        f"{name(tid)}: {len(records)} before Retry-After, first {records[0].method} "
        f"{records[0].path}"
        for tid, records in sorted(early.items(), key=lambda item: name(item[0]))
    ]
    title = f"retries before Retry-After ({'Graph' if service == 'graph' else service})"
    value = counters.get(f"{service}.early_retries", 0)
    return Figure(f"{service}_early_retries", title, value, tuple(details))


def fault_free_not_healthy(
    registry: list[dict[str, Any]], tenants: list[ChaosTenant], name: Names
) -> Figure:
    records = {r["tenant_id"]: r for r in registry}
    details = []
    for tenant in (t for t in tenants if not t.has_tenant_fault):
        record = records.get(tenant.tenant_id)
        problem = _health_problem(record)
        if problem:
            details.append(f"{tenant.name}: {problem}")
    title = "fault-free tenants not healthy"
    return Figure("fault_free_not_healthy", title, len(details), tuple(details))


def _health_problem(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "not registered any more"
    health = record["health"]
    jobs = {job: h["status"] for job, h in (record.get("job_health") or {}).items()}
    if health["status"] == "healthy" and not jobs:
        return ""
    last = (health.get("last_error") or {}).get("error_class")
    text = str(health["status"]) + (f" (last error {last})" if last else "")
    return text + (f", jobs {jobs}" if jobs else "")


def failures_unexplained(run: Mapping[str, Any], name: Names) -> Figure:
    details = [
        f"{name(r['tenant_id'])} {r['job']}: {r['status']} with error_class "
        f"{r.get('error_class')!r}, remediation {(r.get('remediation') or '')[:40]!r}"
        for r in run["rows"]
        if r["status"] in FAILED and not (r.get("error_class") and r.get("remediation"))
    ]
    title = "failed rows without error class or remediation"
    return Figure("failures_unexplained", title, len(details), tuple(details))


def fault_free_health(registry: list[dict[str, Any]], tenants: list[ChaosTenant]) -> str:
    """`fault-free tenants: healthy 17, misconfigured 3`: their health right now."""
    health = {r["tenant_id"]: r["health"]["status"] for r in registry}
    counts = Counter(
        health.get(t.tenant_id, "unregistered") for t in tenants if not t.has_tenant_fault
    )
    return "fault-free tenants: " + ", ".join(f"{s} {n}" for s, n in sorted(counts.items()))


def tenant_fault_health(registry: list[dict[str, Any]], tenants: list[ChaosTenant]) -> str:
    """One line: how tenants with a fault of their own ended, by fault (for reading, no figure)."""
    health = {r["tenant_id"]: r["health"]["status"] for r in registry}
    ended = Counter(
        (t.fault.value, health.get(t.tenant_id, "unregistered"))
        for t in tenants
        if t.has_tenant_fault
    )
    shown = ", ".join(f"{fault} -> {status} {n}" for (fault, status), n in sorted(ended.items()))
    return f"  tenants with a fault of their own ended: {shown or 'none'}"
