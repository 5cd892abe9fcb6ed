"""Telling "the app is disabled" in one tenant from the app disabled at home (app-wide)."""

from __future__ import annotations

import asyncio

from shared.app_health import HomeCheck
from shared.errors import AppDisabled, ConsentMissing, TransientError, XtenantError

DISABLED = AppDisabled("AADSTS7000112: the app is disabled in the tenant", tenant_id="t1")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def home(answer: XtenantError | None, clock: Clock) -> HomeCheck:
    async def probe() -> object:
        if answer is not None:
            raise answer
        return "token"

    return HomeCheck(probe, ttl_s=30, clock=clock)


async def test_refused_at_home_too_it_is_app_wide() -> None:
    check = home(AppDisabled("AADSTS7000112"), Clock())

    error = await check.escalate(DISABLED)

    assert error.error_class == "app_disabled_at_home"
    assert error.app_wide
    assert error.tenant_id == "t1"
    assert "home tenant" in error.remediation


async def test_a_home_tenant_that_issues_tokens_leaves_it_the_tenants() -> None:
    check = home(None, Clock())

    assert await check.escalate(DISABLED) is DISABLED


async def test_another_refusal_at_home_says_nothing_about_the_app_being_disabled() -> None:
    check = home(TransientError("503"), Clock())

    assert await check.escalate(DISABLED) is DISABLED


async def test_only_app_disabled_is_escalated_and_others_cost_no_probe() -> None:
    check = home(AppDisabled("AADSTS7000112"), Clock())
    other = ConsentMissing("AADSTS65001")

    assert await check.escalate(other) is other
    assert check.probes == 0


async def test_one_probe_serves_many_tenants_until_its_verdict_is_old() -> None:
    clock = Clock()
    check = home(AppDisabled("AADSTS7000112"), clock)

    errors = await asyncio.gather(*(check.escalate(DISABLED) for _ in range(50)))
    clock.now = 29.9
    await check.escalate(DISABLED)
    assert check.probes == 1
    clock.now = 30.0
    await check.escalate(DISABLED)

    assert {e.error_class for e in errors} == {"app_disabled_at_home"}
    assert check.probes == 2
