"""``kafka2cassandra``: Kafka log envelopes into Cassandra rows."""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from logpipe import __version__
from logpipe.client_surface import ClientSurfaceError
from logpipe.config import settings
from logpipe.config.connections import CassandraConnection, KafkaConnection
from logpipe.config.options import options
from logpipe.observability import get_logger, setup_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kafka2cassandra")
def main() -> None:
    """Consume log envelopes from Kafka and write them as rows of Cassandra."""


def _connection(kind: Any, opts: dict[str, Any]) -> Any:
    """``kind.from_options(opts)``; options that make no safe connection (credentials
    without TLS) are one line on stderr and exit status 1, not a traceback."""
    try:
        return kind.from_options(opts)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@options(*settings.KAFKA, *settings.CASSANDRA, *settings.POLLER, *settings.COMMON)
def poll(**opts: Any) -> None:
    """Consume the topic into KEYSPACE.logs; commit offsets of stored rows only."""
    from logpipe.cassandra import StoreSetupError, check_cassandra_driver
    from logpipe.kafka import ConsumerSettings, KafkaAccessDenied, check_kafka_client
    from logpipe.kafka2cassandra.poller import Poller, PollerConfig

    setup_logging(opts["log_level"], opts["log_format"])
    config = PollerConfig(
        topic=opts["topic"],
        keyspace=opts["keyspace"],
        log_id_mode=opts["log_id"],
        dlq_topic=opts["dlq_topic"],
        dlq_replication_factor=opts["dlq_replication_factor"],
        consistency=opts["consistency"].upper(),
        max_in_flight=opts["max_writes_in_flight"],
        batch_rows=opts["batch_rows"],
        commit_interval=opts["commit_interval"],
        shutdown_timeout=opts["shutdown_timeout"],
        metrics_port=opts["metrics_port"],
        metrics_host=opts["metrics_address"],
        consumer=ConsumerSettings.with_session_timeout(
            opts["session_timeout"],
            group_id=opts["group_id"],
            group_instance_id=opts["group_instance_id"] or None,
        ),
    )
    poller = Poller(
        config, _connection(KafkaConnection, opts), _connection(CassandraConnection, opts)
    )

    def on_signal(_signum: int, _frame: object) -> None:
        poller.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        check_kafka_client()
        check_cassandra_driver()
        status = poller.run()
    except (StoreSetupError, KafkaAccessDenied, ClientSurfaceError) as exc:
        get_logger("kafka2cassandra").error(str(exc))
        status = 1
    sys.exit(status)


@main.command()
@options(
    *settings.CASSANDRA,
    settings.REPLICATION_FACTOR,
    settings.DATACENTERS,
    settings.LOG_LEVEL,
    settings.LOG_FORMAT,
)
def schema(**opts: Any) -> None:
    """Create the keyspace and the logs table if they do not exist (idempotent)."""
    from logpipe.cassandra import Replication, Store, check_cassandra_driver

    setup_logging(opts["log_level"], opts["log_format"])
    try:
        check_cassandra_driver()
    except ClientSurfaceError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        replication = Replication.parse(opts["replication_factor"], opts["datacenters"])
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    with Store(_connection(CassandraConnection, opts), consistency="ALL") as store:
        for statement in store.apply_schema(opts["keyspace"], replication):
            click.echo(statement + ";")


@main.command()
@options(*settings.CASSANDRA, settings.LOG_LEVEL, settings.LOG_FORMAT)
@click.option("--source", required=True, help="log_source (the web host).")
@click.option("--type", "log_type", default="www_access", show_default=True, help="log_type.")
@click.option("--since", help="From this time (ISO 8601, 'YYYY-MM-DD HH:MM', or an age: 2h).")
@click.option("--until", help="Up to this time, excluded.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many rows, newest first.")
@click.option("--count", "count_only", is_flag=True, help="Print the number of rows only.")
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def query(**opts: Any) -> None:
    """The tutorial's queries: count, latest rows, a time window (by log_id's time)."""
    from logpipe.cassandra import Store
    from logpipe.cassandra.queries import format_count, format_rows, parse_time

    setup_logging(opts["log_level"], opts["log_format"] or "text")
    try:
        since = parse_time(opts["since"]) if opts["since"] else None
        until = parse_time(opts["until"]) if opts["until"] else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    keyspace, output = opts["keyspace"], opts["output"]
    conn = _connection(CassandraConnection, opts)
    with Store(conn) as store:
        args = (keyspace, opts["source"], opts["log_type"], since, until)
        if opts["count_only"]:
            click.echo(format_count(store.count(*args), output))
            return
        for line in format_rows(store.select(*args, limit=opts["limit"]), output):
            click.echo(line)
