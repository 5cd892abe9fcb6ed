"""Tenant groups as pure logic: rules, membership, precedence (tenant > group > all), the apply
rule, and the validation of group and tenant bodies (every problem listed together)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared import api
from shared.group_requests import InvalidGroup, group_from_put
from shared.groups import (
    ALL,
    MAX_STATIC,
    Group,
    Rule,
    Targeting,
    effective_enrolments,
    from_entity,
    gains_apply,
    to_entity,
)
from shared.results import Mode
from shared.tenant_requests import InvalidTenant, tenant_from_patch, tenant_from_put
from shared.tenants import Enrolment, Tenant, TenantPlans
from shared.tenants import from_entity as tenant_from_entity
from shared.tenants import to_entity as tenant_to_entity

A = "11111111-1111-1111-1111-111111111111"
B = "22222222-2222-2222-2222-222222222222"
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
PLAN = Enrolment(Mode.PLAN, {"days": 90})
APPLY = Enrolment(Mode.APPLY, {"days": 90})


def tenant(
    tenant_id: str = A, *, tags: list[str] | None = None, plans: tuple[str, ...] = ()
) -> Tenant:
    return Tenant(
        tenant_id,
        "Contoso",
        True,
        tags=tags or [],
        plans=TenantPlans(plans, NOW) if plans else None,
    )


def put(name: str, body: Any, registered: tuple[str, ...] = (A, B)) -> Group:
    return group_from_put(name, body, check_params=api.check_params, registered=registered)


def plan(**params: Any) -> dict[str, Any]:
    return {"mode": "plan", "params": params}


def problems_of(name: str, body: Any) -> list[str]:
    with pytest.raises(InvalidGroup) as caught:
        put(name, body)
    return caught.value.problems


# --- rules and membership


@pytest.mark.parametrize(
    ("rule", "holds"),
    [
        (Rule(tags_all=("tier:gold", "region:eu")), True),
        (Rule(tags_all=("tier:gold", "region:us")), False),
        (Rule(tags_any=("region:us", "region:eu")), True),
        (Rule(tags_any=("region:us",)), False),
        (Rule(plans_any=("AAD_PREMIUM_P2", "AAD_PREMIUM")), True),
        (Rule(plans_any=("AAD_PREMIUM_P2",)), False),
        (Rule(cloud="public"), True),
        (Rule(cloud="usgov"), False),
        (Rule(tags_all=("tier:gold",), cloud="usgov"), False),
    ],
)
def test_every_clause_of_a_rule_must_hold(rule: Rule, holds: bool) -> None:
    gold = tenant(tags=["region:eu", "tier:gold"], plans=("AAD_PREMIUM", "EXCHANGE_S_STANDARD"))

    assert rule.holds(gold, "public") is holds


def test_a_plan_rule_holds_no_tenant_whose_licences_were_never_read() -> None:
    assert Rule(plans_any=("AAD_PREMIUM",)).holds(tenant(), "public") is False


def test_a_static_group_holds_the_tenants_it_lists_and_all_holds_everyone() -> None:
    static = Group("pilot", tenants=frozenset({A}))

    assert static.holds(tenant(A), "public")
    assert not static.holds(tenant(B), "public")
    assert Group(ALL).holds(tenant(B), "public")
    assert [g.kind for g in (static, Group("x", rule=Rule(cloud="public")), Group(ALL))] == [
        "static",
        "dynamic",
        "all",
    ]


# --- precedence


def test_the_tenants_own_enrolment_wins_then_a_groups_then_alls() -> None:
    # given all enrolling three jobs, a group two of them, the tenant one
    gold = tenant(tags=["tier:gold"])
    gold.enrolments = {"guest-cleanup": APPLY}
    groups = [
        Group(
            ALL, enrolments={"guest-cleanup": PLAN, "tenant-baseline": PLAN, "ensure-group": PLAN}
        ),
        Group(
            "gold",
            rule=Rule(tags_all=("tier:gold",)),
            enrolments={
                "guest-cleanup": PLAN,
                "tenant-baseline": Enrolment(Mode.APPLY),
            },
        ),
    ]

    effective = effective_enrolments(gold, groups, "public")

    assert effective == {
        "ensure-group": (PLAN, "all"),
        "guest-cleanup": (APPLY, "tenant"),
        "tenant-baseline": (Enrolment(Mode.APPLY), "group:gold"),
    }


def test_when_two_groups_disagree_the_first_by_name_wins() -> None:
    groups = [
        Group("zeta", tenants=frozenset({A}), enrolments={"guest-cleanup": APPLY}),
        Group("alpha", tenants=frozenset({A}), enrolments={"guest-cleanup": PLAN}),
    ]

    effective = effective_enrolments(tenant(A), groups, "public")

    assert effective == {"guest-cleanup": (PLAN, "group:alpha")}


def test_a_group_that_does_not_hold_the_tenant_gives_it_nothing() -> None:
    groups = [Group("pilot", tenants=frozenset({B}), enrolments={"guest-cleanup": APPLY})]

    assert effective_enrolments(tenant(A), groups, "public") == {}


def test_targeting_lists_a_tenants_named_groups_and_a_groups_members() -> None:
    pilot = Group("pilot", tenants=frozenset({B, A}))
    targeting = Targeting(
        [Group(ALL), pilot, Group("eu", rule=Rule(tags_any=("region:eu",)))], "public"
    )

    assert targeting.groups_of(tenant(A, tags=["region:eu"])) == ["pilot", "eu"]
    assert [t.tenant_id for t in targeting.members(pilot, [tenant(B), tenant(A)])] == [A, B]


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ({"group": "nope"}, "group 'nope' does not exist (GET /api/groups lists them)"),
        ({"group": "empty"}, "group empty has no enabled tenant"),
        ({"group": "pilot", "x": 1}, 'a group as tenants is {"group": "<name>"} and nothing else'),
        ({"group": 7}, 'a group as tenants is {"group": "<name>"} and nothing else'),
    ],
)
def test_a_run_naming_a_group_that_gives_no_tenant_is_refused_with_why(
    target: dict[str, Any], problem: str
) -> None:
    targeting = Targeting(
        [Group("empty", tenants=frozenset()), Group("pilot", tenants=frozenset({A}))], "public"
    )

    assert targeting.run_members(target, [tenant(A)]) == ([], [problem])


def test_a_run_naming_a_group_takes_its_enabled_members_only() -> None:
    disabled = tenant(B)
    disabled.enabled = False
    targeting = Targeting([Group("pilot", tenants=frozenset({A, B}))], "public")

    members, problems = targeting.run_members({"group": "pilot"}, [tenant(A), disabled])

    assert ([t.tenant_id for t in members], problems) == ([A], [])


# --- the apply rule


@pytest.mark.parametrize(
    ("before", "after", "gains"),
    [
        ({}, {"guest-cleanup": (PLAN, "all")}, False),
        ({}, {"guest-cleanup": (APPLY, "all")}, True),
        ({"guest-cleanup": (PLAN, "tenant")}, {"guest-cleanup": (APPLY, "all")}, True),
        ({"guest-cleanup": (APPLY, "tenant")}, {"guest-cleanup": (APPLY, "group:x")}, False),
        (
            {"guest-cleanup": (APPLY, "tenant")},
            {"guest-cleanup": (Enrolment(Mode.APPLY, {"days": 1}), "tenant")},
            True,
        ),
        ({"guest-cleanup": (APPLY, "tenant")}, {}, False),
    ],
)
def test_gaining_an_apply_is_a_new_apply_or_one_with_other_params(
    before: Any, after: Any, gains: bool
) -> None:
    assert gains_apply(before, after) is gains


# --- group bodies


def test_a_static_group_body_becomes_a_group() -> None:
    group = put(
        "pilot-1",
        {
            "description": "first",
            "tenants": [A.upper(), A],
            "enrolments": {"guest-cleanup": {"mode": "report", "params": {"days": 90}}},
        },
    )

    assert group == Group("pilot-1", "first", frozenset({A}), None, {"guest-cleanup": PLAN})


def test_a_dynamic_group_body_becomes_a_rule() -> None:
    body = {
        "rule": {
            "tags_all": ["tier:gold", "tier:gold"],
            "plans_any": ["AAD_PREMIUM"],
            "cloud": "public",
        }
    }

    group = put("gold", body)

    assert group.rule == Rule(("tier:gold",), (), ("AAD_PREMIUM",), "public")
    assert put("gold", group.as_record()) == group  # PUT takes back what GET shows


def test_every_problem_of_a_group_body_is_listed_together() -> None:
    body = {
        "tenants": [A, "not-a-guid", "33333333-3333-3333-3333-333333333333"],
        "rule": {"tags_all": ["bad tag!"]},
        "enrolments": {
            "wipe": {"mode": "apply"},
            "guest-cleanup": {"mode": "yolo"},
            "tenant-baseline": {"mode": "plan", "params": {"nope": 1}},
        },
        "colour": "red",
    }

    problems = problems_of("Bad_Name", body)

    assert problems[0] == "group name 'Bad_Name' must be 1-64 lower-case letters, digits or -"
    assert "unknown field 'colour'" in problems
    assert "a group has tenants (static: tenant ids) or a rule (dynamic), not both" in problems
    assert any(p.startswith("enrolments.wipe: unknown job 'wipe'") for p in problems)
    assert "enrolments.guest-cleanup: mode must be plan or apply (report or remediate)" in problems
    assert any(p.startswith("enrolments.tenant-baseline:") and "nope" in p for p in problems)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "a group needs tenants (static: tenant ids) or a rule (dynamic)"),
        ({"tenants": "all"}, "tenants must be a list of tenant ids"),
        ({"tenants": ["nope"]}, "tenants: 'nope' is not a GUID"),
        (
            {"tenants": ["33333333-3333-3333-3333-333333333333"]},
            "tenants: 33333333-3333-3333-3333-333333333333 is not registered "
            "(PUT /api/tenants/33333333-3333-3333-3333-333333333333 first)",
        ),
        (
            {"tenants": [A] * (MAX_STATIC + 1)},
            "tenants may list at most 5,000 tenants (use a rule for more)",
        ),
        (
            {"rule": {}},
            "rule needs a clause: tags_all, tags_any, plans_any, cloud (all holds everyone)",
        ),
        ({"rule": []}, "rule must be an object of clauses: tags_all, tags_any, plans_any, cloud"),
        ({"rule": {"tags": ["x"]}}, "rule: unknown clause 'tags'"),
        (
            {"rule": {"tags_any": ["a b"]}},
            "rule.tags_any: 'a b' is not a tag (1-64 letters, digits or :-_.)",
        ),
        (
            {"rule": {"plans_any": ["AAD PREMIUM"]}},
            "rule.plans_any: 'AAD PREMIUM' is not a service plan name",
        ),
        ({"rule": {"cloud": "mars"}}, "rule.cloud must be one of public, usgov, china"),
        (
            {"rule": {"cloud": "public"}, "name": "other"},
            "name 'other' is not the group in the URL",
        ),
        (
            {"rule": {"cloud": "public"}, "description": 3},
            "description must be a string of at most 1,024 characters",
        ),
    ],
)
def test_a_bad_group_body_names_the_problem(body: dict[str, Any], problem: str) -> None:
    assert problem in problems_of("pilot", body)


def test_enrolments_too_large_together_for_one_table_property_are_refused() -> None:
    upns = [f"user{n:05d}@contoso.example" for n in range(700)]  # each job's params fit alone
    enrolments = {
        "ensure-group": plan(mail_nickname="a", display_name="A", members=upns),
        "guest-cleanup": plan(days=90, exclude_upns=upns[:500]),
    }

    problems = problems_of("big", {"rule": {"cloud": "public"}, "enrolments": enrolments})

    assert len(problems) == 1
    assert problems[0].startswith("enrolments are ")
    assert problems[0].endswith("characters as JSON; at most 30,000")


def test_the_group_all_takes_enrolments_but_no_members() -> None:
    assert put(
        ALL, {"enrolments": {"guest-cleanup": {"mode": "plan", "params": {"days": 90}}}}
    ) == Group(ALL, enrolments={"guest-cleanup": PLAN})
    assert problems_of(ALL, {"tenants": [A]}) == [
        "the group all holds every registered tenant: no tenants or rule"
    ]


def test_a_long_list_of_problems_is_cut_at_twenty() -> None:
    problems = problems_of("pilot", {"tenants": [f"x{n}" for n in range(50)]})

    assert len(problems) == 21
    assert problems[-1] == "... and 30 more"


# --- storage


def test_a_static_group_of_five_thousand_tenants_round_trips_through_its_entity() -> None:
    ids = frozenset(f"{n:08d}-0000-0000-0000-000000000000" for n in range(MAX_STATIC))
    group = Group("big", "many", ids, None, {"guest-cleanup": APPLY})

    entity = to_entity(group)

    assert from_entity(entity) == group
    assert max(len(v) for v in entity.values() if isinstance(v, str)) <= 30_000


def test_a_dynamic_group_round_trips_through_its_entity() -> None:
    group = Group("gold", rule=Rule(tags_any=("tier:gold",), cloud="usgov"))

    assert from_entity(to_entity(group)) == group


def test_a_tenants_tags_and_plans_round_trip_through_its_entity() -> None:
    stored = tenant(tags=["tier:gold"], plans=("AAD_PREMIUM",))

    assert tenant_from_entity(tenant_to_entity(stored)) == stored


# --- tenant tags


def test_tags_are_checked_sorted_and_kept_once() -> None:
    made = tenant_from_put(
        A,
        {"tags": ["region:eu", "tier:gold", "region:eu"]},
        existing=None,
        check_params=api.check_params,
    )

    assert made.tags == ["region:eu", "tier:gold"]


@pytest.mark.parametrize(
    ("tags", "problem"),
    [
        ("tier:gold", "tags must be a list of tags"),
        (["tier gold"], "tags: 'tier gold' is not a tag (1-64 letters, digits or :-_.)"),
        (["x" * 65], "is not a tag"),
        ([7], "tags: '7' is not a tag"),
        ([f"t{n}" for n in range(21)], "tags may hold at most 20 tags, not 21"),
    ],
)
def test_a_bad_tag_is_refused(tags: Any, problem: str) -> None:
    with pytest.raises(InvalidTenant) as caught:
        tenant_from_put(A, {"tags": tags}, existing=None, check_params=api.check_params)

    assert any(problem in p for p in caught.value.problems)


def test_a_put_without_tags_keeps_the_tenants_tags_and_a_patch_replaces_them() -> None:
    stored = tenant(tags=["tier:gold"])
    body = {"name": "Contoso", "enabled": True, "enrolments": {}}

    kept = tenant_from_put(A, body, existing=stored, check_params=api.check_params)
    patched = tenant_from_patch(stored, {"tags": ["tier:silver"]}, check_params=api.check_params)

    assert kept.tags == ["tier:gold"]
    assert patched.tags == ["tier:silver"]


def test_put_accepts_what_get_shows_with_groups_and_effective_enrolments() -> None:
    stored = tenant(tags=["tier:gold"], plans=("AAD_PREMIUM",))
    shown = stored.as_record() | {
        "groups": ["gold"],
        "effective_enrolments": {"guest-cleanup": {"mode": "plan", "params": {}, "source": "all"}},
    }

    again = tenant_from_put(A, shown, existing=stored, check_params=api.check_params)

    assert again.tags == ["tier:gold"]
    assert again.enrolments == {}
    with pytest.raises(InvalidTenant, match="plans is read-only"):
        tenant_from_patch(stored, {"plans": None}, check_params=api.check_params)
