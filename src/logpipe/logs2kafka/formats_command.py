"""``logs2kafka formats``: what ``--format`` can name, and what the host's Apache
configuration declares (so an operator sees what ``tail --apache-config`` will follow
before starting it)."""

from __future__ import annotations

from typing import Any

from logpipe.formats import PRESETS
from logpipe.formats.apacheconf import describe
from logpipe.logs2kafka.setup import apache_config


def run_formats(opts: dict[str, Any]) -> str:
    """The text ``logs2kafka formats`` prints. Raises SetupError for an unreadable
    configuration."""
    out = ["presets (--format NAME):"]
    width = max(len(name) for name in PRESETS)
    for name, logformat in PRESETS.items():
        out.append(f"  {name.ljust(width)}  {logformat or '(Apache error log)'}")
    text = "\n".join(out) + "\n"
    config = apache_config(opts)
    if config is not None:
        text += describe(config)
    return text
