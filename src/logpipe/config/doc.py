"""The settings table of the operator's guide (docs/settings.md), generated from the code.

Every setting of ``logpipe.config.settings.all_settings()`` is listed with its flag, environment
variable, default and meaning, and with the commands that accept it, found by walking
the options of the click commands themselves. Nothing is written by hand, so the table
cannot drift from what the programs do: ``make docs`` rewrites the file, and a unit test
fails while the committed file differs from what this module renders.

    python -m logpipe.config.doc docs/settings.md     # rewrite the file
    python -m logpipe.config.doc                      # print the table
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from logpipe.config.settings import Setting, all_settings

HEADER = """\
# Settings

Every setting of `logs2kafka` and `kafka2cassandra`: its command-line flag, the environment
variable it reads when the flag is not given, its default, and the commands that accept it.
A flag wins over its variable. The passwords have no flag (a command line is readable by
every user of the host): give them in a file (`*_PASSWORD_FILE`: a mounted Kubernetes
Secret, a file only the service user can read) or in their environment variable.

This file is generated from the code (the settings registry `src/logpipe/config/settings/`
and the commands in `src/logpipe/logs2kafka/cli.py` and `src/logpipe/kafka2cassandra/cli.py`);
do not edit it by hand. Run `make docs` to refresh it; a unit test fails while it is out of date.

| Flag | Environment variable | Default | Meaning | Used by |
|---|---|---|---|---|
"""


def _programs() -> dict[str, click.Command]:
    """The two programs by their installed names; imported here so that rendering sees
    every setting their modules define."""
    from logpipe.kafka2cassandra.cli import main as kafka2cassandra
    from logpipe.logs2kafka.cli import main as logs2kafka

    return {"logs2kafka": logs2kafka, "kafka2cassandra": kafka2cassandra}


def _walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    """Every command under ``command`` (itself included), with its full name."""
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from _walk(command.commands[name], f"{path} {name}")


def commands_by_env() -> dict[str, list[str]]:
    """Environment variable -> the commands (``logs2kafka tail`` ...) with that option."""
    found: dict[str, list[str]] = {}
    for name, program in _programs().items():
        for path, command in _walk(program, name):
            for param in command.params:
                if not isinstance(param, click.Option) or not param.envvar:
                    continue
                envvars = [param.envvar] if isinstance(param.envvar, str) else param.envvar
                for env in envvars:
                    users = found.setdefault(env, [])
                    if path not in users:
                        users.append(path)
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(setting: Setting) -> str:
    if setting.secret or setting.default is None or setting.default in ("", (), []):
        return "—"
    if setting.is_flag:
        return "on" if setting.default else "off"
    value = setting.default
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    return f"`{value}`"


def _meaning(setting: Setting) -> str:
    text = setting.help
    if setting.choices is not None:
        choices = ", ".join(f"`{c}`" for c in setting.choices)
        text = f"{text} One of: {choices}."
    if setting.is_flag:
        text = f"{text} (A switch: give the flag, or set the variable to `true`.)"
    if setting.multiple:
        text = f"{text} (May be given more than once.)"
    return text


def render() -> str:
    """The whole of docs/settings.md."""
    users = commands_by_env()  # first: it imports the modules that define settings
    rows = []
    for s in all_settings():
        # An environment-only setting is read by the commands of its companion setting.
        readers = users.get((s.read_with or s).env, [])
        used_by = "<br>".join(f"`{c}`" for c in readers) or "—"
        flag = f"`{s.flag}`" if s.flag else "— (environment only)"
        rows.append(
            f"| {flag} | `{s.env}` | {_cell(_default(s))} | {_cell(_meaning(s))} | {used_by} |"
        )
    return HEADER + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the table to the path given, or print it."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
