"""What happens to the app during the chaos run, in order:

1. The managed identity endpoint answers 503 from the moment the scheduled run starts, for
   `identity_outage_s`. No worker holds an assertion yet, so every first delivery needs one.
2. Then the token endpoint answers AADSTS70021 for every tenant for `federation_window_s`: the
   federation mismatch, which is app-wide (tenants.TenantFault.FEDERATION says why).
3. Graph writes are slowed; once `writes_in_flight_to_kill` are in flight, a worker (not the one
   serving the API) is killed with SIGKILL in the middle of applying, and a new one starts.
4. Azurite is stopped for `storage_outage_s` and started again on the same data.
Throughout, every message is delivered twice (the workers) and the fake cloud's clock runs
ahead (the stage). After each event the suite notes how the fault-free tenants stand (which
app-wide fault did what to them), then it waits, up to `settle_s`, until no row is queued or
running.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devtools.chaos import report
from devtools.chaos.client import ApiError, AppClient
from devtools.chaos.config import ChaosConfig
from devtools.chaos.stage import ChaosStage
from devtools.chaos.tenants import ChaosTenant
from devtools.fakecloud.faults import Fault
from devtools.fakecloud.server import FakeCloud

IDENTITY_OUTAGE = "identity-outage"
FEDERATION_MISMATCH = "federation-mismatch"
SLOW_WRITES = "slow-writes"
#: the worker the suite kills: not worker 0, whose HTTP API the suite calls
KILLED = 1
_POLL_S = 0.1  # how often the suite looks at what it waits for (the app and the fake cloud)
_RUN_APPEARS_S = 30.0
NOT_FINAL = frozenset({"queued", "running"})


@dataclass
class Timeline:
    """What was done to the app, one line per event, and when the run started and settled."""

    say: Callable[[str], None] = print
    run_id: str = ""
    events: list[str] = field(default_factory=list)
    started: float = 0.0
    settled: float = 0.0

    def add(self, event: str) -> None:
        self.events.append(event)
        self.say(f"  {time.monotonic() - self.started:5.1f} s  {event}")


async def shake(
    stage: ChaosStage, config: ChaosConfig, tenants: list[ChaosTenant], say: Callable[[str], None]
) -> Timeline:
    """Start the scheduled run and put the app through every event; the run's id and events."""
    timeline = Timeline(say)

    async def add(event: str) -> None:
        timeline.add(f"{event}; {await _fault_free_health(stage.client, tenants)}")

    stage.cloud.add_fault(Fault("msi", "status", status=503, label=IDENTITY_OUTAGE))
    timeline.started = time.monotonic()
    await stage.client.run_timer("scheduled_run")
    timeline.run_id = await _scheduled_run(stage.client)
    await _until(timeline.started + config.identity_outage_s)
    refused = _end(stage.cloud, IDENTITY_OUTAGE)
    await add(
        f"managed identity endpoint down (503) {config.identity_outage_s:g} s from the run's "
        f"start: {refused} requests refused"
    )
    await add(await _federation_mismatch(stage.cloud, config.federation_window_s))
    await add(await _kill_mid_apply(stage, config))
    await stage.storage_outage(config.storage_outage_s)
    await add(f"Azurite stopped for {config.storage_outage_s:g} s, then started on its data")
    return timeline


async def _fault_free_health(client: AppClient, tenants: list[ChaosTenant]) -> str:
    """How the tenants without a fault of their own stand now (GET /api/tenants)."""
    try:
        registry = await client.tenants()
    except ApiError:
        return "tenant health unknown (the API did not answer)"
    return report.fault_free_health(registry, tenants)


async def _scheduled_run(client: AppClient) -> str:
    """The id of the run the timer started (GET /api/runs?origin=schedule, newest first)."""
    async with asyncio.timeout(_RUN_APPEARS_S):
        while True:
            runs = await client.runs(origin="schedule", limit="1")
            if runs:
                return str(runs[0]["run_id"])
            await asyncio.sleep(_POLL_S)


async def _until(moment: float) -> None:
    """Let an outage last until `moment` (time.monotonic): waiting for the clock is the event."""
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


def _end(cloud: FakeCloud, label: str) -> int:
    """End the faults with `label`; how many requests they hit."""
    return sum(fault.hits for fault in cloud.clear_faults(label=label))


async def _federation_mismatch(cloud: FakeCloud, seconds: float) -> str:
    cloud.add_fault(Fault("token", "aadsts", code=70021, label=FEDERATION_MISMATCH))
    await _until(time.monotonic() + seconds)
    refused = _end(cloud, FEDERATION_MISMATCH)
    return (
        f"token endpoint answered AADSTS70021 (federation mismatch, app-wide) for every tenant "
        f"for {seconds:g} s: {refused} requests refused"
    )


async def _kill_mid_apply(stage: ChaosStage, config: ChaosConfig) -> str:
    """Slow Graph writes, SIGKILL a worker once enough are in flight, start a new worker."""
    for method in ("POST", "PATCH"):  # a $batch is slowed once, not once per item
        stage.cloud.add_fault(
            Fault(
                "graph",
                "latency",
                latency_ms=config.slow_write_ms,
                method=method,
                batch_items=False,
                label=SLOW_WRITES,
            )
        )
    waited = time.monotonic()
    in_flight = await _writes_in_flight(stage.cloud, config.writes_in_flight_to_kill, config)
    killed = await stage.kill_worker(KILLED)
    _end(stage.cloud, SLOW_WRITES)
    replacement = await stage.replace_worker(KILLED)
    return (
        f"{killed} killed by SIGKILL with {in_flight} Graph writes in flight (after "
        f"{time.monotonic() - waited:.1f} s of writes slowed by {config.slow_write_ms} ms); "
        f"{replacement} started in its place"
    )


async def _writes_in_flight(cloud: FakeCloud, wanted: int, config: ChaosConfig) -> int:
    """Wait until `wanted` Graph writes are in flight (or `kill_wait_s` passed); how many are."""
    deadline = time.monotonic() + config.kill_wait_s
    while True:
        counters = cloud.counters()
        in_flight = counters.get("graph.writes.started", 0) - counters.get(
            "graph.writes.answered", 0
        )
        if in_flight >= wanted or time.monotonic() >= deadline:
            return in_flight
        await asyncio.sleep(_POLL_S / 2)


async def settle(client: AppClient, timeline: Timeline, seconds: float) -> dict[str, Any]:
    """GET /api/runs/{id} until no row is queued or running, or `seconds` passed: the last view.

    Storage may still be coming back: an error answer is looked at again, not reported.
    """
    deadline = time.monotonic() + seconds
    run: dict[str, Any] | None = None
    while True:
        with contextlib.suppress(ApiError):
            run = await client.run(timeline.run_id)
        over = time.monotonic() >= deadline
        if run is not None and (over or not any(r["status"] in NOT_FINAL for r in run["rows"])):
            timeline.settled = time.monotonic()
            return run
        if over:
            raise ApiError(f"GET /api/runs/{timeline.run_id} never answered")
        await asyncio.sleep(_POLL_S * 5)
