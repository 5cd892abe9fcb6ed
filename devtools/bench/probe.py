"""What a measured phase records about its own process: wall time, CPU time, peak RSS.

CPU is `time.process_time()` (user + system, all threads of this process): the client's cost,
never the fake cloud's, which runs in another process. Peak RSS is `ru_maxrss` of this process.
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class PhaseResult:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    tenants: int
    #: requests the client itself counted, where it can (the bare client)
    client_requests: int = 0
    users_read: int = 0
    #: the fake cloud's counter deltas over the phase (msi/token/graph requests, ...)
    counters: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhaseResult:
        return cls(**data)


class Probe:
    """`with Probe() as p: ...` then `p.result(...)`: wall and CPU of the block, peak RSS."""

    def __enter__(self) -> Probe:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        self.wall_s = self.cpu_s = 0.0
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.cpu_s = time.process_time() - self._cpu

    def result(self, *, tenants: int, **fields: Any) -> PhaseResult:
        return PhaseResult(
            wall_s=self.wall_s,
            cpu_s=self.cpu_s,
            peak_rss_mb=peak_rss_mb(),
            tenants=tenants,
            **fields,
        )
