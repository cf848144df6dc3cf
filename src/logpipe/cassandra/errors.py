"""Which Cassandra failures to wait out, and which no retry can cure: classified here only.

A failed write is one of three ``Fault``s. ``ROW``: Cassandra refuses this row's data
(it goes to the dead-letter topic). ``RETRY``: an outage (unavailable, timeouts, no host,
overload, authorization): the rows are retried and their offsets kept. ``STREAM``: the
table or keyspace is gone (dropped, being recreated, or not yet on the coordinator):
no row could be written, so nothing is dead-lettered; the poller pauses everything
and writes again until the table is back. At start-up, a configuration Cassandra cannot
serve ends the command (``StoreSetupError``) with a one-line reason.
"""

from __future__ import annotations

import enum
import re
import struct

from cassandra import (
    AuthenticationFailed,
    InvalidRequest,
    RequestValidationException,
    Unauthorized,
)


class StoreSetupError(Exception):
    """Cassandra cannot serve this configuration, and waiting will not change that: the
    command ends with this one-line reason instead of retrying."""


class SchemaMissing(StoreSetupError):
    """The keyspace or the table does not exist (``kafka2cassandra schema`` makes them)."""


class CassandraAccessDenied(StoreSetupError):
    """Cassandra answered but refused this client: a wrong user name or password, or a
    server certificate the configured CA does not trust. Retrying cannot help; the
    configuration must be fixed, so this ends the command instead of waiting."""


class Fault(enum.Enum):
    """What a failed write means for the rows, and for the stream."""

    #: Cassandra refuses this row's data: no retry will store it (dead-letter it).
    ROW = "row"
    #: An outage: wait, retry with backoff, keep the offsets.
    RETRY = "retry"
    #: The schema is gone: every row would fail alike; pause everything, retry, never
    #: dead-letter.
    STREAM = "stream"


#: Cassandra's words for a table or keyspace that does not exist (5.0: "table logs does
#: not exist", "keyspace ks does not exist"; 3.x and 4.x: "unconfigured table logs",
#: "Keyspace 'ks' does not exist"), or for a table recreated without our columns.
_SCHEMA_GONE = re.compile(
    r"unconfigured table|\b(table|keyspace)\b.* does not exist|undefined column name",
    re.IGNORECASE,
)


def classify(exc: BaseException) -> Fault:
    """The ``Fault`` a write failure is (see the module's docstring)."""
    if isinstance(exc, Unauthorized | AuthenticationFailed):
        return Fault.RETRY
    if isinstance(exc, InvalidRequest | RequestValidationException):
        return Fault.STREAM if _SCHEMA_GONE.search(str(exc)) else Fault.ROW
    # Binding errors: e.g. a partition key over 65535 bytes fails in struct.pack.
    if isinstance(exc, TypeError | ValueError | OverflowError | struct.error):
        return Fault.ROW
    return Fault.RETRY


def is_rejection(exc: BaseException) -> bool:
    """True when Cassandra (or the driver, binding values) refuses the row's data itself:
    such a row will never be written however often it is retried."""
    return classify(exc) is Fault.ROW
