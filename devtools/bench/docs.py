"""Generated parts of docs/benchmarks.md (between marker comments) and docs/benchmarks.png.

The prose around the markers is written by hand and kept; only the marked blocks are replaced:
`<!-- headline:begin -->`...`<!-- headline:end -->` (from a run with `--write-docs`) and
`<!-- scaling:begin -->`...`<!-- scaling:end -->` (from `make bench-scaling`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from devtools.bench import report

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks.png"


def _machine_line(machine: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.2f}" for x in machine["load_average"])
    return (
        f"Machine: {machine['nproc']} cores ({machine['cpu_model']}), Python "
        f"{machine['python']}, {machine['platform']}; load average at the start {load}."
    )


def replace_block(name: str, content: str, doc: Path = DOC) -> None:
    """Put `content` between the `name` markers of `doc` (appending them if missing)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{content.strip()}\n{end}"
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")


def write_headline(result: dict[str, Any]) -> None:
    config = result["config"]
    lines = [
        f"Run of {result['when']}: N={config['n']} (naive: {config['naive_n']}), "
        f"C={config['concurrency']}, {config['latency_ms']} ms per request; the run took "
        f"{result['duration_s']:.0f} s.",
        _machine_line(result["machine"]),
        "",
        report.markdown_table(report.table(result["figures"])),
        "",
        "| phase | k (requests/tenant) | f (ms) | latency bound (s) | CPU floor (s) | limit (s) "
        "| efficiency | CPU per request / f | x naive | f aiohttp (ms) | efficiency vs aiohttp "
        "floor | CPU per request / f aiohttp | fake cloud CPU (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, b in result["limit"].items():
        ratio = result["throughput_vs_naive"].get(name)
        lines.append(
            f"| {name} | {b['k_requests_per_tenant']:.2f} | {b['f_ms_per_request']:.2f} | "
            f"{b['latency_bound_s']:.2f} | {b['cpu_floor_s']:.2f} | {b['limit_s']:.2f} | "
            f"{b['efficiency']:.2f} | {b['cpu_per_request_vs_f']:.2f} | "
            + (f"{ratio:.0f}" if ratio else "-")
            + f" | {_num(b.get('f_aiohttp_ms_per_request'))} | "
            f"{_num(b.get('efficiency_vs_aiohttp_floor'))} | "
            f"{_num(b.get('cpu_per_request_vs_f_aiohttp'))} | {_num(b.get('fake_cloud_cpu_s'))} |"
        )
    lines += ["", *_coldstart_table(result.get("coldstart") or {})]
    replace_block("headline", "\n".join(lines))


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _coldstart_table(cold: dict[str, Any]) -> list[str]:
    if not cold:
        return []
    imported, first = cold["import"], cold["first_job"]
    return [
        "| cold start | wall (s) | process wall (s) | peak RSS (MB) |",
        "|---|---:|---:|---:|",
        f"| `import function_app` (msgraph imported: {imported['msgraph_imported']}) | "
        f"{imported['import_s']:.2f} | {imported['process_wall_s']:.2f} | "
        f"{imported['peak_rss_mb']:.0f} |",
        f"| first tenant job, after the import | {first['first_job_s']:.2f} | "
        f"{first['process_wall_s']:.2f} | {first['peak_rss_mb']:.0f} |",
    ]


def write_scaling(result: dict[str, Any]) -> None:
    lines = [
        f"Grid of {result['when']}, {result['latency_ms']} ms per request, took "
        f"{result['duration_s']:.0f} s.",
        _machine_line(result["machine"]),
        "",
        "| N | C | tenants/s | wall (s) | latency bound (s) | CPU floor (s) | bound by "
        "| efficiency | CPU ms/request | f (ms) | f aiohttp (ms) | efficiency vs aiohttp floor "
        "| fake cloud CPU ms/request |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in result["points"]:
        lines.append(
            f"| {p['n']} | {p['concurrency']} | {p['tenants_per_s']:.1f} | {p['wall_s']:.2f} | "
            f"{p['latency_bound_s']:.2f} | {p['cpu_floor_s']:.2f} | {p['bound_by']} | "
            f"{p['efficiency']:.2f} | {p['cpu_ms_per_request']:.2f} | "
            f"{p['f_ms_per_request']:.2f} | {_num(p.get('f_aiohttp_ms_per_request'))} | "
            f"{_num(p.get('efficiency_vs_aiohttp_floor'))} | "
            f"{p['fake_cloud_cpu_ms_per_request']:.2f} |"
        )
    lines += ["", "![tenants per second and efficiency against C](benchmarks.png)"]
    replace_block("scaling", "\n".join(lines))
    plot(result)


def plot(result: dict[str, Any], path: Path = PLOT) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for n in sorted({p["n"] for p in result["points"]}):
        points = sorted(
            (p for p in result["points"] if p["n"] == n), key=lambda p: p["concurrency"]
        )
        xs = [p["concurrency"] for p in points]
        line = left.plot(xs, [p["tenants_per_s"] for p in points], marker="o", label=f"N={n}")
        color = line[0].get_color()
        right.plot(xs, [p["efficiency"] for p in points], marker="o", color=color, label=f"N={n}")
        tight = [p.get("efficiency_vs_aiohttp_floor") for p in points]
        if all(value is not None for value in tight):
            right.plot(
                xs, tight, marker="s", linestyle="--", color=color, label=f"N={n}, aiohttp floor"
            )
    for axis, title in ((left, "tenants per second"), (right, "efficiency (limit / wall)")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(list(sorted({p["concurrency"] for p in result["points"]})))
        axis.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axis.set_xlabel("concurrency C")
        axis.set_title(title)
        axis.grid(True, alpha=0.3)
        axis.legend()
    right.axhline(0.8, color="grey", linestyle="--", linewidth=1)
    figure.suptitle(f"xtenant guest-cleanup, {result['latency_ms']} ms per request")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
