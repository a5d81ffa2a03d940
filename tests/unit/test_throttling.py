"""The sign-in throttle's rule, with time passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from booking import throttling
from booking.throttling import ADDRESS, PAIR, blocked_until, wait_after

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_three_failures_are_free_then_the_wait_doubles_up_to_fifteen_minutes():
    waits = [wait_after(PAIR, n).total_seconds() for n in range(1, 13)]
    assert waits == [0, 0, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]
    assert wait_after(PAIR, 10_000) == timedelta(minutes=15)


def test_the_address_limit_is_looser():
    assert wait_after(ADDRESS, 29) == timedelta(0)
    assert wait_after(ADDRESS, 30) == timedelta(seconds=8)


def test_blocked_until_counts_from_the_last_failure():
    assert blocked_until(PAIR, 2, T0, T0) is None
    assert blocked_until(PAIR, 3, T0, T0 + timedelta(seconds=7)) == T0 + timedelta(seconds=8)
    assert blocked_until(PAIR, 3, T0, T0 + timedelta(seconds=8)) is None


def test_a_quiet_day_forgets_the_failures():
    assert throttling.failures_now(PAIR, 9, T0, T0 + timedelta(hours=23)) == 9
    assert throttling.failures_now(PAIR, 9, T0, T0 + timedelta(days=1)) == 0
    assert blocked_until(PAIR, 50, T0, T0 + timedelta(days=1)) is None


def test_a_client_is_an_ipv4_address_or_an_ipv6_64():
    assert throttling.client_key("192.0.2.7") == "192.0.2.7"
    assert throttling.client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert throttling.client_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert throttling.client_key("2001:DB8:1:2::ffff") == "2001:db8:1:2::/64"
    assert throttling.client_key("2001:db8:1:3::1") != throttling.client_key("2001:db8:1:2::1")
    assert throttling.client_key("") == ""


def test_the_account_limit_counts_ten_failures_across_addresses():
    assert throttling.wait_after(throttling.ACCOUNT, 9) == timedelta(0)
    assert throttling.wait_after(throttling.ACCOUNT, 10) == timedelta(seconds=8)
    assert throttling.starts_waiting(throttling.ACCOUNT, 10)
    assert not throttling.starts_waiting(throttling.ACCOUNT, 11)
