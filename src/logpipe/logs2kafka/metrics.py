"""The Prometheus metrics of logs2kafka, shared by ``tail`` and ``ship``.

A registry per run rather than the global one, so tests and an embedding process can
hold several without their names colliding.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class Metrics:
    """The Prometheus metrics of logs2kafka, in a registry of their own (one per run)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.lines_read = Counter("logs2kafka_lines_read", "Lines read from files.", registry=r)
        self.lines_shipped = Counter(
            "logs2kafka_lines_shipped", "Lines acknowledged by Kafka.", registry=r
        )
        self.lines_failed = Counter(
            "logs2kafka_lines_failed",
            "Sends the Kafka client gave up on (each such line is sent again).",
            registry=r,
        )
        self.lines_rejected = Counter(
            "logs2kafka_lines_rejected",
            "Lines Kafka refused for good, written to the reject file (then acknowledged).",
            ["reason"],
            registry=r,
        )
        self.lines_cut = Counter(
            "logs2kafka_lines_cut_to_fit",
            "Lines shipped cut (and flagged truncated) so the message fits the topic's limit.",
            registry=r,
        )
        self.parse_errors = Counter(
            "logs2kafka_parse_errors", "Lines shipped flagged with parse_error.", registry=r
        )
        self.pending = Gauge(
            "logs2kafka_pending_lines",
            "Producer queue depth: lines sent to the client and not yet acknowledged.",
            registry=r,
        )
        self.bytes_behind = Gauge(
            "logs2kafka_bytes_behind",
            "Bytes of a file not yet acknowledged by Kafka.",
            ["path"],
            registry=r,
        )
        self.bytes_unread = Gauge(
            "logs2kafka_bytes_unread",
            "Bytes of a file not read yet (lost if the file went away now).",
            ["path"],
            registry=r,
        )
        self.bytes_lost = Counter(
            "logs2kafka_bytes_lost",
            "Bytes of followed files gone before they were read (truncated, or rotated away "
            "and removed while logs2kafka was not running).",
            registry=r,
        )
        self.checkpoint_writes = Counter(
            "logs2kafka_checkpoint_writes",
            "Checkpoint writes that reached the disk (one when acknowledged positions moved, "
            "at most once a second).",
            registry=r,
        )
        self.files_followed = Gauge(
            "logs2kafka_files_followed",
            "Files followed under the given paths (open, not rotated away); 0 while no path "
            "matches a file.",
            registry=r,
        )
        self.kafka_reachable = Gauge(
            "logs2kafka_kafka_reachable", "1 when Kafka answers, 0 when it does not.", registry=r
        )
        self.kafka_reachable.set(1)
