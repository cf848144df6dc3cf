"""What logpipe uses of cassandra-driver beyond its documented API, pinned without a
server; a driver without it is one line at start-up."""

from __future__ import annotations

import importlib.metadata

import pytest
from click.testing import CliRunner

from logpipe.cassandra import surface
from logpipe.cassandra.surface import NEEDS, check_cassandra_driver
from logpipe.client_surface import ATTRIBUTE, ClientSurfaceError, Need, built_for, check_surface


@pytest.mark.parametrize("need", NEEDS, ids=lambda need: need.label)
def test_every_need_holds_in_the_installed_driver(need: Need) -> None:
    assert need.problem() is None


def test_the_installed_driver_is_the_one_logpipe_is_built_for() -> None:
    assert built_for("cassandra-driver") == importlib.metadata.version("cassandra-driver")
    check_cassandra_driver()


def test_a_timer_and_a_future_have_what_release_uses() -> None:
    from cassandra.cluster import ResponseFuture
    from cassandra.connection import Timer

    timer = Timer(3600.0, lambda: None)
    assert callable(timer.callback)
    assert ResponseFuture._timer is None  # the class default: no timer until started


def test_a_compiled_class_without_the_attribute_is_reported() -> None:
    needs = [Need("cassandra.connection:Timer", "on_expiry", ATTRIBUTE, "test", (), (0.0, None))]
    with pytest.raises(ClientSurfaceError) as raised:
        check_surface("cassandra-driver", needs)
    version = importlib.metadata.version("cassandra-driver")
    assert str(raised.value).startswith(
        f"cassandra-driver {version} lacks what logpipe uses: Timer.on_expiry "
    )


def test_kafka2cassandra_stops_at_start_with_that_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from logpipe.kafka2cassandra.cli import main as k2c

    check_cassandra_driver.cache_clear()
    gone = Need("cassandra.cluster:ResponseFuture", "_timer_gone", ATTRIBUTE, "test")
    monkeypatch.setattr(surface, "NEEDS", (*NEEDS, gone))
    try:
        for args in (["schema"], ["poll", "--bootstrap-servers", "127.0.0.1:1"]):
            result = CliRunner().invoke(k2c, args)
            assert result.exit_code == 1, result.output
            assert "cassandra-driver" in result.output
            assert "ResponseFuture._timer_gone" in result.output
            assert "Traceback" not in result.output
    finally:
        check_cassandra_driver.cache_clear()
