"""Events: one per state change, a stable id per change, the versioned schema, the Teams card."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.notify import SCHEMA_VERSION, Event, EventKind, HealthChange, Severity
from shared.notify import events as build
from shared.notify.health import health_changes
from shared.notify.schema import InvalidEvent
from shared.notify.sinks import CARD_VERSION, Sink, SinkKind, adaptive_card, teams_message
from shared.settings import Secret
from shared.tenants import Health, HealthStatus, Tenant

NOW = datetime(2026, 11, 28, 2, 4, 11, tzinfo=UTC)
TENANT = "0b7c6a55-93c4-4d0e-8f0a-1f6b2d1c9e77"
RUN = "r-20261128-020000-abcd"
ERROR = {"error_class": "consent_missing", "message": "AADSTS65001: no consent", "remediation": "x"}


def every_kind() -> dict[EventKind, Event]:
    """One event of each kind, as its builder makes it."""
    summary = {"run_id": RUN, "status": "partially_failed", "job": "tenant-baseline"}
    summary |= {"mode": "apply", "origin": "manual", "totals": {"changed": 3, "failed": 1}}
    bad = HealthChange(TENANT, None, "healthy", "quarantined", ERROR, NOW.isoformat())
    built = [
        build.run_finished(summary, failed_tenants=[TENANT], now=NOW),
        build.run_halted(RUN, ring="rest", reason="2 of 5 failed", failing_tenants=[], now=NOW),
        build.approval_requested(
            RUN, job="tenant-baseline", tenants=40, requested_by="ada", expires_at="x", now=NOW
        ),
        *build.drift(
            {"newly_drifted": ["a"], "fixed": ["b"], "still_drifted": ["c"]},
            tenant_id=TENANT,
            standard="tenant-baseline",
            run_id=RUN,
            evaluated_before={"a", "b", "c"},
            now=NOW,
        ),
        build.tenant_health(bad, version="e1", now=NOW),
        build.tenant_health(
            HealthChange(TENANT, None, "healthy", "needs_consent"), version="e2", now=NOW
        ),
        build.tenant_health(
            HealthChange(TENANT, None, "healthy", "misconfigured"), version="e3", now=NOW
        ),
        build.tenant_health(
            HealthChange(TENANT, None, "quarantined", "healthy"), version="e4", now=NOW
        ),
        build.app_outage(ERROR, since=NOW.isoformat(), until=NOW.isoformat(), now=NOW),
        build.app_recovered(since=NOW.isoformat(), now=NOW),
        build.poison_message(
            run_id=RUN,
            tenant_id=TENANT,
            job="tenant-baseline",
            status="failed",
            error=ERROR,
            now=NOW,
        ),
    ]
    return {e.kind: e for e in built if e is not None}


def test_every_kind_has_a_builder_and_round_trips_through_json() -> None:
    made = every_kind()

    assert set(made) == set(EventKind)
    for event in made.values():
        assert Event.from_json(json.loads(json.dumps(event.as_json()))) == event
        assert event.schema_version == SCHEMA_VERSION == "1"
        assert uuid.UUID(event.id).version == 5
        assert event.summary
        assert "\n" not in event.summary


def drift_new(run_id: str, *, known: set[str]) -> list[Event]:
    return build.drift(
        {"newly_drifted": ["a"]},
        tenant_id=TENANT,
        standard="s",
        run_id=run_id,
        evaluated_before=known,
        now=NOW,
    )


def test_the_same_change_built_twice_has_the_same_id_and_another_change_another() -> None:
    first, again, later = (drift_new(r, known={"a"}) for r in (RUN, RUN, "r2"))

    assert first[0].id == again[0].id
    assert first[0].id != later[0].id


def test_a_settings_first_evaluation_is_its_baseline_not_new_drift() -> None:
    assert drift_new(RUN, known=set()) == []
    assert [e.kind for e in drift_new(RUN, known={"a"})] == [EventKind.DRIFT_NEW]


def test_a_health_that_does_not_change_status_is_no_event() -> None:
    same = HealthChange(TENANT, None, "quarantined", "quarantined")
    healthy_again = HealthChange(TENANT, None, "healthy", "healthy")

    assert build.tenant_health(same, version="e", now=NOW) is None
    assert build.tenant_health(healthy_again, version="e", now=NOW) is None


def test_a_tenant_that_heals_is_one_recovered_event_naming_what_it_was() -> None:
    event = build.tenant_health(
        HealthChange(TENANT, "guest-cleanup", "needs_consent", "healthy"), version="e", now=NOW
    )

    assert event is not None
    assert event.kind is EventKind.TENANT_RECOVERED
    assert event.severity is Severity.INFO
    assert event.data["previous"] == "needs_consent"
    assert event.data["job"] == "guest-cleanup"
    assert event.links == {"tenant": f"/api/tenants/{TENANT}"}


def test_still_drifted_settings_make_no_event() -> None:
    made = build.drift(
        {"newly_drifted": [], "fixed": [], "still_drifted": ["a"]},
        tenant_id=TENANT,
        standard="s",
        run_id=RUN,
        evaluated_before={"a"},
        now=NOW,
    )

    assert made == []


def test_a_run_with_failures_is_a_warning_with_its_totals_and_link() -> None:
    event = every_kind()[EventKind.RUN_FINISHED]

    assert event.severity is Severity.WARNING
    assert event.data["rows"] == 4
    assert event.data["failed_tenants"] == [TENANT]
    assert "3 of 4 rows succeeded" in event.summary
    assert event.linked_from("https://func.example.net").links == {
        "run": f"https://func.example.net/api/runs/{RUN}"
    }


def test_health_changes_compare_the_tenant_and_each_job() -> None:
    before = Tenant(TENANT, job_health={"guest-cleanup": Health(HealthStatus.NEEDS_CONSENT)})
    after = Tenant(TENANT, health=Health(HealthStatus.QUARANTINED, 3, ERROR))

    changes = health_changes(before, after)

    assert [(c.job, c.before, c.after) for c in changes] == [
        (None, "healthy", "quarantined"),
        ("guest-cleanup", "needs_consent", "healthy"),
    ]


@pytest.mark.parametrize("raw", [None, [], {"schema_version": "2"}, {"schema_version": "1"}])
def test_anything_but_a_version_1_event_is_refused(raw: object) -> None:
    with pytest.raises(InvalidEvent):
        Event.from_json(raw)


def test_the_teams_message_is_one_adaptive_card_linking_to_the_run() -> None:
    event = every_kind()[EventKind.RUN_FINISHED].linked_from("https://func.example.net")

    message = teams_message(event)
    [attachment] = message["attachments"]
    card = attachment["content"]
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}

    assert message["type"] == "message"
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == CARD_VERSION == "1.4"
    assert card["body"][0]["color"] == "Warning"
    assert card["body"][1]["text"] == event.summary
    assert facts["event id"] == event.id
    assert facts["run id"] == RUN
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open the run",
            "url": f"https://func.example.net/api/runs/{RUN}",
        }
    ]


def test_a_generic_webhook_is_sent_the_event_itself() -> None:
    event = every_kind()[EventKind.APP_OUTAGE]
    sink = Sink(SinkKind.WEBHOOK, Secret("https://hooks.example.com/x"))

    assert sink.body(event) == event.as_json()
    assert Sink(SinkKind.TEAMS, sink.url).body(event)["attachments"][0]["content"] == (
        adaptive_card(event)
    )


def test_the_docs_show_one_valid_example_of_every_kind() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "notifications.md").read_text()
    examples = text.split("## Examples, one per kind")[1]
    shown = [
        Event.from_json(json.loads(block.split("```")[0]))
        for block in examples.split("```json\n")[1:]
    ]

    assert sorted(e.kind.value for e in shown) == sorted(k.value for k in EventKind)
    assert len({e.id for e in shown}) == len(shown)
