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


def test_one_flag_names_a_setting_of_each_daemon_with_its_own_variable() -> None:
    """``--kafka-client``: logs2kafka's producer client and kafka2cassandra's consumer
    client, each with its own variable; no command takes both."""
    from logpipe.config.doc import commands_by_env

    producer, consumer = settings.KAFKA_CLIENT, settings.CONSUMER_KAFKA_CLIENT
    assert producer.flag == consumer.flag == "--kafka-client"
    users = commands_by_env()
    assert "kafka2cassandra poll" in users[consumer.env]
    assert not any(c.startswith("kafka2cassandra") for c in users[producer.env])
    assert not any(c.startswith("logs2kafka") for c in users[consumer.env])
    with pytest.raises(ValueError, match="share the flag --kafka-client"):
        options(producer, consumer)


def test_a_variable_cannot_be_defined_twice() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        define("another_client", "--another-client", settings.CONSUMER_KAFKA_CLIENT.env, "", "x")
