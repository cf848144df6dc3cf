"""The secure profile (`ctl up --secure`): not available yet."""

from __future__ import annotations

import ssl

from .profile import Profile


def _missing() -> NotImplementedError:
    return NotImplementedError("the secure profile is not available yet")


def ensure_certificates(profile: Profile) -> None:
    raise _missing()


def client_context(profile: Profile) -> ssl.SSLContext:
    raise _missing()


def kafka_properties(profile: Profile) -> str:
    raise _missing()


def kafka_format_arguments(profile: Profile) -> list[str]:
    raise _missing()


def cassandra_yaml(profile: Profile) -> str:
    raise _missing()


def cassandra_superuser() -> tuple[str, str]:
    raise _missing()
