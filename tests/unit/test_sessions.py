"""How long a sign-in lasts (prrt_core/store/sessions.py): idle time, maximum age from ``iat``, the
settings table, and the sign-in cookie's claims. Times are seconds since 1970; the limits are the
shipped defaults (30 min idle, 12 h) unless a test sets others."""

from __future__ import annotations

import math

import pytest

from prrt_core.errors import ConfigError
from prrt_core.store import sessions
from prrt_core.store.sessions import Expiry, IdleClock, SessionLimits

T0 = 1_800_000_000.0  # an issue time (2027-01-15 08:00 UTC)
CLAIMS = {"iss": "https://login.clinic.example", "sub": "u-1", "iat": T0}
LIMITS = SessionLimits()
MIN = 60.0


def test_defaults_are_30_min_idle_and_12_h():
    assert (LIMITS.idle_minutes, LIMITS.max_hours) == (30.0, 12.0)
    assert sessions.session_limits({}) == LIMITS


def test_an_interaction_within_the_idle_time_keeps_the_sign_in_and_restarts_the_count():
    clock = IdleClock()
    assert clock.touch(CLAIMS, LIMITS, T0) is None
    assert clock.touch(CLAIMS, LIMITS, T0 + 29.9 * MIN) is None
    assert clock.touch(CLAIMS, LIMITS, T0 + 59.0 * MIN) is None  # 29.1 min after the last one
    assert clock.touch(CLAIMS, LIMITS, T0 + 89.1 * MIN) is Expiry.IDLE  # 30.1 min after it


def test_an_ended_sign_in_stays_ended_and_a_new_sign_in_starts_afresh():
    clock = IdleClock()
    clock.touch(CLAIMS, LIMITS, T0)
    assert clock.check(CLAIMS, LIMITS, T0 + 31 * MIN) is Expiry.IDLE
    assert clock.touch(CLAIMS, LIMITS, T0 + 31.5 * MIN) is Expiry.IDLE  # an interaction does not revive it
    again = CLAIMS | {"iat": T0 + 31.5 * MIN}  # signed in again: a new ID token
    assert clock.touch(again, LIMITS, T0 + 32 * MIN) is None


def test_a_check_is_not_an_interaction():
    # The media gate checks; only a script run (a click, a page) counts as activity.
    clock = IdleClock()
    clock.touch(CLAIMS, LIMITS, T0)
    assert clock.check(CLAIMS, LIMITS, T0 + 20 * MIN) is None
    assert clock.check(CLAIMS, LIMITS, T0 + 30.5 * MIN) is Expiry.IDLE


def test_the_maximum_age_counts_from_the_issue_time():
    clock = IdleClock()
    for minutes in range(0, 12 * 60 + 1, 25):  # busy all day: never idle
        assert clock.touch(CLAIMS, LIMITS, T0 + minutes * MIN) is None
    assert clock.touch(CLAIMS, LIMITS, T0 + 12 * 3600) is None  # exactly 12 h: still valid
    assert clock.touch(CLAIMS, LIMITS, T0 + 12 * 3600 + 1) is Expiry.MAX_AGE


@pytest.mark.parametrize("iat", [None, "1800000000", True, math.nan, math.inf])
def test_a_token_without_a_numeric_issue_time_has_ended(iat):
    assert IdleClock().touch(CLAIMS | {"iat": iat}, LIMITS, T0) is Expiry.NO_ISSUE_TIME


def test_sign_ins_are_told_apart_and_the_key_keeps_no_claim_in_clear():
    a, b = sessions.sign_in_key(CLAIMS), sessions.sign_in_key(CLAIMS | {"sub": "u-2"})
    assert a != b and a != sessions.sign_in_key(CLAIMS | {"iat": T0 + 1})
    assert len(a) == 64 and "u-1" not in a


