"""store.py against the real Cassandra: driver set-up, idempotence flags, batches, errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from logpipe.cassandra import Row, Store, event_timeuuid, is_rejection
from logpipe.cassandra.columns import FIELD_COLUMNS
from logpipe.config.connections import CassandraConnection
from tests.support.k2c import keyspace

pytestmark = pytest.mark.integration

WHEN = datetime(2018, 8, 8, 17, 44, 40, tzinfo=UTC)


def write(writer, chunks):
    errors = []
    for rows in chunks:
        writer.submit(rows, lambda exc, _latency: errors.append(exc))
    assert writer.drain(30)
    return errors


def test_driver_speaks_v5_with_lz4_on_libev(cassandra_contact_points):
    with Store(CassandraConnection(contact_points=cassandra_contact_points)) as store:
        assert store.protocol_version == 5
        holder = store.cluster.get_connection_holders()[0]
        connection = holder.get_connections()[0]
        assert type(connection).__name__ == "LibevConnection"
        assert connection.compressor is not None  # lz4 negotiated
        assert store.is_up()


def test_control_queries_get_the_request_timeout_not_the_drivers_two_seconds(
    cassandra_contact_points,
):
    """The node list and schema queries of a connect wait as long as any request: with the
    driver's 2 s default, one slow answer from a busy node failed the whole connect."""
    conn = CassandraConnection(contact_points=cassandra_contact_points)
    with Store(conn, request_timeout=17.0) as store:
        assert store.cluster.control_connection_timeout == 17.0
        assert store.cluster.control_connection._timeout == 17.0


def test_idempotence_follows_the_log_id_mode(cassandra_contact_points, unique_name):
    ks = unique_name("idem")
    with keyspace(cassandra_contact_points, ks) as store:
        now_writer = store.writer(ks, log_id_mode="now")
        event_writer = store.writer(ks, log_id_mode="event")
        now_row = Row("www2", "www_access", WHEN.isoformat(), "a")
        event_row = Row(
            "www2", "www_access", WHEN.isoformat(), "b", event_timeuuid(WHEN, "t", 0, 1), 1
        )
        assert now_writer.statement([now_row]).is_idempotent is False
        assert now_writer.statement([now_row, now_row]).is_idempotent is False
        assert event_writer.statement([event_row]).is_idempotent is True
        assert event_writer.statement([event_row, event_row]).is_idempotent is True


def test_batches_and_single_rows_in_both_modes(cassandra_contact_points, unique_name):
    ks = unique_name("writer")
    with keyspace(cassandra_contact_points, ks) as store:
        now_writer = store.writer(ks, log_id_mode="now", max_in_flight=4)
        rows = [Row("www1", "www_access", WHEN.isoformat(), f"line {i}") for i in range(100)]
        chunks = [rows[i : i + 32] for i in range(0, 96, 32)] + [[r] for r in rows[96:]]
        assert write(now_writer, chunks) == [None] * 7
        assert store.count(ks, "www1", "www_access") == 100

        event_writer = store.writer(ks, log_id_mode="event")
        events = [
            Row(
                "www2", "www_access", WHEN.isoformat(), f"e {i}", event_timeuuid(WHEN, "t", 0, i), 7
            )
            for i in range(50)
        ]
        assert write(event_writer, [events[:25], events[25:]]) == [None, None]
        # A replay overwrites: same log_ids, same rows.
        assert write(event_writer, [events]) == [None]
        assert store.count(ks, "www2", "www_access") == 50
        newest = next(store.select(ks, "www2", "www_access", limit=1))
        assert newest["log"] == "e 49"  # offsets order rows within a second
        assert newest["log_time"] == WHEN


def test_a_row_cassandra_cannot_take_is_a_rejection(cassandra_contact_points, unique_name):
    ks = unique_name("reject")
    with keyspace(cassandra_contact_points, ks) as store:
        writer = store.writer(ks)
        (error,) = write(writer, [[Row("h" * 70_000, "www_access", "x", "y")]])
        assert error is not None and is_rejection(error)
        (fine,) = write(writer, [[Row("www0", "www_access", "x", str(uuid.uuid4()))]])
        assert fine is None


@pytest.mark.parametrize("mode", ["now", "event"])
def test_batch_rows_are_encoded_as_the_driver_binds_them(
    mode, cassandra_contact_points, unique_name
):
    ks = unique_name("encode")
    with keyspace(cassandra_contact_points, ks) as store:
        writer = store.writer(ks, log_id_mode=mode)
        fields = [
            None,
            {"status": 503, "method": "GET", "path": "/é?q=✓", "bytes": 2**40, "port": 8443,
             "remote_host": "h", "duration_ms": 12, "ident": None, "x_header": "v"},
            {"level": "error", "module": "core", "pid": 7, "message": "m"},
        ]  # fmt: skip
        rows = [
            Row("www2", "www_access", WHEN.isoformat(), f"é ✓ {i}", event_timeuuid(WHEN, "t", 0, i),
                1_533_750_280_123_456 + i, fields[i % 3], "bad" if i % 3 == 0 else None)
            for i in range(6)
        ]  # fmt: skip
        assert len(writer.columns) == len(FIELD_COLUMNS)
        batch = writer.statement(rows)
        encoded = [values for _prepared, _query_id, values in batch._statements_and_parameters]
        bound = [writer._insert.bind(writer._params(row)).values for row in rows]
        assert encoded == bound
        assert batch.routing_key == writer._insert.bind(writer._params(rows[0])).routing_key


def test_completed_requests_are_freed_without_the_cyclic_collector(
    cassandra_contact_points, unique_name
):
    import gc
    import weakref

    ks = unique_name("freed")
    with keyspace(cassandra_contact_points, ks) as store:
        writer = store.writer(ks, log_id_mode="now", max_in_flight=16)
        rows = [Row("www1", "www_access", WHEN.isoformat(), f"line {i}") for i in range(32)]
        sent: list[weakref.ref] = []
        execute_async = store.session.execute_async

        def watched(*args, **kwargs):
            future = execute_async(*args, **kwargs)
            sent.append(weakref.ref(future))
            return future

        store.session.execute_async = watched
        gc.disable()
        try:
            assert write(writer, [rows] * 100) == [None] * 100
            alive = sum(1 for ref in sent if ref() is not None)
        finally:
            gc.enable()
        assert len(sent) == 100 and alive == 0
