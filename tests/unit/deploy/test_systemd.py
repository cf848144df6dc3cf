"""The systemd unit of logs2kafka, read the way systemd reads it (sections of key=value)."""

from __future__ import annotations

import shlex

import pytest

from logpipe.config import settings
from tests.support.paths import ROOT

ROOT = ROOT
UNIT = ROOT / "deploy" / "systemd" / "logs2kafka.service"
DEFAULTS = ROOT / "deploy" / "systemd" / "logs2kafka.default"
# The unit's own variable: the positional PATHS of `logs2kafka tail`, not a setting.
UNIT_VARIABLES = {"LOGS2KAFKA_PATHS"}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections of ``Key=Value`` lines, as systemd reads them: ``#`` and ``;`` start a
    comment, a trailing backslash continues a line, and a key given again adds a value."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{line!r} before the first section"
        key, sep, value = line.partition("=")
        assert sep, f"not a Key=Value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def unit() -> dict[str, dict[str, list[str]]]:
    return parse_unit(UNIT.read_text())


def one(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str:
    values = unit[section][key]
    assert len(values) == 1, f"{key} given {len(values)} times"
    return values[0]


def unit_environment(unit: dict[str, dict[str, list[str]]]) -> dict[str, str]:
    env = {}
    for line in unit["Service"].get("Environment", []):
        for assignment in shlex.split(line):
            name, _, value = assignment.partition("=")
            env[name] = value
    return env


def test_it_restarts_on_failure_and_stops_in_time(unit) -> None:
    assert one(unit, "Service", "Restart") == "on-failure"
    stop = one(unit, "Service", "TimeoutStopSec")
    assert float(stop.rstrip("s")) > settings.SHUTDOWN_TIMEOUT.default
    assert one(unit, "Service", "KillSignal") == "SIGTERM"
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


def test_it_runs_as_its_own_user_with_read_access_to_the_apache_logs(unit) -> None:
    assert one(unit, "Service", "User") == "logs2kafka"
    assert one(unit, "Service", "Group") == "logs2kafka"
    assert "adm" in one(unit, "Service", "SupplementaryGroups").split()


def test_its_checkpoints_live_in_its_state_directory(unit) -> None:
    assert one(unit, "Service", "StateDirectory") == "logs2kafka"
    assert unit_environment(unit)["LOGS2KAFKA_STATE_DIR"] == "/var/lib/logs2kafka"


def test_it_tails_the_paths_of_its_environment_file(unit) -> None:
    assert one(unit, "Service", "EnvironmentFile") == "/etc/default/logs2kafka"
    command = shlex.split(one(unit, "Service", "ExecStart"))
    assert command[0].endswith("/logs2kafka") and command[0].startswith("/")
    assert command[1:] == ["tail", "$LOGS2KAFKA_PATHS"]


def test_it_is_hardened(unit) -> None:
    service = {k: v[-1] for k, v in unit["Service"].items()}
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "yes"
    assert service["PrivateTmp"] == "yes"
    assert service["CapabilityBoundingSet"] == ""
    assert service["RestrictSUIDSGID"] == "yes"
    assert service["SystemCallFilter"].startswith("@system-service")
    assert set(service["RestrictAddressFamilies"].split()) <= {"AF_INET", "AF_INET6", "AF_UNIX"}


def test_every_variable_it_sets_is_a_setting(unit) -> None:
    known = {s.env for s in settings.all_settings()} | UNIT_VARIABLES
    assert set(unit_environment(unit)) <= known
    for line in DEFAULTS.read_text().splitlines():
        line = line.lstrip("#").strip()
        name, sep, _ = line.partition("=")
        if sep and name.isupper() and " " not in name:
            assert name in known, f"{name} in logs2kafka.default is not a setting"


def test_the_example_settings_are_accepted_by_the_command(
    unit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unit's variables, then the file's (commented examples too), parse as tail's options."""
    from logpipe.logs2kafka.cli import main as logs2kafka

    env = unit_environment(unit)
    for line in DEFAULTS.read_text().splitlines():
        line = line.lstrip("#").strip()
        name, sep, value = line.partition("=")
        if sep and name.isupper() and " " not in name:
            env[name] = value
    command = shlex.split(one(unit, "Service", "ExecStart"))
    args = [a for word in command[2:] for a in env[word[1:]].split()]
    with monkeypatch.context() as m:
        for s in settings.all_settings():
            m.delenv(s.env, raising=False)
        for name, value in env.items():
            m.setenv(name, value)
        ctx = logs2kafka.commands["tail"].make_context("logs2kafka tail", args)
    assert ctx.params["state_dir"] == "/var/lib/logs2kafka"
    assert ctx.params["paths"] == ("/var/log/apache2/access.log",)
