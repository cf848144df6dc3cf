"""Checking, at start-up, the private parts of a client library that logpipe relies on.

The fast paths reach into kafka-python and cassandra-driver below their public API (see
``logpipe.kafka.surface`` and ``logpipe.cassandra.surface`` for what and why). A release
that renames one of those parts must not turn into commits failing forever or a probe
failing forever with nothing said: each daemon checks the list before it starts and
stops with one line naming the library, its version and what is missing.

A ``Need`` names an owner as ``module:Class`` and one name on it: a method (callable on the
class, optionally with its leading parameters), or an attribute (on the class, or assigned
by its ``__init__``: instance attributes are read from the names ``__init__``'s code
uses, so nothing connects; a compiled class is looked at on a throwaway instance).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

METHOD: Literal["method"] = "method"
ATTRIBUTE: Literal["attribute"] = "attribute"


class ClientSurfaceError(RuntimeError):
    """The installed client library lacks something logpipe uses (one line, for the log)."""


@dataclass(frozen=True)
class Need:
    """One private name of a client library that logpipe uses, and what for."""

    owner: str  # "package.module:Class"
    name: str
    kind: Literal["method", "attribute"]
    why: str
    #: The parameters a method must take first, in this order (after ``self``).
    params: tuple[str, ...] = ()
    #: For an attribute a compiled class (Cython) sets in ``__init__``, where its code
    #: cannot be read: arguments that construct a throwaway instance to look at.
    construct: tuple[Any, ...] | None = None

    @property
    def label(self) -> str:
        return f"{self.owner.rpartition(':')[2]}.{self.name}"

    def problem(self) -> str | None:
        """What is wrong with this need in the installed library; None when it holds."""
        module, _, qualname = self.owner.partition(":")
        try:
            owner: Any = importlib.import_module(module)
            for part in qualname.split("."):
                owner = getattr(owner, part)
        except (ImportError, AttributeError):
            return f"{self.owner} (gone)"
        if self.kind == ATTRIBUTE:
            if hasattr(owner, self.name) or self.name in _init_names(owner):
                return None
            if self.construct is not None and hasattr(owner(*self.construct), self.name):
                return None
            return self.label
        member = getattr(owner, self.name, None)
        if not callable(member):
            return f"{self.label}()"
        if self.params:
            taken = [p for p in inspect.signature(member).parameters if p != "self"]
            if tuple(taken[: len(self.params)]) != self.params:
                return f"{self.label}({', '.join(self.params)}, ...)"
        return None


def _init_names(owner: Any) -> tuple[str, ...]:
    code = getattr(getattr(owner, "__init__", None), "__code__", None)
    return code.co_names if code is not None else ()


def built_for(distribution: str) -> str:
    """The version of ``distribution`` logpipe's own metadata pins (``==``), or ``?``."""
    try:
        requirements = importlib.metadata.requires("logpipe") or []
    except importlib.metadata.PackageNotFoundError:
        return "?"
    for requirement in requirements:
        name, sep, version = requirement.partition("==")
        if sep and name.split("[")[0].strip().lower() == distribution:
            return version.split(";")[0].strip()
    return "?"


def check_surface(distribution: str, needs: Iterable[Need]) -> None:
    """Raise ClientSurfaceError, in one line, if the installed ``distribution`` lacks any
    of ``needs``."""
    missing = [problem for need in needs if (problem := need.problem()) is not None]
    if not missing:
        return
    try:
        installed = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        installed = "(not installed)"
    raise ClientSurfaceError(
        f"{distribution} {installed} lacks what logpipe uses: {', '.join(missing)} "
        f"(logpipe is built for {distribution} {built_for(distribution)}: install that version)"
    )
