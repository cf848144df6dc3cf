"""What goes wrong between logpipe and Kafka, in terms free of any client library's types."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from logpipe.config.connections import KafkaConnection
from logpipe.kafka.client_logs import REFUSALS


class KafkaUnavailable(Exception):
    """Kafka could not be reached (or did not answer) within the allowed time."""


class KafkaAccessDenied(Exception):
    """Kafka answered but refused this client: wrong SASL credentials, or a broker
    certificate that the configured CA does not trust. Retrying cannot help; the
    configuration must be fixed, so this ends the command instead of waiting."""


@contextlib.contextmanager
def access_checked(conn: KafkaConnection) -> Iterator[None]:
    """Turn a KafkaUnavailable raised inside into KafkaAccessDenied when, meanwhile, the
    client's logs showed a broker refusing the credentials or the certificate."""
    started = time.monotonic()
    try:
        yield
    except KafkaUnavailable as exc:
        refused = REFUSALS.since(started)
        if refused is not None:
            raise KafkaAccessDenied(
                f"Kafka at {conn.bootstrap_servers} refused the connection: {refused}"
            ) from exc
        raise
