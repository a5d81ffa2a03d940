"""How long failed sign-ins make the next attempt wait. PURE: no Flask, no database.

Two counters slow guessing down without handing an attacker a way to lock the owner out:
- per account *and* client address: after 3 failures, each further failure makes that
  address wait 2^n seconds (n = failures so far: 8 s, 16 s, …) for that account, at most
  15 minutes; the owner signing in from another address is not affected;
- per client address, looser: after 30 failures on any accounts, the same growing wait;
- per account across all addresses, for guessing spread over many addresses: after 10
  failures every address waits 2^n seconds for that account (the owner too: the mail that
  the first such wait sends tells them why), at most 15 minutes.
A counter is forgotten after a quiet time (a day for the pair and the account, an hour for
the address). A client address is its IPv4 address or its IPv6 /64 network: one line's
customer holds a whole /64 and would otherwise count as 2^64 addresses.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Rule:
    free_failures: int
    cap: timedelta
    forget_after: timedelta


PAIR = Rule(free_failures=3, cap=timedelta(minutes=15), forget_after=timedelta(days=1))
ADDRESS = Rule(free_failures=30, cap=timedelta(minutes=15), forget_after=timedelta(hours=1))
ACCOUNT = Rule(free_failures=10, cap=timedelta(minutes=15), forget_after=timedelta(days=1))
# IPv6 clients are one client per /64 (RFC 6177: a site gets at least that much).
IPV6_CLIENT_PREFIX = 64


def client_key(address: str) -> str:
    """The client an address belongs to: an IPv4 address as it is (also when written as
    an IPv4-mapped IPv6 address), an IPv6 address as its /64 network; other text as is."""
    try:
        parsed = ipaddress.ip_address((address or "").strip().split("%")[0])
    except ValueError:
        return address or ""
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        network = ipaddress.IPv6Network((parsed, IPV6_CLIENT_PREFIX), strict=False)
        return str(network)
    return str(parsed)


def starts_waiting(rule: Rule, failures: int) -> bool:
    """True when the ``failures``-th failure is the one that makes the first wait."""
    return failures == rule.free_failures


def wait_after(rule: Rule, failures: int) -> timedelta:
    """The wait that ``failures`` consecutive failures impose after the last one."""
    if failures < rule.free_failures:
        return timedelta(0)
    exponent = failures - rule.free_failures + 3  # the first wait is 2^3 = 8 seconds
    if exponent >= 20:
        return rule.cap
    return min(timedelta(seconds=2**exponent), rule.cap)


def failures_now(rule: Rule, failures: int, last_failed_at: datetime, now: datetime) -> int:
    """The count that still applies at ``now``: zero after the quiet time."""
    return 0 if now - last_failed_at >= rule.forget_after else failures


def blocked_until(
    rule: Rule, failures: int, last_failed_at: datetime, now: datetime
) -> datetime | None:
    """Until when the next attempt is refused, or None when it may go ahead now."""
    count = failures_now(rule, failures, last_failed_at, now)
    until = last_failed_at + wait_after(rule, count)
    return until if until > now else None
