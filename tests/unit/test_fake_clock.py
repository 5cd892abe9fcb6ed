"""The fake cloud's clock: a cloud ahead of this machine issues and checks tokens by its time."""

from __future__ import annotations

import time

import jwt
import pytest

from devtools.fakecloud.tokens import SigningKey, standard_claims

AHEAD_S = 240


def claims(key: SigningKey, *, lifetime_s: int, now: float | None = None) -> dict[str, object]:
    return standard_claims(
        issuer="https://login.test/t/v2.0",
        subject="s",
        audience="api://a",
        lifetime_s=lifetime_s,
        now=now,
    )


def test_a_cloud_ahead_writes_its_own_time_into_the_tokens_it_issues() -> None:
    key = SigningKey(clock_offset_s=AHEAD_S)

    issued = claims(key, lifetime_s=60, now=key.now())

    assert issued["iat"] == pytest.approx(time.time() + AHEAD_S, abs=2)


def test_a_cloud_ahead_accepts_its_own_tokens() -> None:
    key = SigningKey(clock_offset_s=AHEAD_S)
    token = key.sign(claims(key, lifetime_s=60, now=key.now()))

    assert key.verify(token)["sub"] == "s"


def test_a_cloud_ahead_finds_a_short_token_from_this_machines_clock_expired() -> None:
    key = SigningKey(clock_offset_s=AHEAD_S)
    token = key.sign(claims(key, lifetime_s=60))

    with pytest.raises(jwt.ExpiredSignatureError):
        key.verify(token)


def test_a_cloud_behind_finds_a_token_from_this_machines_clock_not_yet_valid() -> None:
    key = SigningKey(clock_offset_s=-AHEAD_S)
    token = key.sign(claims(key, lifetime_s=3600))

    with pytest.raises(jwt.ImmatureSignatureError):
        key.verify(token)
