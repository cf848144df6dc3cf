"""``kafka2cassandra``: Kafka log envelopes into Cassandra rows."""

from __future__ import annotations

import click

from logpipe import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kafka2cassandra")
def main() -> None:
    """Consume log envelopes from Kafka and write them as rows of Cassandra."""
