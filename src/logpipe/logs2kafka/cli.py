"""``logs2kafka``: Apache log files into Kafka."""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

import click

from logpipe import __version__
from logpipe.config import settings as S
from logpipe.config.options import options
from logpipe.observability import setup_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="logs2kafka")
def main() -> None:
    """Follow Apache access logs and ship every line to Kafka as a JSON envelope."""


@main.command()
@click.argument("paths", nargs=-1, required=True)
@options(
    *S.PARSING,
    S.STATE_DIR,
    S.FROM_BEGINNING,
    S.PARTIAL_LINE_TIMEOUT,
    *S.PRODUCER,
    S.UNHEALTHY_AFTER,
    S.SHUTDOWN_TIMEOUT,
    S.DRY_RUN,
    *S.KAFKA,
    *S.COMMON,
)
def tail(paths: tuple[str, ...], **opts: Any) -> None:
    """Follow PATH... (files or globs) like tail -F and ship every line to Kafka.

    The checkpoint under --state-dir moves only past lines Kafka acknowledged; SIGTERM
    flushes, writes it and exits 0 within --shutdown-timeout.
    """
    from logpipe.logs2kafka.forwarder import SetupError, run_tail

    setup_logging(opts["log_level"], opts["log_format"])
    try:
        code = run_tail(list(paths), opts)
    except SetupError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@options(*S.PARSING, *S.PRODUCER, S.DRY_RUN, *S.KAFKA, *S.COMMON)
def ship(files: tuple[str, ...], **opts: Any) -> None:
    """Send FILE... (plain or gzip) once; exit 0 when Kafka acknowledged every line."""
    from logpipe.logs2kafka.forwarder import SetupError
    from logpipe.logs2kafka.ship import run_ship

    setup_logging(opts["log_level"], opts["log_format"])
    try:
        code = run_ship(list(files), opts)
    except SetupError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)


@main.command()
@click.argument("file", default="-", type=click.File("rb"))
@options(*S.PARSING)
def parse(file: BinaryIO, **opts: Any) -> None:
    """Print the envelope of every line of FILE (default: stdin) as JSON lines.

    A one-line summary (lines, parsed, parse errors, truncated) goes to stderr. Run it on
    a sample of your log to check --format before shipping.
    """
    from logpipe.formats import FormatError
    from logpipe.formats.stream import run_parse

    out = sys.stdout.buffer
    try:
        code = run_parse(file, opts, out, sys.stderr)
    except FormatError as exc:
        raise click.BadParameter(str(exc), param_hint="'--format'") from None
    sys.exit(code)
