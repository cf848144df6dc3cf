"""What logpipe uses of kafka-python below its public API, checked at start-up.

Each entry says where it is used and why. ``check_kafka_client`` runs before a daemon
opens any client: a kafka-python release without one of these stops the daemon with one
line naming the version, instead of a fast path failing later with nothing said
(``_unstick`` once ignored a missing coordinator method, so commits could fail forever).
confluent-kafka (``--kafka-client confluent``) is used through its public API only.
"""

from __future__ import annotations

import importlib.util
from functools import cache

from logpipe.client_surface import ATTRIBUTE, METHOD, ClientSurfaceError, Need, check_surface

DISTRIBUTION = "kafka-python"

_PRODUCER = "kafka.producer.kafka:KafkaProducer"
_CONSUMER = "kafka.consumer.group:KafkaConsumer"
_COORDINATOR = "kafka.coordinator.consumer:ConsumerCoordinator"
_CLUSTER = "kafka.cluster:ClusterMetadata"
#: KafkaConsumer's default ``kafka_client`` in the kafka-python logpipe is built for.
_NET_CLIENT = "kafka.net.compat:KafkaNetClient"

NEEDS: tuple[Need, ...] = (
    # kafka_python.KafkaPythonProducer.send: records appended to the accumulator directly,
    # without send()'s per-record validation, serialization and partitioning.
    Need(_PRODUCER, "_accumulator", ATTRIBUTE, "the send fast path"),
    Need(
        "kafka.producer.record_accumulator:RecordAccumulator",
        "append",
        METHOD,
        "the send fast path",
        ("tp", "timestamp_ms", "key", "value", "headers"),
    ),
    Need(_PRODUCER, "_sender", ATTRIBUTE, "waking the IO thread; closing without waiting"),
    Need("kafka.producer.sender:Sender", "wakeup", METHOD, "the send fast path"),
    # kafka_python._Waker: one wake-up of the IO thread per turn of its loop (run_once,
    # looked up on the instance by Sender.run on every turn).
    Need("kafka.producer.sender:Sender", "run_once", METHOD, "the send fast path"),
    Need("kafka.producer.sender:Sender", "force_close", METHOD, "close when Kafka is gone"),
    Need("kafka.producer.sender:Sender", "join", METHOD, "close when Kafka is gone"),
    Need(_PRODUCER, "_closed", ATTRIBUTE, "close when Kafka is gone"),
    # KafkaPythonProducer: the idempotent client turned fatal by one refused record is
    # replaced, so the records after it are sent again instead of taken for refused.
    Need(_PRODUCER, "_transaction_manager", ATTRIBUTE, "replacing a client after a refusal"),
    Need(
        "kafka.producer.transaction_manager:TransactionManager",
        "has_fatal_error",
        METHOD,
        "replacing a client after a refusal",
    ),
    # kafka_python.KafkaPythonProducer._route: the partition of a key, computed once.
    Need(_PRODUCER, "_metadata", ATTRIBUTE, "routing a key to its partition"),
    Need(_CLUSTER, "partitions_for_topic", METHOD, "routing a key to its partition"),
    Need("kafka.partitioner.default:DefaultPartitioner", "partition", METHOD, "routing"),
    Need("kafka.partitioner.default:murmur2", "__call__", METHOD, "routing"),
    Need("kafka.partitioner.abc:Partitioner", "partition", METHOD, "routing"),
    # KafkaPythonProducer.poll: acknowledgements read from the futures, in order.
    Need("kafka.future:Future", "is_done", ATTRIBUTE, "reading acknowledgements"),
    Need("kafka.future:Future", "exception", ATTRIBUTE, "reading acknowledgements"),
    # consumer.LogConsumer._unstick: the rebalance race of kafka-python 3.0.12.
    Need(_CONSUMER, "_coordinator", ATTRIBUTE, "commits during a stuck rebalance; /readyz"),
    Need(_COORDINATOR, "rebalance_in_progress", METHOD, "commits during a stuck rebalance"),
    Need(_COORDINATOR, "need_rejoin", METHOD, "commits during a stuck rebalance"),
    Need(_COORDINATOR, "request_rejoin", METHOD, "commits during a stuck rebalance"),
    # consumer.LogConsumer.connected: /readyz of kafka2cassandra.
    Need(_COORDINATOR, "coordinator_unknown", METHOD, "/readyz"),
    Need(_CONSUMER, "_client", ATTRIBUTE, "/readyz"),
    Need(_NET_CLIENT, "connected", METHOD, "/readyz", ("node_id",)),
    Need(_NET_CLIENT, "cluster", ATTRIBUTE, "/readyz"),
    Need(_CLUSTER, "brokers", METHOD, "/readyz"),
)


#: What a daemon says when ``--kafka-client confluent`` is asked for without the extra.
CONFLUENT_MISSING = "--kafka-client confluent needs confluent-kafka: pip install 'logpipe[fast]'"


@cache
def check_kafka_client(client: str = DISTRIBUTION) -> None:
    """Raise ClientSurfaceError when the Kafka client library ``client`` (``kafka-python``
    or ``confluent``, as ``--kafka-client`` names it) lacks what logpipe uses of it, or
    (confluent, an extra) is not installed: one line at start, not retries for ever."""
    if client == DISTRIBUTION:
        check_surface(DISTRIBUTION, NEEDS)
    elif importlib.util.find_spec("confluent_kafka") is None:
        raise ClientSurfaceError(CONFLUENT_MISSING)
