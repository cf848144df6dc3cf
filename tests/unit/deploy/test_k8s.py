"""The Kubernetes manifests of k8s/: valid for the API, composed by kustomize, safe.

Every kustomization is rendered by the real kustomize (``kubectl kustomize DIR``, or
``kustomize build DIR`` where kubectl is missing or older: ``make install`` then puts
kustomize in .venv/bin), and every resulting object is validated against the Kubernetes
schemas that the kubernetes-validate package ships (strict: an unknown field fails too).
"""

from __future__ import annotations

import copy
import functools
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import kubernetes_validate
import pytest
import yaml

from logpipe.config import settings
from tests.support.paths import ROOT

K8S = ROOT / "k8s"
KUBERNETES_VERSION = "1.34"
BUILDS = sorted(p.parent for p in K8S.rglob("kustomization.yaml"))
BUILD_IDS = [str(p.relative_to(K8S)) for p in BUILDS]
POD_TEMPLATE_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "Job", "ReplicaSet"}


@functools.cache
def kustomize() -> tuple[str, ...]:
    """The command that renders a kustomization: kubectl's own kustomize when it is v5,
    else the kustomize that ``make install`` puts beside this Python."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        version = subprocess.run(
            [kubectl, "version", "--client"], capture_output=True, text=True, check=False
        )
        if re.search(r"^Kustomize Version: v5\.", version.stdout, re.MULTILINE):
            return (kubectl, "kustomize")
    local = Path(sys.executable).with_name("kustomize")
    if local.is_file():
        return (str(local), "build")
    pytest.fail(
        "no kustomize v5: neither `kubectl kustomize` nor .venv/bin/kustomize (make install)"
    )


def render(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*kustomize(), str(directory)], capture_output=True, text=True, timeout=60, check=False
    )


@functools.cache
def _composed(directory: Path) -> tuple[dict[str, Any], ...]:
    result = render(directory)
    assert result.returncode == 0, f"kustomize {directory}: {result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def composed(directory: Path) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize directory`` prints (a copy each time: tests may edit)."""
    return copy.deepcopy(list(_composed(directory.resolve())))


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def kustomization(directory: Path) -> dict[str, Any]:
    return yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8")) or {}


def named(resource: dict[str, Any], name: str) -> bool:
    """The object is ``name``, or ``name`` generated with kustomize's content-hash suffix."""
    return (
        re.fullmatch(rf"{re.escape(name)}(-[a-z0-9]{{10}})?", resource["metadata"]["name"])
        is not None
    )


