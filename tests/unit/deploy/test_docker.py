"""The container image recipe and the compose pipeline, checked by reading them.

No Docker engine runs here, so nothing is built or started: the Dockerfile is read by a
small line parser and the compose file with PyYAML, and what matters for users is
asserted: stages, an unprivileged user, no compilers and no secrets in the final image,
pinned images, health checks and a start order that waits for what each service needs.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from logpipe.config import settings
from tests.support.paths import ROOT

ROOT = ROOT
DOCKER = ROOT / "docker"
COMPILERS = ("gcc", "g++", "clang", "build-essential", "make", "cc", "-dev", "rustc", "cargo")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY", re.IGNORECASE)


# --- Dockerfile -----------------------------------------------------------------------


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions per stage: comments dropped, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "a continuation line at the end of the file"
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=words[0], name=name))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def env_pairs(args: str) -> dict[str, str]:
    """ENV KEY=VALUE ... (or the old ENV KEY VALUE) as a dict."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(w.split("=", 1) for w in words)


def is_pinned(image: str) -> bool:
    """A version tag (not latest) or a digest."""
    if "@sha256:" in image:
        return True
    match = re.search(r":([^/:]+)$", image)
    return bool(match) and match.group(1) != "latest" and bool(re.search(r"\d", match.group(1)))


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((DOCKER / "Dockerfile").read_text())


def test_the_image_is_built_in_stages(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    build, final = stages[0], stages[-1]
    assert build.name and final.name and build.name != final.name
    assert any("pip wheel" in run for run in build.all("RUN")), "wheels built first"
    installs = " ".join(final.all("RUN") + final.all("COPY"))
    assert f"from={build.name}" in installs or f"--from={build.name}" in installs
    assert "--no-index" in installs, "the final stage installs only the built wheels"


def test_every_base_image_is_pinned(stages: list[Stage]) -> None:
    for stage in stages:
        assert is_pinned(stage.image), stage.image
        assert "slim" in stage.image or "alpine" in stage.image or stage is not stages[-1]


def test_the_final_image_runs_as_an_unprivileged_user(stages: list[Stage]) -> None:
    final = stages[-1]
    users = final.all("USER")
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("0", "root"), user
    assert user.isdigit(), "a numeric user lets Kubernetes check runAsNonRoot"
    last_user = max(i for i, (kw, _) in enumerate(final.instructions) if kw == "USER")
    later = [kw for kw, _ in final.instructions[last_user + 1 :]]
    assert "RUN" not in later, "nothing runs as root after the USER line"


def test_the_final_image_is_unbuffered_and_has_no_compiler(stages: list[Stage]) -> None:
    final = stages[-1]
    env: dict[str, str] = {}
    for args in final.all("ENV"):
        env.update(env_pairs(args))
    assert env.get("PYTHONUNBUFFERED") == "1"
    for run in final.all("RUN"):
        for word in re.findall(r"apt-get install[^&;]*", run):
            packages = [w for w in word.split()[2:] if not w.startswith("-")]
            for package in packages:
                assert not any(
                    package == c or package.endswith(c) for c in COMPILERS if c.startswith("-")
                ), package
                assert package not in COMPILERS, package
        assert "apk add" not in run


def test_no_secret_is_baked_into_the_image(stages: list[Stage]) -> None:
    for stage in stages:
        for args in stage.all("ENV"):
            for name, value in env_pairs(args).items():
                assert not (SECRET_NAME.search(name) and value), f"ENV {name}"
        for args in stage.all("ARG"):
            name, _, value = args.partition("=")
            assert not (SECRET_NAME.search(name) and value), f"ARG {name}"
        for args in stage.all("COPY") + stage.all("ADD"):
            assert not re.search(r"\.(pem|key|p12|jks)\b|\.env\b|secret", args), args


def test_the_entry_point_runs_either_command(stages: list[Stage]) -> None:
    final = stages[-1]
    (entrypoint,) = final.all("ENTRYPOINT")
    script_path = shlex.split(entrypoint.strip("[]").replace(",", " "))[0]
    copied = [c for c in final.all("COPY") if c.endswith(script_path)]
    assert copied, "the entry point script is copied into the image"
    source = ROOT / copied[0].split()[-2]
    text = source.read_text()
    assert "logs2kafka" in text and "kafka2cassandra" in text
    assert 'exec "$@"' in text, "the command replaces the shell, so it receives SIGTERM"


# --- .dockerignore ----------------------------------------------------------------------


def dockerignored(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path (or a parent folder) decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if pattern == "**" or any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            ignored = not negate
    return ignored


def test_the_build_context_holds_what_the_image_needs_and_nothing_else() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in lines if p.strip() and not p.startswith("#")]
    needed = ["pyproject.toml", "README.md", "src/logpipe/__init__.py", "docker/entrypoint.sh"]
    needed += [str(p.relative_to(ROOT)) for p in (ROOT / "src" / "logpipe").rglob("*.py")]
    for path in needed:
        assert not dockerignored(patterns, path), f"{path} would be left out of the image"
    for path in (
        ".git/HEAD",
        ".venv/bin/python",
        "services/.cache/kafka.jar",
        "tests/data/access-combined-real.log",
        "src/logpipe/__pycache__/envelope.cpython-311.pyc",
        "src/logpipe.egg-info/PKG-INFO",
        "bench/results/latest.json",
    ):
        assert dockerignored(patterns, path), f"{path} would be sent to the image build"
    stages = parse_dockerfile((DOCKER / "Dockerfile").read_text())
    for stage in stages:
        for args in stage.all("COPY"):
            words = [w for w in args.split() if not w.startswith("--")]
            if any(w.startswith("--from") for w in args.split()):
                continue
            for source in words[:-1]:
                assert (ROOT / source).exists(), source
                assert not dockerignored(patterns, source.rstrip("/")), source


# --- compose ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def services_of(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def logpipe_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in services_of(compose).items()
        if s.get("image", "").split(":")[0].rsplit("/", 1)[-1] == "logpipe"
    }


