"""Reading an Apache httpd configuration: which log files it writes, and in which format.

Every Apache host already declares, in its own configuration, each log file (``CustomLog``,
``TransferLog``, ``ErrorLog``) and the format of each (a ``LogFormat`` nickname or an inline
string). Read from there, logs2kafka follows what the server writes, parsed the way the
server writes it, and stays in step when the configuration changes; copied by hand into
flags, the two drift apart (Debian's ``combined`` is not httpd's: it logs ``%O``, not ``%b``).

What is read the way httpd reads it: ``Include`` and ``IncludeOptional`` (globs, a directory,
relative to ``ServerRoot``), ``Define`` and ``${VAR}`` (a Define first, then the environment
httpd gets: Debian's ``envvars`` beside the configuration, sourced as ``apache2ctl`` does),
``<IfModule>`` (modules loaded with ``LoadModule`` or compiled in: this host's ``apache2 -l``),
``<IfDefine>``, ``<VirtualHost>`` (its ``ServerName`` is the source of its logs), and a
nickname used before its ``LogFormat`` (httpd looks nicknames up once the whole
configuration is read). What cannot be followed or would be guessed is reported instead
(``ApacheConfig.notices``): piped logs, syslog, conditional logging, ``BufferedLogs``, a
format that is no nickname, a missing ``Include``, a variable never defined.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: The format of ``TransferLog`` and of a ``CustomLog`` before any nickless ``LogFormat``:
#: httpd's built-in default (the Common Log Format).
DEFAULT_LOGFORMAT = '%h %l %u %t "%r" %>s %b'

#: Modules compiled into Debian's httpd (``apache2 -l``): ``<IfModule>`` of these is true
#: without a ``LoadModule``, where no httpd on this host says which it has.
BUILTIN_MODULES = frozenset(
    {
        "core",
        "so",
        "watchdog",
        "http_core",
        "log_config",
        "logio",
        "version",
        "unixd",
    }
)

#: Includes within includes, as deep as httpd allows (AP_MAX_INCLUDE_DEPTH).
MAX_INCLUDE_DEPTH = 128

ACCESS = "access"
ERROR = "error"


class ApacheConfigError(Exception):
    """The configuration file itself cannot be read (missing, unreadable, unbalanced)."""


@dataclass(frozen=True)
class DeclaredLog:
    """One log file the configuration writes, and how to read it."""

    path: str
    kind: str  # ACCESS or ERROR
    #: The LogFormat string ("" for an error log).
    logformat: str
    #: The nickname the format was given by, "inline" for a string, "error", "default".
    format_name: str
    #: The ServerName of the virtual host that declared it; None: the main server's (if it
    #: has one) or else the host's name.
    source: str | None
    #: ``<VirtualHost *:80>`` -> "*:80"; None for the main server.
    vhost: str | None
    where: str  # file:line of the directive
    #: What the operator should know about this file (conditional logging, buffering).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notice:
    """Something the configuration says that is reported, not followed or not guessed."""

    where: str
    message: str


@dataclass
class ApacheConfig:
    """What ``read_apache_config`` found."""

    path: str
    server_root: str
    #: Main-server LogFormat nicknames -> LogFormat strings (the last definition wins).
    formats: dict[str, str]
    logs: list[DeclaredLog]
    notices: list[Notice]
    files_read: list[str]

    def logformat(self, nickname: str) -> str | None:
        """The main server's definition of ``nickname`` (None: not defined)."""
        return self.formats.get(nickname)


@dataclass
class _Server:
    """The main server or one virtual host, while it is being read."""

    vhost: str | None
    server_name: str | None = None
    formats: dict[str, str] = field(default_factory=dict)
    default_format: str | None = None
    buffered: bool = False
    #: (path, kind, format argument or None for TransferLog, condition, where)
    logs: list[tuple[str, str, str | None, str | None, str]] = field(default_factory=list)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECTION_OPEN = re.compile(r"^<\s*([A-Za-z]+)(.*?)>\s*$")
_SECTION_CLOSE = re.compile(r"^</\s*([A-Za-z]+)\s*>\s*$")


