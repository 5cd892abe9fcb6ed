"""Which requests a fault hits: $batch sub-requests only when the fault says so."""

from __future__ import annotations

import pytest

from devtools.fakecloud.faults import Fault, FaultBook
from devtools.fakecloud.scenario import ScenarioError, read_fault

TENANT = "11111111-1111-1111-1111-111111111111"


def test_a_fault_hits_batch_sub_requests_by_default() -> None:
    book = FaultBook()
    book.add(Fault(service="graph", kind="latency", latency_ms=5))

    taken = book.take("graph", TENANT, "/v1.0/users/x", "PATCH", in_batch=True)

    assert [f.kind for f in taken] == ["latency"]


def test_a_fault_for_http_requests_only_skips_batch_sub_requests() -> None:
    book = FaultBook()
    book.add(Fault(service="graph", kind="latency", latency_ms=5, batch_items=False))

    sub_request = book.take("graph", TENANT, "/v1.0/users/x", "PATCH", in_batch=True)
    http_request = book.take("graph", TENANT, "/v1.0/users/x", "PATCH")

    assert sub_request == []
    assert [f.kind for f in http_request] == ["latency"]


def test_batch_items_is_read_from_json_and_must_be_a_boolean() -> None:
    fault = read_fault({"service": "graph", "kind": "latency", "batch_items": False})
    assert fault.batch_items is False
    with pytest.raises(ScenarioError, match="batch_items"):
        read_fault({"service": "graph", "kind": "latency", "batch_items": "no"})
