"""Reading an Apache configuration: the log files it declares and the format of each.

On real files: Debian's apache2 package configuration as installed (tests/data/apache/debian,
see tests/data/NOTICE) and the project's own httpd.conf files (docker/, k8s/examples/); and
on small configurations, one httpd rule each.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from logpipe.formats.apacheconf import (
    ACCESS,
    DEFAULT_LOGFORMAT,
    ERROR,
    ApacheConfigError,
    describe,
    read_apache_config,
    read_envvars,
    split_args,
)
from logpipe.formats.presets import COMBINED
from tests.support.paths import ROOT

DEBIAN = ROOT / "tests" / "data" / "apache" / "debian"
DEBIAN_COMBINED = '%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'
DEBIAN_VHOST_COMBINED = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'


def test_debian_envvars_are_sourced_as_apache2ctl_does() -> None:
    env = read_envvars(DEBIAN, {"PATH": "/usr/bin:/bin"})
    assert env["APACHE_LOG_DIR"] == "/var/log/apache2"
    assert env["APACHE_RUN_USER"] == "www-data"


def test_debian_package_configuration() -> None:
    config = read_apache_config(DEBIAN / "apache2.conf")
    assert config.formats["combined"] == DEBIAN_COMBINED  # %O, not httpd's %b
    assert config.formats["vhost_combined"] == DEBIAN_VHOST_COMBINED
    assert config.formats["common"] == '%h %l %u %t "%r" %>s %O'
    logs = {log.path: log for log in config.logs}
    assert list(logs) == [
        "/var/log/apache2/error.log",
        "/var/log/apache2/other_vhosts_access.log",
        "/var/log/apache2/access.log",
    ]
    error = logs["/var/log/apache2/error.log"]
    assert (error.kind, error.format_name, error.source) == (ERROR, "error", None)
    access = logs["/var/log/apache2/access.log"]
    assert (access.kind, access.format_name, access.logformat) == (
        ACCESS,
        "combined",
        DEBIAN_COMBINED,
    )
    assert access.vhost == "*:80"
    assert access.where.endswith("sites-enabled/000-default.conf:21")
    other = logs["/var/log/apache2/other_vhosts_access.log"]
    assert (other.format_name, other.logformat) == ("vhost_combined", DEBIAN_VHOST_COMBINED)
    assert config.notices == []
    assert str(DEBIAN / "mods-enabled" / "mime.conf") in config.files_read


UPSTREAM = ROOT / "tests" / "data" / "apache" / "upstream" / "httpd.conf.in"
#: What httpd 2.4's build puts in place of the template's variables for its default
#: layout (config.layout "Apache", prefix /usr/local/apache2; Makefile.in install-conf),
#: with mod_log_config built as a module and loaded, as in the default build.
UPSTREAM_BUILD = {
    "@@ServerRoot@@": "/usr/local/apache2",
    "@@Port@@": "80",
    "@@LoadModule@@": "LoadModule mpm_event_module modules/mod_mpm_event.so\n"
    "LoadModule log_config_module modules/mod_log_config.so",
    "@rel_sysconfdir@": "conf",
    "@rel_logfiledir@": "logs",
    "@rel_runtimedir@": "logs",
    "@exp_htdocsdir@": "/usr/local/apache2/htdocs",
    "@exp_cgidir@": "/usr/local/apache2/cgi-bin",
}


def test_upstream_default_httpd_conf(tmp_path: Path) -> None:
    text = UPSTREAM.read_text()
    for variable, value in UPSTREAM_BUILD.items():
        text = text.replace(variable, value)
    conf = tmp_path / "httpd.conf"
    conf.write_text(text)
    # httpd's default build compiles in only the core; mod_logio is not loaded
    config = read_apache_config(conf, env={}, builtin_modules=frozenset({"core", "so"}))
    assert config.server_root == "/usr/local/apache2"
    assert config.formats == {"combined": COMBINED, "common": '%h %l %u %t "%r" %>s %b'}
    assert [(log.path, log.kind, log.format_name, log.source) for log in config.logs] == [
        ("/usr/local/apache2/logs/error_log", ERROR, "error", None),
        ("/usr/local/apache2/logs/access_log", ACCESS, "common", None),
    ]
    assert config.notices == []  # conf/extra/proxy-html.conf: its module is not loaded


def test_project_httpd_conf_is_httpds_combined() -> None:
    config = read_apache_config(ROOT / "docker" / "httpd" / "httpd.conf", env={})
    assert config.server_root == "/usr/local/apache2"
    assert config.formats["combined"] == COMBINED
    assert [(log.path, log.kind, log.source) for log in config.logs] == [
        ("/var/log/apache2/error.log", ERROR, "localhost"),
        ("/var/log/apache2/access.log", ACCESS, "localhost"),
    ]


def test_quoting_as_httpd_reads_it() -> None:
    assert split_args(r'"%h \"%r\" \\n" combined') == ['%h "%r" \\n', "combined"]
    assert split_args("'%h %l' common") == ["%h %l", "common"]
    assert split_args('logs/access_log  "%h"  env=!dontlog') == [
        "logs/access_log",
        "%h",
        "env=!dontlog",
    ]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "httpd.conf"


def test_includes_defines_sections_and_vhosts(tmp_path: Path) -> None:
    main = write(
        tmp_path,
        {
            "httpd.conf": f"""
