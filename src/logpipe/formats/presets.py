"""Named formats users can pick with ``--format NAME``, and reading a user's own string.

The LogFormat strings are httpd's own (``conf/httpd.conf`` and the mod_log_config
documentation); ``vhost_combined`` is Debian/Ubuntu's, the usual place it comes from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from logpipe.config.settings import FORMAT
from logpipe.formats.directives import FormatError

COMMON = '%h %l %u %t "%r" %>s %b'
COMBINED = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"'

#: name -> LogFormat string ("error" is not a LogFormat: it has a matcher of its own).
PRESETS: dict[str, str] = {
    "common": COMMON,
    "combined": COMBINED,
    "vhost_common": '%v %h %l %u %t "%r" %>s %b',
    "vhost_combined": '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    "combinedio": '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %I %O',
    "referer": "%{Referer}i -> %U",
    "agent": "%{User-agent}i",
    "error": "",
}

DEFAULT_FORMAT: str = FORMAT.default
ACCESS_TYPE = "www_access"
ERROR_TYPE = "www_error"


@dataclass(frozen=True)
class FormatSpec:
    """What ``--format`` resolved to."""

    name: str  # the preset name, or "custom"
    logformat: str  # the LogFormat string ("" for the error log)
    default_type: str  # the entry type when --type is not given


_CONF_LINE = re.compile(r'^\s*LogFormat\s+"((?:[^"\\]|\\.)*)"(?:\s+\S+)?\s*$', re.IGNORECASE)


def _unquote_conf(text: str) -> str:
    """Undo httpd.conf quoting: ``\\"`` -> ``"``, keeping ``\\n``/``\\t`` for the compiler."""
    return re.sub(r'\\(["\\])', r"\1", text) if '\\"' in text else text


def resolve_format(fmt: str | FormatSpec | None) -> FormatSpec:
    """A preset name, a LogFormat string, or a whole ``LogFormat "..." nick`` line.

    Strings are accepted as written inside httpd.conf (``\\"%r\\"``) or already unquoted
    (``"%r"``), with or without the surrounding quotes. Raises FormatError for a name
    that is no preset and holds no ``%`` directive. A FormatSpec (a format read from the
    host's Apache configuration) is taken as it is.
    """
    if isinstance(fmt, FormatSpec):
        return fmt
    text = (fmt or DEFAULT_FORMAT).strip()
    if text.lower() in PRESETS:
        name = text.lower()
        return FormatSpec(name, PRESETS[name], ERROR_TYPE if name == "error" else ACCESS_TYPE)
    conf = _CONF_LINE.match(text)
    if conf is not None:
        text = conf.group(1)
    elif (
        len(text) >= 2
        and text[0] == text[-1] == '"'
        and '\\"' in text
        and text.count('"') - text.count('\\"') == 2
    ):
        text = text[1:-1]
    if "%" not in text:
        known = ", ".join(sorted(PRESETS))
        raise FormatError(f"unknown format {fmt!r}: give a preset ({known}) or a LogFormat string")
    return FormatSpec("custom", _unquote_conf(text), ACCESS_TYPE)
