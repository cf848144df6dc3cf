"""The only package that imports a Kafka client.

Everything else in logpipe speaks LogEntry and bytes; this package turns a
``KafkaConnection`` into client settings and hides which client library is used.

- ``config``: client configuration (security, ``redact``), shared by every client.
- ``producer``: ``ProducerSettings`` + ``open_producer``, with ``kafka_python``
  (the default) and ``confluent`` (``--kafka-client confluent``) behind it.
- ``consumer``: ``ConsumerSettings`` + ``open_consumer``, with ``LogConsumer``
  (kafka-python, the default) and ``confluent_consumer`` (``--kafka-client confluent``)
  behind it, and the records they return; ``dead_letter``: the
  dead-letter producer; ``admin``: ``create_topic``.
- ``errors``: ``KafkaUnavailable`` (worth retrying), ``KafkaAccessDenied`` (not),
  ``RecordRefused`` (this record, for good) and ``classify``, which sorts either
  client's errors into those classes;
  ``client_logs``: the filter every client log record passes;
  ``surface``: what logpipe uses of kafka-python below its public API, checked at start-up.

The names below are the ones the daemons, tests and tools import.
"""

from logpipe.kafka.admin import create_topic
from logpipe.kafka.config import build_client_config, build_confluent_config, redact
from logpipe.kafka.consumer import (
    ConsumedRecord,
    Consumer,
    ConsumerSettings,
    LogConsumer,
    Partition,
    open_consumer,
)
from logpipe.kafka.dead_letter import DeadLetterProducer
from logpipe.kafka.errors import (
    ErrorClass,
    KafkaAccessDenied,
    KafkaUnavailable,
    RecordRefused,
    access_checked,
    classify,
)
from logpipe.kafka.producer import (
    CLIENT_MAX_REQUEST_BYTES,
    COMPRESSIONS,
    NO_TOKEN,
    Producer,
    ProducerSettings,
    open_producer,
    value_limit,
)
from logpipe.kafka.surface import check_kafka_client

__all__ = [
    "CLIENT_MAX_REQUEST_BYTES",
    "COMPRESSIONS",
    "NO_TOKEN",
    "ConsumedRecord",
    "Consumer",
    "ConsumerSettings",
    "DeadLetterProducer",
    "ErrorClass",
    "KafkaAccessDenied",
    "KafkaUnavailable",
    "LogConsumer",
    "Partition",
    "Producer",
    "ProducerSettings",
    "RecordRefused",
    "access_checked",
    "build_client_config",
    "build_confluent_config",
    "check_kafka_client",
    "classify",
    "create_topic",
    "open_consumer",
    "open_producer",
    "redact",
    "value_limit",
]
