"""`make demo`, second half: every standard across the demo tenants, and a staged apply.

1. Report: the healthy tenants are enrolled in every standard in report mode and the schedule
   fires; a table shows each (tenant, standard): findings compliant / drifted, or
   `not_applicable` with the reason (a tenant without Entra ID P1).
2. The enrolments go to remediate; first a staged apply of `authentication-methods`: a canary
   ring, then the rest, waiting for a second operator's approval (the requester's own approval
   is refused).
3. Remediate: the schedule fires; then the customer renames
   one of xtenant's Conditional Access policies in a tenant, and a second remediate run changes
   nothing anywhere (the fake cloud's write counter) and creates no duplicate.
Returns what did not go as it must (empty when all did).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Protocol

import httpx

from devtools.devhost.host import DevHost
from devtools.fakecloud import FakeCloud
from devtools.fakecloud.scenario import Scenario, TenantSpec

STANDARDS = (
    "conditional-access-baseline",
    "security-defaults",
    "authentication-methods",
    "sharepoint-sharing",
    "emergency-access-check",
)
STAGED = "authentication-methods"
APPROVER = "grace@contoso.example"
PREFIX = "xtenant: "


class Api(Protocol):
    client: httpx.AsyncClient

    async def call(self, method: str, path: str, body: Any = None) -> Any: ...


def standard_enrolments(tenant: TenantSpec, mode: str) -> dict[str, Any]:
    glass = f"breakglass@{tenant.graph['domain']}"
    params: dict[str, dict[str, Any]] = {
        "conditional-access-baseline": {"emergency_accounts": [glass]},
        "emergency-access-check": {"accounts": [glass]},
    }
    return {job: {"mode": mode, "params": params.get(job, {})} for job in STANDARDS}


#: the first half's jobs: reported on too while the standards report, applied again after
EARLIER = ("guest-cleanup", "ensure-group", "tenant-baseline")


async def enrol(api: Api, tenants: list[TenantSpec], mode: str) -> None:
    """Every standard in `mode`; the earlier jobs follow (report: nothing written anywhere)."""
    earlier = {job: {"mode": "report" if mode == "report" else "apply"} for job in EARLIER}
    for tenant in tenants:
        body = {"enrolments": earlier | standard_enrolments(tenant, mode)}
        await api.call("PATCH", f"/api/tenants/{tenant.tenant_id}", body)


async def fire_schedule(api: Api, host: DevHost, phase: str) -> dict[str, Any]:
    known = {r["run_id"] for r in (await api.call("GET", "/api/runs?limit=100"))["runs"]}
    await host.fire_timers()
    runs = (await api.call("GET", "/api/runs?limit=100"))["runs"]
    run_id = next(
        r["run_id"] for r in runs if r["origin"] == "schedule" and r["run_id"] not in known
    )
    await host.drain(timeout_s=300, progress=lambda line: print(f"  [{phase}] {line}"))
    return dict(await api.call("GET", f"/api/runs/{run_id}"))


def standard_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in run["rows"] if r["job"] in STANDARDS]


def print_standards(run: dict[str, Any], names: dict[str, str], title: str) -> None:
    print(f"\n{title}")
    lines = [("tenant", "standard", "status", "findings (state: count)", "why")]
    for row in sorted(standard_rows(run), key=lambda r: (names[r["tenant_id"]], r["job"])):
        counts = Counter(f["state"] for f in row["findings"])
        shown = ", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "-"
        why = row["message"] if row["status"] == "not_applicable" else ""
        lines.append((names[row["tenant_id"]][:28], row["job"], row["status"], shown, why or ""))
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    for n, line in enumerate(lines):
        print(
            "  "
            + "  ".join(c.ljust(w) for c, w in zip(line[:4], widths, strict=True))
            + (f"  {line[4]}" if line[4] else "")
        )
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


async def staged_apply(
    api: Api, host: DevHost, cloud: FakeCloud, tenants: list[TenantSpec]
) -> list[str]:
    """authentication-methods, canary first, approved by a second operator."""
    print(f"\nA staged apply: {STAGED} in {len(tenants)} tenants, {tenants[0].name} first")
    body = {
        "job": STAGED,
        "mode": "apply",
        "tenants": [t.tenant_id for t in tenants],
        "params": {},
        "rings": [{"tenants": [tenants[0].tenant_id]}, {"rest": True}],
    }
    started = await api.call("POST", "/api/runs", body)
    run_id = started["run_id"]
    print(f"  requested: {started['state']}; its plan is run {started['plan_run_id']}")
    await host.drain(timeout_s=120)
    plan = await api.call("GET", f"/api/runs/{started['plan_run_id']}")
    planned = sum(r["changes_planned"] for r in plan["rows"])
    print(f"  the plan: {planned} changes in {len(plan['rows'])} tenants; nothing applied yet")
    token = cloud.operator_token(APPROVER, ["xtenant.admin"])
    async with httpx.AsyncClient(base_url=host.http_base_url, timeout=60) as client:
        own = await api_status(api, f"/api/runs/{run_id}/approve")
        answer = await client.post(
            f"/api/runs/{run_id}/approve", headers={"Authorization": f"Bearer {token}"}
        )
    print(f"  the requester approves their own run -> {own}")
    print(f"  {APPROVER} approves -> {answer.status_code}; ring 1 ({tenants[0].name}) goes")
    await host.drain(timeout_s=120, progress=lambda line: print(f"  [staged] {line}"))
    run = await api.call("GET", f"/api/runs/{run_id}")
    by_ring = Counter((r["ring"], r["status"]) for r in run["rows"])
    print(f"  run {run['status']}: rings {dict(sorted(by_ring.items()))}")
    wrong = []
    if own != 403 or answer.status_code != 200 or run["status"] != "succeeded":
        wrong.append("the staged apply did not wait for a second operator and then succeed")
    return wrong


async def api_status(api: Api, path: str) -> int:
    """The status of a POST the demo's operator makes (a refusal is expected, not an error)."""
    return int((await api.client.post(path)).status_code)


