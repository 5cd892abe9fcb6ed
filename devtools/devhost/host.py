"""`DevHost`: a v2 function app's own functions, run with the Functions host's semantics.

For machines without Azure Functions Core Tools (its npm package downloads the host from a CDN).
Start order follows the host: app settings into the environment, then import the app module, then
index its functions, then listen. Everything runs on the caller's event loop; sync functions run
on a thread pool sized like the Python worker's (PYTHON_THREADPOOL_THREAD_COUNT).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from aiohttp import web

from devtools.devhost.config import DevHostError, HostOptions, load_host_json, load_settings_file
from devtools.devhost.functions import (
    AppFunctions,
    QueueFunction,
    discover,
    find_function_app,
    import_app_module,
)
from devtools.devhost.http import HttpFront, Route, compile_route, new_function_key
from devtools.devhost.ledger import Invocation, Ledger, LedgerCounts, Outcome, logger
from devtools.devhost.queues import (
    POISON_SUFFIX,
    QueueListener,
    StorageAccounts,
    approximate_count,
    connection_string,
)
from devtools.devhost.timers import TimerRunner

HOST = "127.0.0.1"
_QUEUE_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")  # Queue service naming rules


@dataclass(frozen=True)
class DrainReport:
    """What one `drain()` did: invocations (attempts), their outcomes, messages poisoned."""

    processed: int
    succeeded: int
    failed: int
    poisoned: int
    elapsed_s: float
    failures: tuple[Invocation, ...]


class DrainTimeoutError(TimeoutError):
    """The queues were not empty (or work was still running) when drain()'s time ran out."""

    def __init__(self, report: DrainReport, queued: Mapping[str, int], in_flight: int) -> None:
        self.report = report
        self.queued = dict(queued)
        self.in_flight = in_flight
        waiting = ", ".join(f"{name}: {count}" for name, count in queued.items() if count)
        super().__init__(
            f"drain timed out after {report.elapsed_s:.1f} s: {in_flight} in flight, "
            f"messages left ({waiting or 'none'}); {report.processed} processed"
        )


