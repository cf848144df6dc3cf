"""docs/settings.md is generated from the code and committed; it must match the code."""

from __future__ import annotations

from logpipe.config import settings
from logpipe.config.doc import commands_by_env, render
from tests.support.paths import ROOT

DOC = ROOT / "docs" / "settings.md"


def test_the_committed_settings_table_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/settings.md differs from the code: run `make docs` and commit the file"
    )


def test_every_setting_has_one_row_with_its_flag_variable_and_default() -> None:
    rows = [line for line in render().splitlines() if line.startswith("| `--")]
    assert len(rows) == len(settings.all_settings())
    for setting, row in zip(settings.all_settings(), rows, strict=True):
        assert row.startswith(f"| `{setting.flag}` | `{setting.env}` |")
        default = setting.default
        if isinstance(default, list | tuple):
            default = ",".join(str(d) for d in default)
        if default not in (None, "") and not setting.secret and not setting.is_flag:
            assert f"`{default}`" in row, setting.name


def test_secrets_show_no_default() -> None:
    for setting in settings.all_settings():
        if setting.secret:
            row = next(r for r in render().splitlines() if r.startswith(f"| `{setting.flag}`"))
            assert row.split(" | ")[2] == "—"


def test_the_commands_are_read_from_the_programs_themselves() -> None:
    users = commands_by_env()
    assert "kafka2cassandra poll" in users["KAFKA_BOOTSTRAP_SERVERS"]
    assert "logs2kafka tail" in users["KAFKA_BOOTSTRAP_SERVERS"]
    assert "kafka2cassandra schema" in users["CASSANDRA_KEYSPACE"]
    assert "logs2kafka tail" not in users.get("CASSANDRA_KEYSPACE", [])
