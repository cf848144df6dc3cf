"""Apache log formats: LogFormat strings compiled once, and lines parsed into LogEntry.

``LineParser`` is the entry point; ``PRESETS`` names the formats users pick by name and
``resolve_format`` reads what a user passed to ``--format``.
"""

from logpipe.formats.directives import FormatError
from logpipe.formats.logformat import CompiledFormat, compile_logformat
from logpipe.formats.parser import DEFAULT_MAX_LINE_BYTES, LineParser
from logpipe.formats.presets import DEFAULT_FORMAT, PRESETS, FormatSpec, resolve_format

__all__ = [
    "DEFAULT_FORMAT",
    "DEFAULT_MAX_LINE_BYTES",
    "PRESETS",
    "CompiledFormat",
    "FormatError",
    "FormatSpec",
    "LineParser",
    "compile_logformat",
    "resolve_format",
]
