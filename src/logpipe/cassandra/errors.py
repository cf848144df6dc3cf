"""Which Cassandra failures to wait out, and which no retry can cure.

The poller retries an outage (unavailable, timeouts, no host, overload) and keeps its
offsets; it sends a row Cassandra refuses to the dead-letter topic; and it stops on a
configuration Cassandra cannot serve (``StoreSetupError``), with a one-line reason.
"""

from __future__ import annotations

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


def is_rejection(exc: BaseException) -> bool:
    """True when Cassandra (or the driver, binding values) refuses the data itself.

    Such a row will never be written however often it is retried: it goes to the
    dead-letter topic. Everything else (unavailable, timeouts, no host, overload,
    authorization) is an outage to wait out, and the row is retried.
    """
    if isinstance(exc, Unauthorized | AuthenticationFailed):
        return False
    if isinstance(exc, InvalidRequest | RequestValidationException):
        return True
    # Binding errors: e.g. a partition key over 65535 bytes fails in struct.pack.
    return isinstance(exc, TypeError | ValueError | OverflowError | struct.error)
