"""`python -m devtools.devhost [--app function_app] [--settings local.settings.json] [--once]
[--port 7071] [--drain] [--deliver-twice]`: run a v2 function app locally without Core Tools.

Settings come from the file's `Values`; as with Core Tools, a variable already set in the
environment wins over the file. Prints each function (HTTP ones with their URL), the function
key for this run (for `function`/`admin` routes; `--function-key` or DEVHOST_FUNCTION_KEY to
choose it), `listening on http://127.0.0.1:<port>`, then `devhost ready`. `--once` fires
every timer once at start instead of scheduling them; `--drain` then processes every queued
message, prints the counts and exits (1 if the queues did not empty in `--drain-timeout`
seconds). Otherwise it serves until Ctrl-C.
`--deliver-twice` hands every queue message to its function twice at once (at-least-once
delivery: the chaos suite runs the app this way). `POST /admin/functions/<timer>` with the key
runs a timer now, as the host's admin endpoint does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from devtools.devhost import DevHost, DevHostError, DrainTimeoutError, load_settings_file

DEFAULT_SETTINGS = Path("local.settings.json")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.devhost", description=__doc__)
    parser.add_argument("--app", default="function_app", help="the app module to import")
    parser.add_argument("--settings", type=Path, help="local.settings.json-style file")
    parser.add_argument("--host-json", type=Path, default=Path("host.json"))
    parser.add_argument("--port", type=int, default=7071, help="HTTP port (0: any free port)")
    parser.add_argument("--once", action="store_true", help="fire every timer once at start")
    parser.add_argument("--drain", action="store_true", help="process all messages, then exit")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--function-key", default=os.environ.get("DEVHOST_FUNCTION_KEY"))
    parser.add_argument(
        "--deliver-twice", action="store_true", help="run every queue message twice at once"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="tracebacks of failures")
    return parser.parse_args(argv)


def _settings(path: Path | None) -> dict[str, str]:
    """The file's Values minus those the environment already sets (Core Tools' rule)."""
    if path is None and not DEFAULT_SETTINGS.exists():
        return {}
    values = load_settings_file(path or DEFAULT_SETTINGS)
    for name in sorted(set(values) & set(os.environ)):
        print(f"setting {name}: the environment's value wins over the settings file")
    return {name: value for name, value in values.items() if name not in os.environ}


def _announce(host: DevHost) -> None:
    functions = host.functions
    for timer in functions.timers:
        print(f"  {timer.function.name}: timerTrigger {timer.schedule_text}")
    for queue in functions.queues:
        print(f"  {queue.function.name}: queueTrigger {queue.queue_name}")
    for route in functions.http:
        methods = ",".join(sorted(route.methods)) if route.methods else "*"
        url = host.route_url(route.route)
        print(f"  {route.function.name}: [{methods}] {url} ({route.auth_level})")
    print(f"function key (this run only): {host.function_key}")
    print(f"listening on {host.http_base_url}")
    print("devhost ready", flush=True)


async def _run(arguments: argparse.Namespace, settings: dict[str, str]) -> int:
    host = DevHost(
        arguments.app,
        settings=settings,
        host_json=arguments.host_json,
        http_port=arguments.port,
        function_key=arguments.function_key,
        schedule_timers=not arguments.once,
        deliveries=2 if arguments.deliver_twice else 1,
    )
    async with host:
        _announce(host)
        if arguments.once:
            await host.fire_timers()
        if arguments.drain:
            return await _drain(host, arguments.drain_timeout)
        await _until_signal()
    return 0


async def _drain(host: DevHost, timeout_s: float) -> int:
    try:
        report = await host.drain(timeout_s, progress=print)
    except DrainTimeoutError as error:
        print(f"devhost: {error}", file=sys.stderr)
        return 1
    print(
        f"drained in {report.elapsed_s:.1f} s: {report.processed} processed, "
        f"{report.succeeded} succeeded, {report.failed} failed, {report.poisoned} poisoned"
    )
    return 0


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("azure", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return asyncio.run(_run(arguments, _settings(arguments.settings)))
    except DevHostError as error:
        print("devhost: cannot start:", *error.problems, sep="\n  ", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
