"""The measured run: `guest-cleanup` in apply mode through the worker's own entry point.

One queue message per tenant (the JSON `start_manual_run` sends) goes to
`worker.process_message`, at most `concurrency` at once, as the Functions host hands a
worker its messages: ledger claim, breaker check, `run_tenant_job` (token, Graph read,
`$batch` of PATCHes), health record, ledger row. Storage is either Azurite (the real service
emulator, a third process on the same cores) or `MemoryTable` (the same Ledger and
TenantRegistry code, no storage I/O).

Untimed: settings, clients, tables, registered tenants and `queued` ledger rows, and one warm-up
tenant through the same path (its imports and the managed identity assertion are the first
job's cost: cold start is measured on its own, see coldstart.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from devtools.bench.memtable import MemoryQueue, MemoryTable
from devtools.bench.probe import PhaseResult, Probe

if TYPE_CHECKING:
    from azure.storage.queue.aio import QueueClient

JOB = "guest-cleanup"
PARAMS: dict[str, Any] = {"days": 90}
#: tenants read again, one at a time, to measure the CPU of reading users on its own
READ_SAMPLE = 20


def configure_logging(path: Path) -> None:
    """As a worker logs: INFO to a handler, then the app's own logging setup (function_app:
    tenant context on every line, SDK loggers it quiets)."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    import function_app  # noqa: F401 - its import configures logging as in a worker


class CountedTables:
    """Every Table storage call the worker path makes, on whichever tables it uses."""

    def __init__(self) -> None:
        self.tables: list[Any] = []
        self.requests = 0

    def hook(self, request: Any) -> None:
        self.requests += 1

    @property
    def calls(self) -> int:
        return self.requests + sum(getattr(t, "calls", 0) for t in self.tables)


def services(storage: str, counted: CountedTables) -> Any:
    """The app's Services, with its two tables swapped for counted ones: in memory, or on
    Azurite through clients whose every HTTP request is counted."""
    import os

    from shared.services import Services

    built = Services.from_env()
    tenants: Any
    runs: Any
    if storage == "memory":  # stand-ins with the methods the app calls, typed as the SDK's
        tenants, runs = MemoryTable(), MemoryTable()
        built.queue = cast("QueueClient", MemoryQueue())
    else:
        from azure.data.tables.aio import TableClient

        connection = os.environ["AzureWebJobsStorage"]  # noqa: SIM112 - the host's own name
        tenants, runs = (
            TableClient.from_connection_string(connection, name, raw_request_hook=counted.hook)
            for name in (built.registry.table.table_name, built.ledger.table.table_name)
        )
    counted.tables += [tenants, runs]
    for tenants_user in (built.registry, built.consent_states, built.locks, built.app_breaker):
        tenants_user.table = tenants
    for runs_user in (built.ledger, built.runs, built.claims, built.idempotency):
        runs_user.table = runs
    return built


async def prepare(built: Any, tenants: Sequence[str]) -> list[str]:
    """Tables, registered tenants, the run's queued rows; the messages the run would send."""
    from shared.ids import new_run_id
    from shared.ledger import RowSpec
    from shared.messages import TenantJobMessage
    from shared.results import Mode, RunOrigin
    from shared.tenants import Tenant

    await built.ready()
    for tenant_id in tenants:
        await built.registry.put(Tenant(tenant_id, f"bench {tenant_id[:8]}", True, {}))
    run_id = new_run_id()
    await built.ledger.start_run(
        run_id,
        [RowSpec(t, JOB, Mode.APPLY, dict(PARAMS), f"bench {t[:8]}") for t in tenants],
        origin=RunOrigin.MANUAL,
        requested_by="bench",
        mode=Mode.APPLY,
        job=JOB,
    )
    now = datetime.now(UTC).isoformat()
    return [
        TenantJobMessage(
            run_id, t, JOB, Mode.APPLY, dict(PARAMS), RunOrigin.MANUAL, now, "bench"
        ).to_json()
        for t in tenants
    ]


async def run_xtenant(
    tenants: Sequence[str],
    concurrency: int,
    *,
    warmup: str,
    storage: str,
    workdir: Path,
    mark: Callable[[str], None],
    big_page_tenant: str | None = None,
) -> PhaseResult:
    from shared.worker import process_message

    configure_logging(workdir / f"xtenant-{storage}.log")
    counted = CountedTables()
    built = services(storage, counted)
    warm, *bodies = await prepare(built, [warmup, *tenants])
    await process_message(built, warm, message_id="bench-warmup")
    mark("warm")
    calls_before = counted.calls
    gate = asyncio.Semaphore(concurrency)
    statuses: dict[str, int] = {}

    async def work(n: int, body: str) -> None:
        async with gate:
            status = await process_message(built, body, message_id=f"bench-{n}")
        statuses[status.value] = statuses.get(status.value, 0) + 1

    with Probe() as probe:
        await asyncio.gather(*(work(n, body) for n, body in enumerate(bodies)))
    mark("end")
    table_calls = counted.calls - calls_before
    extra = {"statuses": statuses, "table_calls": table_calls, "run_id": json.loads(warm)["run_id"]}
    result = probe.result(tenants=len(tenants), extra=extra)
    result.extra["read"] = await measure_reads(built, tenants[:READ_SAMPLE])
    if big_page_tenant:
        result.extra["read_big_page"] = await measure_reads(built, [big_page_tenant] * 5)
    await built.close()
    for table in counted.tables:
        await table.close()
    return result


async def measure_reads(built: Any, tenants: Sequence[str]) -> dict[str, float]:
    """CPU per user object read: plan-mode jobs (token cached, pool warm) one at a time.

    Also the decoding alone (`json.loads` of a page and guest-cleanup's own records, as
    GraphSession.collect does it), which is what msgraph's typed models make expensive.
    """
    from shared.runner import run_tenant_job

    cpu = 0.0
    users = 0
    for tenant_id in tenants:
        started = time.process_time()
        result = await run_tenant_job(built.pool, tenant_id=tenant_id, job=JOB, mode="plan")
        cpu += time.process_time() - started
        users += _guests_read(result.notes)
    decode = await _decode_cpu_per_user(built, tenants[0]) if tenants else 0.0
    return {"tenants": len(tenants), "users": users, "cpu_s": cpu, "decode_s_per_user": decode}


async def _decode_cpu_per_user(built: Any, tenant_id: str, rounds: int = 50) -> float:
    from shared.jobs.guest_cleanup import _SELECT, Guest

    session = built.pool.session(tenant_id)
    request = session.list_users(filter="userType eq 'Guest'", select=_SELECT, top=999)
    raw = json.dumps(await session.get(request)).encode()
    started = time.process_time()
    for _ in range(rounds):
        guests = [Guest.from_graph(item) for item in json.loads(raw)["value"]]
    return (time.process_time() - started) / (rounds * max(1, len(guests)))


def _guests_read(notes: Sequence[str]) -> int:
    # guest-cleanup's plan note: "<n> guests read, <m> stale guests excluded"
    for note in notes:
        if note.endswith("stale guests excluded"):
            return int(note.split(" ", 1)[0])
    return 0
