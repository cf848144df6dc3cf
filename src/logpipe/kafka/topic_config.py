"""The topic's own size limit, asked of the broker when the producer opens.

A record batch larger than the topic's ``max.message.bytes`` is refused for good, so the
producer must know the limit before it sends: logs2kafka then cuts an oversized envelope
to fit instead of having it refused. Each client asks with its own admin API
(DescribeConfigs); both read the topic's effective value (its override, else the broker's
default).
"""

from __future__ import annotations

from typing import Any

from logpipe.config.connections import KafkaConnection
from logpipe.kafka.config import build_confluent_config, kafka_python_client
from logpipe.kafka.errors import KafkaUnavailable
from logpipe.observability import get_logger

log = get_logger("kafka")

#: The topic setting that bounds one record batch.
MAX_MESSAGE_BYTES = "max.message.bytes"


def topic_max_message_bytes(
    conn: KafkaConnection, topic: str, client: str, timeout: float = 5.0
) -> int | None:
    """The topic's ``max.message.bytes``; None when the broker will not say (the topic
    does not exist yet, or this user may write but not describe it).

    Raises KafkaUnavailable when no broker answers.
    """
    try:
        if client == "confluent":
            value = _ask_confluent(conn, topic, timeout)
        else:
            value = _ask_kafka_python(conn, topic, timeout)
    except KafkaUnavailable:
        raise
    except Exception as exc:  # not authorized, unknown topic, an old broker: not fatal
        log.warning(
            "topic limit unknown, using the client's",
            extra={"topic": topic, "reason": f"{type(exc).__name__}: {exc}"},
        )
        return None
    if value is None:
        log.warning(
            "topic limit unknown, using the client's",
            extra={"topic": topic, "reason": "the broker did not describe the topic"},
        )
    return value


def _ask_kafka_python(conn: KafkaConnection, topic: str, timeout: float) -> int | None:
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
    from kafka.errors import KafkaError

    admin = kafka_python_client(
        KafkaAdminClient,
        conn,
        client_id="logs2kafka-admin",
        bootstrap_timeout_ms=int(timeout * 1000),
        request_timeout_ms=int(timeout * 1000),
    )
    try:
        found: Any = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs={MAX_MESSAGE_BYTES: None})],
            config_filter="all",
        )
    except KafkaError as exc:
        if exc.retriable:
            raise KafkaUnavailable(f"no answer to DescribeConfigs: {exc}") from exc
        raise
    finally:
        admin.close()
    entry = found.get("topic", {}).get(topic, {}).get(MAX_MESSAGE_BYTES)
    return None if entry is None else int(entry["value"])


def _ask_confluent(conn: KafkaConnection, topic: str, timeout: float) -> int | None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, ConfigResource

    from logpipe.kafka.confluent import CONFLUENT_LOG, _confluent_error

    admin = AdminClient(
        {**build_confluent_config(conn), "logger": CONFLUENT_LOG, "error_cb": _confluent_error}
    )
    futures = admin.describe_configs([ConfigResource("topic", topic)], request_timeout=timeout)
    try:
        configs = next(iter(futures.values())).result(timeout + 1.0)
    except KafkaException as exc:
        error = exc.args[0]
        if error.code() in _UNREACHABLE:
            # librdkafka hands its logs and errors over in poll() only, and they alone say
            # whether a broker refused the credentials or the certificate (access_checked).
            admin.poll(0)
            raise KafkaUnavailable(f"no answer to DescribeConfigs: {error.str()}") from exc
        raise
    entry = configs.get(MAX_MESSAGE_BYTES)
    return None if entry is None or entry.value is None else int(entry.value)


#: librdkafka's local codes for "no broker answered": _TRANSPORT, _TIMED_OUT,
#: _ALL_BROKERS_DOWN.
_UNREACHABLE = frozenset({-195, -185, -187})