def read_envvars(config_dir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment httpd gets on Debian: ``envvars`` beside the configuration, sourced
    by ``/bin/sh`` with ``APACHE_CONFDIR`` set, as ``apache2ctl`` does. Without such a
    file: ``base`` (default: this process's environment) unchanged."""
    env = dict(os.environ if base is None else base)
    envvars = config_dir / "envvars"
    if not envvars.is_file():
        return env
    env.setdefault("APACHE_CONFDIR", str(config_dir))
    try:
        done = subprocess.run(
            ["/bin/sh", "-c", '. "$1" >/dev/null 2>&1; env -0', "sh", str(envvars)],
            env=env,
            capture_output=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ApacheConfigError(f"{envvars}: cannot be sourced: {exc}") from exc
    out: dict[str, str] = {}
    for item in done.stdout.split(b"\0"):
        name, sep, value = item.decode("utf-8", "surrogateescape").partition("=")
        if sep:
            out[name] = value
    return out


def compiled_in_modules() -> frozenset[str]:
    """The modules this host's httpd has compiled in (``apache2 -l`` or ``httpd -l``), or
    Debian's where there is no httpd to ask."""
    for name in ("/usr/sbin/apache2", "/usr/sbin/httpd", "apache2", "httpd"):
        try:
            done = subprocess.run(
                [name, "-l"], capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            continue
        found = {m for line in done.stdout.splitlines() if line.strip().endswith(".c")
                 for m in _module_names(line)}  # fmt: skip
        if found:
            return frozenset(found)
    return BUILTIN_MODULES


def split_args(text: str) -> list[str]:
    """A directive's arguments as httpd reads them: words, or quoted with ``"`` or ``'``;
    inside quotes ``\\"`` is a quote and ``\\\\`` a backslash, other escapes are kept (the
    LogFormat compiler reads ``\\n``, ``\\t``)."""
    args: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        quote = text[i] if text[i] in "\"'" else None
        if quote is None:
            j = i
            while j < n and text[j] not in " \t":
                j += 1
            args.append(text[i:j])
            i = j
            continue
        j = i + 1
        word: list[str] = []
        while j < n and text[j] != quote:
            if text[j] == "\\" and j + 1 < n and text[j + 1] in (quote, "\\"):
                word.append(text[j + 1])
                j += 2
                continue
            word.append(text[j])
            j += 1
        args.append("".join(word))
        i = j + 1
    return args


def _module_names(name: str) -> set[str]:
    """``log_config_module`` and ``mod_log_config.c`` -> ``log_config``."""
    name = name.strip()
    if name.endswith("_module"):
        return {name[: -len("_module")]}
    base = os.path.basename(name)
    for suffix in (".c", ".so"):
        base = base.removesuffix(suffix)
    return {base.removeprefix("mod_")}


class _Reader:
    """One pass over the configuration, in httpd's order."""

    def __init__(
        self,
        path: Path,
        env: Mapping[str, str],
        server_root: str | None,
        builtin_modules: frozenset[str],
    ) -> None:
        self.main = path
        self.env = dict(env)
        self.defines: dict[str, str] = {}
        self.server_root = server_root or str(path.parent)
        self.modules: set[str] = set(builtin_modules)
        self.notices: list[Notice] = []
        self.files_read: list[str] = []
        self.servers: list[_Server] = [_Server(None)]
        #: The server the directives read now belong to (a virtual host inside its section).
        self.server = self.servers[0]
        self.undefined: set[str] = set()
        #: The files being included now, outermost first (an Include loop ends in an error).
        self.including: list[str] = []

    # --- lines ----------------------------------------------------------------------------

    def _lines(self, path: Path) -> Iterator[tuple[int, str]]:
        """Logical lines (continuations joined, comments and blanks dropped), numbered."""
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:
            raise ApacheConfigError(f"{path}: {exc.strerror or exc}") from exc
        self.files_read.append(str(path))
        pending = ""
        start = 0
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.rstrip()
            if not pending:
                start = number
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line = (pending + line).strip()
            pending = ""
            if line and not line.startswith("#"):
                yield start, line

    def _substitute(self, line: str, where: str) -> str:
        def value(found: re.Match[str]) -> str:
            name = found.group(1)
            if name in self.defines:
                return self.defines[name]
            if name in self.env:
                return self.env[name]
            if name not in self.undefined:
                self.undefined.add(name)
                self.notices.append(
                    Notice(where, f"${{{name}}} is not defined (kept as written, as httpd does)")
                )
            return found.group(0)

        return _VAR.sub(value, line) if "${" in line else line

    def _rooted(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.server_root, path)

    # --- sections -------------------------------------------------------------------------

    def _condition(self, name: str, arg: str) -> bool:
        """Whether the content of an ``<If...>`` section is read. Sections httpd decides at
        request time or by version are read as if true."""
        negate = arg.startswith("!")
        arg = arg[1:] if negate else arg
        if name == "ifmodule":
            result = bool(_module_names(arg) & self.modules)
        elif name == "ifdefine":
            result = arg in self.defines
        else:
            return True
        return result != negate

    def read(self, path: Path) -> None:
        """Read ``path`` and what it includes; sections must close in the file they open."""
        stack: list[tuple[str, bool]] = []
        for number, line in self._lines(path):
            where = f"{path}:{number}"
            closing = _SECTION_CLOSE.match(line)
            if closing is not None:
                name = closing.group(1).lower()
                if not stack or stack[-1][0] != name:
                    raise ApacheConfigError(f"{where}: </{closing.group(1)}> closes nothing open")
                stack.pop()
                if name == "virtualhost":
                    self.server = self.servers[0]
                continue
            active = all(on for _n, on in stack)
            opening = _SECTION_OPEN.match(line)
            if opening is not None:
                name = opening.group(1).lower()
                arg = self._substitute(opening.group(2), where).strip()
                on = active and self._condition(name, arg.strip("\"'"))
                stack.append((name, on))
                if name == "virtualhost" and on:
                    self.server = _Server(arg)
                    self.servers.append(self.server)
                continue
            if active:
                self._directive(self._substitute(line, where), where)
        if stack:
            raise ApacheConfigError(f"{path}: <{stack[-1][0]}> is never closed")

    # --- directives -----------------------------------------------------------------------

    def _directive(self, line: str, where: str) -> None:
        name, *rest = line.split(None, 1)
        handler = getattr(self, f"_d_{name.lower()}", None)
        if handler is not None:
            handler(split_args(rest[0] if rest else ""), where)

    def _d_serverroot(self, args: list[str], where: str) -> None:
        if args:
            self.server_root = args[0].rstrip("/") or "/"

    def _d_define(self, args: list[str], where: str) -> None:
        if args:
            self.defines[args[0]] = args[1] if len(args) > 1 else ""

    def _d_undefine(self, args: list[str], where: str) -> None:
        if args:
            self.defines.pop(args[0], None)

    def _d_loadmodule(self, args: list[str], where: str) -> None:
        for arg in args[:2]:
            self.modules |= _module_names(arg)

    def _d_include(self, args: list[str], where: str, optional: bool = False) -> None:
        if not args:
            return
        pattern = self._rooted(args[0])
        if os.path.isdir(pattern):
            matches = sorted(
                os.path.join(root, name)
                for root, _dirs, names in os.walk(pattern)
                for name in names
            )
        elif glob.has_magic(pattern):
            matches = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        else:
            matches = [pattern] if os.path.exists(pattern) else []
        if not matches and not (optional and glob.has_magic(pattern)):
            self.notices.append(Notice(where, f"Include {args[0]}: no such file"))
        if len(self.including) >= MAX_INCLUDE_DEPTH:
            raise ApacheConfigError(f"{where}: Include nested deeper than {MAX_INCLUDE_DEPTH}")
        for match in matches:
            self.including.append(match)
            try:
                self.read(Path(match))
            finally:
                self.including.pop()

    def _d_includeoptional(self, args: list[str], where: str) -> None:
        self._d_include(args, where, optional=True)

    def _d_servername(self, args: list[str], where: str) -> None:
        if args:
            name = re.sub(r"^[a-z]+://", "", args[0])
            host = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
            self.server.server_name = host.strip("[]") or None

    def _d_logformat(self, args: list[str], where: str) -> None:
        if len(args) >= 2:
            self.server.formats[args[1]] = args[0]
        elif args:
            self.server.default_format = args[0]

    def _d_bufferedlogs(self, args: list[str], where: str) -> None:
        if args and args[0].lower() == "on":
            self.server.buffered = True
            self.notices.append(
                Notice(where, "BufferedLogs On: httpd writes access lines in batches, late")
            )

    def _d_customlog(self, args: list[str], where: str) -> None:
        if len(args) < 2:
            return
        condition = " ".join(args[2:]) or None
        self._log(args[0], ACCESS, args[1], condition, where)

    def _d_transferlog(self, args: list[str], where: str) -> None:
        if args:
            self._log(args[0], ACCESS, None, None, where)

    def _d_errorlog(self, args: list[str], where: str) -> None:
        if args:
            self._log(args[0], ERROR, "error", None, where)

    def _d_errorlogformat(self, args: list[str], where: str) -> None:
        self.notices.append(
            Notice(
                where,
                "ErrorLogFormat: error lines are read in httpd's default form; lines in "
                "another form are shipped flagged with parse_error",
            )
        )

    def _log(self, target: str, kind: str, fmt: str | None, cond: str | None, where: str) -> None:
        directive = "ErrorLog" if kind == ERROR else "CustomLog"
        if target.startswith("|"):
            self.notices.append(
                Notice(where, f"{directive} {target!r} is piped to a program: not followed")
            )
            return
        if _VAR.search(target):
            self.notices.append(
                Notice(where, f"{directive} {target}: a variable is not defined: not followed")
            )
            return
        if kind == ERROR and target.startswith("syslog"):
            self.notices.append(Notice(where, f"ErrorLog {target}: goes to syslog, not a file"))
            return
        self.server.logs.append((self._rooted(target), kind, fmt, cond, where))


def _declared(reader: _Reader) -> tuple[list[DeclaredLog], list[Notice]]:
    """The servers' log directives, their nicknames resolved as httpd does once the whole
    configuration is read (a virtual host's own LogFormats first, then the main server's);
    one entry per file."""
    main = reader.servers[0]
    notices: list[Notice] = []
    by_path: dict[str, DeclaredLog] = {}
    for server in reader.servers:
        formats = {**main.formats, **server.formats}
        source = server.server_name or main.server_name
        for path, kind, fmt, cond, where in server.logs:
            notes: list[str] = []
            if kind == ERROR:
                logformat, name = "", "error"
            elif fmt is None:
                logformat = server.default_format or main.default_format or DEFAULT_LOGFORMAT
                name = "default"
            elif fmt in formats:
                logformat, name = formats[fmt], fmt
            elif "%" in fmt:
                logformat, name = fmt, "inline"
            else:
                notices.append(
                    Notice(
                        where,
                        f"CustomLog {path}: {fmt!r} is no LogFormat nickname; httpd writes it "
                        "as literal text: not followed",
                    )
                )
                continue
            if cond:
                notes.append(f"conditional ({cond}): holds only the requests the condition selects")
            if kind == ACCESS and (server.buffered or main.buffered):
                notes.append("BufferedLogs On: lines arrive in batches")
            log = DeclaredLog(
                path, kind, logformat, name, source, server.vhost, where, tuple(notes)
            )
            known = by_path.get(path)
            if known is None:
                by_path[path] = log
                continue
            if (known.kind, known.logformat) != (log.kind, log.logformat):
                notices.append(
                    Notice(
                        where,
                        f"{path} is also declared at {known.where} with another format: "
                        f"read as declared there ({known.format_name})",
                    )
                )
            elif known.source != log.source:
                by_path[path] = DeclaredLog(
                    path,
                    known.kind,
                    known.logformat,
                    known.format_name,
                    None,
                    None,
                    known.where,
                    known.notes,
                )
    return list(by_path.values()), notices


def read_apache_config(
    path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    server_root: str | None = None,
    builtin_modules: frozenset[str] | None = None,
) -> ApacheConfig:
    """Read the httpd configuration at ``path`` (and everything it includes).

    ``env`` is the environment httpd would get (default: this process's, with Debian's
    ``envvars`` beside ``path`` sourced into it); ``server_root`` is httpd's ``-d`` (default:
    the directory of ``path``, which a ``ServerRoot`` directive overrides);
    ``builtin_modules`` those compiled into httpd (default: ``compiled_in_modules()``). Raises
    ApacheConfigError when the main file cannot be read or its sections do not balance.
    """
    main = Path(path)
    if not main.is_file():
        raise ApacheConfigError(f"{main}: no such file")
    environment = read_envvars(main.parent) if env is None else dict(env)
    modules = compiled_in_modules() if builtin_modules is None else builtin_modules
    reader = _Reader(main, environment, server_root, modules)
    reader.read(main)
    logs, notices = _declared(reader)
    return ApacheConfig(
        path=str(main),
        server_root=reader.server_root,
        formats=dict(reader.servers[0].formats),
        logs=logs,
        notices=reader.notices + notices,
        files_read=reader.files_read,
    )


def describe(config: ApacheConfig) -> str:
    """What ``logs2kafka formats --apache-config`` prints: nicknames, logs, notices."""
    out = [f"configuration {config.path} (ServerRoot {config.server_root})"]
    out.append(f"  files read: {len(config.files_read)}")
    out.append("LogFormat nicknames:")
    width = max((len(n) for n in config.formats), default=0)
    for name, logformat in config.formats.items():
        out.append(f"  {name.ljust(width)}  {logformat}")
    out.append("log files (followed by logs2kafka tail --apache-config):")
    for log in config.logs:
        source = log.source or "(this host's name)"
        fmt = log.format_name if log.kind == ACCESS else "error"
        out.append(f"  {log.path}  {log.kind}  format={fmt}  source={source}  at {log.where}")
        if log.kind == ACCESS and log.format_name not in config.formats:
            out.append(f"      LogFormat {shlex.quote(log.logformat)}")
        out.extend(f"      note: {note}" for note in log.notes)
    if config.notices:
        out.append("reported, not followed:")
        out.extend(f"  {n.where}: {n.message}" for n in config.notices)
    return "\n".join(out) + "\n"