def test_the_whole_pipeline_is_there(compose: dict[str, Any]) -> None:
    services = services_of(compose)
    images = {name: s["image"] for name, s in services.items()}
    assert images["kafka"].startswith("apache/kafka:")
    assert re.fullmatch(r"cassandra:5\.0\.\d+", images["cassandra"])
    assert re.fullmatch(r"httpd:2\.4\.\d+", images["httpd"])
    commands = {name: command_of(s)[:2] for name, s in logpipe_services(compose).items()}
    assert sorted(commands.values()) == [
        ["kafka2cassandra", "poll"],
        ["kafka2cassandra", "schema"],
        ["logs2kafka", "tail"],
    ]
    assert "zookeeper" not in " ".join(services), "KRaft: no ZooKeeper"
    roles = services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert set(roles.split(",")) == {"broker", "controller"}


def test_every_image_is_pinned_by_version(compose: dict[str, Any]) -> None:
    for name, service in services_of(compose).items():
        assert "image" in service, name
        assert is_pinned(service["image"]), f"{name}: {service['image']}"
        if "build" in service:
            assert service["build"]["dockerfile"] == "docker/Dockerfile"
            assert (DOCKER / service["build"]["context"] / "docker" / "Dockerfile").is_file()


def test_the_start_order_waits_for_what_each_service_needs(compose: dict[str, Any]) -> None:
    services = services_of(compose)
    one_shots = {name for name, s in services.items() if s.get("restart") == "no"}
    assert {"topics", "schema"} <= one_shots
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            condition = condition["condition"]
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no health check"
            elif condition == "service_completed_successfully":
                assert dependency in one_shots, f"{dependency} is not a one-shot job"
            else:
                pytest.fail(f"{name} -> {dependency}: {condition} waits for nothing")
    wanted = {
        "topics": {"kafka": "service_healthy"},
        "schema": {"cassandra": "service_healthy"},
        "kafka2cassandra": {
            "topics": "service_completed_successfully",
            "schema": "service_completed_successfully",
        },
        "logs2kafka": {
            "topics": "service_completed_successfully",
            "httpd": "service_healthy",
        },
    }
    for name, dependencies in wanted.items():
        got = {d: c["condition"] for d, c in services[name]["depends_on"].items()}
        assert got == dependencies, name
    for name in ("kafka", "cassandra", "httpd", "kafka2cassandra", "logs2kafka"):
        assert services[name]["healthcheck"]["test"], name


