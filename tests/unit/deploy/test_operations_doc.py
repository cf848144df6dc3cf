"""docs/operations.md names metrics, headers, settings and commands: each must exist."""

from __future__ import annotations

import re

import click

from logpipe.config import settings
from logpipe.kafka2cassandra import poller
from logpipe.kafka2cassandra.poller import PollerMetrics
from logpipe.logs2kafka.metrics import Metrics
from tests.support.paths import ROOT

ROOT = ROOT
DOC = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end != -1 else len(DOC)]


def documented_metrics() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Metric name -> (type, labels) from the table of the Metrics section."""
    found = {}
    for line in section("Metrics and health").splitlines():
        match = re.match(r"\| `([a-z0-9_]+)` \| (\w+) \|([^|]*)\|", line)
        if match:
            labels = tuple(re.findall(r"`([a-z_]+)`", match.group(3)))
            found[match.group(1)] = (match.group(2), labels)
    return found


def exposed_metrics() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Metric name (as Prometheus shows it) -> (type, labels), from the daemons' code."""
    found = {}
    for metrics in (Metrics(), PollerMetrics()):
        for value in vars(metrics).values():
            labels = getattr(value, "_labelnames", None)
            if labels is None:
                continue
            (family,) = [f for f in value.describe()]
            name = family.name + ("_total" if family.type == "counter" else "")
            found[name] = (family.type, tuple(labels))
    return found


def test_the_metrics_list_is_the_daemons_metrics() -> None:
    exposed = exposed_metrics()
    assert len(exposed) >= 10
    assert documented_metrics() == exposed


def test_the_dead_letter_headers_are_the_pollers() -> None:
    dlq = section("Runbook")
    for header in (
        poller.DLQ_ERROR,
        poller.DLQ_REASON,
        poller.DLQ_TOPIC,
        poller.DLQ_PARTITION,
        poller.DLQ_OFFSET,
    ):
        assert f"`{header}`" in dlq, header


def test_every_variable_named_is_a_setting() -> None:
    known = {s.env for s in settings.all_settings()} | {"LOGS2KAFKA_PATHS"}
    named = set(re.findall(r"`([A-Z][A-Z0-9]*_[A-Z0-9_]+)`", DOC))
    named -= {"PYTHONUNBUFFERED"}
    assert named, "the guide names settings"
    assert named <= known, sorted(named - known)


def test_every_command_line_shown_uses_existing_commands_and_options() -> None:
    from logpipe.kafka2cassandra.cli import main as kafka2cassandra
    from logpipe.logs2kafka.cli import main as logs2kafka

    programs: dict[str, click.Group] = {
        "logs2kafka": logs2kafka,
        "kafka2cassandra": kafka2cassandra,
    }
    text = re.sub(r"\\\n\s*", " ", DOC)  # join continued shell lines
    pattern = r"\b(logs2kafka|kafka2cassandra) (tail|ship|parse|poll|schema|query)\b([^`\n]*)"
    shown = re.findall(pattern, text)
    assert len(shown) >= 5
    for program, name, rest in shown:
        assert name in programs[program].commands, f"{program} {name}"
        command = programs[program].commands[name]
        flags = {opt for p in command.params for opt in getattr(p, "opts", [])}
        flags |= {"--help"}
        rest = re.sub(r"'[^']*'", "", rest)  # quoted values (a LogFormat) hold no options
        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest):
            assert flag in flags, f"{program} {name} has no option {flag}"
