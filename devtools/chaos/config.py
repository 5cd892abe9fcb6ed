"""How hard the chaos suite shakes the app: the full form (`make chaos`) and the short one that
runs in `make test`.

The short form keeps every kind of event and shortens what only costs time: fewer tenants, a
shorter identity outage, a 1 s visibility timeout (so a released message comes back at once),
and a 15 s functionTimeout (a killed worker's messages stay invisible that long, as on Azure
they stay invisible for the function's lease). The full form uses the repository's host.json
queue settings with a 2 minute functionTimeout instead of 10, so a killed worker's messages come
back within the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChaosConfig:
    """Sizes and durations of one chaos run; every duration is in seconds of wall time."""

    tenants: int
    #: the managed identity endpoint answers 503 this long, from the moment the run starts; it
    #: must outlast azure-identity's own retries (about 5 s) to reach the app at all
    identity_outage_s: float
    #: then the token endpoint answers AADSTS70021 for every tenant this long
    federation_window_s: float
    #: Azurite is stopped this long, then started again on the same data
    storage_outage_s: float
    #: the longest wait for Graph writes in flight before a worker is killed anyway
    kill_wait_s: float
    #: after the last event, how long the rows may take to end before the figures are taken
    settle_s: float
    #: host.json for the workers: queues.visibilityTimeout, functionTimeout, maxDequeueCount
    visibility_timeout: str
    function_timeout: str
    max_dequeue_count: int = 5
    #: the fake cloud's clock runs this far ahead of the app's machine
    clock_offset_s: float = 240.0
    #: Graph writes are slowed this much while the suite waits to kill a worker mid-apply
    slow_write_ms: int = 1000
    #: kill a worker once at least this many Graph writes are in flight
    writes_in_flight_to_kill: int = 2
    #: worker processes on the queue (the first serves the HTTP API and is never killed)
    workers: int = 2
    #: extra app settings for every worker (say, a lease length that follows functionTimeout)
    app_settings: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def full(cls, tenants: int = 200) -> ChaosConfig:
        return cls(
            tenants=tenants,
            identity_outage_s=30.0,
            federation_window_s=10.0,
            storage_outage_s=10.0,
            kill_wait_s=60.0,
            settle_s=600.0,
            visibility_timeout="00:00:30",
            function_timeout="00:02:00",
            app_settings={"XTENANT_LEASE_SECONDS": "30", "XTENANT_APP_PAUSE_SECONDS": "20"},
        )

    @classmethod
    def short(cls, tenants: int = 30) -> ChaosConfig:
        return cls(
            tenants=tenants,
            identity_outage_s=8.0,
            federation_window_s=5.0,
            storage_outage_s=3.0,
            kill_wait_s=15.0,
            settle_s=45.0,
            visibility_timeout="00:00:04",
            function_timeout="00:00:15",
            app_settings={"XTENANT_LEASE_SECONDS": "10", "XTENANT_APP_PAUSE_SECONDS": "3"},
        )
