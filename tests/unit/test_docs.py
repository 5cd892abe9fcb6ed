"""The operator docs against the code: permissions per job, every error code and class, links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import shared.errors as errors
import shared.messages
import shared.onboarding
import shared.tenants
from shared.graph import GRAPH_ERROR_CODES
from shared.jobs import JOBS
from shared.tenants import HealthStatus

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: Modules that define XtenantError subclasses beyond shared.errors (imported: subclasses loaded).
_ERROR_MODULES = (shared.messages, shared.onboarding, shared.tenants)
GUIDES = ("deploying.md", "onboarding.md", "permissions.md", "troubleshooting.md", "operations.md")


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row whose first cell is code (`...`)."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| `")
    ]


def error_classes() -> set[str]:
    """Every error class an XtenantError subclass in shared/ reports."""
    found, pending = set(), [errors.XtenantError]
    while pending:
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        if kind.__module__.startswith("shared.") and kind.error_class != "error":
            found.add(kind.error_class)
    return found


def test_the_permissions_table_lists_each_jobs_permissions() -> None:
    rows = table_rows((DOCS / "permissions.md").read_text())
    documented: dict[str, list[str]] = {}
    for job, permission, why, *_ in (r for r in rows if len(r) >= 3 and r[0].strip("`") in JOBS):
        documented.setdefault(job.strip("`"), []).append(permission.strip("`"))
        assert len(why) > 20, f"{job} {permission}: say why"

    assert documented == {name: list(job.permissions) for name, job in JOBS.items()}


def test_troubleshooting_covers_every_aadsts_code_the_app_knows() -> None:
    text = (DOCS / "troubleshooting.md").read_text()
    codes = set(errors._BY_CODE) | set(errors._TRANSIENT_CODES)

    missing = sorted(c for c in codes if not re.search(rf"\bAADSTS{c}\b", text))

    assert missing == []


def test_troubleshooting_covers_every_graph_code_and_error_class() -> None:
    text = (DOCS / "troubleshooting.md").read_text()
    graph_codes = set(GRAPH_ERROR_CODES)
    classes = error_classes() | {s.value for s in HealthStatus if s is not HealthStatus.HEALTHY}

    assert {"tenant_not_onboarded", "invalid_state", "ambiguous_target"} <= classes
    assert sorted(c for c in graph_codes if c not in text) == []
    assert sorted(c for c in classes | {"poisoned"} if f"`{c}`" not in text) == []


@pytest.mark.parametrize("guide", GUIDES)
def test_each_guide_is_linked_from_the_readme_and_its_links_resolve(guide: str) -> None:
    readme = (ROOT / "README.md").read_text()
    text = (DOCS / guide).read_text()
    targets = re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", text)

    assert f"docs/{guide}" in readme
    assert [t for t in targets if not (DOCS / t).resolve().exists()] == []
