"""Every request the fake cloud answered, with counters tests and benchmarks read.

Besides plain counts it records two kinds of misbehaviour by a client, which Graph itself would
punish: an early retry (a request for the same tenant and service that arrives before a
Retry-After the fake sent has elapsed) and a duplicate create (Graph side; counted by the Graph
emulator through `count`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestRecord:
    service: str  # "msi" | "token" | "graph" | "control" | "discovery" | "signin"
    method: str
    path: str
    tenant_id: str | None
    status: int
    at: float  # time.monotonic() when the request arrived
    early_retry: bool = False


#: Seconds after a Retry-After is told during which another request of the tenant may already
#: have been on its way (before the answer arrived): not counted as early.
IN_FLIGHT_S = 0.1


@dataclass
class RequestLog:
    """Every request the fake cloud received, its counters, and the early-retry judge.

    `one_client`: the caller is one process, which holds every request to a throttled tenant
    once it knows (the app's throttle gate), so another request of the tenant sent after the
    telling is early too. With several worker processes (the chaos suite) another process
    cannot know: then only the very request told to wait counts when it comes again early.
    """

    records: list[RequestRecord] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    one_client: bool = True
    _not_before: dict[tuple[str, str | None], float] = field(default_factory=dict)
    _told_at: dict[tuple[str, str | None], float] = field(default_factory=dict)
    #: per (service, tenant): each request told to wait, and until when
    _told: dict[tuple[str, str | None], dict[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def is_early(
        self, service: str, tenant_id: str | None, now: float, request: str | None = None
    ) -> bool:
        """True when a request arrives before a Retry-After it should honour has elapsed.

        `request` names what was asked (Graph: method, path and query; the token and managed
        identity endpoints: azure-core's x-ms-client-request-id, the same on every try of one
        request). The request told to wait is early when it comes again before its own
        Retry-After. Another request of the tenant is early only for Graph with `one_client`,
        from IN_FLIGHT_S after the telling until the tenant's Retry-After ends. Without
        identities, every request to the service and tenant is "the same".
        """
        with self._lock:
            key = (service, tenant_id)
            if now >= self._not_before.get(key, 0.0):
                return False
            told = self._told.get(key, {})
            if request is None or not told:
                return True
            if request in told:
                return now < told[request]
            after_telling = now >= self._told_at.get(key, float("-inf")) + IN_FLIGHT_S
            return self.one_client and service == "graph" and after_telling

    def retry_after_sent(
        self, service: str, tenant_id: str | None, seconds: float, request: str | None = None
    ) -> None:
        with self._lock:
            key = (service, tenant_id)
            now = time.monotonic()
            if now >= self._not_before.get(key, 0.0):
                self._told[key] = {}  # a new throttling window
            self._not_before[key] = max(self._not_before.get(key, 0.0), now + seconds)
            self._told_at[key] = now
            if request is not None:
                told = self._told.setdefault(key, {})
                told[request] = max(told.get(request, 0.0), now + seconds)

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self.records.append(record)
            self.counters[f"{record.service}.requests"] += 1
            self.counters[f"{record.service}.status.{record.status}"] += 1
            if record.early_retry:
                self.counters[f"{record.service}.early_retries"] += 1

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counters)

    def select(
        self, *, service: str | None = None, tenant_id: str | None = None
    ) -> list[RequestRecord]:
        with self._lock:
            return [
                r
                for r in self.records
                if (service is None or r.service == service)
                and (tenant_id is None or r.tenant_id == tenant_id)
            ]

    def reset(self) -> None:
        with self._lock:
            self.records.clear()
            self.counters.clear()
            self._not_before.clear()
