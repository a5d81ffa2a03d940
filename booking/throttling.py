"""How long failed sign-ins make the next attempt wait. PURE: no Flask, no database.

Two counters slow guessing down without handing an attacker a way to lock the owner out:
- per account *and* client address: after 3 failures, each further failure makes that
  address wait 2^n seconds (n = failures so far: 8 s, 16 s, …) for that account, at most
  15 minutes; the owner signing in from another address is not affected;
- per client address, looser: after 30 failures on any accounts, the same growing wait.
A counter is forgotten after a quiet time (a day for the pair, an hour for the address).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Rule:
    free_failures: int
    cap: timedelta
    forget_after: timedelta


PAIR = Rule(free_failures=3, cap=timedelta(minutes=15), forget_after=timedelta(days=1))
ADDRESS = Rule(free_failures=30, cap=timedelta(minutes=15), forget_after=timedelta(hours=1))


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