def xtenant_policies(cloud: FakeCloud, tenant_id: str) -> list[dict[str, Any]]:
    return list(cloud.directory(tenant_id).security.policies())


async def run_standards(api: Api, host: DevHost, cloud: FakeCloud, scenario: Scenario) -> list[str]:
    tenants = [t for t in scenario.tenants if t.expect == "ok"]
    names = {t.tenant_id: t.name for t in scenario.tenants}
    print(f"\nEvery standard across {len(tenants)} tenants: report, then remediate")
    await enrol(api, tenants, "report")
    writes = cloud.counters().get("graph.writes.started", 0)
    report = await fire_schedule(api, host, "report")
    unwritten = cloud.counters().get("graph.writes.started", 0) == writes
    print_standards(report, names, "Report (the schedule, standards in report mode):")
    wrong = [] if unwritten else ["the report run wrote to a tenant"]
    await enrol(api, tenants, "remediate")
    wrong += await staged_apply(api, host, cloud, tenants)
    remediated = await fire_schedule(api, host, "remediate")
    print_standards(remediated, names, "Remediate (the schedule, standards in remediate mode):")
    renamed = tenants[0]
    ours = [p for p in xtenant_policies(cloud, renamed.tenant_id) if p["displayName"][:9] == PREFIX]
    policy = ours[0]
    cloud.directory(renamed.tenant_id).security.rename(policy["id"], "Contoso MFA (our name)")
    print(f"\n  in {renamed.name} the customer renamed {policy['displayName']!r}")
    count = len(xtenant_policies(cloud, renamed.tenant_id))
    writes = cloud.counters().get("graph.writes.started", 0)
    again = await fire_schedule(api, host, "remediate again")
    written = cloud.counters().get("graph.writes.started", 0) - writes
    after = len(xtenant_policies(cloud, renamed.tenant_id))
    changed = [r for r in standard_rows(again) if r["status"] == "changed"]
    print(
        f"  a second remediate run: {written} writes in any tenant, {len(changed)} rows changed; "
        f"{renamed.name} has {after} policies (was {count}: the renamed one found by its id)"
    )
    if written or changed or after != count:
        wrong.append("the second remediate run changed something or duplicated a policy")
    not_applicable = [r for r in standard_rows(report) if r["status"] == "not_applicable"]
    if not not_applicable:
        wrong.append("no standard was not_applicable in a tenant without Entra ID P1")
    return wrong
