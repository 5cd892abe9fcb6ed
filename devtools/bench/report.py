"""From raw phase measurements to the figures the issue asks for, the limit, and a table.

Definitions (docs/benchmarks.md says why):
- requests = token + Graph requests in the timed window (a `$batch` is one Graph request); the
  one MI request of a process is reported per run, not per tenant;
- f = CPU per request of the bare httpx client, at the same N and C, in the same run;
- latency bound = N·k·L/C and CPU floor = N·k·f, k = requests per tenant of the measured phase;
  limit = the larger; efficiency = limit / measured wall time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devtools.bench.probe import PhaseResult


def _per(value: float, count: float) -> float | None:
    return value / count if count else None


def requests_of(phase: PhaseResult) -> tuple[int, int]:
    """(token requests, Graph calls) in the phase's timed window: calls on the wire."""
    return phase.counters.get("token.requests", 0), phase.counters.get("graph.requests", 0)


def graph_requests_as_throttled(phase: PhaseResult) -> int:
    """Graph requests as Graph counts and throttles them: each `$batch` sub-request is one."""
    counters = phase.counters
    batches = counters.get("graph.batch_calls", 0)
    return counters.get("graph.requests", 0) - batches + counters.get("graph.batch_subrequests", 0)


def figures(phase: PhaseResult) -> dict[str, Any]:
    tokens, graph = requests_of(phase)
    read = phase.extra.get("read") or {}
    big = phase.extra.get("read_big_page") or {}
    fake_cpu = phase.extra.get("fake_cloud_cpu_s")
    process = phase.extra.get("process_counters") or {}
    return {
        "tenants": phase.tenants,
        "wall_s": phase.wall_s,
        "tenants_per_s": _per(phase.tenants, phase.wall_s),
        "graph_requests_per_tenant": _per(graph_requests_as_throttled(phase), phase.tenants),
        "graph_calls_per_tenant": _per(graph, phase.tenants),
        "token_requests_per_tenant": _per(tokens, phase.tenants),
        "mi_requests_per_run": process.get("msi.requests", 0),
        "table_calls_per_tenant": _per(phase.extra["table_calls"], phase.tenants)
        if "table_calls" in phase.extra
        else None,
        "cpu_ms_per_tenant": _ms(_per(phase.cpu_s, phase.tenants)),
        "cpu_ms_per_graph_request": _ms(_per(phase.cpu_s, graph)),
        "cpu_ms_per_request": _ms(_per(phase.cpu_s, tokens + graph)),
        "cpu_us_per_user_read": _us(_per(read.get("cpu_s", 0.0), read.get("users", 0))),
        "decode_us_per_user": _us(read.get("decode_s_per_user")),
        "cpu_us_per_user_read_999": _us(_per(big.get("cpu_s", 0.0), big.get("users", 0))),
        "peak_rss_mb": phase.peak_rss_mb,
        "fake_cloud_cpu_ms_per_request": _ms(_per(fake_cpu, tokens + graph))
        if fake_cpu is not None
        else None,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def _us(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e6


def cpu_per_request(phase: PhaseResult) -> float:
    return phase.cpu_s / sum(requests_of(phase))


def limit(
    phase: PhaseResult,
    bare: PhaseResult,
    *,
    concurrency: int,
    latency_ms: int,
    aiohttp_floor: PhaseResult | None = None,
) -> dict[str, Any]:
    """The two bounds, the limit and the efficiency of `phase` (see the module docstring);
    with `aiohttp_floor`, the same against the bare aiohttp client's CPU per request."""
    k = sum(requests_of(phase)) / phase.tenants
    f = cpu_per_request(bare)
    latency_bound = phase.tenants * k * latency_ms / 1e3 / concurrency
    cpu_floor = phase.tenants * k * f
    bound = max(latency_bound, cpu_floor)
    figures = {
        "k_requests_per_tenant": k,
        "f_ms_per_request": f * 1e3,
        "latency_bound_s": latency_bound,
        "cpu_floor_s": cpu_floor,
        "limit_s": bound,
        "bound_by": "latency" if latency_bound >= cpu_floor else "cpu",
        "efficiency": bound / phase.wall_s,
        "cpu_per_request_vs_f": cpu_per_request(phase) / f,
        "fake_cloud_cpu_s": phase.extra.get("fake_cloud_cpu_s"),
    }
    if aiohttp_floor is not None:
        f_min = cpu_per_request(aiohttp_floor)
        tight = max(latency_bound, phase.tenants * k * f_min)
        figures.update(
            f_aiohttp_ms_per_request=f_min * 1e3,
            cpu_floor_aiohttp_s=phase.tenants * k * f_min,
            efficiency_vs_aiohttp_floor=tight / phase.wall_s,
            cpu_per_request_vs_f_aiohttp=cpu_per_request(phase) / f_min,
        )
    return figures


_ROWS = (
    ("wall_s", "wall time (s)", "{:.2f}"),
    ("tenants_per_s", "tenants per second", "{:.1f}"),
    ("graph_requests_per_tenant", "Graph requests per tenant ($batch items each)", "{:.2f}"),
    ("graph_calls_per_tenant", "Graph calls (HTTPS) per tenant", "{:.2f}"),
    ("token_requests_per_tenant", "token requests per tenant", "{:.2f}"),
    ("mi_requests_per_run", "MI requests per run", "{}"),
    ("table_calls_per_tenant", "Table storage calls per (tenant, job)", "{:.2f}"),
    ("cpu_ms_per_tenant", "CPU ms per tenant", "{:.2f}"),
    ("cpu_ms_per_graph_request", "CPU ms per Graph call", "{:.2f}"),
    ("cpu_ms_per_request", "CPU ms per call (token+Graph)", "{:.2f}"),
    ("cpu_us_per_user_read", "CPU µs per user object read", "{:.1f}"),
    ("decode_us_per_user", "  of which decoding (µs per user)", "{:.1f}"),
    ("cpu_us_per_user_read_999", "  same, 999 guests in pages of 120 (µs)", "{:.1f}"),
    ("peak_rss_mb", "peak RSS (MB)", "{:.0f}"),
    ("fake_cloud_cpu_ms_per_request", "fake cloud CPU ms per call", "{:.2f}"),
)


def _cell(value: Any, form: str) -> str:
    return "-" if value is None else form.format(value)


def table(columns: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """Rows of (label, value per column), for text or Markdown."""
    header = ["", *columns]
    rows = [
        [label, *(_cell(figs.get(key), form) for figs in columns.values())]
        for key, label, form in _ROWS
    ]
    return [header, *rows]


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    return "\n".join(lines)


def markdown_table(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)
