"""Every write failure is one Fault, decided in one place."""

from __future__ import annotations

import struct

import pytest
from cassandra import InvalidRequest, OperationTimedOut, Unauthorized, Unavailable
from cassandra.cluster import NoHostAvailable

from logpipe.cassandra import Fault, classify, is_rejection


def invalid(message: str) -> InvalidRequest:
    return InvalidRequest(f'Error from server: code=2200 [Invalid query] message="{message}"')


@pytest.mark.parametrize(
    "exc",
    [
        invalid("table logs does not exist"),  # Cassandra 5
        invalid("keyspace admintome does not exist"),
        invalid("unconfigured table logs"),  # Cassandra 3 and 4
        invalid("Keyspace 'admintome' does not exist"),
        invalid("Undefined column name log"),  # recreated without our columns
    ],
)
def test_a_schema_gone_is_fatal_to_the_stream_not_to_the_row(exc):
    assert classify(exc) is Fault.STREAM and not is_rejection(exc)


@pytest.mark.parametrize(
    "exc",
    [
        invalid("Key length of 70000 is longer than maximum of 65535"),
        struct.error("'H' format requires 0 <= number <= 65535"),
        ValueError("surrogates not allowed"),
    ],
)
def test_refused_data_is_the_rows_fault(exc):
    assert classify(exc) is Fault.ROW and is_rejection(exc)


@pytest.mark.parametrize(
    "exc",
    [
        Unavailable("not enough replicas"),
        OperationTimedOut("timed out"),
        NoHostAvailable("none", {}),
        Unauthorized("no MODIFY permission"),
    ],
)
def test_outages_are_retried(exc):
    assert classify(exc) is Fault.RETRY
