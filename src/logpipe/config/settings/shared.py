"""Settings both daemons share: where Kafka and Cassandra are, logs, metrics, stopping."""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
