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
    """Consume the topic into KEYSPACE.TABLE; commit offsets of stored rows only."""
    from logpipe.cassandra import StoreSetupError, check_cassandra_driver
    from logpipe.kafka import ConsumerSettings, KafkaAccessDenied, check_kafka_client
    from logpipe.kafka2cassandra.poller import Poller, PollerConfig

    setup_logging(opts["log_level"], opts["log_format"])
    config = PollerConfig(
        topic=opts["topic"],
        keyspace=opts["keyspace"],
        table=opts["table"],
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
            client=opts["consumer_kafka_client"],
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
        check_kafka_client(config.consumer.client)
        check_cassandra_driver()
        status = poller.run()
    except (StoreSetupError, KafkaAccessDenied, ClientSurfaceError) as exc:
        get_logger("kafka2cassandra").error(str(exc))
        status = 1
    sys.exit(status)


@main.command()
@options(
    *settings.CASSANDRA,
    settings.TABLE,
    settings.LAYOUT,
    settings.BUCKET,
    settings.TTL,
    settings.LINES_PER_SECOND,
    settings.REPLICATION_FACTOR,
    settings.DATACENTERS,
    settings.LOG_LEVEL,
    settings.LOG_FORMAT,
)
def schema(**opts: Any) -> None:
    """Create the keyspace and the table if they do not exist, and add the field columns
    the table lacks (idempotent). --lines-per-second N: print the partition sizes only."""
    from logpipe.cassandra import Replication, Store, check_cassandra_driver
    from logpipe.cassandra.layout import partition_sizes
    from logpipe.cassandra.retention import parse_ttl

    setup_logging(opts["log_level"], opts["log_format"])
    if opts["lines_per_second"] is not None:
        for line in partition_sizes(opts["lines_per_second"]):
            click.echo(line)
        return
    try:
        check_cassandra_driver()
    except ClientSurfaceError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        replication = Replication.parse(opts["replication_factor"], opts["datacenters"])
        ttl = parse_ttl(opts["ttl"]) if opts["ttl"] else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    bucket = opts["bucket"] if opts["layout"] == "bucketed" else None
    with Store(_connection(CassandraConnection, opts), consistency="ALL") as store:
        try:
            statements = store.apply_schema(
                opts["keyspace"], replication, opts["table"], bucket, ttl
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        for statement in statements:
            click.echo(statement + ";")


@main.command()
@options(*settings.CASSANDRA, settings.TABLE, settings.LOG_LEVEL, settings.LOG_FORMAT)
@click.option("--source", required=True, help="log_source (the web host).")
@click.option("--type", "log_type", default="www_access", show_default=True, help="log_type.")
@click.option("--since", help="From this time (ISO 8601, 'YYYY-MM-DD HH:MM', or an age: 2h).")
@click.option("--until", help="Up to this time, excluded.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many rows, newest first.")
@click.option("--count", "count_only", is_flag=True, help="Print the number of rows only.")
@click.option("--status", help="Only rows of this status (404) or class (5xx).")
@click.option("--method", help="Only rows of this request method (GET, POST, ...).")
@click.option("--path-prefix", help="Only rows whose path (without query string) starts so.")
@click.option("--min-duration", help="Only requests that took at least this long (500ms, 2s).")
@click.option(
    "--count-by",
    type=click.Choice(["status", "minute", "path"]),
    help="Print the rows counted per status, per minute of log_id's time, or per path.",
)
@click.option("--top", type=click.IntRange(min=1), help="With --count-by: the N largest counts.")
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def query(**opts: Any) -> None:
    """The tutorial's queries: count, latest rows, a time window (by log_id's time), on a
    table of either layout."""
    from logpipe.cassandra import Store, StoreSetupError
    from logpipe.cassandra.queries import (
        Filters,
        format_count,
        format_counts,
        format_rows,
        parse_duration,
        parse_status,
        parse_time,
    )

    setup_logging(opts["log_level"], opts["log_format"] or "text")
    try:
        since = parse_time(opts["since"]) if opts["since"] else None
        until = parse_time(opts["until"]) if opts["until"] else None
        filters = Filters(
            status=parse_status(opts["status"]) if opts["status"] else None,
            method=opts["method"],
            path_prefix=opts["path_prefix"],
            min_duration_us=parse_duration(opts["min_duration"]) if opts["min_duration"] else None,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    keyspace, output, table = opts["keyspace"], opts["output"], opts["table"]
    conn = _connection(CassandraConnection, opts)
    with Store(conn) as store:
        args = (keyspace, opts["source"], opts["log_type"], since, until)
        try:
            if opts["count_by"]:
                counts = store.count_by(
                    *args[:3], opts["count_by"], since, until, table, filters, opts["top"]
                )
                for line in format_counts(opts["count_by"], counts, output):
                    click.echo(line)
                return
            if opts["count_only"]:
                click.echo(format_count(store.count(*args, table=table, filters=filters), output))
                return
            rows = store.select(*args, limit=opts["limit"], table=table, filters=filters)
            for line in format_rows(rows, output):
                click.echo(line)
        except StoreSetupError as exc:
            raise click.ClickException(str(exc)) from None


@main.command()
@options(*settings.CASSANDRA, settings.FORMAT, settings.LOG_LEVEL, settings.LOG_FORMAT)
@click.option("--from", "source", required=True, help="Table to copy the rows of (e.g. logs).")
@click.option("--to", "target", required=True, help="Table to write them to (it must exist).")
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False),
    help="Where the copy keeps its position, to resume after an interruption "
    "(default: .kafka2cassandra-copy-KEYSPACE-FROM-TO.json here).",
)
@click.option("--page-size", type=click.IntRange(min=1), default=1000, show_default=True)
def copy(**opts: Any) -> None:
    """Copy the rows of one table into another (e.g. a tutorial table into a bucketed
    one), parsing each raw line again to fill the field columns; resumable."""
    from pathlib import Path

    from logpipe.cassandra import Store, StoreSetupError
    from logpipe.kafka2cassandra.copy import copy_table, default_state_file

    setup_logging(opts["log_level"], opts["log_format"] or "text")
    keyspace, source, target = opts["keyspace"], opts["source"], opts["target"]
    state = Path(opts["state_file"] or default_state_file(keyspace, source, target))
    with Store(_connection(CassandraConnection, opts), request_timeout=120.0) as store:
        try:
            total = store.session.execute(
                f"SELECT count(*) FROM {keyspace}.{source}", timeout=600.0
            ).one()[0]
        except Exception as exc:
            raise click.ClickException(f"cannot read {keyspace}.{source}: {exc}") from None
        with click.progressbar(length=int(total), label=f"{source} -> {target}") as bar:
            shown = [0]

            def on_page(progress: Any) -> None:
                done = progress.copied + progress.expired
                bar.update(done - shown[0])
                shown[0] = done

            try:
                result = copy_table(
                    store, keyspace, source, target, state, opts["format"],
                    opts["page_size"], on_page=on_page,
                )  # fmt: skip
            except (ValueError, StoreSetupError) as exc:
                raise click.ClickException(str(exc)) from None
    click.echo(
        f"copied {result.copied} rows of {keyspace}.{source} into {keyspace}.{target}"
        + (f"; {result.expired} past the retention not written" if result.expired else "")
        + (" (resumed)" if result.resumed else "")
    )


@main.command()
@options(
    *settings.CASSANDRA,
    settings.TABLE,
    settings.FORMAT,
    settings.TIMEZONE,
    settings.LOG_LEVEL,
    settings.LOG_FORMAT,
)
@click.option("--source", required=True, help="log_source of the files' host.")
@click.option("--type", "log_type", default="www_access", show_default=True, help="log_type.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def verify(**opts: Any) -> None:
    """Compare, per hour, the lines of log FILES (plain or .gz) of one host with its rows
    in the table; print the hours that differ; exit status 1 if any does."""
    from pathlib import Path

    from logpipe.cassandra import Store, StoreSetupError
    from logpipe.kafka2cassandra.verify import (
        differences,
        file_hours,
        format_differences,
        table_hours,
    )

    setup_logging(opts["log_level"], opts["log_format"] or "text")
    source = opts["source"]
    lines = file_hours([Path(f) for f in opts["files"]], opts["format"], source, opts["timezone"])
    with Store(_connection(CassandraConnection, opts), request_timeout=120.0) as store:
        try:
            rows = table_hours(store, opts["keyspace"], source, opts["log_type"], opts["table"])
        except StoreSetupError as exc:
            raise click.ClickException(str(exc)) from None
    diffs = differences(lines, rows)
    hours = len([h for h in lines if h != "unparsed"])
    if not diffs:
        click.echo(f"every hour matches: {sum(lines.values())} lines in {hours} hours")
        return
    for line in format_differences(diffs):
        click.echo(line)
    sys.exit(1)
