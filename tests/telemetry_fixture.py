"""`recorded` (per test): xtenant's spans and metrics, kept in memory while the test runs.

The app's telemetry is bound to an SDK TracerProvider and MeterProvider of the test's own, with
the same tracers switched off as in production; nothing is exported anywhere, and the global
providers are never set (a process can set them once).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry


@dataclass
class Recorded:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str, **attributes: Any) -> list[ReadableSpan]:
        """Finished spans called `name` whose attributes include these (`xtenant_job=` is
        `xtenant.job`)."""
        wanted = {key.replace("_", ".", 1): value for key, value in attributes.items()}
        return [
            s
            for s in self.spans()
            if s.name == name and all((s.attributes or {}).get(k) == v for k, v in wanted.items())
        ]

    def under(self, parent: ReadableSpan) -> list[ReadableSpan]:
        """Every span below `parent` (children, their children...), in the order they ended."""
        ids = {parent.context.span_id}
        found: list[ReadableSpan] = []
        for candidate in sorted(self.spans(), key=lambda s: s.start_time or 0):
            if candidate.parent is not None and candidate.parent.span_id in ids:
                ids.add(candidate.context.span_id)
                found.append(candidate)
        return found

    def points(self, metric: str) -> list[tuple[dict[str, Any], Any]]:
        """Each data point of `metric`: its attributes, and its value (a histogram's point)."""
        data = self.reader.get_metrics_data()
        found: list[tuple[dict[str, Any], Any]] = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for each in (m for m in scope.metrics if m.name == metric):
                    for point in each.data.data_points:
                        value = getattr(point, "value", point)
                        found.append((dict(point.attributes or {}), value))
        return found

    def values(self) -> list[str]:
        """Every span name, attribute value and event attribute value, as text."""
        texts: list[str] = []
        for s in self.spans():
            texts.append(s.name)
            texts.extend(str(v) for v in (s.attributes or {}).values())
            for event in s.events:
                texts.append(event.name)
                texts.extend(str(v) for v in (event.attributes or {}).values())
        return texts


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    telemetry.only_xtenant(tracer_provider)
    exporter = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    telemetry.use(tracer_provider, meter_provider)
    yield Recorded(exporter, reader)
    telemetry.use()
    tracer_provider.shutdown()
    meter_provider.shutdown()
