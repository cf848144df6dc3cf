"""Retention: what --ttl takes, and compaction windows that always number 20 to 30."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logpipe.cassandra.retention import (
    MAX_TTL,
    MIN_TTL,
    compaction_window,
    parse_ttl,
    retention_cql,
)

UNIT_SECONDS = {"MINUTES": 60, "HOURS": 3600, "DAYS": 86400}


@pytest.mark.parametrize(
    ("text", "seconds", "window"),
    [
        ("30d", 30 * 86400, ("DAYS", 1)),
        ("1d", 86400, ("HOURS", 1)),
        ("7d", 7 * 86400, ("HOURS", 7)),
        ("35d", 35 * 86400, ("HOURS", 34)),
        ("90d", 90 * 86400, ("DAYS", 4)),
        ("2w", 14 * 86400, ("HOURS", 13)),
        ("12h", 12 * 3600, ("MINUTES", 29)),
        ("60m", 3600, ("MINUTES", 2)),
    ],
)
def test_ttl_and_its_window(text, seconds, window):
    assert parse_ttl(text) == seconds
    assert compaction_window(seconds) == window


@given(st.integers(min_value=MIN_TTL, max_value=MAX_TTL))
def test_any_retention_gets_20_to_30_windows(ttl):
    unit, size = compaction_window(ttl)
    assert 20 <= ttl / (size * UNIT_SECONDS[unit]) <= 30


@pytest.mark.parametrize("text", ["59m", "30", "1y", "-5d", "30 days", "100000w"])
def test_bad_retentions_are_refused(text):
    with pytest.raises(ValueError):
        parse_ttl(text)


def test_the_statement():
    assert retention_cql("ks.logs", 86400) == (
        "ALTER TABLE ks.logs WITH default_time_to_live = 86400 AND compaction = "
        "{'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'HOURS', "
        "'compaction_window_size': 1}"
    )
