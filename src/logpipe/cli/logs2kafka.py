"""``logs2kafka``: Apache log files into Kafka."""

from __future__ import annotations

import click

from logpipe import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="logs2kafka")
def main() -> None:
    """Follow Apache access logs and ship every line to Kafka as a JSON envelope."""
