"""Times written without a UTC offset (the error log) are local times: of the host's zone
(TZ, /etc/localtime) or of --timezone, with the offset in force at that moment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from logpipe.formats import LineParser, zones
from logpipe.formats.zones import SystemZone, has_offset, host_zone, with_offset

BIN = Path(sys.executable).parent
WINTER = b"[Tue Jan 09 10:42:29.902022 2024] [core:error] [pid 7] [client 192.0.2.1:5] AH00128: x"
SUMMER = b"[Tue Jul 09 10:42:29 2024] [core:error] [pid 7] AH00128: y"


def error_time(line: bytes, timezone: str | None = None) -> str:
    entry = LineParser("error", source="s", timezone=timezone).parse(line)
    assert entry.parse_error is None, entry.parse_error
    return entry.datetime


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")


def test_the_hosts_zone_from_tz_winter_and_summer(berlin) -> None:
    assert error_time(WINTER) == "2024-01-09T10:42:29.902022+01:00"
    assert error_time(SUMMER) == "2024-07-09T10:42:29+02:00"


def test_timezone_wins_over_the_hosts_zone(berlin) -> None:
    assert error_time(WINTER, "America/New_York") == "2024-01-09T10:42:29.902022-05:00"
    assert error_time(SUMMER, "America/New_York") == "2024-07-09T10:42:29-04:00"
    assert error_time(SUMMER, "UTC") == "2024-07-09T10:42:29+00:00"


def test_the_hour_repeated_when_clocks_go_back_is_read_as_the_first() -> None:
    line = b"[Sun Oct 27 02:30:00 2024] [core:error] [pid 7] z"
    assert error_time(line, "Europe/Berlin") == "2024-10-27T02:30:00+02:00"
    assert error_time(b"[Sun Oct 27 03:30:00 2024] [core:error] [pid 7] z", "Europe/Berlin") == (
        "2024-10-27T03:30:00+01:00"
    )


def test_times_with_an_offset_are_left_alone(berlin) -> None:
    entry = LineParser("combined").parse(
        b'1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2 "-" "-"'
    )
    assert entry.datetime == "2000-10-10T13:55:36-07:00"
    assert has_offset("2000-10-10T13:55:36Z") and not has_offset("2000-10-10T13:55:36.1")


def test_a_custom_format_without_z_is_local_time_too(berlin) -> None:
    entry = LineParser("%{%Y-%m-%d %H:%M:%S}t %h").parse(b"2024-01-09 10:00:00 192.0.2.1")
    assert entry.datetime == "2024-01-09T10:00:00+01:00"


def test_the_hosts_zone_from_etc_localtime(monkeypatch: pytest.MonkeyPatch) -> None:
    from zoneinfo import TZPATH

    berlin = next(Path(p) / "Europe/Berlin" for p in TZPATH if (Path(p) / "Europe/Berlin").exists())
    monkeypatch.delenv("TZ", raising=False)
    monkeypatch.setattr(zones, "LOCALTIME", str(berlin))
    assert error_time(SUMMER) == "2024-07-09T10:42:29+02:00"
    monkeypatch.setattr(zones, "LOCALTIME", "/nonexistent/localtime")
    assert error_time(SUMMER) == "2024-07-09T10:42:29+00:00"  # as the C library: UTC


def test_a_posix_tz_rule_is_read_through_the_c_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")
    time.tzset()
    try:
        zone = host_zone()
        assert isinstance(zone, SystemZone)
        assert with_offset("2024-01-09T10:00:00", zone) == "2024-01-09T10:00:00+01:00"
        assert with_offset("2024-07-09T10:00:00", zone) == "2024-07-09T10:00:00+02:00"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        LineParser("error", timezone="Mars/Olympus_Mons")


@pytest.mark.parametrize(
    ("tz", "args", "winter", "summer"),
    [
        ("Europe/Berlin", [], "+01:00", "+02:00"),
        ("Europe/Berlin", ["--timezone", "Asia/Kolkata"], "+05:30", "+05:30"),
        ("UTC", ["--timezone", "Europe/Berlin"], "+01:00", "+02:00"),
    ],
)
def test_the_parse_command_with_tz_set_for_the_process(
    tz: str, args: list[str], winter: str, summer: str
) -> None:
    result = subprocess.run(
        [str(BIN / "logs2kafka"), "parse", "--format", "error", *args],
        input=WINTER + b"\n" + SUMMER + b"\n",
        env={**os.environ, "TZ": tz},
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert f'"datetime":"2024-01-09T10:42:29.902022{winter}"' in lines[0]
    assert f'"datetime":"2024-07-09T10:42:29{summer}"' in lines[1]
