"""What happened on the dev host: one `Invocation` per function run, counters, what is in flight.

Everything here runs on the host's event loop, so plain counters are consistent between awaits.
`activity` grows whenever queue work is picked up; `drain()` uses it to tell "quiet" from "a
message was received between two looks at the queues".
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass, field

logger = logging.getLogger("devtools.devhost")


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Invocation:
    function: str
    trigger: str  # "queue", "timer" or "http"
    outcome: Outcome
    duration_s: float
    message_id: str | None = None
    dequeue_count: int | None = None
    error: str | None = None
    poisoned_to: str | None = None  # the poison queue a failed message was moved to


@dataclass(frozen=True)
class LedgerCounts:
    succeeded: int
    failed: int
    poisoned: int

    @property
    def processed(self) -> int:
        return self.succeeded + self.failed


@dataclass
class Ledger:
    invocations: list[Invocation] = field(default_factory=list)
    poisoned: int = 0
    in_flight: int = 0
    activity: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def started(self) -> None:
        self.in_flight += 1
        self.activity += 1

    def cancelled(self) -> None:
        """An invocation stopped by the host's shutdown: no outcome to record."""
        self.in_flight -= 1
        self.changed.set()

    def finished(self, invocation: Invocation) -> None:
        self.in_flight -= 1
        self.record(invocation)

    def record(self, invocation: Invocation) -> None:
        self.invocations.append(invocation)
        if invocation.poisoned_to is not None:
            self.poisoned += 1
        self.activity += 1
        self.changed.set()
        logger.info(describe(invocation))

    def poisoned_unseen(self, function: str, message_id: str, dequeue_count: int, to: str) -> None:
        """A message already past maxDequeueCount when received: moved without an invocation."""
        self.poisoned += 1
        self.activity += 1
        self.changed.set()
        logger.info(
            f"{function} (queue) id={message_id} dequeue_count={dequeue_count} "
            f"past maxDequeueCount before invoking, moved to {to}"
        )

    def counts(self) -> LedgerCounts:
        succeeded = sum(1 for i in self.invocations if i.outcome is Outcome.SUCCEEDED)
        return LedgerCounts(succeeded, len(self.invocations) - succeeded, self.poisoned)


def describe(invocation: Invocation) -> str:
    """One log line: function, message id, dequeue count, outcome, duration."""
    parts = [f"{invocation.function} ({invocation.trigger})"]
    if invocation.message_id is not None:
        parts.append(f"id={invocation.message_id} dequeue_count={invocation.dequeue_count}")
    outcome = str(invocation.outcome)
    if invocation.error:
        outcome += f" ({invocation.error})"
    if invocation.poisoned_to:
        outcome += f", moved to {invocation.poisoned_to}"
    parts += [outcome, f"{invocation.duration_s * 1000:.0f} ms"]
    return " ".join(parts)
