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


def test_clearing_a_label_removes_only_its_faults_and_says_how_often_they_hit() -> None:
    book = FaultBook()
    book.add(Fault(service="msi", kind="status", label="outage"))
    book.add(Fault(service="graph", kind="latency", latency_ms=5))
    book.take("msi", TENANT, "/msi/token", "GET")
    book.take("msi", TENANT, "/msi/token", "GET")

    removed = book.clear(label="outage")

    assert [(f.service, f.hits) for f in removed] == [("msi", 2)]
    assert [f.kind for f in book.faults] == ["latency"]


def test_label_is_read_from_json_and_must_be_a_string() -> None:
    assert read_fault({"service": "msi", "kind": "drop", "label": "outage"}).label == "outage"
    with pytest.raises(ScenarioError, match="label"):
        read_fault({"service": "msi", "kind": "drop", "label": 3})
