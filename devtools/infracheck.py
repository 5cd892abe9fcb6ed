"""Offline checks of infra/: every Bicep file parses, and Checkov passes against its one baseline.

    python -m devtools.infracheck [--infra infra] [--checkov PATH]

No Bicep CLI exists here and nothing may reach the network, so three checks stand in for
`az bicep build` (docs/decisions.md#checkov-venv):
1. a strict parse of each .bicep file with pycep-parser, each failure as `file:line:col: message`
   (Checkov alone exits 0 on a file it cannot parse, with only "Parsing errors: 1");
2. the baseline, infra/.checkov.yaml: every skipped check is listed there, once, with a reason;
3. Checkov (`--framework bicep --skip-download`) with that baseline, failing on any failed check
   and on any parsing error. Checkov pins pycep-parser 0.5.1, which predates the `extension`
   keyword the Microsoft Graph resources need, so it scans a copy of infra/ in which the
   `extension <alias>` lines (and nothing else) are blanked; line numbers stay the same.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
BASELINE = ".checkov.yaml"
#: Where `make test` installs Checkov: its own venv, because Checkov pins packaging<24 and
#: aiohttp<3.15, which would hold back pytest and a runtime dependency in the app's venv
#: (docs/decisions.md#checkov-venv).
CHECKOV = ROOT / ".xtenant" / "infra-venv" / "bin" / "checkov"
_EXTENSION = re.compile(r"^\s*extension\s+\S+.*$")
_SKIP = re.compile(r"^\s*-\s*(CKV2?_[A-Z0-9_]+)\s*(?:#\s*(.*))?$")
_MIN_REASON = 20


@dataclass
class Report:
    """What the checks found: problems fail the run, notes only inform."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def bicep_files(infra: Path) -> list[Path]:
    return sorted(infra.rglob("*.bicep"))


def parse_problems(files: Sequence[Path], *, relative_to: Path = ROOT) -> list[str]:
    """Each file that pycep-parser refuses, as `path:line:column: what it expected`."""
    from pycep import BicepParser

    parser = BicepParser(add_line_numbers=True)
    problems = []
    for path in files:
        try:
            parser.parse(file_path=path)
        except Exception as exc:  # lark raises several kinds; each is a parse failure
            problems.append(_parse_problem(_shown(path, relative_to), exc))
    return problems


def _parse_problem(shown: str, exc: Exception) -> str:
    line, column = getattr(exc, "line", "?"), getattr(exc, "column", "?")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{shown}:{line}:{column}: {first}"


def _shown(path: Path, relative_to: Path) -> str:
    try:
        return str(path.relative_to(relative_to))
    except ValueError:
        return str(path)


def parse_bicep(path: Path) -> dict[str, Any]:
    """One file as pycep-parser's JSON (parameters, variables, resources, modules, outputs)."""
    from pycep import BicepParser

    return dict(BicepParser().parse(file_path=path))


def baseline_skips(config: Path) -> tuple[dict[str, str], list[str]]:
    """The checks the baseline skips, each with its reason, and what is wrong with the list."""
    skips: dict[str, str] = {}
    problems = []
    for number, line in enumerate(config.read_text().splitlines(), start=1):
        found = _SKIP.match(line)
        if found is None:
            continue
        check, reason = found.group(1), (found.group(2) or "").strip()
        if check in skips:
            problems.append(f"{config.name}:{number}: {check} is listed twice")
        if len(reason) < _MIN_REASON:
            problems.append(f"{config.name}:{number}: {check} is skipped without a reason")
        skips[check] = reason
    return skips, problems


def checkov_copy(infra: Path, destination: Path) -> list[str]:
    """Copy infra/ for Checkov with `extension` lines blanked; return `file:line` of each."""
    shutil.copytree(infra, destination)
    blanked = []
    for path in bicep_files(destination):
        lines = path.read_text().split("\n")
        for index, line in enumerate(lines):
            if _EXTENSION.match(line):
                lines[index] = "// " + line.strip()
                blanked.append(f"{path.relative_to(destination)}:{index + 1}")
        path.write_text("\n".join(lines))
    return blanked


def run_checkov(checkov: Path, directory: Path, config: Path) -> dict[str, Any]:
    """Checkov's JSON report for `directory` (never the network: --skip-download)."""
    command = [
        str(checkov),
        "--directory",
        str(directory),
        "--framework",
        "bicep",
        "--config-file",
        str(config),
        "--skip-download",
        "--compact",
        "--quiet",
        "--output",
        "json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise RuntimeError(f"checkov exited {done.returncode}: {done.stderr[-2000:]}") from None
    if isinstance(report, list):  # one entry per framework when several ran
        report = next((r for r in report if r.get("check_type") == "bicep"), {})
    return dict(report)


def checkov_findings(report: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The summary, and one line per failed check and parsing error."""
    summary = dict(report.get("summary") or {})
    results = report.get("results") or {}
    lines = [
        f"{c['check_id']} {c['check_name']}: {c['resource']} "
        f"(infra{c['file_path']}:{c['file_line_range'][0]})"
        for c in results.get("failed_checks", [])
    ]
    for path in results.get("parsing_errors", []) or []:
        lines.append(f"Checkov could not parse {path}")
    if summary.get("parsing_errors") and not results.get("parsing_errors"):
        lines.append(f"Checkov reports {summary['parsing_errors']} parsing error(s)")
    return summary, lines


def check(infra: Path, checkov: Path | None) -> Report:
    report = Report()
    files = bicep_files(infra)
    if not files:
        report.problems.append(f"no .bicep files under {infra}")
        return report
    report.problems += parse_problems(files)
    report.notes.append(f"parsed {len(files)} Bicep files with pycep-parser")
    skips, baseline = baseline_skips(infra / BASELINE)
    report.problems += baseline
    if checkov is None:
        report.problems.append("checkov not found: run `make test` (it installs it)")
        return report
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "infra"
        blanked = checkov_copy(infra, copy)
        summary, findings = checkov_findings(run_checkov(checkov, copy, copy / BASELINE))
    report.problems += findings
    report.notes.append(
        f"checkov {summary.get('checkov_version', '?')}: {summary.get('passed', 0)} passed, "
        f"{summary.get('failed', 0)} failed, {len(skips)} skipped by {BASELINE}, "
        f"{summary.get('parsing_errors', 0)} parsing errors, "
        f"{summary.get('resource_count', 0)} resources; `extension` lines blanked for it: "
        + (", ".join(blanked) or "none")
    )
    return report


def _find_checkov(given: str | None) -> Path | None:
    if given:
        return Path(given)
    if CHECKOV.exists():
        return CHECKOV
    found = shutil.which("checkov")
    return Path(found) if found else None


def main(argv: Sequence[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m devtools.infracheck", description=__doc__)
    cli.add_argument("--infra", type=Path, default=INFRA, help="the folder to check (infra/)")
    cli.add_argument("--checkov", help="the checkov executable (default: make's infra venv)")
    args = cli.parse_args(argv)
    report = check(args.infra.resolve(), _find_checkov(args.checkov))
    for note in report.notes:
        print(f"infracheck: {note}")
    for problem in report.problems:
        print(f"infracheck: FAIL {problem}", file=sys.stderr)
    print("infracheck: " + ("ok" if report.ok else f"{len(report.problems)} problem(s)"))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
