"""Topic administration: creating the topics the daemons use."""

from __future__ import annotations

import time

from logpipe.config.connections import KafkaConnection
from logpipe.kafka.config import kafka_python_client


def create_topic(
    conn: KafkaConnection,
    name: str,
    partitions: int = 1,
    replication_factor: int | None = 1,
    timeout: float = 30.0,
) -> bool:
    """Create ``name`` if it does not exist; True if created, False if it was there.

    ``replication_factor=None`` lets the broker apply its ``default.replication.factor``
    (KIP-464, brokers 2.4 and later), so a topic made on a production cluster gets the
    replication its operators chose, as ``min.insync.replicas`` expects.
    Waits until the new topic has a leader for every partition, so a producer or a
    consumer started right after does not race its creation.
    """
    from kafka.admin import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError

    deadline = time.monotonic() + timeout
    admin = kafka_python_client(
        KafkaAdminClient, conn, client_id="logpipe-admin", bootstrap_timeout_ms=int(timeout * 1000)
    )
    try:
        try:
            admin.create_topics(
                {
                    name: {
                        "num_partitions": partitions,
                        "replication_factor": -1
                        if replication_factor is None
                        else replication_factor,
                    }
                },
                timeout_ms=int(timeout * 1000),
                wait_for_metadata=True,
            )
        except TopicAlreadyExistsError:
            return False
        while time.monotonic() < deadline and name not in admin.list_topics():
            time.sleep(0.1)
        return True
    finally:
        admin.close()
