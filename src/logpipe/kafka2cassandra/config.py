"""What ``kafka2cassandra poll`` is told: one frozen value, built by the CLI from the flags.

Every default of a user-facing setting is the one defined in ``logpipe.config.settings``;
the fields below those are tuning knobs for tests and benchmarks, not flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from logpipe import retry
from logpipe.config import settings
from logpipe.kafka import ConsumerSettings


def _consumer_settings() -> ConsumerSettings:
    return ConsumerSettings(
        group_id=settings.GROUP_ID.default, group_instance_id=settings.GROUP_INSTANCE_ID.default
    )


@dataclass(frozen=True)
class PollerConfig:
    """Everything ``kafka2cassandra poll`` is told (the CLI builds it from the flags)."""

    topic: str = settings.TOPIC.default
    keyspace: str = settings.KEYSPACE.default
    table: str = settings.TABLE.default
    log_id_mode: str = settings.LOG_ID.default
    dlq_topic: str = settings.DLQ_TOPIC.default
    #: Replication of the dead-letter topic when the poller creates it (None: the broker's
    #: default.replication.factor).
    dlq_replication_factor: int | None = settings.DLQ_REPLICATION_FACTOR.default
    consistency: str = settings.CONSISTENCY.default
    max_in_flight: int = settings.MAX_WRITES_IN_FLIGHT.default
    #: Rows of one partition key per unlogged batch (1: one insert per row).
    batch_rows: int = settings.BATCH_ROWS.default
    commit_interval: float = settings.COMMIT_INTERVAL.default
    shutdown_timeout: float = settings.SHUTDOWN_TIMEOUT.default
    metrics_port: int | None = settings.METRICS_PORT.default
    metrics_host: str = settings.METRICS_ADDRESS.default
    consumer: ConsumerSettings = field(default_factory=_consumer_settings)
    #: How long a revocation waits for the revoked partitions' writes before committing.
    revoke_wait: float = 5.0
    #: Freeze the objects made at start-up out of the collector's way (see poller._tune_gc).
    tune_gc: bool = True
    retry_base: float = retry.BASE
    retry_cap: float = retry.CAP
    request_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.log_id_mode not in ("now", "event"):
            raise ValueError("log_id mode must be now or event")
        if self.max_in_flight < 1 or self.batch_rows < 1:
            raise ValueError("max_in_flight and batch_rows must be at least 1")

    def backoff(self) -> retry.Backoff:
        """A fresh backoff paced by this configuration."""
        return retry.Backoff(self.retry_base, self.retry_cap)
