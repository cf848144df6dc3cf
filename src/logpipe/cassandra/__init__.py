"""Cassandra: the only package that imports cassandra-driver.

The rest of logpipe hands it ``Row`` objects and gets back acknowledgements, so the
driver's types never leak out. Its modules:

* ``store``: ``Store``, a connected session with logpipe's statements,
* ``session``: opening that session (driver options, TLS, protocol fallback),
* ``errors``: which failures to wait out, which rows to give up on, which setups to refuse,
* ``schema``: keyspace names, replication and the packaged ``schema.cql``,
* ``writer``: ``Row`` and ``RowWriter``, inserts with a bounded number in flight,
* ``timeuuid``: the ``log_id`` of an ``event``-mode row,
* ``queries``: the CQL of ``kafka2cassandra query``, its time arguments and output,
* ``surface``: what logpipe uses of the driver beyond its documented API, checked at start-up.
"""

from __future__ import annotations

from logpipe.cassandra.errors import Fault, StoreSetupError, classify, is_rejection
from logpipe.cassandra.schema import Replication, schema_statements, schema_text
from logpipe.cassandra.store import Store
from logpipe.cassandra.surface import check_cassandra_driver
from logpipe.cassandra.timeuuid import event_timeuuid, line_timeuuid, timeuuid_datetime
from logpipe.cassandra.writer import Row, RowWriter

__all__ = [
    "Fault",
    "Replication",
    "Row",
    "RowWriter",
    "Store",
    "StoreSetupError",
    "check_cassandra_driver",
    "classify",
    "event_timeuuid",
    "is_rejection",
    "line_timeuuid",
    "schema_statements",
    "schema_text",
    "timeuuid_datetime",
]