class DevHost:
    """Runs `app_module`'s timer, queue and HTTP functions against Azure Storage (Azurite).

    `settings` (a dict, or a local.settings.json path) go into os.environ before the app is
    imported, over any value already there, and the environment is restored on stop().
    `schedule_timers=False` runs timers only through fire_timers() (or the admin endpoint,
    http.py). `function_key` defaults to a random per-run key. `deliveries=2` hands every queue
    message to its function twice at once (at-least-once delivery, queues.py).
    """

    def __init__(
        self,
        app_module: str | ModuleType,
        *,
        settings: Mapping[str, str] | Path,
        host_json: Path,
        http_port: int = 7071,
        function_key: str | None = None,
        schedule_timers: bool = True,
        shutdown_grace_s: float = 10.0,
        deliveries: int = 1,
    ) -> None:
        self._app_module = app_module
        self._settings = (
            load_settings_file(settings) if isinstance(settings, Path) else dict(settings)
        )
        self._host_json = host_json
        self._http_port = http_port
        self._function_key = function_key or new_function_key()
        self._schedule_timers = schedule_timers
        self._grace_s = shutdown_grace_s
        self._deliveries = deliveries
        self._saved_environment: dict[str, str | None] | None = None
        self._ledger = Ledger()
        self._accounts = StorageAccounts()
        self._executor: ThreadPoolExecutor | None = None
        self._functions: AppFunctions | None = None
        self._listeners: list[QueueListener] = []
        self._timers: list[TimerRunner] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._fired: set[asyncio.Task[Invocation]] = set()
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None
        self._route_prefix = "api"

    async def start(self) -> None:
        """Apply settings, import and index the app, then listen; DevHostError lists problems."""
        if self._saved_environment is not None:
            raise DevHostError(["the dev host is already started"])
        self._apply_settings()
        try:
            options = load_host_json(self._host_json)
            self._route_prefix = options.route_prefix
            app = find_function_app(import_app_module(self._app_module))
            self._functions = discover(app, os.environ)
            self._executor = ThreadPoolExecutor(_thread_count(), thread_name_prefix="devhost")
            self._build(self._functions, options)
            front = self._http_front(self._functions, options)
            await self._serve_http(front)
        except BaseException:
            await self.stop()
            raise
        self._start_tasks()
        logger.info("dev host started: %s", self.summary())

    def pause_queues(self) -> None:
        """Take no message until resume_queues() (tests set up what a message will find)."""
        for listener in self._listeners:
            listener.pause()

    def resume_queues(self) -> None:
        for listener in self._listeners:
            listener.resume()

    async def stop(self) -> None:
        """Stop listening, give running functions `shutdown_grace_s`, restore the environment."""
        tasks, self._tasks = self._tasks, []
        fired, self._fired = self._fired, set()
        for task in (*tasks, *fired):
            task.cancel()
        await asyncio.gather(*tasks, *fired, return_exceptions=True)
        for listener in self._listeners:
            await listener.stop(self._grace_s)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._accounts.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._restore_settings()

    async def __aenter__(self) -> DevHost:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def functions(self) -> AppFunctions:
        if self._functions is None:
            raise DevHostError(["the dev host is not started"])
        return self._functions

    @property
    def http_base_url(self) -> str:
        """`http://127.0.0.1:<port>`; functions are under `/<routePrefix>/` (default `/api/`)."""
        if self._bound_port is None:
            raise DevHostError(["the dev host is not started"])
        return f"http://{HOST}:{self._bound_port}"

    def route_url(self, route: str) -> str:
        """The URL of a function route: `http://127.0.0.1:<port>/api/<route>`."""
        prefix = f"/{self._route_prefix}" if self._route_prefix else ""
        return f"{self.http_base_url}{prefix}/{route.lstrip('/')}"

    @property
    def function_key(self) -> str:
        """The key `function`/`admin` routes accept (`?code=` or x-functions-key); per run."""
        return self._function_key

    @property
    def invocations(self) -> list[Invocation]:
        return list(self._ledger.invocations)

    def counts(self) -> LedgerCounts:
        return self._ledger.counts()

    async def fire_timers(self) -> list[Invocation]:
        """Run every timer function once, concurrently, and return their outcomes."""
        return list(await asyncio.gather(*(timer.fire() for timer in self._timers)))

    async def drain(
        self, timeout_s: float = 60.0, *, progress: Callable[[str], None] | None = None
    ) -> DrainReport:
        """Process until every trigger queue is empty and nothing runs; DrainTimeoutError if not.

        "Empty" counts invisible messages too: a message released with a visibilityTimeout, or
        stuck invisible in a `*-poison` trigger queue, keeps the drain waiting, as it would keep
        an Azure queue non-empty. With `progress`, a line every second: processed, in flight,
        queued.
        """
        started, before = time.monotonic(), self._ledger.counts()
        first = len(self._ledger.invocations)
        for listener in self._listeners:
            listener.wake()
        next_line = started + 1.0
        while True:
            quiet, queued = await self._look()
            report = self._report(before, first, started)
            if quiet:
                return report
            now = time.monotonic()
            if now - started > timeout_s:
                raise DrainTimeoutError(report, queued, self._ledger.in_flight)
            if progress is not None and now >= next_line:
                progress(self._progress_line(report, queued))
                next_line = now + 1.0
            await self._wait_for_change(0.1)

    def summary(self) -> str:
        functions = self.functions
        parts = [f"{t.function.name} (timer {t.schedule_text})" for t in functions.timers]
        parts += [f"{q.function.name} (queue {q.queue_name})" for q in functions.queues]
        parts += [f"{h.function.name} (http /{h.route})" for h in functions.http]
        return ", ".join(parts) or "no functions"

    def _apply_settings(self) -> None:
        self._saved_environment = {name: os.environ.get(name) for name in self._settings}
        os.environ.update(self._settings)

    def _restore_settings(self) -> None:
        saved, self._saved_environment = self._saved_environment, None
        for name, value in (saved or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _build(self, functions: AppFunctions, options: HostOptions) -> None:
        problems: list[str] = []
        for spec in functions.queues:
            listener = self._listener(spec, options, problems)
            if listener is not None:
                self._listeners.append(listener)
        if problems:
            raise DevHostError(problems)
        assert self._executor is not None
        self._timers = [
            TimerRunner(
                spec,
                executor=self._executor,
                ledger=self._ledger,
                function_timeout_s=options.function_timeout_s,
            )
            for spec in functions.timers
        ]

    def _listener(
        self, spec: QueueFunction, options: HostOptions, problems: list[str]
    ) -> QueueListener | None:
        name = spec.queue_name
        if not _QUEUE_NAME.match(name):
            problems.append(f"function {spec.function.name}: {name!r} is not a valid queue name")
            return None
        try:
            account = connection_string(os.environ, spec.connection)
        except DevHostError as error:
            problems += [f"function {spec.function.name}: {p}" for p in error.problems]
            return None
        poison_name = name + POISON_SUFFIX
        has_poison = not name.endswith(POISON_SUFFIX) and _QUEUE_NAME.match(poison_name)
        assert self._executor is not None
        return QueueListener(
            spec,
            self._accounts.queue(account, name),
            self._accounts.queue(account, poison_name) if has_poison else None,
            options=options.queues,
            function_timeout_s=options.function_timeout_s,
            executor=self._executor,
            ledger=self._ledger,
            deliveries=self._deliveries,
        )

    def _http_front(self, functions: AppFunctions, options: HostOptions) -> HttpFront:
        routes: list[Route] = []
        problems: list[str] = []
        for spec in functions.http:
            try:
                routes.append(compile_route(spec))
            except ValueError as error:
                problems.append(f"function {spec.function.name}: {error}")
        if problems:
            raise DevHostError(problems)
        assert self._executor is not None
        return HttpFront(
            routes,
            route_prefix=options.route_prefix,
            function_key=self._function_key,
            executor=self._executor,
            function_timeout_s=options.function_timeout_s,
            run_timer=self._run_timer,
        )

    def _run_timer(self, name: str) -> bool:
        """Start timer function `name` now, in the background; False if no timer has that name.

        The admin endpoint's way to run a non-HTTP function (http.py): it answers at once.
        """
        timer = next((t for t in self._timers if t.spec.function.name == name), None)
        if timer is None:
            return False
        task = asyncio.create_task(timer.fire())
        self._fired.add(task)
        task.add_done_callback(self._fired.discard)
        return True

    async def _serve_http(self, front: HttpFront) -> None:
        self._runner = web.AppRunner(front.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self._http_port)
        try:
            await site.start()
        except OSError as error:
            raise DevHostError([f"cannot listen on {HOST}:{self._http_port}: {error}"]) from error
        self._bound_port = int(self._runner.addresses[0][1])

    def _start_tasks(self) -> None:
        for listener in self._listeners:
            self._tasks.append(asyncio.create_task(listener.run()))
        if self._schedule_timers:
            for timer in self._timers:
                self._tasks.append(asyncio.create_task(timer.run_schedule()))

    async def _queue_counts(self) -> dict[str, int]:
        queues = {listener.queue.url: listener.queue for listener in self._listeners}
        counts = await asyncio.gather(*(approximate_count(q) for q in queues.values()))
        return {q.queue_name: count for q, count in zip(queues.values(), counts, strict=True)}

    async def _look(self) -> tuple[bool, dict[str, int]]:
        """Quiet means: nothing ran or was received while every queue was seen empty."""
        in_flight, activity = self._ledger.in_flight, self._ledger.activity
        queued = await self._queue_counts()
        unchanged = activity == self._ledger.activity and self._ledger.in_flight == 0
        return in_flight == 0 and unchanged and not any(queued.values()), queued

    async def _wait_for_change(self, timeout_s: float) -> None:
        self._ledger.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ledger.changed.wait(), timeout_s)

    def _report(self, before: LedgerCounts, first: int, started: float) -> DrainReport:
        now = self._ledger.counts()
        since = self._ledger.invocations[first:]
        return DrainReport(
            processed=now.processed - before.processed,
            succeeded=now.succeeded - before.succeeded,
            failed=now.failed - before.failed,
            poisoned=now.poisoned - before.poisoned,
            elapsed_s=time.monotonic() - started,
            failures=tuple(i for i in since if i.outcome is Outcome.FAILED),
        )

    def _progress_line(self, report: DrainReport, queued: Mapping[str, int]) -> str:
        return (
            f"drain: {report.processed} processed ({report.succeeded} ok, {report.failed} failed, "
            f"{report.poisoned} poisoned), {self._ledger.in_flight} in flight, "
            f"{sum(queued.values())} queued"
        )


def _thread_count() -> int | None:
    """PYTHON_THREADPOOL_THREAD_COUNT as the worker reads it; unset: Python's default."""
    value = os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None
