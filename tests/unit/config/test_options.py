"""Click options from the settings: environment-only secrets, shared settings given once."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from logpipe.config import settings
from logpipe.config.options import option, options
from logpipe.config.registry import define


def test_an_environment_only_setting_has_no_option() -> None:
    with pytest.raises(ValueError, match="environment only"):
        option(settings.KAFKA_SASL_PASSWORD)


def test_an_environment_only_setting_must_say_what_reads_it() -> None:
    with pytest.raises(ValueError, match="read_with"):
        define("orphan_secret", None, "LOGPIPE_TEST_ORPHAN_SECRET", None, "x", secret=True)


def test_a_setting_listed_in_two_groups_is_one_option() -> None:
    @click.command()
    @options(*settings.KAFKA, *settings.CASSANDRA)
    def command(**opts: object) -> None:
        click.echo(repr(opts["allow_plaintext_credentials"]))

    names = [p.name for p in command.params]
    assert names.count("allow_plaintext_credentials") == 1
    result = CliRunner().invoke(command, ["--allow-plaintext-credentials"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "True"


@pytest.mark.parametrize("flag", ["--kafka-sasl-password", "--cassandra-password"])
def test_the_password_flags_are_gone(flag: str) -> None:
    from logpipe.kafka2cassandra.cli import main as k2c
    from logpipe.logs2kafka.cli import main as l2k

    for program, args in ((l2k, ["tail", "x.log"]), (k2c, ["poll"])):
        result = CliRunner().invoke(program, [*args, flag, "secret"])
        assert result.exit_code == 2
        assert "No such option" in result.output


def test_kafka2cassandra_refuses_a_cassandra_user_without_tls_in_one_line() -> None:
    from logpipe.kafka2cassandra.cli import main as k2c

    result = CliRunner().invoke(k2c, ["schema", "--cassandra-username", "u"])
    assert result.exit_code == 1
    assert "in clear" in result.output and "--cassandra-ca-file" in result.output
    assert "Traceback" not in result.output and result.exception is not None
