"""Comparing settings without false drift, and the transitions a setting makes between runs."""

from __future__ import annotations

from typing import Any

from shared.compliance import Transition, since_last_run, transition
from shared.jobs.compare import Comparison, same
from shared.results import Mode


def test_reordered_set_like_lists_are_compliant() -> None:
    assert same(["b", "a", "c"], ["c", "a", "b", "a"])


def test_ordered_lists_still_care_about_order() -> None:
    assert not same(["a", "b"], ["b", "a"], Comparison(as_set=False))


def test_guid_and_enum_case_is_ignored() -> None:
    guid = "62e90394-69f5-4237-9190-012177145e10"
    assert same(guid, guid.upper())
    assert same("adminsAndGuestInviters", "ADMINSANDGUESTINVITERS")


def test_absent_value_equals_the_documented_default() -> None:
    assert same(True, None, Comparison(default=True))
    assert not same(False, None, Comparison(default=True))
    assert same([], None, Comparison(default=[]))


def test_server_added_read_only_properties_are_ignored() -> None:
    observed = {"id": "x", "@odata.type": "#t", "createdDateTime": "2026", "isEnabled": True}
    assert same({"isEnabled": True}, observed)
    assert not same({"isEnabled": True}, {"isEnabled": False})


def test_a_real_difference_is_still_drift() -> None:
    assert not same(["a"], ["a", "b"])
    assert not same("everyone", "none")


def _finding(state: str, **extra: Any) -> dict[str, Any]:
    return {"setting": "s", "state": state, **extra}


def test_transitions_between_evaluations() -> None:
    assert transition(None, _finding("drifted"), False) is Transition.BECAME_NON_COMPLIANT
    assert transition("compliant", _finding("drifted"), False) is Transition.BECAME_NON_COMPLIANT
    assert transition("drifted", _finding("compliant"), False) is Transition.FIXED_BY_SOMEONE_ELSE
    fixed = _finding("compliant", fixed_by="xtenant")
    assert transition("drifted", fixed, False) is Transition.FIXED_BY_XTENANT
    assert transition("drifted", _finding("accepted"), False) is Transition.ACCEPTED
    assert transition("accepted", _finding("drifted"), True) is Transition.ACCEPTANCE_EXPIRED
    assert transition("accepted", _finding("drifted"), False) is Transition.BECAME_NON_COMPLIANT
    assert transition("compliant", _finding("compliant"), False) is None
    assert transition(None, _finding("compliant"), False) is None


def test_changed_since_last_run() -> None:
    states = {"a": {"state": "drifted"}, "b": {"state": "drifted"}, "c": {"state": "compliant"}}
    findings = [
        {"setting": "a", "state": "drifted"},
        {"setting": "b", "state": "compliant"},
        {"setting": "c", "state": "drifted"},
        {"setting": "d", "state": "compliant"},
    ]
    assert since_last_run(states, findings) == {
        "newly_drifted": ["c"],
        "fixed": ["b"],
        "still_drifted": ["a"],
    }


def test_report_and_remediate_name_plan_and_apply() -> None:
    assert (Mode.parse("report"), Mode.parse("remediate")) == (Mode.PLAN, Mode.APPLY)
    assert Mode.APPLY.allows(Mode.PLAN)
    assert Mode.PLAN.allows(Mode.PLAN)
    assert not Mode.PLAN.allows(Mode.APPLY)


def test_an_accepted_value_is_compared_the_way_its_setting_is() -> None:
    """Target lists name groups by `id`: an acceptance of one group's targets is drift when the
    tenant targets another group (the default comparison would drop the ids as read-only)."""
    from shared.jobs.base import Finding
    from shared.jobs.compare import Comparison
    from shared.runner import finding_state

    targets = Comparison(read_only=frozenset())
    accepted = {"fido2": [{"targetType": "group", "id": "group-a"}]}
    elsewhere = [{"targetType": "group", "id": "group-b"}]
    same_group = [{"id": "GROUP-A", "targetType": "group"}]

    assert finding_state(Finding("fido2", [], elsewhere, False, how=targets), accepted) == "drifted"
    assert finding_state(Finding("fido2", [], same_group, False, how=targets), accepted) == (
        "accepted"
    )
