"""The poller's Prometheus metrics (names are part of the operator's guide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class PollerMetrics:
    """The poller's Prometheus metrics, in a registry of their own (one per poller)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "kafka2cassandra_messages_consumed", "Kafka messages consumed.", registry=r
        )
        self.written = Counter(
            "kafka2cassandra_rows_written", "Rows acknowledged by Cassandra.", registry=r
        )
        self.dead_lettered = Counter(
            "kafka2cassandra_dead_lettered",
            "Messages sent to the dead-letter topic, by error.",
            ["error"],
            registry=r,
        )
        self.write_latency = Histogram(
            "kafka2cassandra_write_latency_seconds",
            "Latency of one Cassandra write request (a row or a batch of rows).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.expired = Counter(
            "kafka2cassandra_rows_expired",
            "Records not written: their line is older than the table's retention "
            "(event mode, a table with a default_time_to_live).",
            registry=r,
        )
        self.write_retries = Counter(
            "kafka2cassandra_write_retries", "Write requests retried after a failure.", registry=r
        )
        self.lag = Gauge(
            "kafka2cassandra_consumer_lag",
            "Records of the partition not yet committed (high watermark - commit position).",
            ["topic", "partition"],
            registry=r,
        )
        self.commits = Counter("kafka2cassandra_offset_commits", "Offset commits sent.", registry=r)
        self.cassandra_up = Gauge(
            "kafka2cassandra_cassandra_writable", "1 while Cassandra accepts writes.", registry=r
        )
        self.paused = Gauge(
            "kafka2cassandra_paused",
            "1 while consumption of every partition is paused.",
            registry=r,
        )
        self.schema_missing = Gauge(
            "kafka2cassandra_schema_missing",
            "1 while writes fail because the table or keyspace does not exist (all paused).",
            registry=r,
        )
        self.dead_letter_failures = Counter(
            "kafka2cassandra_dead_letter_failures",
            "Dead letters the dead-letter topic did not take (each is retried).",
            registry=r,
        )
        self.dead_letter_held = Gauge(
            "kafka2cassandra_dead_letter_held_partitions",
            "Partitions paused because a dead letter of theirs is not yet in the topic.",
            registry=r,
        )
