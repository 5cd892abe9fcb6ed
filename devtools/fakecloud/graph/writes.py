"""Every write the Graph emulator applied, per object, to tell a duplicate write from a new one.

Graph lets two groups share a mailNickname and applies the same PATCH as often as it is sent,
so a client that runs one job twice at once (a queue message delivered twice, a worker that
died after writing and whose message was redelivered) leaves no error behind, only a second
group or a second identical update. Counting what was applied, per object, makes that visible:
- a create is keyed by (tenant, kind, natural key), e.g. (tid, "group", mailNickname casefolded);
  the second create of the same key is a duplicate;
- a PATCH is keyed by (tenant, object id, body as canonical JSON); the same body applied to the
  same object a second time is a duplicate (a different body is a new change).
Only writes the emulator applied count: a refused request changed nothing.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Write:
    """One kind of applied write and how often it was applied."""

    tenant_id: str
    kind: str  # "create" or "patch"
    target: str  # "group:<mailNickname>" for a create, the object id for a PATCH
    body: str  # the PATCH body as canonical JSON ("" for a create)
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "kind": self.kind,
            "target": self.target,
            "body": self.body,
            "count": self.count,
        }


@dataclass
class WriteLog:
    """Thread-safe counts of applied creates and PATCHes (the tests read it while it serves)."""

    _counts: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def created(self, tenant_id: str, kind: str, natural_key: str) -> bool:
        """Record a create; True when the same natural key was created before (a duplicate)."""
        return self._add((tenant_id.lower(), "create", f"{kind}:{natural_key.casefold()}", ""))

    def patched(self, tenant_id: str, object_id: str, body: Any) -> bool:
        """Record an applied PATCH; True when the same body was applied to the object before."""
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        return self._add((tenant_id.lower(), "patch", object_id, canonical))

    def _add(self, key: tuple[str, str, str, str]) -> bool:
        with self._lock:
            self._counts[key] += 1
            return self._counts[key] > 1

    def writes(self) -> list[Write]:
        with self._lock:
            return [Write(*key, count) for key, count in sorted(self._counts.items())]

    def duplicates(self) -> list[Write]:
        """Writes applied more than once: the second and later applications are duplicates."""
        return [w for w in self.writes() if w.count > 1]

    def summary(self) -> dict[str, Any]:
        """What GET /_fake/writes answers: totals and every duplicated write."""
        writes = self.writes()
        duplicates = [w for w in writes if w.count > 1]
        return {
            "creates": sum(w.count for w in writes if w.kind == "create"),
            "patches": sum(w.count for w in writes if w.kind == "patch"),
            "duplicate_writes": sum(w.count - 1 for w in duplicates),
            "duplicates": [w.as_dict() for w in duplicates],
        }

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
