"""``logs2kafka``: Apache log files into Kafka."""

from __future__ import annotations

import sys
from collections.abc import Callable
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
@click.argument("paths", nargs=-1)
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

    Without PATH, --apache-config FILE follows every CustomLog and ErrorLog the host's
    Apache configuration declares, each in its declared format, with the ServerName of
    its virtual host as source (--format, --type, --source override them).

    The checkpoint under --state-dir moves only past lines Kafka acknowledged; SIGTERM
    flushes, writes it and exits 0 within --shutdown-timeout.
    """
    from logpipe.logs2kafka.tail_command import run_tail

    ctx = click.get_current_context()
    if ctx.get_parameter_source("format") is click.core.ParameterSource.DEFAULT:
        opts["format"] = None  # declared formats win over the default, not over a flag
    _run(run_tail, list(paths), opts)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@options(*S.PARSING, S.STATE_DIR, *S.PRODUCER, S.DRY_RUN, *S.KAFKA, *S.COMMON)
def ship(files: tuple[str, ...], **opts: Any) -> None:
    """Send FILE... (plain or gzip) once; exit 0 when Kafka acknowledged every line.

    A line Kafka refuses for good is written to rejects.jsonl under --state-dir.
    """
    from logpipe.logs2kafka.ship import run_ship

    _run(run_ship, list(files), opts)


@main.command()
@click.argument("file", default="-", type=click.File("rb"))
@options(*S.PARSING)
def parse(file: BinaryIO, **opts: Any) -> None:
    """Print the envelope of every line of FILE (default: stdin) as JSON lines.

    A one-line summary (lines, parsed, parse errors, truncated) goes to stderr. Run it on
    a sample of your log to check --format before shipping.
    """
    from logpipe.formats import FormatError
    from logpipe.logs2kafka.parse import run_parse
    from logpipe.logs2kafka.setup import SetupError

    out = sys.stdout.buffer
    try:
        code = run_parse(file, opts, out, sys.stderr)
    except FormatError as exc:
        raise click.BadParameter(str(exc), param_hint="'--format'") from None
    except SetupError as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


@main.command()
@options(S.APACHE_CONFIG)
def formats(**opts: Any) -> None:
    """Print the formats --format takes, and with --apache-config what the host's Apache
    configuration declares: its LogFormat nicknames, the log files tail would follow
    (path, type, format, source) and what is reported instead of followed (piped logs,
    syslog, conditional logging, BufferedLogs, undefined variables)."""
    from logpipe.logs2kafka.formats_command import run_formats
    from logpipe.logs2kafka.setup import SetupError

    try:
        sys.stdout.write(run_formats(opts))
    except SetupError as exc:
        raise click.ClickException(str(exc)) from None


def _run(
    command: Callable[[list[str], dict[str, Any]], int], args: list[str], opts: dict[str, Any]
) -> None:
    """Log as the options say, run ``command``, exit with its code; a SetupError is one
    line on stderr (exit 1), not a traceback."""
    from logpipe.logs2kafka.setup import SetupError

    setup_logging(opts["log_level"], opts["log_format"])
    try:
        code = command(args, opts)
    except SetupError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)
