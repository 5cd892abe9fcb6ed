"""`python -m devtools.bench [--n N] [--c C] [--latency-ms L] [--naive-n M] [--write-docs]`.

One benchmark run (run.py), printed as a table and written as JSON to bench/results/;
`--write-docs` also puts it in docs/benchmarks.md. `--scaling` runs the grid of scaling.py
instead and writes docs/benchmarks.md and docs/benchmarks.png.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from devtools.bench import report
from devtools.bench.run import HEADLINE, BenchConfig, run_bench, write_result


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.bench", description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="tenants (default 200)")
    parser.add_argument("--c", type=int, default=32, help="concurrency (default 32)")
    parser.add_argument("--latency-ms", type=int, default=25, help="per request (default 25)")
    parser.add_argument("--naive-n", type=int, default=10, help="naive tenants (default 10)")
    parser.add_argument("--no-azurite", action="store_true", help="skip the Azurite variant")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--no-coldstart", action="store_true", help="skip cold start")
    parser.add_argument("--scaling", action="store_true", help="run the scaling grid")
    parser.add_argument(
        "--write-docs", action="store_true", help="put this run's figures in docs/benchmarks.md"
    )
    return parser.parse_args(argv)


def summary(result: dict[str, Any]) -> str:
    config = result["config"]
    lines = [
        "",
        f"N={config['n']} tenants (naive: {config['naive_n']}), C={config['concurrency']}, "
        f"latency {config['latency_ms']} ms; {result['machine']['nproc']} cores, "
        f"{result['machine']['cpu_model']}, Python {result['machine']['python']}",
        "",
        report.text_table(report.table(result["figures"])),
        "",
    ]
    for name, bound in result["limit"].items():
        ratio = result["throughput_vs_naive"].get(name)
        lines.append(
            f"{name}: latency bound {bound['latency_bound_s']:.2f} s, CPU floor "
            f"{bound['cpu_floor_s']:.2f} s (k={bound['k_requests_per_tenant']:.2f}, "
            f"f={bound['f_ms_per_request']:.2f} ms) -> limit {bound['limit_s']:.2f} s, "
            f"efficiency {bound['efficiency']:.2f}; CPU/request = "
            f"{bound['cpu_per_request_vs_f']:.2f} f"
            + (f"; {ratio:.0f}x naive throughput" if ratio else "")
        )
        if "f_aiohttp_ms_per_request" in bound:
            lines.append(
                f"  against bare aiohttp (f={bound['f_aiohttp_ms_per_request']:.2f} ms): CPU "
                f"floor {bound['cpu_floor_aiohttp_s']:.2f} s, efficiency "
                f"{bound['efficiency_vs_aiohttp_floor']:.2f}; CPU/request = "
                f"{bound['cpu_per_request_vs_f_aiohttp']:.2f} f_aiohttp; the fake cloud spent "
                f"{bound['fake_cloud_cpu_s']:.2f} s of CPU on its single core"
            )
    lines += _coldstart_lines(result.get("coldstart") or {})
    lines.append(f"headline: {HEADLINE}; the run took {result['duration_s']:.0f} s")
    return "\n".join(lines)


def _coldstart_lines(cold: dict[str, Any]) -> list[str]:
    if not cold:
        return []
    imported, first = cold["import"], cold["first_job"]
    return [
        f"cold start: import function_app {imported['import_s']:.2f} s, peak RSS "
        f"{imported['peak_rss_mb']:.0f} MB, msgraph imported: {imported['msgraph_imported']}; "
        f"first tenant job {first['first_job_s']:.2f} s after the import "
        f"(process {first['process_wall_s']:.2f} s, peak RSS {first['peak_rss_mb']:.0f} MB)",
    ]


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.scaling:
        from devtools.bench.scaling import run_scaling

        run_scaling(latency_ms=args.latency_ms)
        return 0
    config = BenchConfig(
        n=args.n,
        concurrency=args.c,
        latency_ms=args.latency_ms,
        naive_n=args.naive_n,
        azurite=not args.no_azurite,
        naive=not args.no_naive,
        coldstart=not args.no_coldstart,
    )
    result = run_bench(config)
    print(summary(result))
    print(f"written to {write_result(result)}")
    if args.write_docs:
        from devtools.bench.docs import write_headline

        write_headline(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
