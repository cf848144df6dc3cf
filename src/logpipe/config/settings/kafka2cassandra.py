"""Settings of kafka2cassandra: consuming, writing rows, the schema."""

from __future__ import annotations

from logpipe.config.registry import define
from logpipe.config.settings.logs2kafka import KAFKA_CLIENT
from logpipe.config.settings.shared import SHUTDOWN_TIMEOUT

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
CONSUMER_KAFKA_CLIENT = define(
    "consumer_kafka_client",
    # The same flag as logs2kafka's producer client (a command takes one or the other).
    KAFKA_CLIENT.flag,
    "KAFKA2CASSANDRA_KAFKA_CLIENT",
    "kafka-python",
    "Kafka client library of the consumer: kafka-python, or confluent (pip install "
    "'logpipe[fast]').",
    choices=KAFKA_CLIENT.choices,
)
SESSION_TIMEOUT = define(
    "session_timeout",
    "--session-timeout",
    "KAFKA2CASSANDRA_SESSION_TIMEOUT",
    45.0,
    "Seconds without a heartbeat before the group gives a replica's partitions to the "
    "others (a replica killed or cut off); heartbeats go every third of it, at most 3 s. "
    "The broker bounds it (group.min/max.session.timeout.ms: 6 to 300 s by default).",
    type=float,
    minimum=1.0,
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

TABLE = define(
    "table",
    "--table",
    "KAFKA2CASSANDRA_TABLE",
    "logs",
    "Table of the keyspace the rows go to (and `query` reads); its layout is read from "
    "the table itself.",
)

POLLER = (
    TABLE,
    GROUP_ID,
    GROUP_INSTANCE_ID,
    CONSUMER_KAFKA_CLIENT,
    SESSION_TIMEOUT,
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
LAYOUT = define(
    "layout",
    "--layout",
    "KAFKA2CASSANDRA_LAYOUT",
    "tutorial",
    "Layout of a new table: tutorial (one partition per source and type, the tutorial's "
    "table) or bucketed (one partition per source, type and time bucket).",
    choices=("tutorial", "bucketed"),
)
BUCKET = define(
    "bucket",
    "--bucket",
    "KAFKA2CASSANDRA_BUCKET",
    "1h",
    "Time span of one partition of a new bucketed table (recorded in the table's comment).",
    choices=("1m", "5m", "15m", "1h", "1d"),
)
TTL = define(
    "ttl",
    "--ttl",
    "KAFKA2CASSANDRA_TTL",
    None,
    "Retention of the table (90m, 12h, 30d, 2w): its default_time_to_live, and time-window "
    "compaction with 20 to 30 windows over it; in event mode a row lives for it from its "
    "line's own time, and a line already older is not written.",
)
LINES_PER_SECOND = define(
    "lines_per_second",
    "--lines-per-second",
    "KAFKA2CASSANDRA_LINES_PER_SECOND",
    None,
    "Print the rows each bucket size would hold per partition at this rate of one host.",
    type=float,
    minimum=0.001,
)