def test_the_daemons_run_unprivileged_and_stop_cleanly(compose: dict[str, Any]) -> None:
    for name, service in logpipe_services(compose).items():
        assert service["user"].split(":")[0] not in ("0", "root"), name
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        grace = service["stop_grace_period"]
        assert grace.endswith("s") and float(grace[:-1]) > settings.SHUTDOWN_TIMEOUT.default


def test_no_secret_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    for name, service in services_of(compose).items():
        environment = service.get("environment", {})
        if isinstance(environment, list):
            environment = dict(e.split("=", 1) for e in environment)
        for variable, value in environment.items():
            if SECRET_NAME.search(variable) and not variable.endswith("_FILE"):
                assert not value, f"{name}: {variable} has a value"


def test_the_daemons_are_configured_through_known_settings(compose: dict[str, Any]) -> None:
    known = {s.env for s in settings.all_settings()}
    for name, service in logpipe_services(compose).items():
        unknown = set(service.get("environment", {})) - known
        assert not unknown, f"{name}: {sorted(unknown)} are not settings"
    from logpipe.kafka2cassandra.cli import main as kafka2cassandra
    from logpipe.logs2kafka.cli import main as logs2kafka

    programs = {"kafka2cassandra": kafka2cassandra, "logs2kafka": logs2kafka}
    for name, service in logpipe_services(compose).items():
        args = command_of(service)
        command = programs[args[0]].commands[args[1]]
        flags = {opt for p in command.params for opt in getattr(p, "opts", [])}
        for arg in args[2:]:
            if arg.startswith("--"):
                assert arg.split("=", 1)[0] in flags, f"{name}: no option {arg}"


def test_the_daemons_health_checks_ask_their_metrics_port(compose: dict[str, Any]) -> None:
    for name in ("kafka2cassandra", "logs2kafka"):
        service = services_of(compose)[name]
        port = service["environment"]["METRICS_PORT"]
        test = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/readyz" in test, name


def test_httpd_writes_a_file_that_logs2kafka_tails(compose: dict[str, Any]) -> None:
    services = services_of(compose)
    httpd, shipper = services["httpd"], services["logs2kafka"]
    conf_mount = next(v for v in httpd["volumes"] if v.endswith("/conf/httpd.conf:ro"))
    conf = (DOCKER / conf_mount.split(":")[0]).read_text()
    custom_logs = re.findall(r'^\s*CustomLog\s+"?([^"\s]+)"?\s+(\S+)', conf, re.MULTILINE)
    assert len(custom_logs) == 1, custom_logs
    log_file, log_format = custom_logs[0]
    assert not log_file.startswith(("/proc/", "/dev/", "|")), "to a file, not stdout"
    assert log_format == "combined"
    assert "/proc/self/fd/1" not in conf and "/dev/stdout" not in conf

    def named_volume(service: dict[str, Any], folder: str) -> str:
        for volume in service["volumes"]:
            source, target = volume.split(":")[:2]
            if target == folder:
                assert source in compose["volumes"], f"{source} is not a named volume"
                return source
        raise AssertionError(f"nothing mounted at {folder}")

    folder = str(Path(log_file).parent)
    assert named_volume(httpd, folder) == named_volume(shipper, folder)
    assert any(v.endswith(f":{folder}:ro") for v in shipper["volumes"]), "read-only for it"
    args = command_of(shipper)
    assert log_file in args
    state_dir = args[args.index("--state-dir") + 1]
    assert named_volume(shipper, state_dir), "the checkpoint outlives the container"


def test_the_configuration_each_daemon_gets_is_accepted_by_its_command(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every variable and argument parses (types, choices), as the program would read them."""
    from logpipe.kafka2cassandra.cli import main as kafka2cassandra
    from logpipe.logs2kafka.cli import main as logs2kafka

    programs = {"kafka2cassandra": kafka2cassandra, "logs2kafka": logs2kafka}
    for service in logpipe_services(compose).values():
        with monkeypatch.context() as m:
            for s in settings.all_settings():
                m.delenv(s.env, raising=False)
            for name, value in service.get("environment", {}).items():
                m.setenv(name, str(value))
            program, name, *rest = command_of(service)
            ctx = programs[program].commands[name].make_context(f"{program} {name}", rest)
        assert ctx.params.get("contact_points", "cassandra") == "cassandra"
        assert ctx.params.get("bootstrap_servers", "kafka:9092") == "kafka:9092"
