"""The settings registry: what a setting is, and the rule that each is defined once.

The definitions themselves are in ``logpipe.config.settings``; the click options are built
from them in ``logpipe.config.options`` and the operator's table in ``logpipe.config.doc``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One configurable value: ``--flag`` / ``ENV_VAR`` / default.

    ``flag`` None: read from the environment only (a secret: what is on a command line
    shows in ``ps`` and ``/proc/*/cmdline`` to every user of the host). Such a setting
    names the setting it is read with (``read_with``: its ``*_FILE`` companion), so the
    guide can say which commands read it.
    """

    name: str
    flag: str | None
    env: str
    default: Any
    help: str
    type: Any = str
    secret: bool = False
    multiple: bool = False
    is_flag: bool = False
    #: The only values allowed (the CLI checks them; the guide lists them).
    choices: tuple[str, ...] | None = None
    case_sensitive: bool = True
    #: Bounds of a number, inclusive.
    minimum: float | None = None
    maximum: float | None = None
    #: For an environment-only setting: the setting whose commands read it too.
    read_with: Setting | None = None


_REGISTRY: dict[str, Setting] = {}


def define(name: str, flag: str | None, env: str, default: Any, help: str, **extra: Any) -> Setting:
    """Register a setting; a name or variable may be defined only once.

    A flag may name two settings of different commands, each with its own variable
    (``--kafka-client``: logs2kafka's producer, kafka2cassandra's consumer); one command
    cannot take both (``logpipe.config.options.options`` refuses it).
    """
    setting = Setting(name=name, flag=flag, env=env, default=default, help=help, **extra)
    if (flag is None) != (setting.read_with is not None):
        raise ValueError(f"{name}: an environment-only setting (no flag) needs read_with")
    for other in _REGISTRY.values():
        if other.name == name or other.env == env:
            raise ValueError(f"setting defined twice: {name} / {flag} / {env}")
    _REGISTRY[name] = setting
    return setting


def all_settings() -> list[Setting]:
    """Every defined setting, in definition order."""
    return list(_REGISTRY.values())
