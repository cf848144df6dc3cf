"""``classify``: one table for both clients' errors, and what a refusal at send becomes."""

from __future__ import annotations

import kafka.errors as kp
import pytest
from confluent_kafka import KafkaError, KafkaException

from logpipe.kafka import (
    ErrorClass,
    KafkaAccessDenied,
    KafkaUnavailable,
    RecordRefused,
    classify,
)
from logpipe.kafka.errors import refusal

RETRIABLE, RECORD, FATAL = ErrorClass.RETRIABLE, ErrorClass.RECORD, ErrorClass.FATAL


@pytest.mark.parametrize(
    ("error", "kind", "reason"),
    [
        (kp.MessageSizeTooLargeError("x"), RECORD, "message_too_large"),
        (kp.RecordListTooLargeError("x"), RECORD, "message_too_large"),
        (kp.InvalidRecordError("x"), RECORD, "invalid_record"),
        (kp.PolicyViolationError("x"), RECORD, "policy_violation"),
        (kp.InvalidTimestampError("x"), RECORD, "invalid_timestamp"),
        (kp.CorruptRecordError("x"), RECORD, "corrupt_record"),
        (kp.TopicAuthorizationFailedError("x"), FATAL, "topic_authorization_failed"),
        (kp.ClusterAuthorizationFailedError("x"), FATAL, "cluster_authorization_failed"),
        (kp.SaslAuthenticationFailedError("x"), FATAL, "sasl_authentication_failed"),
        (kp.InvalidTopicError("x"), FATAL, "invalid_topic"),
        (kp.KafkaTimeoutError("x"), RETRIABLE, "retriable"),
        (kp.NotLeaderForPartitionError("x"), RETRIABLE, "retriable"),
        (kp.UnknownTopicOrPartitionError("x"), RETRIABLE, "retriable"),
        (kp.OutOfOrderSequenceNumberError("x"), RETRIABLE, "retriable"),  # not the record's
        (kp.KafkaConnectionError("x"), RETRIABLE, "retriable"),
    ],
)
def test_kafka_python_errors(error, kind, reason):
    assert classify(error) == (kind, reason)


@pytest.mark.parametrize(
    ("code", "kind", "reason"),
    [
        (KafkaError.MSG_SIZE_TOO_LARGE, RECORD, "message_too_large"),
        (KafkaError.INVALID_RECORD, RECORD, "invalid_record"),
        (KafkaError.POLICY_VIOLATION, RECORD, "policy_violation"),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, FATAL, "topic_authorization_failed"),
        (KafkaError.SASL_AUTHENTICATION_FAILED, FATAL, "sasl_authentication_failed"),
        (KafkaError._AUTHENTICATION, FATAL, "authentication_failed"),
        (KafkaError._MSG_TIMED_OUT, RETRIABLE, "retriable"),
        (KafkaError._TRANSPORT, RETRIABLE, "retriable"),
        (KafkaError._UNKNOWN_TOPIC, RETRIABLE, "retriable"),
    ],
)
def test_confluent_errors(code, kind, reason):
    assert classify(KafkaException(KafkaError(code))) == (kind, reason)


def test_confluent_fatal_error_is_fatal_whatever_its_code():
    error = KafkaError(KafkaError._MSG_TIMED_OUT, "idempotence broken", fatal=True)
    assert classify(KafkaException(error)).kind is FATAL


def test_logpipe_errors_and_unknown_ones():
    assert classify(RecordRefused("too_large", "x")) == (RECORD, "too_large")
    assert classify(KafkaUnavailable("x")).kind is RETRIABLE
    assert classify(KafkaAccessDenied("x")).kind is FATAL
    # Not known to be permanent: never routed aside on a guess.
    assert classify(RuntimeError("what")).kind is RETRIABLE
    assert classify(Exception()).kind is RETRIABLE


def test_refusal_at_send_becomes_logpipe_error():
    too_big = refusal(kp.MessageSizeTooLargeError("1573052 bytes"))
    assert isinstance(too_big, RecordRefused) and too_big.reason == "message_too_large"
    assert isinstance(refusal(kp.TopicAuthorizationFailedError("x")), KafkaAccessDenied)
    assert isinstance(refusal(KafkaException(KafkaError(KafkaError._TRANSPORT))), KafkaUnavailable)
