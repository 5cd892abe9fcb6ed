"""The chaos suite's tenants and figures, on canned answers (no app, no cloud)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from devtools.chaos import report
from devtools.chaos.tenants import JOBS, TenantFault, chaos_tenants

TENANTS = chaos_tenants(20)
NAME = report.Names(TENANTS)


def row(tenant_index: int, job: str, status: str, **fields: Any) -> dict[str, Any]:
    return {
        "tenant_id": TENANTS[tenant_index].tenant_id,
        "job": job,
        "status": status,
        "attempts": 1,
        "error_class": None,
        "remediation": None,
    } | fields


def full_run(status: str = "changed") -> dict[str, Any]:
    return {"rows": [row(i, job, status) for i in range(len(TENANTS)) for job in JOBS]}


def test_two_hundred_tenants_get_the_fault_mix_and_one_stands_for_the_federation_mismatch() -> None:
    faults = Counter(t.fault for t in chaos_tenants(200))

    assert faults[TenantFault.FEDERATION] == 1
    assert (faults[TenantFault.THROTTLED], faults[TenantFault.GRAPH_5XX]) == (20, 20)
    assert faults[TenantFault.CONSENT_REVOKED] == faults[TenantFault.DELETED] == 10
    assert faults[TenantFault.CA_BLOCKED] == 10


def test_most_rows_apply_and_every_tenant_is_enrolled_in_every_job() -> None:
    modes = Counter(e["mode"] for t in chaos_tenants(200) for e in t.enrolments().values())

    assert set(chaos_tenants(1)[0].enrolments()) == set(JOBS)
    assert modes["apply"] == 480
    assert modes["plan"] == 120


def test_a_row_still_running_and_a_row_the_run_lacks_are_both_not_final() -> None:
    run = full_run()
    run["rows"][0]["status"] = "running"
    del run["rows"][-1]

    figure = report.rows_not_final(run, TENANTS, NAME)

    assert figure.value == 2
    assert "running after 1 attempts" in figure.details[0]
    assert figure.details[1].endswith("tenant-baseline: no row in the run")


def test_only_failed_rows_without_a_class_or_a_remediation_count() -> None:
    run = {
        "rows": [
            row(0, "ensure-group", "failed", error_class="transient"),
            row(1, "ensure-group", "failed", error_class="transient", remediation="Wait."),
            row(2, "ensure-group", "skipped"),
        ]
    }

    figure = report.failures_unexplained(run, NAME)

    assert figure.value == 1
    assert figure.details[0].startswith(TENANTS[0].name)


def test_a_fault_free_tenant_counts_when_its_health_or_a_jobs_is_not_healthy() -> None:
    healthy = {"status": "healthy", "last_error": None}
    registry = [{"tenant_id": t.tenant_id, "health": healthy, "job_health": {}} for t in TENANTS]
    quarantined = {"status": "quarantined", "last_error": {"error_class": "transient"}}
    registry[2]["health"] = quarantined  # Chaos 002 has no fault of its own
    registry[4]["job_health"] = {"guest-cleanup": {"status": "needs_consent"}}
    registry[5]["health"] = quarantined  # Chaos 005's consent is revoked: not counted

    figure = report.fault_free_not_healthy(registry, TENANTS, NAME)

    assert figure.value == 2
    assert figure.details[0] == "Chaos 002 (none): quarantined (last error transient)"
    assert "jobs {'guest-cleanup': 'needs_consent'}" in figure.details[1]


def test_the_report_shows_every_figure_and_the_evidence_of_those_not_zero() -> None:
    failing = report.Figure("duplicate_writes", "duplicate writes", 1, ("Chaos 001: create x",))
    passing = report.Figure("rows_not_final", "rows not final", 0)
    chaos = report.ChaosReport(
        "r1", 20, 60, {"changed": 60}, ["it rained"], [passing, failing], wall_s=1.0, run_s=0.5
    )

    text = chaos.text()

    assert not chaos.ok
    assert "rows not final" in text
    assert "FAILED" in text
    assert text.endswith("duplicate writes: 1\n  Chaos 001: create x")


def test_the_health_of_fault_free_tenants_is_counted_by_status() -> None:
    registry = [
        {"tenant_id": t.tenant_id, "health": {"status": "healthy"}, "job_health": {}}
        for t in TENANTS[:4]
    ]
    registry[2]["health"] = {"status": "quarantined"}

    shown = report.fault_free_health(registry, TENANTS[:4])

    assert shown == "fault-free tenants: healthy 1, quarantined 1"  # 1 and 3 have faults
