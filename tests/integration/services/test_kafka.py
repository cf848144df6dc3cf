"""The local Apache Kafka from services/ is a real broker: topics, keyed produce, group consume.

This checks the server itself, so it talks to it with kafka-python directly.
"""

from __future__ import annotations

import time
from collections import defaultdict

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

pytestmark = pytest.mark.integration

MESSAGES = 1000
KEYS = 10


def test_keyed_messages_round_trip_through_a_consumer_group(kafka_bootstrap, unique_name):
    topic = unique_name("services_kafka")
    group = unique_name("services_group")
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    try:
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
        futures = [
            producer.send(topic, key=f"key-{i % KEYS}".encode(), value=str(i).encode())
            for i in range(MESSAGES)
        ]
        producer.flush(timeout=30)
        sent_partition = {}
        for i, future in enumerate(futures):
            sent_partition[i] = future.get(timeout=10).partition
        producer.close()
        assert set(sent_partition.values()) <= {0, 1, 2}

        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        seen: dict[int, tuple[bytes, int]] = {}
        partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
        deadline = time.monotonic() + 60
        while len(seen) < MESSAGES and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=1000).items():
                for record in records:
                    seen[int(record.value)] = (record.key, tp.partition)
                    partitions_of_key[record.key].add(tp.partition)
        consumer.commit()

        assert sorted(seen) == list(range(MESSAGES))
        assert all(seen[i][1] == sent_partition[i] for i in range(MESSAGES))
        # one key, one partition: a host's lines stay in order
        assert len(partitions_of_key) == KEYS
        assert all(len(parts) == 1 for parts in partitions_of_key.values())

        partitions = [TopicPartition(topic, p) for p in range(3)]
        committed = {tp.partition: consumer.committed(tp) for tp in partitions}
        ends = consumer.end_offsets(partitions)
        consumer.close()
        assert committed == {tp.partition: ends[tp] for tp in partitions}
        assert sum(committed.values()) == MESSAGES
    finally:
        admin.delete_topics([topic])
        admin.close()
