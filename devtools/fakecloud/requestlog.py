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
    service: str  # "msi" | "token" | "graph" | "control" | "discovery"
    method: str
    path: str
    tenant_id: str | None
    status: int
    at: float  # time.monotonic() when the request arrived
    early_retry: bool = False


#: Seconds after a Retry-After is told during which another request of the tenant may already
#: have been on its way (sent by another worker process, or before the answer arrived on a
#: loaded machine): not counted as early. The very request told to wait is early at once.
IN_FLIGHT_S = 0.5


@dataclass
class RequestLog:
    records: list[RequestRecord] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    _not_before: dict[tuple[str, str | None], float] = field(default_factory=dict)
    _told_at: dict[tuple[str, str | None], float] = field(default_factory=dict)
    _told: dict[tuple[str, str | None], set[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def is_early(
        self, service: str, tenant_id: str | None, now: float, request: str | None = None
    ) -> bool:
        """True when a request arrives while a Retry-After sent to this (service, tenant) runs.

        `request` names what was asked (Graph: method, path and query; the token and managed
        identity endpoints: azure-core's x-ms-client-request-id, the same on every try of one
        request). The request that was told the Retry-After is early at once when it comes
        again. Another request is early only for Graph, and only from IN_FLIGHT_S after the
        telling: the app holds every request to a throttled tenant (in its process) once it
        knows, but one already on its way could not be held back. Another process's first token
        request for the tenant is not a retry. Without identities, every request is "the same".
        """
        with self._lock:
            key = (service, tenant_id)
            if now >= self._not_before.get(key, 0.0):
                return False
            told = self._told.get(key, set())
            if request is None or not told:  # no identities to tell requests apart
                return True
            if request in told:  # the very request told to wait, sent again
                return True
            return service == "graph" and now >= self._told_at.get(key, float("-inf")) + IN_FLIGHT_S

    def retry_after_sent(
        self, service: str, tenant_id: str | None, seconds: float, request: str | None = None
    ) -> None:
        with self._lock:
            key = (service, tenant_id)
            now = time.monotonic()
            if now >= self._not_before.get(key, 0.0):
                self._told[key] = set()  # a new throttling window
            self._not_before[key] = max(self._not_before.get(key, 0.0), now + seconds)
            self._told_at[key] = now
            if request is not None:
                self._told.setdefault(key, set()).add(request)

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