def test_the_clock_forgets_the_oldest_beyond_its_size():
    clock = IdleClock(max_tracked=2)
    first, second, third = (CLAIMS | {"sub": s} for s in ("a", "b", "c"))
    for n, claims in enumerate((first, second, third)):
        clock.touch(claims, LIMITS, T0 + n)
    # "a" was forgotten: 31 min later it is not idle (no last activity), "b" is.
    assert clock.check(first, LIMITS, T0 + 31 * MIN) is None
    assert clock.check(second, LIMITS, T0 + 31 * MIN) is Expiry.IDLE


@pytest.mark.parametrize(("limits", "expiry", "sentence"), [
    (SessionLimits(), Expiry.IDLE, "Signed out after 30 min without activity"),
    (SessionLimits(idle_minutes=0.1), Expiry.IDLE, "Signed out after 6 s without activity"),
    (SessionLimits(max_hours=12), Expiry.MAX_AGE,
     "Signed out 12 h after signing in (the longest a sign-in lasts here)"),
    (SessionLimits(max_hours=1.5), Expiry.MAX_AGE,
     "Signed out 90 min after signing in (the longest a sign-in lasts here)"),
])
def test_messages_name_the_limit(limits, expiry, sentence):
    assert limits.message(expiry) == sentence


@pytest.mark.parametrize(("table", "named"), [
    ({"idle_minutes": 0}, "idle_minutes = 0"),
    ({"idle_minutes": math.nan}, "idle_minutes = nan"),
    ({"idle_minutes": "30"}, "idle_minutes = '30'"),
    ({"idle_minutes": True}, "idle_minutes = True"),
    ({"max_hours": 24 * 8}, "max_hours = 192"),
    ({"idle_minute": 30}, "unknown key 'idle_minute'"),
])
def test_invalid_settings_are_refused_by_name(table, named):
    with pytest.raises(ConfigError, match=f"\\[prrt.session\\] {named}|{named}"):
        sessions.session_limits(table)


@pytest.mark.parametrize(("value", "claims"), [
    (b'{"is_logged_in": true, "email": "a@b.example", "iat": 1}', {"is_logged_in": True, "email": "a@b.example",
                                                                   "iat": 1}),
    (b'{"is_logged_in": "true"}', {}),
    (b'[1, 2]', {}),
    (b"\xff\xfe", {}),
    (b"not json", {}),
    (None, {}),
])
def test_the_sign_in_cookie_gives_claims_only_when_signed_in(value, claims):
    assert sessions.signed_in_claims(value) == claims


def test_signing_out_ends_the_sign_in_in_every_session_holding_it():
    clock = IdleClock()
    clock.touch(CLAIMS, LIMITS, T0)
    clock.end(CLAIMS, LIMITS, T0 + 60)
    assert clock.check(CLAIMS, LIMITS, T0 + 61) is Expiry.SIGNED_OUT  # another tab, or the media gate
    assert clock.touch(CLAIMS, LIMITS, T0 + 62) is Expiry.SIGNED_OUT
    assert LIMITS.message(Expiry.SIGNED_OUT) == "Signed out (in this or another tab of this sign-in)"


def test_an_ended_sign_in_is_not_forgotten_while_its_token_could_still_be_used():
    clock = IdleClock(max_tracked=2)
    clock.end(CLAIMS, LIMITS, T0)
    for n in range(5):  # more sign-ins than the clock tracks, all active
        others = CLAIMS | {"sub": f"other-{n}"}
        clock.touch(others, LIMITS, T0 + n)
        clock.end(others, LIMITS, T0 + n)
    assert clock.check(CLAIMS, LIMITS, T0 + 3600) is Expiry.SIGNED_OUT
    # Past its maximum age it may be forgotten: the maximum age refuses it by itself.
    assert clock.check(CLAIMS, LIMITS, T0 + 12 * 3600 + 1) is Expiry.SIGNED_OUT
    fresh = IdleClock()
    assert fresh.check(CLAIMS, LIMITS, T0 + 12 * 3600 + 1) is Expiry.MAX_AGE
