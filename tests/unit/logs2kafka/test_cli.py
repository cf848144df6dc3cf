"""logs2kafka tail/ship refuse unusable options with one line, not a traceback."""

from __future__ import annotations

from click.testing import CliRunner

from logpipe.logs2kafka.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_sasl_without_password(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("x\n")
    result = run(
        "ship", str(log), "--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-username", "u",
        "--kafka-ca-file", str(tmp_path / "ca.pem"),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "needs a user name and a password" in result.output
    assert "Traceback" not in result.output


def test_sasl_without_tls_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "pw")
    log = tmp_path / "a.log"
    log.write_text("x\n")
    result = run("ship", str(log), "--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-username", "u")
    assert result.exit_code == 1
    assert "without TLS would send the credentials in clear" in result.output
    assert "--allow-plaintext-credentials" in result.output
    assert "Traceback" not in result.output


def test_unusable_state_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run("tail", str(tmp_path / "a.log"), "--state-dir", str(blocker / "state"))
    assert result.exit_code == 1
    assert "state directory" in result.output


def test_bad_log_format(tmp_path):
    result = run("tail", str(tmp_path / "a.log"), "--format", "%{", "--dry-run")
    assert result.exit_code == 1
    assert "Error:" in result.output


def test_tail_help_lists_its_variables():
    result = run("tail", "--help")
    assert result.exit_code == 0
    for variable in ("LOGS2KAFKA_STATE_DIR", "LOGS2KAFKA_MAX_PENDING", "KAFKA_SASL_PASSWORD_FILE"):
        assert variable in result.output
