"""From command-line options to working objects, for ``tail``, ``ship`` and ``parse``.

The commands receive the click keyword arguments (a plain dict, so tests call them
without click) and build their parser, producer and settings here. A default missing
from the dict comes from its definition in ``logpipe.config.settings``, never from a
copy. Options that cannot make a working daemon raise ``SetupError``.
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from logpipe.client_surface import ClientSurfaceError
from logpipe.config import settings as S
from logpipe.config.connections import KafkaConnection
from logpipe.config.settings import Setting
from logpipe.formats import LineParser
from logpipe.formats.apacheconf import ApacheConfig
from logpipe.kafka import (
    Producer,
    ProducerSettings,
    build_client_config,
    check_kafka_client,
    open_producer,
    redact,
)
from logpipe.logs2kafka import apache_logs
from logpipe.logs2kafka.apache_logs import format_option
from logpipe.logs2kafka.dry_run import PrintProducer, stdout_binary
from logpipe.logs2kafka.pipeline import PipelineSettings
from logpipe.observability import HealthServer, get_logger

# Logged as the forwarder's, as these lines always were.
log = get_logger("forwarder")


class SetupError(Exception):
    """The options do not make a working daemon (bad format, SASL without a password,
    state directory not writable, port taken): said in one line, not a traceback."""


def setting_value(opts: dict[str, Any], setting: Setting, *, falsy_is_unset: bool = False) -> Any:
    """The option of ``setting`` in ``opts``; its default when absent or None.

    ``falsy_is_unset``: an empty or zero value takes the default too (how these commands
    have always read ``--format``, ``--compression``, ``--max-pending`` and the timeouts).
    """
    value = opts.get(setting.name)
    if value is None or (falsy_is_unset and not value):
        return setting.default
    return value


def make_parser(opts: dict[str, Any], config: ApacheConfig | None = None) -> tuple[LineParser, str]:
    """The line parser of the options, and the source (host name unless given). With the
    host's Apache configuration, ``--format`` may name one of its nicknames."""
    source = opts.get("source") or socket.gethostname()
    parser = LineParser(
        fmt=format_option(opts, config),
        source=source,
        type=opts.get("type") or None,
        max_line_bytes=setting_value(opts, S.MAX_LINE_BYTES, falsy_is_unset=True),
        timezone=opts.get("timezone") or None,
    )
    return parser, source


def producer_settings(opts: dict[str, Any]) -> ProducerSettings:
    """The producer part of the command-line options (see settings.PRODUCER)."""
    return ProducerSettings(
        compression=setting_value(opts, S.COMPRESSION, falsy_is_unset=True),
        linger_ms=setting_value(opts, S.LINGER_MS),
        batch_size=setting_value(opts, S.BATCH_SIZE),
        max_in_flight=setting_value(opts, S.MAX_IN_FLIGHT),
        client=setting_value(opts, S.KAFKA_CLIENT, falsy_is_unset=True),
    )


def pipeline_settings(opts: dict[str, Any]) -> PipelineSettings:
    """The pending bound, health threshold and stop timeout of the command-line options."""
    return PipelineSettings(
        max_pending=setting_value(opts, S.MAX_PENDING, falsy_is_unset=True),
        unhealthy_after=setting_value(opts, S.UNHEALTHY_AFTER, falsy_is_unset=True),
        shutdown_timeout=setting_value(opts, S.SHUTDOWN_TIMEOUT, falsy_is_unset=True),
    )


def producer_factory(opts: dict[str, Any]) -> Callable[[], Producer]:
    """How to open the producer the options ask for (a printer with ``--dry-run``)."""
    if opts.get("dry_run"):
        return lambda: PrintProducer(stdout_binary(), topic=opts["topic"])
    conn = KafkaConnection.from_options(opts)
    prod = producer_settings(opts)
    check_kafka_client(prod.client)
    log.info(
        "kafka",
        extra={"topic": opts["topic"], "kafka": redact(build_client_config(conn)), **asdict(prod)},
    )
    return lambda: open_producer(conn, opts["topic"], prod)


def shipping_parts(
    opts: dict[str, Any], config: ApacheConfig | None = None
) -> tuple[LineParser, str, Callable[[], Producer]]:
    """What ``tail`` and ``ship`` both start from: the parser, the source and how to open
    the producer, after limiting malloc's arenas. Options that do not work raise SetupError.
    ``config``: the host's Apache configuration, when ``--apache-config`` named it.
    """
    limit_malloc_arenas()
    try:
        parser, source = make_parser(opts, config)
        factory = producer_factory(opts)
    except (ValueError, ClientSurfaceError) as exc:
        raise SetupError(str(exc)) from exc
    return parser, source, factory


def apache_config(opts: dict[str, Any]) -> ApacheConfig | None:
    """The host's Apache configuration ``--apache-config`` names (None without it)."""
    try:
        return apache_logs.load(opts)
    except ValueError as exc:
        raise SetupError(str(exc)) from exc


def default_state_dir() -> Path:
    """/var/lib/logs2kafka where it can be written (a service), else the user's state dir."""
    system = Path("/var/lib/logs2kafka")
    if system.is_dir() and os.access(system, os.W_OK):
        return system
    if not system.exists() and os.access(system.parent, os.W_OK):
        return system
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "logs2kafka"


def serve_health(
    port: int | None,
    forwarder_like: Any,
    registry: CollectorRegistry,
    host: str = S.METRICS_ADDRESS.default,
) -> Any:
    """Start /metrics, /healthz, /readyz on ``host:port`` (port None: off). Returns the server."""
    if port is None:
        return None
    return HealthServer(
        port, live=forwarder_like.live, ready=forwarder_like.ready, registry=registry, host=host
    ).start()


def limit_malloc_arenas(arenas: int = 1) -> None:
    """Make glibc's malloc serve every thread from one arena (call before threads start).

    The Kafka client's IO thread would otherwise get an arena of its own; buffers made in
    one thread and freed in the other fragment both, which cost about a third of the
    peak RSS under load. Under the GIL only one thread allocates at a time anyway, so a
    single arena costs no contention. A no-op where malloc is not glibc's.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass


_M_ARENA_MAX = -8
