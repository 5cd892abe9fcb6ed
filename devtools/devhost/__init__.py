"""A local Azure Functions host for v2 Python apps, for machines without Core Tools.

    async with DevHost("function_app", settings=values, host_json=Path("host.json")) as host:
        await host.fire_timers()
        report = await host.drain(timeout_s=60)

Runs the app's timer, queue and HTTP triggers with the host's semantics (batching, retries,
poison queues, auth levels) against Azure Storage, Azurite locally. See `host.py`, `queues.py`,
`http.py` and `timers.py` for what is implemented and what is not.
"""

from devtools.devhost.config import DevHostError, HostOptions, QueueOptions, load_settings_file
from devtools.devhost.host import DevHost, DrainReport, DrainTimeoutError
from devtools.devhost.ledger import Invocation, Outcome

__all__ = [
    "DevHost",
    "DevHostError",
    "DrainReport",
    "DrainTimeoutError",
    "HostOptions",
    "Invocation",
    "Outcome",
    "QueueOptions",
    "load_settings_file",
]
