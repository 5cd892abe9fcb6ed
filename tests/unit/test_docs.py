"""The operator docs against the code: permissions per job, every error code and class, links."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

import shared.errors as errors
import shared.group_requests
import shared.messages
import shared.onboarding
import shared.tenants
from shared.auth.roles import Role
from shared.graph import GRAPH_ERROR_CODES
from shared.jobs import JOBS
from shared.tenants import Breaker, HealthStatus

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: Modules that define XtenantError subclasses beyond shared.errors (imported: subclasses loaded).
_ERROR_MODULES = (shared.group_requests, shared.messages, shared.onboarding, shared.tenants)
GUIDES = (
    "deploying.md",
    "onboarding.md",
    "permissions.md",
    "troubleshooting.md",
    "operations.md",
    "security.md",
    "console.md",
    "notifications.md",
)
DECISIONS = DOCS / "decisions.md"
#: The sections of docs/decisions.md, by anchor: code cites them as `docs/decisions.md#<anchor>`.
DECISION_ANCHORS = (
    "secretless-token-chain",
    "sync-assertion-callback",
    "coalesced-token-requests",
    "one-retry-layer",
    "retry-after",
    "batch-retries",
    "bytes-not-typed-models",
    "lazy-msgraph-import",
    "shared-connection-pool",
    "aiohttp-transport",
    "allowed-hosts",
    "tls-trust",
    "no-duplicate-creates",
    "mypy-msgraph",
    "event-loop",
    "msgraph-core-deprecated",
    "job-parameters",
    "functions-host-locally",
    "python-worker-contract",
    "checkov-venv",
    "clouds",
    "queue-settings",
    "graph-bicep-extension",
    "appsettings-merge",
    "the-run-is-the-authority",
    "claims-and-leases",
    "app-wide-failures",
    "compliance-store",
    "applicability",
    "object-refs",
    "rollout",
    "conditional-access-without-p1",
    "security-defaults-and-conditional-access",
    "emergency-access-accounts",
    "authentication-methods-standard",
    "sharepoint-sharing-baseline",
    "console-sign-in",
    "telemetry",
    "event-outbox",
)
#: Background notes that live outside the repository: nothing in it may point at them (spelt in
#: two parts so that this file does not name them either).
_OUTSIDE_NOTES = ("FACTS" + ".md", "DESIGN" + ".md")
_DECISION_LINK = re.compile(r"decisions\.md#([A-Za-z0-9_-]+)")


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


def test_the_security_roles_table_lists_every_app_role() -> None:
    rows = table_rows((DOCS / "security.md").read_text())
    documented = {r[0].strip("`") for r in rows if r[0].startswith("`xtenant.")}

    assert documented == {role.value for role in Role}


def test_no_guide_asks_for_a_function_key() -> None:
    guides = {name: (DOCS / name).read_text() for name in GUIDES}

    assert [name for name, text in guides.items() if "x-functions-key" in text] == []
    assert "x-functions-key" not in (ROOT / "README.md").read_text()


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


def tracked_files() -> dict[str, str]:
    """Every file git tracks in the repository, by path, as text (undecodable bytes replaced)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    paths = [p for p in listed.split("\0") if p and (ROOT / p).is_file()]
    return {p: (ROOT / p).read_bytes().decode("utf-8", errors="replace") for p in paths}


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def decision_anchors() -> list[str]:
    headings = re.findall(r"^## (.+)$", DECISIONS.read_text(), re.MULTILINE)
    return [github_anchor(h) for h in headings]


def test_github_anchors_drop_punctuation_and_keep_hyphens() -> None:
    assert github_anchor("Bytes, not typed models") == "bytes-not-typed-models"
    assert github_anchor("Retry-After") == "retry-after"
    assert github_anchor("mypy: msgraph") == "mypy-msgraph"


def test_decisions_has_one_section_per_decision_anchor_in_order() -> None:
    assert decision_anchors() == list(DECISION_ANCHORS)


def test_nothing_in_the_repository_cites_notes_kept_outside_it() -> None:
    citing = sorted(
        f"{path}: {name}"
        for path, text in tracked_files().items()
        for name in _OUTSIDE_NOTES
        if name in text
    )

    assert citing == []


def test_every_cited_decision_anchor_is_a_section_of_decisions() -> None:
    anchors = set(decision_anchors())
    cited = {
        (path, anchor)
        for path, text in tracked_files().items()
        for anchor in _DECISION_LINK.findall(text)
    }
    in_page = set(re.findall(r"\]\(#([A-Za-z0-9_-]+)\)", DECISIONS.read_text()))

    assert cited  # the code does cite it
    assert sorted(f"{path}#{anchor}" for path, anchor in cited if anchor not in anchors) == []
    assert sorted(in_page - anchors) == []
    assert "docs/decisions.md" in (ROOT / "README.md").read_text()


def test_the_documented_rerun_never_guesses_job_mode_or_params() -> None:
    """A recipe that took the first row's job, forced apply and sent empty params once disabled
    guests in a tenant enrolled as plan-only: the re-run is the endpoint that repeats each row
    with its own job, mode and params, and the docs say so."""
    section = (DOCS / "operations.md").read_text().split("## Re-run the tenants that failed")[1]
    section = section.split("\n## ")[0]

    assert "/api/runs/<run_id>/rerun" in section
    assert "**own** job, mode and params" in section
    assert ".rows[0]" not in section
    assert '"params": {}' not in section


def test_what_a_transient_failure_says_happens_matches_the_breaker_and_host_json() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    deliveries = host["extensions"]["queues"]["maxDequeueCount"]
    breaker = Breaker()
    minutes = int(breaker.cooldown.total_seconds() // 60)

    assert breaker.quarantine_after == 3 < deliveries  # so quarantine comes before the poison queue
    assert "third failure in a row" in errors.RETRIED
    assert f"{minutes} minutes" in errors.RETRIED
    assert "`skipped` (quarantined)" in errors.RETRIED
    troubleshooting = (DOCS / "troubleshooting.md").read_text()
    assert "after 5 deliveries the row is `failed`" not in troubleshooting
    assert "quarantined at its third failure in a row" in troubleshooting
