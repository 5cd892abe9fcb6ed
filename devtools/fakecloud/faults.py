"""Per-tenant fault injection: what the next requests to a service should suffer.

A fault applies to one service ("msi", "token" or "graph") and, optionally, one tenant; `count`
bounds how many requests it hits (None = until cleared), which is how "throttles, then recovers"
is expressed. Faults are checked in the order they were added; the first one that matches wins.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

Service = Literal["msi", "token", "graph"]
FaultKind = Literal[
    "latency", "status", "drop", "lose_answer", "aadsts", "graph_error", "no_sign_in_licence"
]


@dataclass
class Fault:
    """One injected misbehaviour.

    kind:
      latency  - delay the answer by latency_ms, then answer normally (stacks with other faults)
      status   - answer `status` (429/500/502/503/504) with an error body in the service's shape;
                 `retry_after` (a string: "2", "0.5" or an HTTP date) is sent when set
      drop     - close the connection without an answer (the request was not served)
      lose_answer - Graph only: serve the request, then close the connection without the
                 answer, as a timeout after the service acted does: the client cannot tell
                 whether a create happened
      aadsts   - token endpoint answers the Entra error for AADSTS `code`
      graph_error - Graph answers `status` with ODataError code `code`
    path_contains narrows a Graph fault to requests whose path contains it (e.g. "/$batch").
    batch_items=False keeps a Graph fault off `$batch` sub-requests: it hits HTTP requests only
    (a latency "per request" then delays a `$batch` once, not once per item).
    label names a fault so that it can be cleared alone (an outage that starts and ends while
    other faults stay in force); `hits` says how many requests it hit.
    """

    service: Service
    kind: FaultKind
    tenant_id: str | None = None
    status: int = 503
    retry_after: str | None = None
    latency_ms: int = 0
    code: str | int | None = None
    count: int | None = None
    path_contains: str | None = None
    method: str | None = None
    batch_items: bool = True
    label: str | None = None
    hits: int = 0

    def matches(
        self, service: str, tenant_id: str | None, path: str, method: str, *, in_batch: bool = False
    ) -> bool:
        if self.service != service or (in_batch and not self.batch_items):
            return False
        if self.tenant_id is not None and self.tenant_id != tenant_id:
            return False
        if self.path_contains is not None and self.path_contains not in path:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.count is None or self.hits < self.count


@dataclass
class FaultBook:
    """Thread-safe list of faults; the server consults it on every request."""

    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def clear(self, *, tenant_id: str | None = None, label: str | None = None) -> list[Fault]:
        """Remove every fault, or those of one tenant, or those with one label; return them."""

        def cleared(fault: Fault) -> bool:
            if label is not None and fault.label != label:
                return False
            return tenant_id is None or fault.tenant_id == tenant_id

        with self._lock:
            removed = [f for f in self.faults if cleared(f)]
            self.faults = [f for f in self.faults if not cleared(f)]
        return removed

    def take(
        self, service: str, tenant_id: str | None, path: str, method: str, *, in_batch: bool = False
    ) -> list[Fault]:
        """The faults this request suffers: every matching latency fault plus the first other one.

        Taking a fault counts a hit against its `count`. `in_batch`: a `$batch` sub-request.
        """
        taken: list[Fault] = []
        with self._lock:
            for fault in self.faults:
                if not fault.matches(service, tenant_id, path, method, in_batch=in_batch):
                    continue
                first_other = not any(f.kind != "latency" for f in taken)
                if fault.kind == "latency" or first_other:
                    fault.hits += 1
                    taken.append(fault)
        return taken