ServerRoot "{tmp_path}"
Define LOGS /srv/logs
LoadModule log_config_module modules/mod_log_config.so
ServerName main.example:80
<IfModule log_config_module>
    LogFormat "%h %l %u %t \\"%r\\" %>s %b" common
</IfModule>
<IfModule !log_config_module>
    CustomLog /never/1.log common
</IfModule>
<IfModule rewrite_module>
    CustomLog /never/2.log common
</IfModule>
<IfDefine !LOGS>
    CustomLog /never/3.log common
</IfDefine>
CustomLog ${{LOGS}}/main.log \\
    mine
IncludeOptional sites/*.conf
IncludeOptional nothing-here/*.conf
Include missing.conf
LogFormat "%v %h %>s" mine
""",
            "sites/a.conf": """
<VirtualHost *:80>
    ServerName shop.example
    LogFormat "%h %>s %O" mine
    CustomLog ${LOGS}/shop.log mine
    ErrorLog logs/shop_error.log
</VirtualHost>
""",
            "sites/b.conf": """
<VirtualHost 10.0.0.1:443>
    CustomLog "${LOGS}/b.log" "%h %t \\"%r\\" %>s" env=!dontlog
    CustomLog "|/usr/bin/rotatelogs /srv/logs/b.%Y 86400" common
    CustomLog ${UNSET_VAR}/x.log common
    CustomLog /srv/logs/literal.log nosuchnick
    ErrorLog syslog:local1
    BufferedLogs On
</VirtualHost>
TransferLog /srv/logs/transfer.log
""",
        },
    )
    config = read_apache_config(main, env={})
    logs = {log.path: log for log in config.logs}
    assert not any(path.startswith("/never") for path in logs)
    # a nickname is looked up once everything is read, the virtual host's own first
    assert logs["/srv/logs/main.log"].logformat == "%v %h %>s"
    assert logs["/srv/logs/main.log"].source == "main.example"
    shop = logs["/srv/logs/shop.log"]
    assert (shop.logformat, shop.source, shop.vhost) == ("%h %>s %O", "shop.example", "*:80")
    assert logs[str(tmp_path / "logs" / "shop_error.log")].kind == ERROR
    b = logs["/srv/logs/b.log"]
    assert (b.format_name, b.logformat) == ("inline", '%h %t "%r" %>s')
    assert b.source == "main.example"  # no ServerName of its own: the main server's
    assert any("env=!dontlog" in note for note in b.notes)
    assert any("BufferedLogs" in note for note in b.notes)
    assert logs["/srv/logs/transfer.log"].logformat == DEFAULT_LOGFORMAT
    assert not any("UNSET_VAR" in path for path in logs)
    messages = " | ".join(n.message for n in config.notices)
    for reported in (
        "Include missing.conf: no such file",
        "piped to a program",
        "syslog",
        "${UNSET_VAR} is not defined",
        "${UNSET_VAR}/x.log: a variable is not defined: not followed",
        "'nosuchnick' is no LogFormat nickname",
        "BufferedLogs On",
    ):
        assert reported in messages
    assert "nothing-here" not in messages  # IncludeOptional of a glob matching nothing
    assert "/srv/logs/literal.log" not in logs
    text = describe(config)
    assert "/srv/logs/shop.log  access  format=mine  source=shop.example" in text
    assert "reported, not followed:" in text


def test_one_file_declared_twice_is_followed_once(tmp_path: Path) -> None:
    main = write(
        tmp_path,
        {
            "httpd.conf": """
ErrorLog /srv/error.log
<VirtualHost *:80>
    ServerName a.example
    ErrorLog /srv/error.log
    CustomLog /srv/access.log "%h %>s"
</VirtualHost>
<VirtualHost *:81>
    ServerName b.example
    CustomLog /srv/access.log "%h %>s %b"
</VirtualHost>
"""
        },
    )
    config = read_apache_config(main, env={})
    logs = {log.path: log for log in config.logs}
    assert len(config.logs) == 2
    assert logs["/srv/error.log"].source is None  # written for two servers: the host's name
    assert logs["/srv/access.log"].logformat == "%h %>s"
    assert any("another format" in n.message for n in config.notices)


def test_unreadable_or_unbalanced_configuration(tmp_path: Path) -> None:
    with pytest.raises(ApacheConfigError, match="no such file"):
        read_apache_config(tmp_path / "nope.conf")
    main = write(tmp_path, {"httpd.conf": "<VirtualHost *:80>\nCustomLog /a.log common\n"})
    with pytest.raises(ApacheConfigError, match="never closed"):
        read_apache_config(main, env={})


def test_an_include_loop_is_an_error(tmp_path: Path) -> None:
    main = write(tmp_path, {"httpd.conf": "Include httpd.conf\n"})
    with pytest.raises(ApacheConfigError, match="Include nested deeper than 128"):
        read_apache_config(main, env={})
