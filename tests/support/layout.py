"""The table layout the suite runs on.

The tutorial's by default; with ``KAFKA2CASSANDRA_LAYOUT=bucketed`` in the environment
(``make test-bucketed``) a bucketed one, of ``KAFKA2CASSANDRA_BUCKET`` (1h unless set).
``kafka2cassandra schema`` reads the same variables, and the poller reads the layout from
the table, so tests that make their tables either way run on the layout asked for; a test
about one layout names it.
"""

from __future__ import annotations

import os


def suite_bucket() -> str | None:
    """The bucket of the tables the suite makes, or None for the tutorial's layout."""
    if os.environ.get("KAFKA2CASSANDRA_LAYOUT", "tutorial") != "bucketed":
        return None
    return os.environ.get("KAFKA2CASSANDRA_BUCKET", "1h")