def pod_specs(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod spec of a workload (empty for other kinds)."""
    if resource["kind"] == "Pod":
        return [resource["spec"]]
    if resource["kind"] in POD_TEMPLATE_KINDS:
        return [resource["spec"]["template"]["spec"]]
    if resource["kind"] == "CronJob":
        return [resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod_spec.get("initContainers", [])) + list(pod_spec.get("containers", []))


def logpipe_containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for spec in pod_specs(resource) for c in containers(spec) if is_logpipe(c["image"])]


def is_logpipe(image: str) -> bool:
    """logpipe's own image, whatever registry an overlay moves it to."""
    return image.split("@")[0].rsplit("/", 1)[-1].split(":")[0] == "logpipe"


def settings_of(resources: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """The environment a container gets from its ConfigMaps (envFrom) and env values
    (a value taken from a field of the pod shows as ``<fieldPath>``)."""
    env: dict[str, str] = {}
    maps = {r["metadata"]["name"]: r for r in resources if r["kind"] == "ConfigMap"}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(maps[source["configMapRef"]["name"]].get("data", {}))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "fieldRef" in item.get("valueFrom", {}):
            env[item["name"]] = f"<{item['valueFrom']['fieldRef']['fieldPath']}>"
    return env


def setting(resources: list[dict[str, Any]], container: dict[str, Any], s: Any) -> str:
    """A setting's value for a container: its flag in the args, else its variable."""
    args = container["args"]
    for i, arg in enumerate(args):
        if arg == s.flag:
            return args[i + 1]
        if arg.startswith(s.flag + "="):
            return arg.split("=", 1)[1]
    env = settings_of(resources, container)
    assert s.env in env, f"{container['name']}: neither {s.flag} nor {s.env} is set"
    return env[s.env]


def daemon_containers() -> list[tuple[str, dict[str, Any], dict[str, Any], list]]:
    """(build, workload, container, all resources) for every long-running logpipe container."""
    found = []
    for directory in BUILDS:
        resources = composed(directory)
        for r in resources:
            if r["kind"] in ("Job", "CronJob"):
                continue
            for c in logpipe_containers(r):
                found.append((str(directory.relative_to(K8S)), r, c, resources))
    return found


def test_there_are_a_base_an_overlay_and_the_sidecar_example() -> None:
    assert {"base", "overlays/example", "examples/httpd-sidecar"} <= set(BUILD_IDS)


@pytest.mark.parametrize("directory", BUILDS, ids=BUILD_IDS)
def test_every_listed_file_exists(directory: Path) -> None:
    k = kustomization(directory)
    for entry in k.get("resources", []):
        assert (directory / entry).exists(), f"{directory}: resource {entry} missing"
    for patch in k.get("patches", []):
        assert (directory / patch["path"]).is_file(), f"{directory}: patch {patch} missing"
    for gen in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
        for entry in gen.get("files", []) + gen.get("envs", []):
            source = entry.partition("=")[2] or entry
            assert (directory / source).is_file(), f"{directory}: {source} missing"


@pytest.mark.parametrize("directory", BUILDS, ids=BUILD_IDS)
def test_every_object_validates_against_the_kubernetes_schemas(directory: Path) -> None:
    resources = composed(directory)
    assert resources
    for r in resources:
        kubernetes_validate.validate(r, KUBERNETES_VERSION, strict=True)


def test_the_validation_is_strict_enough_to_catch_a_typo() -> None:
    deployment = next(r for r in composed(K8S / "base") if r["kind"] == "Deployment")
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 30
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    broken = copy.deepcopy(deployment)
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomize_refuses_a_patch_of_something_not_in_the_base(tmp_path: Path) -> None:
    shutil.copytree(K8S / "base", tmp_path / "base")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "resources: [../base]\npatches:\n  - path: p.yaml\n"
    )
    (overlay / "p.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: no-such-thing}\n"
    )
    assert render(tmp_path / "base").returncode == 0
    result = render(overlay)
    assert result.returncode != 0
    assert "no resource matches strategic merge patch" in result.stderr
    assert "no-such-thing" in result.stderr


def test_the_overlay_patches_and_replaces_objects_of_the_base() -> None:
    overlay = K8S / "overlays" / "example"
    base = {(r["kind"], r["metadata"]["name"]) for r in composed(K8S / "base")}
    built = {(r["kind"], r["metadata"]["name"]) for r in composed(overlay)}
    assert built == base, "the example overlay adds or loses objects"
    k = kustomization(overlay)
    assert k["resources"] == ["../../base"]
    for patch in k["patches"]:
        for doc in load_documents(overlay / patch["path"]):
            assert (doc["kind"], doc["metadata"]["name"]) in base
    for gen in k.get("secretGenerator", []) + k.get("configMapGenerator", []):
        assert gen.get("behavior") in ("replace", "merge")
        kind = "Secret" if gen in k.get("secretGenerator", []) else "ConfigMap"
        assert (kind, gen["name"]) in base
    poller = next(r for r in composed(overlay) if r["kind"] == "Deployment")
    assert poller["spec"]["replicas"] == 3


@pytest.mark.parametrize("directory", BUILDS, ids=BUILD_IDS)
def test_names_namespaces_and_references_are_consistent(directory: Path) -> None:
    resources = composed(directory)
    namespaces = [r for r in resources if r["kind"] == "Namespace"]
    assert len(namespaces) == 1, "each build creates the one namespace it uses"
    namespace = namespaces[0]["metadata"]["name"]
    names = {(r["kind"], r["metadata"]["name"]) for r in resources}
    for r in resources:
        if r["kind"] != "Namespace":
            assert r["metadata"]["namespace"] == namespace, r["metadata"]["name"]
        labels = r["metadata"].get("labels", {})
        assert "app.kubernetes.io/part-of" in labels, r["metadata"]["name"]
    for r in resources:
        for spec in pod_specs(r):
            if "serviceAccountName" in spec:
                assert ("ServiceAccount", spec["serviceAccountName"]) in names
            for volume in spec.get("volumes", []):
                if "configMap" in volume:
                    assert ("ConfigMap", volume["configMap"]["name"]) in names
                if "secret" in volume:
                    assert ("Secret", volume["secret"]["secretName"]) in names
            mounted = {v["name"] for v in spec.get("volumes", [])}
            for c in containers(spec):
                for source in c.get("envFrom", []):
                    if "configMapRef" in source:
                        assert ("ConfigMap", source["configMapRef"]["name"]) in names
                    if "secretRef" in source:
                        assert ("Secret", source["secretRef"]["name"]) in names
                for mount in c.get("volumeMounts", []):
                    assert mount["name"] in mounted, f"{c['name']}: {mount['name']}"
        if r["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
            selector = r["spec"]["selector"]["matchLabels"]
            template = r["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= template.items(), r["metadata"]["name"]
    workload_labels = [
        r["spec"]["template"]["metadata"]["labels"]
        for r in resources
        if r["kind"] in ("Deployment", "DaemonSet", "StatefulSet")
    ]
    for r in resources:
        if r["kind"] == "PodDisruptionBudget":
            selector = r["spec"]["selector"]["matchLabels"]
        elif r["kind"] == "Service":
            selector = r["spec"]["selector"]
        else:
            continue
        assert any(selector.items() <= labels.items() for labels in workload_labels), (
            f"{r['kind']} {r['metadata']['name']} selects no workload"
        )


@pytest.mark.parametrize("directory", BUILDS, ids=BUILD_IDS)
def test_every_pod_runs_unprivileged_on_a_read_only_root(directory: Path) -> None:
    resources = composed(directory)
    assert all(r["kind"] != "Pod" for r in resources), "workloads, not bare pods"
    pods = [spec for r in resources for spec in pod_specs(r)]
    assert pods
    for spec in pods:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert pod["runAsUser"] != 0
        assert pod["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        for c in containers(spec):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, c["name"]
            assert sc["readOnlyRootFilesystem"] is True, c["name"]
            assert sc["runAsNonRoot"] is True, c["name"]
            assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
            assert "add" not in sc["capabilities"], c["name"]
            assert sc.get("privileged", False) is False, c["name"]
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", c["name"]
            resources_ = c["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources_[kind]), f"{c['name']} {kind}"


@pytest.mark.parametrize("directory", BUILDS, ids=BUILD_IDS)
def test_every_image_is_pinned_by_version(directory: Path) -> None:
    for r in composed(directory):
        for spec in pod_specs(r):
            for c in containers(spec):
                image = c["image"]
                assert "@sha256:" in image or re.search(r":[^/:]+$", image), image
                assert not image.endswith(":latest"), image


def test_the_daemons_have_time_to_stop_cleanly() -> None:
    daemons = daemon_containers()
    assert {d[2]["name"] for d in daemons} >= {"kafka2cassandra", "logs2kafka"}
    for build_id, workload, container, resources in daemons:
        grace = workload["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        configured = float(settings_of(resources, container).get("SHUTDOWN_TIMEOUT", 0))
        shutdown = max(settings.SHUTDOWN_TIMEOUT.default, configured)
        assert grace > shutdown, f"{build_id} {workload['metadata']['name']}: {grace}s"


def test_the_probes_ask_healthz_and_readyz_on_the_metrics_port() -> None:
    for build_id, workload, container, resources in daemon_containers():
        where = f"{build_id} {workload['metadata']['name']}/{container['name']}"
        env = settings_of(resources, container)
        assert "METRICS_PORT" in env, f"{where}: the metrics port is off"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == int(env["METRICS_PORT"]), where
        live = container["livenessProbe"]["httpGet"]
        ready = container["readinessProbe"]["httpGet"]
        assert live["path"] == "/healthz", where
        assert ready["path"] == "/readyz", where
        for probe in (live, ready):
            port = probe["port"]
            assert port in ("metrics", int(env["METRICS_PORT"])), where


def test_the_poller_is_a_deployment_with_a_disruption_budget() -> None:
    for directory in (K8S / "base", K8S / "overlays" / "example"):
        resources = composed(directory)
        deployment = next(
            r for r in resources if r["kind"] == "Deployment" and logpipe_containers(r)
        )
        (container,) = logpipe_containers(deployment)
        assert container["args"][:2] == ["kafka2cassandra", "poll"]
        static = setting(resources, container, settings.GROUP_INSTANCE_ID)
        assert static == "<metadata.name>", "static membership by pod name"
        pdb = next(r for r in resources if r["kind"] == "PodDisruptionBudget")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        text = (K8S / "base" / "kafka2cassandra-deployment.yaml").read_text()
        assert "partition" in text and "idle" in text, "the note on idle replicas"


def test_the_schema_runs_as_a_job() -> None:
    jobs = [r for r in composed(K8S / "base") if r["kind"] == "Job"]
    assert len(jobs) == 1
    (container,) = logpipe_containers(jobs[0])
    assert container["args"][:2] == ["kafka2cassandra", "schema"]
    assert jobs[0]["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")


def test_the_daemonset_tails_a_host_folder_and_keeps_its_checkpoint_on_the_host() -> None:
    resources = composed(K8S / "base")
    daemonset = next(r for r in resources if r["kind"] == "DaemonSet")
    spec = daemonset["spec"]["template"]["spec"]
    (container,) = logpipe_containers(daemonset)
    args = container["args"]
    assert args[:2] == ["logs2kafka", "tail"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert setting(resources, container, settings.SOURCE) == "<spec.nodeName>"
    state_dir = setting(resources, container, settings.STATE_DIR)
    state = volumes[mounts[state_dir]["name"]]
    assert state["hostPath"]["path"] == state_dir
    assert not mounts[state_dir].get("readOnly", False)
    paths = [a for a in args[2:] if not a.startswith("-")]
    assert paths
    for path in paths:
        folder = str(Path(path).parent)
        assert folder in mounts, f"{path} is not on a mounted folder"
        assert mounts[folder].get("readOnly") is True
        assert "hostPath" in volumes[mounts[folder]["name"]]


def test_the_sidecar_shares_an_emptydir_with_httpd() -> None:
    directory = K8S / "examples" / "httpd-sidecar"
    resources = composed(directory)
    deployment = next(r for r in resources if r["kind"] == "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    by_name = {c["name"]: c for c in containers(spec)}
    shipper, httpd = by_name["logs2kafka"], by_name["httpd"]
    assert shipper in spec["initContainers"] and shipper["restartPolicy"] == "Always"
    volumes = {v["name"]: v for v in spec["volumes"]}
    tailed = [a for a in shipper["args"][2:] if not a.startswith("-")]
    assert tailed
    folder = str(Path(tailed[0]).parent)
    shipper_mount = next(m for m in shipper["volumeMounts"] if m["mountPath"] == folder)
    httpd_mount = next(m for m in httpd["volumeMounts"] if m["mountPath"] == folder)
    assert shipper_mount["name"] == httpd_mount["name"]
    assert "emptyDir" in volumes[shipper_mount["name"]]
    conf = (directory / "httpd.conf").read_text()
    assert conf == (ROOT / "docker" / "httpd" / "httpd.conf").read_text()
    assert f'CustomLog "{tailed[0]}" combined' in conf
    state_dir = setting(resources, shipper, settings.STATE_DIR)
    state_mount = next(m for m in shipper["volumeMounts"] if m["mountPath"] == state_dir)
    assert "emptyDir" in volumes[state_mount["name"]], "the checkpoint lives as long as the log"
    assert setting(resources, shipper, settings.SOURCE) == "<metadata.name>"


def test_every_configured_variable_is_a_setting() -> None:
    known = {s.env for s in settings.all_settings()}
    for directory in BUILDS:
        resources = composed(directory)
        for r in resources:
            if r["kind"] == "ConfigMap" and named(r, "logpipe-settings"):
                unknown = set(r["data"]) - known
                assert not unknown, f"{directory}: not settings: {sorted(unknown)}"
            for c in logpipe_containers(r):
                unknown = {e["name"] for e in c.get("env", [])} - known
                assert not unknown, f"{directory} {c['name']}: not settings: {sorted(unknown)}"


def test_every_password_file_is_on_a_mounted_secret() -> None:
    overlay = composed(K8S / "overlays" / "example")
    env = next(r for r in overlay if r["kind"] == "ConfigMap")["data"]
    secret = next(r for r in overlay if r["kind"] == "Secret")
    files = {v: k for k, v in env.items() if k.endswith("_PASSWORD_FILE")}
    assert files, "the example overlay reads its passwords from files"
    for r in overlay:
        for spec in pod_specs(r):
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            for c in logpipe_containers(r):
                for path in files:
                    mount = next(
                        m for m in c["volumeMounts"] if path.startswith(m["mountPath"] + "/")
                    )
                    assert (
                        volumes[mount["name"]]["secret"]["secretName"]
                        == (secret["metadata"]["name"])
                    )
                    assert Path(path).name in secret["data"]


def test_every_option_given_to_a_command_exists() -> None:
    from logpipe.kafka2cassandra.cli import main as kafka2cassandra
    from logpipe.logs2kafka.cli import main as logs2kafka

    programs = {"kafka2cassandra": kafka2cassandra, "logs2kafka": logs2kafka}
    for directory in BUILDS:
        for r in composed(directory):
            for c in logpipe_containers(r):
                check_command_line(c["args"], programs, f"{directory.name}/{c['name']}")


def check_command_line(args: list[str], programs: dict[str, click.Group], where: str) -> None:
    """The program and command exist, and so does each ``--flag`` given to the command."""
    assert args[0] in programs, f"{where}: {shlex.join(args)}"
    group = programs[args[0]]
    assert args[1] in group.commands, f"{where}: no command {args[0]} {args[1]}"
    command = group.commands[args[1]]
    flags = {opt for p in command.params for opt in getattr(p, "opts", [])}
    for arg in args[2:]:
        if arg.startswith("--"):
            flag = arg.split("=", 1)[0]
            assert flag in flags, f"{where}: {args[0]} {args[1]} has no option {flag}"


def test_the_configuration_each_container_gets_is_accepted_by_its_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every variable and argument parses (types, choices), as the program would read them."""
    from logpipe.kafka2cassandra.cli import main as kafka2cassandra
    from logpipe.logs2kafka.cli import main as logs2kafka

    programs = {"kafka2cassandra": kafka2cassandra, "logs2kafka": logs2kafka}
    checked = 0
    for directory in BUILDS:
        resources = composed(directory)
        for r in resources:
            for c in logpipe_containers(r):
                env = settings_of(resources, c)
                with monkeypatch.context() as m:
                    for s in settings.all_settings():
                        m.delenv(s.env, raising=False)
                    for name, value in env.items():
                        m.setenv(name, value)
                    program, name, *rest = c["args"]
                    command = programs[program].commands[name]
                    ctx = command.make_context(f"{program} {name}", list(rest))
                if "metrics_port" in ctx.params and r["kind"] != "Job":
                    assert ctx.params["metrics_port"] == 9100
                checked += 1
    assert checked >= 5
