"""Settings of logs2kafka: following files, producing, reading Apache log lines."""

from __future__ import annotations

from logpipe.config.registry import define
from logpipe.config.settings.shared import iana_zone

# --- logs2kafka: following files and producing ---------------------------------------

STATE_DIR = define(
    "state_dir",
    "--state-dir",
    "LOGS2KAFKA_STATE_DIR",
    None,
    "Directory of the file checkpoints and of rejects.jsonl, the lines Kafka refused for "
    "good (default: /var/lib/logs2kafka if writable, else ~/.local/state/logs2kafka).",
)
FROM_BEGINNING = define(
    "from_beginning",
    "--from-beginning",
    "LOGS2KAFKA_FROM_BEGINNING",
    False,
    "Read files without a checkpoint from their start (default: from their end).",
    is_flag=True,
)
PARTIAL_LINE_TIMEOUT = define(
    "partial_line_timeout",
    "--partial-line-timeout",
    "LOGS2KAFKA_PARTIAL_LINE_TIMEOUT",
    5.0,
    "Seconds a rotated file's last line may stay without a newline before it is shipped.",
    type=float,
)
KAFKA_CLIENT = define(
    "kafka_client",
    "--kafka-client",
    "LOGS2KAFKA_KAFKA_CLIENT",
    "kafka-python",
    "Kafka client library: kafka-python, or confluent (pip install 'logpipe[fast]').",
    choices=(
        "kafka-python",
        "confluent",
    ),
)
COMPRESSION = define(
    "compression",
    "--compression",
    "LOGS2KAFKA_COMPRESSION",
    "lz4",
    "Compression of the Kafka batches.",
    choices=(
        "lz4",
        "zstd",
        "gzip",
        "snappy",
        "none",
    ),
)
LINGER_MS = define(
    "linger_ms",
    "--linger-ms",
    "LOGS2KAFKA_LINGER_MS",
    20,
    "Milliseconds a batch may wait to fill before it is sent.",
    type=int,
    minimum=0,
)
BATCH_SIZE = define(
    "batch_size",
    "--batch-size",
    "LOGS2KAFKA_BATCH_SIZE",
    256 * 1024,
    "Largest batch per partition, in bytes.",
    type=int,
    minimum=1,
)
MAX_IN_FLIGHT = define(
    "max_in_flight",
    "--max-in-flight",
    "LOGS2KAFKA_MAX_IN_FLIGHT",
    5,
    "Produce requests in flight per broker (1-5 keeps the idempotent order).",
    type=int,
    minimum=1,
    maximum=5,
)
MAX_PENDING = define(
    "max_pending",
    "--max-pending",
    "LOGS2KAFKA_MAX_PENDING",
    10_000,
    "Lines read but not yet acknowledged by Kafka; reading pauses at this bound "
    "(about 1.5 kB of memory each).",
    type=int,
    minimum=1,
)
UNHEALTHY_AFTER = define(
    "unhealthy_after",
    "--unhealthy-after",
    "LOGS2KAFKA_UNHEALTHY_AFTER",
    60.0,
    "Seconds the shipping loop may go without turning before /healthz fails (a stuck "
    "process; an unreachable Kafka fails /readyz, not /healthz).",
    type=float,
)
DRY_RUN = define(
    "dry_run",
    "--dry-run",
    "LOGS2KAFKA_DRY_RUN",
    False,
    "Print the envelopes on stdout instead of producing them (no checkpoint moves).",
    is_flag=True,
)

PRODUCER = (KAFKA_CLIENT, COMPRESSION, LINGER_MS, BATCH_SIZE, MAX_IN_FLIGHT, MAX_PENDING)

# --- reading Apache log lines (logs2kafka tail, ship, parse) --------------------------

FORMAT = define(
    "format",
    "--format",
    "LOGS2KAFKA_FORMAT",
    "combined",
    "Apache LogFormat of the lines: common, combined, vhost_combined, combinedio, error, "
    "or a LogFormat string.",
)
SOURCE = define(
    "source",
    "--source",
    "LOGS2KAFKA_SOURCE",
    None,
    "log.source of the envelopes and the Kafka key (default: this host's name).",
)
TYPE = define(
    "type",
    "--type",
    "LOGS2KAFKA_TYPE",
    None,
    "log.type of the envelopes (default: www_access, www_error for --format error).",
)
MAX_LINE_BYTES = define(
    "max_line_bytes",
    "--max-line-bytes",
    "LOGS2KAFKA_MAX_LINE_BYTES",
    256 * 1024,
    "Longer lines are cut to this many bytes and flagged truncated.",
    type=int,
    minimum=1,
)

TIMEZONE = define(
    "timezone",
    "--timezone",
    "LOGS2KAFKA_TIMEZONE",
    None,
    "IANA zone (e.g. Europe/Berlin) of times written without a UTC offset, as in the error "
    "log (default: this host's zone: TZ, else /etc/localtime). Daylight saving time is "
    "followed; a time repeated when clocks go back is read as the first of the two.",
    type=iana_zone,
)

APACHE_CONFIG = define(
    "apache_config",
    "--apache-config",
    "LOGS2KAFKA_APACHE_CONFIG",
    None,
    "The host's Apache configuration (e.g. /etc/apache2/apache2.conf): --format may name one "
    "of its LogFormat nicknames, and tail without PATH follows every CustomLog and ErrorLog "
    "it declares, each in its declared format.",
)

PARSING = (FORMAT, APACHE_CONFIG, SOURCE, TYPE, MAX_LINE_BYTES, TIMEZONE)
