"""``--apache-config``: the host's Apache configuration as the source of the logs2kafka setup.

The configuration is read once, at start (``logpipe.formats.apacheconf``). Two uses:

* ``--format NICKNAME`` takes the configuration's definition of that nickname before the
  preset of the same name (Debian's ``combined`` logs ``%O``, httpd's ``%b``);
* ``tail`` without PATH follows every file the configuration declares, each with its own
  parser (format, type) and Kafka key (source): a ``Routes`` gives each followed file its
  ``Route``. ``--format``, ``--type`` and ``--source`` still override what was declared.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from logpipe.config import settings as S
from logpipe.formats import FormatError, FormatSpec, LineParser, resolve_format
from logpipe.formats.apacheconf import (
    ERROR,
    ApacheConfig,
    ApacheConfigError,
    DeclaredLog,
    read_apache_config,
)
from logpipe.formats.presets import ACCESS_TYPE, ERROR_TYPE
from logpipe.logs2kafka.pipeline import Route
from logpipe.observability import get_logger

log = get_logger("forwarder")


def load(opts: dict[str, Any]) -> ApacheConfig | None:
    """The configuration ``--apache-config`` names (None without it); notices are logged
    once, as warnings. Raises ValueError when it cannot be read."""
    path = opts.get("apache_config")
    if not path:
        return None
    try:
        config = read_apache_config(path)
    except ApacheConfigError as exc:
        raise ValueError(f"--apache-config: {exc}") from exc
    for notice in config.notices:
        log.warning("apache configuration: %s", notice.message, extra={"where": notice.where})
    return config


def format_option(opts: dict[str, Any], config: ApacheConfig | None) -> str | FormatSpec:
    """``--format`` read against the configuration: a nickname it defines is its definition;
    anything else (a preset, a LogFormat string) as without a configuration."""
    fmt = opts.get("format") or S.FORMAT.default
    if config is not None:
        nickname = config.logformat(fmt.strip())
        if nickname is not None:
            return FormatSpec(fmt.strip(), nickname, ACCESS_TYPE)
    return fmt


def declared_spec(declared: DeclaredLog) -> FormatSpec:
    """The format a declared log file is written in."""
    if declared.kind == ERROR:
        return FormatSpec("error", "", ERROR_TYPE)
    return FormatSpec(declared.format_name, declared.logformat, ACCESS_TYPE)


class Routes:
    """Which Route the lines of a followed file take: the declared path that names the file,
    or that a rotated generation's name starts with (``access.log.1``, ``access.log-2026…``).
    Decided once per file (by its id), so a file renamed later keeps its route."""

    def __init__(self, by_path: dict[str, Route]) -> None:
        if not by_path:
            raise ValueError("no routes")
        self._by_path = by_path
        self._longest_first = sorted(by_path, key=len, reverse=True)
        self._by_file: dict[str, Route] = {}
        self._first = next(iter(by_path.values()))

    @property
    def all(self) -> tuple[Route, ...]:
        """Every route (for the longest key the pipeline must make room for)."""
        return tuple(self._by_path.values())

    def of(self, path: str) -> Route:
        """The route of a file followed under ``path``."""
        route = self._by_path.get(path)
        if route is not None:
            return route
        for declared in self._longest_first:
            if path.startswith(declared) and path[len(declared) : len(declared) + 1] in ".-_":
                return self._by_path[declared]
        return self._first

    def for_line(self, line: Any) -> Route:
        """The route of a tailer's Line (its ``file_id`` and ``path``)."""
        route = self._by_file.get(line.file_id)
        if route is None:
            if len(self._by_file) > 4096:
                self._by_file.clear()
            route = self._by_file[line.file_id] = self.of(line.path)
        return route


def declared_routes(config: ApacheConfig, opts: dict[str, Any]) -> tuple[list[str], Routes]:
    """The paths to follow and their routes: every file ``config`` declares, in its format
    and with its source, unless ``--format``/``--type``/``--source`` say otherwise.
    Raises ValueError when the configuration declares no file that can be followed."""
    if not config.logs:
        raise ValueError(
            f"--apache-config {config.path}: declares no CustomLog or ErrorLog that is a file"
        )
    host = socket.gethostname()
    override = format_option(opts, config) if opts.get("format") else None
    by_path: dict[str, Route] = {}
    for declared in config.logs:
        spec = declared_spec(declared)
        if override is not None and declared.kind != ERROR:
            spec = resolve_format(override)
        source = opts.get("source") or declared.source or host
        try:
            parser = LineParser(
                fmt=spec,
                source=source,
                type=opts.get("type") or None,
                max_line_bytes=opts.get("max_line_bytes") or S.MAX_LINE_BYTES.default,
                timezone=opts.get("timezone") or None,
            )
        except FormatError as exc:
            raise ValueError(f"{declared.path} (declared at {declared.where}): {exc}") from exc
        by_path[os.path.normpath(declared.path)] = Route(parser, source.encode("utf-8"))
        log.info(
            "apache configuration: following %s",
            declared.path,
            extra={"format": spec.name, "type": parser.type, "source": source},
        )
    return list(by_path), Routes(by_path)
