"""The tracker's poll period: the configured one, stretched to stay within the tracker's share
of Replicate's rate limit, doubled on 429 (the card tells it: test_bot_burst.py)."""

from __future__ import annotations

from bot.core.jobs.pace import Pace, PollPeriod


def test_the_period_stretches_with_the_active_trainings() -> None:
    period = PollPeriod(base=30.0, longest=300.0, reads_per_minute=2160.0)
    assert period.paced(300) == 30.0  # 600 reads a minute: well within
    assert period.paced(1080) == 30.0  # exactly the share
    assert period.paced(2160) == 60.0  # twice the share: every 60 s
    period.before_round(2160)
    assert period.pace() == Pace(60.0, stretched=True)
    period.after_round(100, throttled=False)
    assert period.pace() == Pace(30.0, stretched=False)


def test_a_429_doubles_it_up_to_the_longest_but_never_below_the_pace() -> None:
    period = PollPeriod(base=30.0, longest=100.0, reads_per_minute=2160.0)
    period.after_round(10, throttled=True)
    assert period.seconds == 60.0
    period.after_round(10, throttled=True)
    assert period.seconds == 100.0
    period.after_round(10_000, throttled=True)
    assert period.seconds == 10_000 * 60 / 2160  # the pace wins over the cap
    period.after_round(10, throttled=False)
    assert period.seconds == 30.0
