"""Session options read from the settings: contact points, consistency levels."""

from __future__ import annotations

import pytest
from cassandra import ConsistencyLevel

from logpipe.cassandra.session import consistency_level, split_contact_points
from logpipe.config import settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", (["127.0.0.1"], 9042)),
        ("a:9142, b:9142", (["a", "b"], 9142)),
        ("a, b:9043", (["a", "b"], 9043)),
        ("[::1]:9043", (["::1"], 9043)),
        ("::1", (["::1"], 9042)),
    ],
)
def test_contact_points(text, expected):
    assert split_contact_points(text) == expected


@pytest.mark.parametrize("text", ["a:9042,b:9043", " , "])
def test_bad_contact_points_are_refused(text):
    with pytest.raises(ValueError):
        split_contact_points(text)


def test_every_consistency_choice_is_a_driver_level_for_writes():
    """--consistency offers exactly the driver's levels, less the serial ones (LWT only)."""
    writable = set(ConsistencyLevel.name_to_value) - {"SERIAL", "LOCAL_SERIAL"}
    assert set(settings.CONSISTENCY.choices) == writable
    for name in settings.CONSISTENCY.choices:
        assert consistency_level(name.lower()) == ConsistencyLevel.name_to_value[name]


def test_unknown_consistency_is_refused():
    with pytest.raises(ValueError, match="unknown consistency level"):
        consistency_level("MOST")
