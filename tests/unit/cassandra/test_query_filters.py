"""What query's filter flags mean, as CQL (the answers are checked on a node elsewhere)."""

from __future__ import annotations

import pytest

from logpipe.cassandra.queries import (
    Filters,
    PartitionQuery,
    parse_duration,
    parse_status,
    top_counts,
)


@pytest.mark.parametrize(
    ("text", "bounds"), [("5xx", (500, 600)), ("4XX", (400, 500)), ("404", (404, 405))]
)
def test_status(text, bounds):
    assert parse_status(text) == bounds


@pytest.mark.parametrize("text", ["6xx", "5x", "40", "abc", "1000"])
def test_bad_status(text):
    with pytest.raises(ValueError, match="not a status"):
        parse_status(text)


@pytest.mark.parametrize(
    ("text", "us"), [("500ms", 500_000), ("1.5s", 1_500_000), ("750us", 750), ("2m", 120_000_000)]
)
def test_duration(text, us):
    assert parse_duration(text) == us


def test_bad_duration():
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("fast")


def test_filters_as_cql():
    query = PartitionQuery(
        "ks", "www1", "www_access", table="t",
        filters=Filters((500, 600), "POST", "/api", 500_000),
    )  # fmt: skip
    cql, params = query.count()
    assert cql == (
        "SELECT count(*) FROM ks.t WHERE log_source = %s AND log_type = %s AND status >= %s "
        "AND status < %s AND method = %s AND duration_us >= %s AND path >= %s AND path < %s "
        "ALLOW FILTERING"
    )
    assert params == ("www1", "www_access", 500, 600, "POST", 500_000, "/api", "/apj")


def test_only_a_path_prefix_needs_filtering():
    cql, _ = PartitionQuery("ks", "a", "b", filters=Filters(status=(404, 405))).select(10)
    assert "ALLOW FILTERING" not in cql and cql.endswith("LIMIT %s")


def test_path_prefix_upper_bound_skips_the_last_code_point():
    _, params = PartitionQuery("ks", "a", "b", filters=Filters(path_prefix="/x\U0010ffff")).count()
    assert params[-1] == "/y"


def test_top_counts_largest_first_then_by_key():
    assert top_counts({200: 5, 404: 5, 500: 1, None: 5}, 3) == [(200, 5), (404, 5), (None, 5)]
