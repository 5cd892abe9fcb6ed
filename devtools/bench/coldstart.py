"""Cold start, each in a fresh process: `python -m devtools.bench.coldstart {import|first-job}`.

import     wall time and peak RSS of `import function_app`, whether msgraph came with it, and
           where telemetry goes (the environment decides: devtools/bench/importcost.py)
first-job  the same import, then one tenant job through the queue trigger `tenant_job`
           (`Services` built and storage tables created on first use, the managed identity
           and tenant tokens, msgraph's imports, the Graph read and the `$batch`); the spec
           (env, tenant, run id) comes on stdin as JSON

Prints `RESULT <json>` as its last line.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()  # before any import of ours: the module's own start

import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from devtools.bench.probe import peak_rss_mb  # noqa: E402

RESULT_PREFIX = "RESULT "


def import_app() -> dict[str, Any]:
    started = time.perf_counter()
    import function_app  # noqa: F401

    imported_s = time.perf_counter() - started
    from shared import telemetry

    return {
        "import_s": imported_s,
        "telemetry": telemetry.configure(),  # what the import set up (configure runs once)
        "msgraph_imported": any(name.split(".")[0] == "msgraph" for name in sys.modules),
        "modules": len(sys.modules),
        "peak_rss_mb_after_import": peak_rss_mb(),
    }


def _message(spec: dict[str, Any]) -> Any:
    from azure.functions.queue import QueueMessage

    body = {
        "v": 2,
        "run_id": spec["run_id"],
        "tenant_id": spec["tenant_id"],
        "job": "guest-cleanup",
        "mode": "apply",
        "params": {"days": 90},
        "requested_at": datetime.now(UTC).isoformat(),
        "origin": "manual",
        "requested_by": "bench",
    }
    return QueueMessage(  # type: ignore[no-untyped-call]
        id="coldstart-1", body=json.dumps(body).encode(), dequeue_count=1
    )


async def _first_job(spec: dict[str, Any]) -> float:
    import function_app

    started = time.perf_counter()
    await function_app.tenant_job(_message(spec))
    elapsed = time.perf_counter() - started
    await function_app.shutdown()
    return elapsed


def first_job(spec: dict[str, Any]) -> dict[str, Any]:
    os.environ.update({str(k): str(v) for k, v in spec["env"].items()})
    figures = import_app()
    figures["first_job_s"] = asyncio.run(_first_job(spec))
    figures["import_to_job_done_s"] = figures["import_s"] + figures["first_job_s"]
    return figures


def main(argv: list[str]) -> int:
    what = argv[1] if len(argv) > 1 else "import"
    figures = first_job(json.load(sys.stdin)) if what == "first-job" else import_app()
    figures["peak_rss_mb"] = peak_rss_mb()
    figures["since_module_start_s"] = time.perf_counter() - _STARTED
    print(RESULT_PREFIX + json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
