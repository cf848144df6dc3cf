"""Every setting of both daemons, defined once: its flag, its environment variable, its default.

The CLIs build click options from these definitions (``logpipe.config.options``), the operator's
guide lists them (``all_settings()``), and tests check one against the other, so a
flag, its variable and its documented default cannot drift apart.
"""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Setting and all_settings are re-exported: reading them here guarantees every definition
# below is registered.
from logpipe.config.registry import Setting as Setting
from logpipe.config.registry import all_settings as all_settings
from logpipe.config.registry import define


def iana_zone(name: str) -> str:
    """``name`` when zoneinfo knows it (``Europe/Berlin``, ``UTC``); ValueError otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name: Europe/Berlin, UTC)") from None
    return name


def default_log_format() -> str:
    """``text`` on a terminal, ``json`` everywhere else (pods, systemd, files)."""
    return "text" if os.isatty(2) else "json"


# --- shared by both daemons -----------------------------------------------------------

BOOTSTRAP_SERVERS = define(
    "bootstrap_servers",
    "--bootstrap-servers",
    "KAFKA_BOOTSTRAP_SERVERS",
    "127.0.0.1:9092",
    "Kafka brokers, host:port, comma separated.",
)
TOPIC = define("topic", "--topic", "KAFKA_TOPIC", "www_logs", "Kafka topic of the log envelopes.")
CONTACT_POINTS = define(
    "contact_points",
    "--contact-points",
    "CASSANDRA_CONTACT_POINTS",
    "127.0.0.1",
    "Cassandra nodes, host or host:port, comma separated.",
)
KEYSPACE = define(
    "keyspace", "--keyspace", "CASSANDRA_KEYSPACE", "admintome", "Cassandra keyspace."
)
LOG_LEVEL = define(
    "log_level",
    "--log-level",
    "LOG_LEVEL",
    "info",
    "Log level.",
    choices=(
        "debug",
        "info",
        "warning",
        "error",
    ),
    case_sensitive=False,
)
LOG_FORMAT = define(
    "log_format",
    "--log-format",
    "LOG_FORMAT",
    None,
    "Log format: json, or text (default: text on a terminal, json otherwise).",
    choices=(
        "json",
        "text",
    ),
    case_sensitive=False,
)
METRICS_PORT = define(
    "metrics_port",
    "--metrics-port",
    "METRICS_PORT",
    None,
    "Serve Prometheus /metrics and /healthz, /readyz on this port (default: off).",
    type=int,
)
METRICS_ADDRESS = define(
    "metrics_address",
    "--metrics-address",
    "METRICS_ADDRESS",
    "0.0.0.0",
    "Address the metrics port listens on. The default, every IPv4 interface, is what "
    "Kubernetes probes (sent to the pod's IP) and a Prometheus on another host need; "
    "127.0.0.1 keeps it on this host, :: listens on IPv6 too. The port serves no secret.",
)
SHUTDOWN_TIMEOUT = define(
    "shutdown_timeout",
    "--shutdown-timeout",
    "SHUTDOWN_TIMEOUT",
    20.0,
    "Seconds allowed for a clean stop after SIGTERM/SIGINT.",
    type=float,
)

# Kafka security
KAFKA_SECURITY_PROTOCOL = define(
    "kafka_security_protocol",
    "--kafka-security-protocol",
    "KAFKA_SECURITY_PROTOCOL",
    None,
    "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (default: derived from the options below; "
    "SASL_PLAINTEXT needs --allow-plaintext-credentials).",
    choices=(
        "PLAINTEXT",
        "SSL",
        "SASL_PLAINTEXT",
        "SASL_SSL",
    ),
    case_sensitive=False,
)
KAFKA_SASL_MECHANISM = define(
    "kafka_sasl_mechanism",
    "--kafka-sasl-mechanism",
    "KAFKA_SASL_MECHANISM",
    None,
    "SASL mechanism (needs TLS: a CA file, or --allow-plaintext-credentials).",
    choices=(
        "PLAIN",
        "SCRAM-SHA-256",
        "SCRAM-SHA-512",
    ),
    case_sensitive=False,
)
KAFKA_SASL_USERNAME = define(
    "kafka_sasl_username", "--kafka-sasl-username", "KAFKA_SASL_USERNAME", None, "SASL user."
)
KAFKA_SASL_PASSWORD_FILE = define(
    "kafka_sasl_password_file",
    "--kafka-sasl-password-file",
    "KAFKA_SASL_PASSWORD_FILE",
    None,
    "File holding the SASL password (e.g. a mounted Secret); or put the password itself in "
    "KAFKA_SASL_PASSWORD (there is no flag: a command line is readable by every user).",
)
KAFKA_SASL_PASSWORD = define(
    "kafka_sasl_password",
    None,
    "KAFKA_SASL_PASSWORD",
    None,
    "SASL password, from the environment only (the password file wins when both are given).",
    secret=True,
    read_with=KAFKA_SASL_PASSWORD_FILE,
)
KAFKA_CA_FILE = define(
    "kafka_ca_file",
    "--kafka-ca-file",
    "KAFKA_CA_FILE",
    None,
    "PEM CA bundle to verify the brokers (turns TLS on).",
)
KAFKA_CERT_FILE = define(
    "kafka_cert_file", "--kafka-cert-file", "KAFKA_CERT_FILE", None, "PEM client certificate."
)
KAFKA_KEY_FILE = define(
    "kafka_key_file", "--kafka-key-file", "KAFKA_KEY_FILE", None, "PEM client private key."
)
KAFKA_NO_VERIFY_HOSTNAME = define(
    "kafka_no_verify_hostname",
    "--kafka-no-verify-hostname",
    "KAFKA_NO_VERIFY_HOSTNAME",
    False,
    "Accept a broker certificate issued for another host name (the CA is still checked); "
    "a warning says so at every start.",
    is_flag=True,
)

# Cassandra security
CASSANDRA_USERNAME = define(
    "cassandra_username",
    "--cassandra-username",
    "CASSANDRA_USERNAME",
    None,
    "Cassandra user (needs TLS: a CA file, or --allow-plaintext-credentials).",
)
CASSANDRA_PASSWORD_FILE = define(
    "cassandra_password_file",
    "--cassandra-password-file",
    "CASSANDRA_PASSWORD_FILE",
    None,
    "File holding the Cassandra password; or put the password itself in CASSANDRA_PASSWORD "
    "(there is no flag: a command line is readable by every user).",
)
CASSANDRA_PASSWORD = define(
    "cassandra_password",
    None,
    "CASSANDRA_PASSWORD",
    None,
    "Cassandra password, from the environment only (the password file wins when both are given).",
    secret=True,
    read_with=CASSANDRA_PASSWORD_FILE,
)
CASSANDRA_CA_FILE = define(
    "cassandra_ca_file",
    "--cassandra-ca-file",
    "CASSANDRA_CA_FILE",
    None,
    "PEM CA bundle to verify Cassandra (turns client TLS on).",
)
CASSANDRA_CERT_FILE = define(
    "cassandra_cert_file",
    "--cassandra-cert-file",
    "CASSANDRA_CERT_FILE",
    None,
    "PEM client certificate for Cassandra.",
)
CASSANDRA_KEY_FILE = define(
    "cassandra_key_file",
    "--cassandra-key-file",
    "CASSANDRA_KEY_FILE",
    None,
    "PEM client private key for Cassandra.",
)
CASSANDRA_NO_VERIFY_HOSTNAME = define(
    "cassandra_no_verify_hostname",
    "--cassandra-no-verify-hostname",
    "CASSANDRA_NO_VERIFY_HOSTNAME",
    False,
    "Accept a node certificate that does not name the node (the CA is still checked); a "
    "warning says so at every start. Without it, each node's certificate must hold the "
    "node's IP address in its subjectAltName: the driver connects to the addresses it "
    "resolves and discovers.",
    is_flag=True,
)

# Both servers
ALLOW_PLAINTEXT_CREDENTIALS = define(
    "allow_plaintext_credentials",
    "--allow-plaintext-credentials",
    "ALLOW_PLAINTEXT_CREDENTIALS",
    False,
    "Allow a SASL mechanism or a Cassandra user without TLS (the credentials cross the "
    "network readable; without this switch that is a start-up error).",
    is_flag=True,
)

COMMON = (LOG_LEVEL, LOG_FORMAT, METRICS_PORT, METRICS_ADDRESS)
KAFKA = (
    BOOTSTRAP_SERVERS,
    TOPIC,
    KAFKA_SECURITY_PROTOCOL,
    KAFKA_SASL_MECHANISM,
    KAFKA_SASL_USERNAME,
    KAFKA_SASL_PASSWORD_FILE,
    KAFKA_CA_FILE,
    KAFKA_CERT_FILE,
    KAFKA_KEY_FILE,
    KAFKA_NO_VERIFY_HOSTNAME,
    ALLOW_PLAINTEXT_CREDENTIALS,
)
CASSANDRA = (
    CONTACT_POINTS,
    KEYSPACE,
    CASSANDRA_USERNAME,
    CASSANDRA_PASSWORD_FILE,
    CASSANDRA_CA_FILE,
    CASSANDRA_CERT_FILE,
    CASSANDRA_KEY_FILE,
    CASSANDRA_NO_VERIFY_HOSTNAME,
    ALLOW_PLAINTEXT_CREDENTIALS,
)


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
    "Seconds Kafka may be unreachable before /healthz fails.",
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

PARSING = (FORMAT, SOURCE, TYPE, MAX_LINE_BYTES, TIMEZONE)


# --- kafka2cassandra: consuming and writing -------------------------------------------

GROUP_ID = define(
    "group_id",
    "--group-id",
    "KAFKA2CASSANDRA_GROUP_ID",
    "kafka2cassandra",
    "Kafka consumer group; the replicas of one deployment share it.",
)
GROUP_INSTANCE_ID = define(
    "group_instance_id",
    "--group-instance-id",
    "KAFKA2CASSANDRA_GROUP_INSTANCE_ID",
    None,
    "Static group membership (e.g. the pod name): a restart within the session timeout "
    "keeps its partitions without a rebalance.",
)
LOG_ID = define(
    "log_id",
    "--log-id",
    "KAFKA2CASSANDRA_LOG_ID",
    "now",
    "log_id of a row: now (CQL now(), time of writing; a replay after a crash may "
    "duplicate rows) or event (from the request time and the line's id, or the Kafka "
    "offset for messages without one; a replay or a line sent twice overwrites its row, "
    "time windows select by request time).",
    choices=(
        "now",
        "event",
    ),
)
DLQ_TOPIC = define(
    "dlq_topic",
    "--dlq-topic",
    "KAFKA2CASSANDRA_DLQ_TOPIC",
    "www_logs.dlq",
    "Dead-letter topic for messages that cannot be stored (original bytes, error headers).",
)
DLQ_REPLICATION_FACTOR = define(
    "dlq_replication_factor",
    "--dlq-replication-factor",
    "KAFKA2CASSANDRA_DLQ_REPLICATION_FACTOR",
    None,
    "Replication factor of the dead-letter topic when kafka2cassandra creates it "
    "(default: the brokers' default.replication.factor).",
    type=int,
    minimum=1,
)
CONSISTENCY = define(
    "consistency",
    "--consistency",
    "KAFKA2CASSANDRA_CONSISTENCY",
    "LOCAL_QUORUM",
    "Consistency level of the writes.",
    choices=(
        "ANY",
        "ONE",
        "TWO",
        "THREE",
        "QUORUM",
        "ALL",
        "LOCAL_QUORUM",
        "EACH_QUORUM",
        "LOCAL_ONE",
    ),
    case_sensitive=False,
)
MAX_WRITES_IN_FLIGHT = define(
    "max_writes_in_flight",
    "--max-writes-in-flight",
    "KAFKA2CASSANDRA_MAX_IN_FLIGHT",
    256,
    "Cassandra write requests in flight at once; consumption pauses beyond it.",
    type=int,
    minimum=1,
)
BATCH_ROWS = define(
    "batch_rows",
    "--batch-rows",
    "KAFKA2CASSANDRA_BATCH_ROWS",
    32,
    "Rows of one partition (source, type) per unlogged batch; 1 writes row by row.",
    type=int,
    minimum=1,
    maximum=200,
)
COMMIT_INTERVAL = define(
    "commit_interval",
    "--commit-interval",
    "KAFKA2CASSANDRA_COMMIT_INTERVAL",
    1.0,
    "Seconds between offset commits (of what Cassandra has acknowledged).",
    type=float,
    minimum=0.05,
)

POLLER = (
    GROUP_ID,
    GROUP_INSTANCE_ID,
    LOG_ID,
    DLQ_TOPIC,
    DLQ_REPLICATION_FACTOR,
    CONSISTENCY,
    MAX_WRITES_IN_FLIGHT,
    BATCH_ROWS,
    COMMIT_INTERVAL,
    SHUTDOWN_TIMEOUT,
)

REPLICATION_FACTOR = define(
    "replication_factor",
    "--replication-factor",
    "KAFKA2CASSANDRA_REPLICATION_FACTOR",
    None,
    "SimpleStrategy replication factor of a new keyspace (1 on one local node; the "
    "tutorial used 3).",
    type=int,
    minimum=1,
)
DATACENTERS = define(
    "datacenters",
    "--datacenter",
    "KAFKA2CASSANDRA_DATACENTERS",
    (),
    "NetworkTopologyStrategy instead: DC:FACTOR, repeatable (variable: space separated).",
    multiple=True,
)
