"""Rings as pure logic: parsing what an operator asked, assigning tenants, the failure rate."""

from __future__ import annotations

import pytest

from shared.results import Status
from shared.rollout import RingSpec, assign_rings, failure_rate, parse_rings

T = [f"0000000{n}-0000-0000-0000-000000000000" for n in range(8)]


def test_a_canary_then_a_quarter_of_the_rest_then_the_rest() -> None:
    problems: list[str] = []
    specs = parse_rings([{"tenants": [T[5]]}, {"percent": 25}, {"rest": True}], problems)

    ring_of = assign_rings(T, specs, problems)

    assert problems == []
    assert ring_of[T[5]] == 0
    assert sorted(t for t, r in ring_of.items() if r == 1) == T[:2]  # 25 % of 7, rounded up
    assert sorted(t for t, r in ring_of.items() if r == 2) == [T[2], T[3], T[4], T[6], T[7]]


def test_tenants_no_ring_takes_join_the_last_ring() -> None:
    problems: list[str] = []
    ring_of = assign_rings(T[:4], [RingSpec(tenants=(T[0],)), RingSpec(percent=50)], problems)

    assert problems == []
    assert ring_of == {T[0]: 0, T[1]: 1, T[2]: 1, T[3]: 1}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("canary", "rings must be a list of 2-10 rings"),
        ([{"rest": True}], "rings must be a list of 2-10 rings"),
        ([{"percent": 10}] * 11, "rings must be a list of 2-10 rings"),
        ([{"rest": True}, {"percent": 5}], 'only the last ring may be {"rest": true}'),
        ([{"percent": 101}, {"rest": True}], "rings[0]: 'percent' must be"),
        ([{"percent": True}, {"rest": True}], "rings[0]: 'percent' must be"),
        ([{"tenants": ["x"]}, {"rest": True}], "rings[0].tenants must be tenant ids"),
        ([{"group": ""}, {"rest": True}], "rings[0]: 'group' must be"),
        ([{"canary": "eu"}, {"rest": True}], "rings[0]: 'canary' must be"),
        ([{"percent": 5, "rest": True}, {"rest": True}], "rings[0] must be one of"),
    ],
)
def test_bad_rings_say_what_is_wrong(raw: object, problem: str) -> None:
    problems: list[str] = []
    parse_rings(raw, problems)

    assert any(p.startswith(problem) for p in problems), problems


def test_a_named_tenant_outside_the_run_and_an_empty_ring_are_problems() -> None:
    problems: list[str] = []
    assign_rings(T[:2], [RingSpec(tenants=(T[7],)), RingSpec(rest=True)], problems)
    assert problems == [
        f"rings[0] names tenant {T[7]}, which is not in the run (or in an earlier ring)"
    ]

    problems = []
    assign_rings(T[:1], [RingSpec(percent=100), RingSpec(rest=True)], problems)
    assert problems == ["rings[1] has no tenant left"]


def test_failed_skipped_and_blocked_rows_count_against_a_ring() -> None:
    statuses = [
        Status.CHANGED,
        Status.NOT_APPLICABLE,
        Status.NO_CHANGES,
        Status.FAILED,
        Status.SKIPPED,
        Status.BLOCKED,
    ]

    assert failure_rate(statuses) == 0.5
    assert failure_rate([]) == 0.0
