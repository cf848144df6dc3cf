"""Every setting of both daemons, defined once: its flag, its environment variable, its default.

The CLIs build click options from these definitions (``logpipe.config.options``), the
operator's guide lists them (``all_settings()``), and tests check one against the other, so
a flag, its variable and its documented default cannot drift apart.

The definitions are grouped by who uses them (``shared``, ``security``, ``logs2kafka``,
``kafka2cassandra``); this package is the one place to import them from. Importing it
registers every setting, in the order the operator's guide lists them: the imports below
are in that order on purpose.
"""

# ruff: noqa: I001, F403

from __future__ import annotations

from logpipe.config.registry import Setting as Setting
from logpipe.config.registry import all_settings as all_settings
from logpipe.config.settings.shared import *
from logpipe.config.settings.security import *
from logpipe.config.settings.logs2kafka import *
from logpipe.config.settings.kafka2cassandra import *
