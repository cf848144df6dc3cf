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


def _row(setting: settings.Setting) -> str:
    return next(r for r in render().splitlines() if f"| `{setting.env}` |" in r)


def test_every_setting_has_one_row_with_its_flag_variable_and_default() -> None:
    rows = [line for line in render().splitlines() if line.startswith(("| `--", "| — "))]
    assert len(rows) == len(settings.all_settings())
    for setting, row in zip(settings.all_settings(), rows, strict=True):
        flag = f"`{setting.flag}`" if setting.flag else "— (environment only)"
        assert row.startswith(f"| {flag} | `{setting.env}` |")
        default = setting.default
        if isinstance(default, list | tuple):
            default = ",".join(str(d) for d in default)
        if default not in (None, "") and not setting.secret and not setting.is_flag:
            assert f"`{default}`" in row, setting.name


def test_secrets_show_no_default() -> None:
    for setting in settings.all_settings():
        if setting.secret:
            assert _row(setting).split(" | ")[2] == "—"


def test_passwords_have_no_flag_but_their_variables_are_listed_with_their_readers() -> None:
    """A flag would put the secret in /proc/*/cmdline; the variables stay, and the guide
    says which commands read them (those of their *_PASSWORD_FILE companion)."""
    users = commands_by_env()
    for secret, companion in (
        (settings.KAFKA_SASL_PASSWORD, settings.KAFKA_SASL_PASSWORD_FILE),
        (settings.CASSANDRA_PASSWORD, settings.CASSANDRA_PASSWORD_FILE),
    ):
        assert secret.flag is None and secret.secret
        assert secret.env not in users  # no command has an option for it
        row = _row(secret)
        assert row.startswith(f"| — (environment only) | `{secret.env}` |")
        for command in users[companion.env]:
            assert f"`{command}`" in row
    assert not any(s.flag and "password" in s.flag and not s.flag.endswith("-file")
                   for s in settings.all_settings())  # fmt: skip


def test_the_commands_are_read_from_the_programs_themselves() -> None:
    users = commands_by_env()
    assert "kafka2cassandra poll" in users["KAFKA_BOOTSTRAP_SERVERS"]
    assert "logs2kafka tail" in users["KAFKA_BOOTSTRAP_SERVERS"]
    assert "kafka2cassandra schema" in users["CASSANDRA_KEYSPACE"]
    assert "logs2kafka tail" not in users.get("CASSANDRA_KEYSPACE", [])
