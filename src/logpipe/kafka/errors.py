"""What goes wrong between logpipe and Kafka, in terms free of any client library's types.

``classify`` is the one place where an error of either client is sorted into RETRIABLE,
RECORD (permanent for one record) or FATAL (permanent for the stream).
"""

from __future__ import annotations

import contextlib
import enum
import time
from collections.abc import Iterator
from typing import NamedTuple

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


class RecordRefused(Exception):
    """Kafka (or the client, before sending) refused this one record for good: too large
    for the topic, invalid, refused by a policy. Sending it again cannot help; the record
    is routed aside and the others go on. ``reason`` is a short stable label (metrics)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class ErrorClass(enum.Enum):
    """What an error means for the record that met it, and for the stream."""

    #: Kafka is away, slow or electing a leader: wait, back off, send again.
    RETRIABLE = "retriable"
    #: Permanent for this record only: route it aside, go on with the others.
    RECORD = "record"
    #: Permanent for the stream (credentials, authorization, no such topic name): stop.
    FATAL = "fatal"


class Classified(NamedTuple):
    kind: ErrorClass
    #: A short stable label: the ``reason`` of a rejected line and of its metric.
    reason: str


#: Kafka protocol error codes that condemn one record (the same numbers in both clients).
_RECORD_CODES: dict[int, str] = {
    2: "corrupt_record",  # CORRUPT_MESSAGE: the broker could not validate the record
    10: "message_too_large",  # MESSAGE_TOO_LARGE: over the topic's max.message.bytes
    18: "message_too_large",  # RECORD_LIST_TOO_LARGE
    32: "invalid_timestamp",
    44: "policy_violation",
    87: "invalid_record",
}
#: Codes after which no record of this stream can go through.
_FATAL_CODES: dict[int, str] = {
    17: "invalid_topic",
    21: "invalid_required_acks",
    29: "topic_authorization_failed",
    31: "cluster_authorization_failed",
    53: "transactional_id_authorization_failed",
    58: "sasl_authentication_failed",
    -169: "authentication_failed",  # librdkafka's _AUTHENTICATION
}


def classify(exc: BaseException) -> Classified:
    """The one place that decides what a Kafka error means, for both clients.

    Reads logpipe's own errors, kafka-python's ``KafkaError`` (``errno``) and
    confluent-kafka's ``KafkaException``/``KafkaError`` (``code()``, ``fatal()``): both
    carry the Kafka protocol error code. Anything not known to be permanent is
    RETRIABLE: a record is never routed aside on a guess.
    """
    if isinstance(exc, RecordRefused):
        return Classified(ErrorClass.RECORD, exc.reason)
    if isinstance(exc, KafkaAccessDenied):
        return Classified(ErrorClass.FATAL, "access_denied")
    if isinstance(exc, KafkaUnavailable):
        return Classified(ErrorClass.RETRIABLE, "unavailable")
    code, fatal = _code_of(exc)
    if fatal:
        return Classified(ErrorClass.FATAL, "client_fatal")
    if code in _FATAL_CODES:
        return Classified(ErrorClass.FATAL, _FATAL_CODES[code])
    if code in _RECORD_CODES:
        return Classified(ErrorClass.RECORD, _RECORD_CODES[code])
    return Classified(ErrorClass.RETRIABLE, "retriable")


def _code_of(exc: BaseException) -> tuple[int | None, bool]:
    """(Kafka error code, librdkafka says the client is unusable) of a client's error."""
    errno = getattr(exc, "errno", None)  # kafka-python's BrokerResponseError and kin
    if isinstance(errno, int):
        return errno, False
    error = exc.args[0] if exc.args else None  # confluent: KafkaException(KafkaError)
    code = getattr(error, "code", None)
    if callable(code):
        fatal = getattr(error, "fatal", None)
        return int(code()), bool(fatal()) if callable(fatal) else False
    return None, False


def refusal(exc: BaseException) -> Exception:
    """A client's error raised while queueing a record, as logpipe's: RecordRefused,
    KafkaAccessDenied or KafkaUnavailable (raise it ``from exc``)."""
    kind, reason = classify(exc)
    if kind is ErrorClass.RECORD:
        return RecordRefused(reason, str(exc))
    if kind is ErrorClass.FATAL:
        return KafkaAccessDenied(f"Kafka refused the record: {exc}")
    return KafkaUnavailable(str(exc))
