"""What logpipe uses of cassandra-driver beyond its documented API, checked at start-up.

Each entry says where it is used and why. ``check_cassandra_driver`` runs before
kafka2cassandra connects: a driver release without one of these stops the daemon with
one line naming the version, instead of memory growing or a schema step failing later
with nothing said.
"""

from __future__ import annotations

from functools import cache

from logpipe.client_surface import ATTRIBUTE, METHOD, Need, check_surface

DISTRIBUTION = "cassandra-driver"

NEEDS: tuple[Need, ...] = (
    # writer.release: a completed request's memory freed by reference counting, not left
    # to the cyclic collector (the future and its timeout timer refer to each other).
    Need("cassandra.cluster:ResponseFuture", "clear_callbacks", METHOD, "freeing requests"),
    Need("cassandra.cluster:ResponseFuture", "_timer", ATTRIBUTE, "freeing requests"),
    Need("cassandra.connection:Timer", "callback", ATTRIBUTE, "freeing requests", (), (0.0, None)),
    # store.Store.apply_schema: wait until every node sees the new table.
    Need("cassandra.cluster:Cluster", "control_connection", ATTRIBUTE, "schema agreement"),
    Need(
        "cassandra.cluster:ControlConnection",
        "wait_for_schema_agreement",
        METHOD,
        "schema agreement",
        ("connection", "preloaded_results", "wait_time"),
    ),
)


@cache
def check_cassandra_driver() -> None:
    """Raise ClientSurfaceError when the installed driver lacks what logpipe uses."""
    check_surface(DISTRIBUTION, NEEDS)
