"""Timer triggers: fire on demand (`--once`, `fire_timers()`) or on their schedule.

The function gets an `azure.functions.timer.TimerRequest` as the worker builds it from the host's
payload: `past_due` False, `schedule` {"AdjustForDST": true}, `schedule_status` with Last / Next /
LastUpdated as ISO times. Like the host's timer listener, a function's runs never overlap: the
next occurrence is computed when the previous run ends.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from datetime import UTC, datetime

import azure.functions.timer as func_timer

from devtools.devhost.functions import FunctionTimeoutError, TimerFunction
from devtools.devhost.ledger import Invocation, Ledger, Outcome, logger


class TimerRunner:
    def __init__(
        self,
        spec: TimerFunction,
        *,
        executor: Executor,
        ledger: Ledger,
        function_timeout_s: float | None,
    ) -> None:
        self.spec = spec
        self._executor = executor
        self._ledger = ledger
        self._timeout_s = function_timeout_s
        self._last: datetime | None = None
        self._lock = asyncio.Lock()

    async def fire(self) -> Invocation:
        """Run the function once now; its outcome (a failure is logged, not raised)."""
        async with self._lock:
            now = datetime.now(UTC)
            request = self._request(now, self.spec.schedule.next_after(now))
            self._last = now
            self._ledger.started()
            started = time.monotonic()
            try:
                error = await self._run(request)
            except asyncio.CancelledError:
                self._ledger.cancelled()
                raise
            invocation = Invocation(
                function=self.spec.function.name,
                trigger="timer",
                outcome=Outcome.FAILED if error else Outcome.SUCCEEDED,
                duration_s=time.monotonic() - started,
                error=error,
            )
            self._ledger.finished(invocation)
            return invocation

    async def run_schedule(self) -> None:
        """Fire at each occurrence (and once at start when runOnStartup is set), forever."""
        if self.spec.run_on_startup:
            await self.fire()
        while True:
            now = datetime.now(UTC)
            due = self.spec.schedule.next_after(now)
            logger.info("%s (timer) next run at %s", self.spec.function.name, due.isoformat())
            await asyncio.sleep((due - now).total_seconds())  # waiting for the clock is the job
            await self.fire()

    def _request(self, now: datetime, next_due: datetime) -> func_timer.TimerRequest:
        status = {
            "Last": (self._last or now).isoformat(),
            "Next": next_due.isoformat(),
            "LastUpdated": now.isoformat(),
        }
        return func_timer.TimerRequest(
            past_due=False, schedule_status=status, schedule={"AdjustForDST": True}
        )

    async def _run(self, request: func_timer.TimerRequest) -> str | None:
        try:
            await self.spec.function.call(request, self._executor, self._timeout_s)
        except FunctionTimeoutError as error:
            return str(error)
        except Exception as error:
            logger.debug("%s failed", self.spec.function.name, exc_info=True)
            return f"{type(error).__name__}: {error}"
        return None
