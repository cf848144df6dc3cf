"""Click options built from the settings registry: only the CLIs and this module import click."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from logpipe.config.settings import Setting


def option(setting: Setting) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A click option for this setting (the variable appears in ``--help``)."""
    if setting.flag is None:
        raise ValueError(f"{setting.env} is read from the environment only: it has no option")
    kwargs: dict[str, Any] = {
        "envvar": setting.env,
        "help": setting.help,
        "show_envvar": True,
        "show_default": not setting.secret and setting.default not in (None, ""),
    }
    if setting.is_flag:
        kwargs["is_flag"] = True
        kwargs["default"] = bool(setting.default)
    else:
        kwargs["default"] = setting.default
        kwargs["type"] = _click_type(setting)
        kwargs["multiple"] = setting.multiple
    return click.option(setting.flag, setting.name, **kwargs)


def _click_type(setting: Setting) -> Any:
    """The click parameter type that checks a setting's choices or bounds."""
    if setting.choices is not None:
        return click.Choice(list(setting.choices), case_sensitive=setting.case_sensitive)
    if setting.minimum is not None or setting.maximum is not None:
        ranged = click.IntRange if setting.type is int else click.FloatRange
        return ranged(min=setting.minimum, max=setting.maximum)
    return setting.type


def options(*settings: Setting) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a click command with the options of these settings, in this order.

    A setting listed twice (one shared by two groups, such as ALLOW_PLAINTEXT_CREDENTIALS
    in KAFKA and CASSANDRA) becomes one option, at its first place; two settings that
    share a flag (``--kafka-client`` of either daemon) cannot both be options of one command.
    """
    unique = list(dict.fromkeys(settings))
    flags = [s.flag for s in unique if s.flag]
    twice = sorted({f for f in flags if flags.count(f) > 1})
    if twice:
        raise ValueError(f"two settings of one command share the flag {', '.join(twice)}")

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for setting in reversed(unique):
            func = option(setting)(func)
        return func

    return decorate
