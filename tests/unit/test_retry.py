"""Retry delays: exponential, capped, jittered, reset after success."""

from __future__ import annotations

import pytest

from logpipe.retry import Backoff


def test_doubles_up_to_the_cap_with_top_of_range_jitter():
    backoff = Backoff(base=0.5, cap=4.0, rng=lambda: 1.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_stays_within_half_to_full_delay():
    backoff = Backoff(base=1.0, cap=8.0, rng=lambda: 0.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_real_jitter_varies_and_stays_in_range():
    delays = [Backoff(base=2.0, cap=2.0).next() for _ in range(200)]
    assert all(1.0 <= d <= 2.0 for d in delays)
    assert len(set(delays)) > 100


def test_reset_starts_over():
    backoff = Backoff(base=0.5, cap=10.0, rng=lambda: 1.0)
    for _ in range(4):
        backoff.next()
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next() == 0.5


def test_rejects_nonsense():
    with pytest.raises(ValueError):
        Backoff(base=0.0)
    with pytest.raises(ValueError):
        Backoff(base=2.0, cap=1.0)
