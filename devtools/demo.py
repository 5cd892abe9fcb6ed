"""`make demo`: the whole pipeline, locally, end to end.

Starts Azurite (Storage) and the fake cloud (Entra ID + managed identity + Graph) on 127.0.0.1,
runs `function_app` in the local Functions host against them, then, through the app's own HTTP
API as a named operator (an Entra ID token from the fake home tenant, with the admin and apply
roles): registers and enrols the demo tenants, plans every job (one manual run per job), fires
the schedule once (apply), processes every message with a progress line, and prints each
tenant's rows from GET /api/runs/{id} with who requested the runs, and one call a read-only
operator is refused. Then standards: the plan runs (report) wrote nothing (the fake cloud's
state), a deviation accepted in one tenant, a change made there by someone else showing as
drift in the next report run, a remediate run that fixes it and leaves the accepted value, and
the accepted setting still watched. Stops everything it started. Exits 0 when every tenant got
the outcome its scenario expects (`expect`: "ok", or the error class the app must report) and
the standards went as they must.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from devtools.azurite import Azurite, ensure_installed, free_ports, repo_root
from devtools.demo_rollout import run_standards
from devtools.devhost.host import DevHost
from devtools.devhost.ledger import LedgerCounts
from devtools.fakecloud import FakeCloud, load_scenario
from devtools.fakecloud.scenario import Scenario, TenantSpec
from devtools.receiver import Receiver, describe

ROOT = repo_root()
DEMO_SCENARIO = ROOT / "devtools" / "fakecloud" / "scenarios" / "demo.json"
OK_STATUSES = {"changed", "no_changes", "planned", "not_applicable"}
JOBS = ("guest-cleanup", "ensure-group", "tenant-baseline")
#: The operator the demo acts as, and one who may only read.
OPERATOR = "ada@contoso.example"
OPERATOR_ROLES = ("xtenant.admin", "xtenant.apply")
READER = "bob@contoso.example"


def enrolments(tenant: TenantSpec) -> dict[str, Any]:
    """What each demo tenant is enrolled in: all three jobs, in apply mode."""
    domain = tenant.graph.get("domain") or f"t{tenant.tenant_id[:8]}.onmicrosoft.com"
    members = [f"{name}@{domain}" for name in ("adele", "bianca", "nobody")]
    return {
        "guest-cleanup": {"mode": "apply", "params": {"days": 90}},
        "ensure-group": {
            "mode": "apply",
            "params": {
                "mail_nickname": "xtenant-helpdesk",
                "display_name": "Helpdesk (managed by xtenant)",
                "description": "Members are set by xtenant; changes here are undone.",
                "members": members,
            },
        },
        "tenant-baseline": {"mode": "apply", "params": {}},
    }


class Api:
    """The app's HTTP API, as an operator calls it (an Entra ID access token as bearer)."""

    def __init__(self, host: DevHost, token: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=host.http_base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.client.request(method, path, json=body)
        if response.status_code >= 400:
            raise SystemExit(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json()


async def register(api: Api, scenario: Scenario) -> None:
    for tenant in scenario.tenants:
        body = {"name": tenant.name, "enabled": True, "enrolments": enrolments(tenant)}
        await api.call("PUT", f"/api/tenants/{tenant.tenant_id}", body)
    print(
        f"operator {OPERATOR} ({', '.join(OPERATOR_ROLES)}) registered and enrolled "
        f"{len(scenario.tenants)} tenants"
    )


async def refused_call(host: DevHost, cloud: FakeCloud, tenant_id: str) -> str:
    """A read-only operator asks for an apply run: one line saying what the app answered."""
    token = cloud.operator_token(READER, ["xtenant.read"])
    body = {"job": "tenant-baseline", "mode": "apply", "tenants": [tenant_id], "params": {}}
    async with httpx.AsyncClient(base_url=host.http_base_url, timeout=60) as client:
        answer = await client.post(
            "/api/runs", json=body, headers={"Authorization": f"Bearer {token}"}
        )
    error = answer.json()["error"]
    return (
        f"refused: {READER} (xtenant.read) POST /api/runs mode=apply -> "
        f"{answer.status_code} {error['code']}: {error['message']}"
    )


async def plan_runs(api: Api, host: DevHost, scenario: Scenario) -> list[str]:
    """One manual plan run per job, with each tenant's enrolled params... for the first
    tenant's shape; params that name tenant users differ per tenant, so plan per tenant."""
    run_ids = []
    before = host.counts()
    for job in JOBS:
        for tenant in scenario.tenants:
            params = enrolments(tenant)[job]["params"]
            started = await api.call(
                "POST",
                "/api/runs",
                {"job": job, "mode": "plan", "tenants": [tenant.tenant_id], "params": params},
            )
            run_ids.append(started["run_id"])
    await drain(host, "plan", before)
    return run_ids


async def rows_of(api: Api, run_ids: list[str]) -> list[Any]:
    """Every row of the runs, each with who requested its run."""
    rows = []
    for run_id in run_ids:
        run = await api.call("GET", f"/api/runs/{run_id}")
        rows += [row | {"requested_by": run["requested_by"]} for row in run["rows"]]
    return rows


async def scheduled_run(api: Api, host: DevHost) -> str:
    before = host.counts()
    await host.fire_timers()
    runs = (await api.call("GET", "/api/runs"))["runs"]
    run_id = next(r["run_id"] for r in runs if r["origin"] == "schedule")
    await drain(host, "apply", before)
    return str(run_id)


async def drain(host: DevHost, phase: str, before: LedgerCounts) -> None:
    """Wait until every message of the phase is processed; the count includes those the host
    took while the phase was still sending (it processes as messages arrive)."""
    started = time.monotonic()
    await host.drain(timeout_s=300, progress=lambda line: print(f"  [{phase}] {line}"))
    after = host.counts()
    drained = time.monotonic() - started
    print(
        f"  [{phase}] done: {after.processed - before.processed} function invocations "
        f"({after.failed - before.failed} failed, {after.poisoned - before.poisoned} poisoned); "
        f"drained in {drained:.1f}s"
    )


def health_of(tenants: dict[str, Any], tenant_id: str, job: str) -> str:
    """The tenant's health after the run; a job held back alone shows its own."""
    tenant = tenants.get(tenant_id) or {}
    job_health = (tenant.get("job_health") or {}).get(job)
    if job_health and tenant.get("health", {}).get("status") == "healthy":
        return f"{job_health['status']} (this job)"
    return str(tenant.get("health", {}).get("status", "-"))


def print_table(plans: dict[tuple[str, str], Any], run: Any, tenants: dict[str, Any]) -> None:
    """One line per (tenant, job): each column is one kind of fact, named in its header."""
    header = (
        "tenant",
        "job",
        "planned",
        "plan requested by",
        "applied",
        "row status",
        "error class",
        "tenant health",
        "deliveries",
        "graph requests (this run)",
        "retries (waited), plan+apply",
    )
    lines = [header]
    for row in run["rows"]:
        plan = plans.get((row["tenant_id"], row["job"]), {})
        retries = (row.get("retries") or 0) + (plan.get("retries") or 0)
        waited = (row.get("waited_s") or 0.0) + (plan.get("waited_s") or 0.0)
        lines.append(
            (
                row.get("tenant_name") or row["tenant_id"],
                row["job"],
                str(plan.get("changes_planned", "-")),
                str(plan.get("requested_by", "-")),
                str(row["changes_applied"]),
                row["status"],
                row["error_class"] or "-",
                health_of(tenants, row["tenant_id"], row["job"]),
                str(row["attempts"]),
                str(row.get("graph_requests") or 0),
                f"{retries} ({waited:.1f}s)" if retries else "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for n, line in enumerate(lines):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\nrun {run['run_id']} ({run['origin']}, requested by {run['requested_by']}):")
    print(f"  overall {run['status']}; rows by status {run['totals']}")
    print(
        "  row status: changed / no_changes / planned / not_applicable = done; failed = the error "
        "class says why;\n  skipped = not run because the tenant's health said a person must "
        "act first (the health column)."
    )


def print_remediations(scenario: Scenario, rows: Sequence[Any]) -> None:
    names = {t.tenant_id: t.name for t in scenario.tenants}
    seen: set[str] = set()
    print("\nWhat to do about the failures (first per tenant):")
    for row in rows:
        if not row["error_class"] or row["tenant_id"] in seen or row["status"] == "not_applicable":
            continue
        seen.add(row["tenant_id"])
        print(f"- {names.get(row['tenant_id'])} [{row['error_class']}] {row['message']}")
        print(f"    -> {row['remediation']}")
    unique = {(r["tenant_id"], r["job"]): r for r in rows if r["status"] == "not_applicable"}
    skipped = list(unique.values())
    if skipped:
        print("\nNot applicable (nothing to do; the tenant lacks what the job needs):")
    for row in skipped:
        print(f"- {names.get(row['tenant_id'])} {row['job']}: {row['message']}")


INVITES = "authorizationPolicy.allowInvitesFrom"
TENANTS_SETTING = "authorizationPolicy.allowedToCreateTenants"


def policies(cloud: FakeCloud, scenario: Scenario) -> list[Any]:
    """Every demo tenant's authorization policy as the fake cloud holds it."""
    return [cloud.directory(t.tenant_id).authorization_policy() for t in scenario.tenants]


async def baseline(api: Api, host: DevHost, tenant_id: str, mode: str) -> dict[str, Any]:
    """One tenant-baseline run in one tenant; its row."""
    body = {"job": "tenant-baseline", "mode": mode, "tenants": [tenant_id], "params": {}}
    started = await api.call("POST", "/api/runs", body)
    await host.drain(timeout_s=120)
    run = await api.call("GET", f"/api/runs/{started['run_id']}")
    return dict(run["rows"][0])


def states(row: dict[str, Any]) -> dict[str, str]:
    return {f["setting"]: f["state"] for f in row["findings"]}


async def standards(api: Api, host: DevHost, cloud: FakeCloud, tenant_id: str) -> list[str]:
    """A deviation accepted, a change made by someone else, and the drift the next runs show;
    what did not go as it must (empty when all did)."""
    print("\nStandards: drift and an accepted deviation (tenant-baseline, one tenant)")
    path = f"/api/tenants/{tenant_id}/exceptions/tenant-baseline/{INVITES}"
    expires = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    reason = "guests invited by every member: agreed with the customer"
    await api.call("PUT", path, {"value": "everyone", "reason": reason, "expires": expires})
    print(f"  {OPERATOR} accepted {INVITES} = everyone until {expires[:10]}")
    directory = cloud.directory(tenant_id)
    directory.update_authorization_policy(
        {
            "allowInvitesFrom": "everyone",
            "defaultUserRolePermissions": {"allowedToCreateTenants": True},
        }
    )
    print(
        "  someone else, in the tenant: allowInvitesFrom = everyone, allowedToCreateTenants = true"
    )
    reported = await baseline(api, host, tenant_id, "plan")
    print(f"  report run: drift {reported['drift']}; {INVITES}: {states(reported)[INVITES]}")
    remediated = await baseline(api, host, tenant_id, "apply")
    policy = directory.authorization_policy()
    print(
        f"  remediate run: fixed {remediated['drift']['fixed']}; allowInvitesFrom left "
        f"{policy['allowInvitesFrom']!r} (accepted)"
    )
    directory.update_authorization_policy({"allowInvitesFrom": "none"})
    watched = await baseline(api, host, tenant_id, "plan")
    print(f"  someone else sets allowInvitesFrom = none: next report drift {watched['drift']}")
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    moves = (await api.call("GET", f"/api/drift?since={since}"))["transitions"]
    for move in moves[:6]:
        print(f"    {move['at'][11:19]} {move['setting']}: {move['transition']}")
    wrong = []
    if (
        reported["drift"]["newly_drifted"] != [TENANTS_SETTING]
        or states(reported)[INVITES] != "accepted"
    ):
        wrong.append("the report run did not show exactly the outside change as drift")
    if (
        policy["allowInvitesFrom"] != "everyone"
        or policy["defaultUserRolePermissions"]["allowedToCreateTenants"]
    ):
        wrong.append("the remediate run did not fix the drift and leave the accepted value")
    if watched["drift"]["newly_drifted"] != [INVITES]:
        wrong.append("the accepted setting was not watched")
    return wrong


def expectation_met(tenant: TenantSpec, plan_rows: list[Any], apply_rows: list[Any]) -> bool:
    if tenant.expect == "ok":
        return all(r["status"] in OK_STATUSES for r in plan_rows + apply_rows)
    planned_right = all(r["error_class"] == tenant.expect for r in plan_rows)
    # The plan runs opened the tenant's breaker: the scheduled run skips it, saying why.
    applied_right = all(r["status"] in ("skipped", "failed") for r in apply_rows)
    return planned_right and applied_right


async def run_demo(scenario: Scenario, cloud: FakeCloud, storage: str) -> int:
    async with Receiver() as receiver:
        code = await _run_demo(scenario, cloud, storage, receiver)
    print_notifications(receiver)
    if code == 0:
        print_next_steps()
    return code


def print_notifications(receiver: Receiver) -> None:
    """What the app told its two sinks (a webhook and a Teams channel, both local here): the
    count per kind, then every event but the routine ones (runs finished, drift fixed)."""
    lines = describe(receiver.received)
    kinds = Counter(line.split()[0] for line in lines)
    print(
        f"\nNotifications ({len(lines)} events, each delivered once to each of 2 sinks; "
        f"by kind: {', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}):"
    )
    for line in lines:
        if line.split()[0] not in ("run_finished", "drift_fixed"):
            print(f"  {line[:200]}")


async def _run_demo(scenario: Scenario, cloud: FakeCloud, storage: str, receiver: Receiver) -> int:
    [port] = free_ports(1)
    settings = (
        cloud.app_env()
        | receiver.settings()
        | {
            "AzureWebJobsStorage": storage,
            "SCHEDULE": "0 0 2 * * *",
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "XTENANT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
    )
    started = time.monotonic()
    host = DevHost("function_app", settings=settings, host_json=ROOT / "host.json", http_port=port)
    async with host:
        api = Api(host, cloud.operator_token(OPERATOR, OPERATOR_ROLES))
        try:
            await register(api, scenario)
            before = policies(cloud, scenario)
            plan_ids = await plan_runs(api, host, scenario)
            unwritten = policies(cloud, scenario) == before
            apply_id = await scheduled_run(api, host)
            healthy = next(t for t in scenario.tenants if t.expect == "ok")
            wrong = await standards(api, host, cloud, healthy.tenant_id)
            wrong += await run_standards(api, host, cloud, scenario)
            plan_rows = await rows_of(api, plan_ids)
            run = await api.call("GET", f"/api/runs/{apply_id}")
            refusal = await refused_call(host, cloud, scenario.tenants[0].tenant_id)
            listed = (await api.call("GET", "/api/tenants"))["tenants"]
            tenants = {t["tenant_id"]: t for t in listed}
        finally:
            await api.client.aclose()
            import function_app

            await function_app.shutdown()
        messages = host.counts()
    plans = {(r["tenant_id"], r["job"]): r for r in plan_rows}
    print()
    print_table(plans, run, tenants)
    print(refusal)
    findings = sum(len(r["findings"]) for r in plan_rows)
    print(
        f"report (plan) runs: {findings} findings, "
        + ("nothing written (the fake cloud's policies unchanged)" if unwritten else "WRITES SEEN")
    )
    print_remediations(scenario, plan_rows + run["rows"])
    counters = cloud.counters()
    print(
        f"\n{len(scenario.tenants)} tenants, {messages.processed} function invocations, "
        f"{time.monotonic() - started:.1f}s: "
        f"{counters.get('msi.requests', 0)} managed identity request(s), "
        f"{counters.get('token.requests', 0)} token requests, "
        f"{counters.get('graph.requests', 0)} Graph requests, "
        f"{counters.get('graph.early_retries', 0)} early retries"
    )
    missed = [
        t.name
        for t in scenario.tenants
        if not expectation_met(
            t,
            [r for r in plan_rows if r["tenant_id"] == t.tenant_id],
            [r for r in run["rows"] if r["tenant_id"] == t.tenant_id],
        )
    ]
    if missed or wrong or not unwritten:
        print(f"UNEXPECTED outcome for: {', '.join(missed + wrong)}")
        return 1
    print("Every tenant got the outcome its scenario expects.")
    return 0


def print_next_steps() -> None:
    print(
        "\nWhat to try next:\n"
        "  make test                 every test (unit, integration on Azurite + the fake cloud)\n"
        "  README.md                 how it works and the HTTP API (GET /api/runs, /api/tenants)\n"
        "  docs/operations.md        day-to-day tasks; docs/troubleshooting.md: every error class\n"
        "  docs/security.md          who may make the app act in a tenant, and what stops others\n"
        "  docs/decisions.md         why the code is the way it is"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.CRITICAL)
    scenario = load_scenario(Path(args[0]) if args else DEMO_SCENARIO)
    executable = ensure_installed(ROOT)
    with (
        tempfile.TemporaryDirectory(prefix="xtenant-demo-") as workdir,
        Azurite(executable) as azurite,
        FakeCloud(scenario, workdir=Path(workdir)) as cloud,
    ):
        print(f"Azurite up: {azurite.endpoint('queue')}, {azurite.endpoint('table')}")
        print(f"fake cloud up: login {cloud.authority_url}, graph {cloud.graph_url}\n")
        return asyncio.run(run_demo(scenario, cloud, azurite.connection_string))


if __name__ == "__main__":
    raise SystemExit(main())
