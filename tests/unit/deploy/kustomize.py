"""A small kustomize, enough to compose the manifests of k8s/ without the kustomize binary.

It understands the fields our kustomizations use (resources, namespace, labels, images,
patches with strategic merge, configMapGenerator and secretGenerator with create/replace/
merge) and refuses any other field, so a kustomization can never use something these
tests silently ignore. Generated names keep no hash suffix: kustomize rewrites every
reference to a generated object consistently, so the references resolve the same way.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml

KNOWN_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "labels",
    "resources",
    "images",
    "patches",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
}

# The strategic-merge keys of the lists our patches touch (as in the Kubernetes API).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "envFrom": None,
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}

POD_TEMPLATE_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "Job", "ReplicaSet"}


class KustomizeError(Exception):
    """A kustomization refers to something that is not there, or uses an unknown field."""


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def kustomization(directory: Path) -> dict[str, Any]:
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"no kustomization.yaml in {directory}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(data) - KNOWN_FIELDS
    if unknown:
        raise KustomizeError(f"{path}: fields this composer does not know: {sorted(unknown)}")
    return data


def key(resource: dict[str, Any]) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def build(directory: Path) -> list[dict[str, Any]]:
    """The resources ``kubectl kustomize directory`` would print (without name hashes)."""
    directory = directory.resolve()
    k = kustomization(directory)
    resources: list[dict[str, Any]] = []
    for entry in k.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            resources.extend(build(path))
        elif path.is_file():
            resources.extend(load_documents(path))
        else:
            raise KustomizeError(f"{directory}: resource {entry} does not exist")
    _check_unique(resources, directory)

    for gen in k.get("configMapGenerator", []):
        _generate(resources, directory, gen, "ConfigMap")
    for gen in k.get("secretGenerator", []):
        _generate(resources, directory, gen, "Secret")

    for patch in k.get("patches", []):
        _apply_patch(resources, directory, patch)

    if "namespace" in k:
        for r in resources:
            if r["kind"] == "Namespace":
                continue
            r["metadata"]["namespace"] = k["namespace"]

    for group in k.get("labels", []):
        _apply_labels(resources, group)

    for image in k.get("images", []):
        _apply_image(resources, image)

    _check_unique(resources, directory)
    return resources


def _check_unique(resources: list[dict[str, Any]], directory: Path) -> None:
    seen = set()
    for r in resources:
        if key(r) in seen:
            raise KustomizeError(f"{directory}: {key(r)} defined twice")
        seen.add(key(r))


def _generate(
    resources: list[dict[str, Any]], directory: Path, gen: dict[str, Any], kind: str
) -> None:
    data: dict[str, str] = {}
    for literal in gen.get("literals", []):
        name, sep, value = literal.partition("=")
        if not sep:
            raise KustomizeError(f"{directory}: literal without '=': {literal}")
        data[name] = value
    for entry in gen.get("files", []):
        name, sep, source = entry.partition("=")
        source = source if sep else name
        path = directory / source
        if not path.is_file():
            raise KustomizeError(f"{directory}: generator file {source} does not exist")
        data[Path(name).name] = path.read_text(encoding="utf-8")
    for entry in gen.get("envs", []):
        path = directory / entry
        if not path.is_file():
            raise KustomizeError(f"{directory}: generator env file {entry} does not exist")
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                name, _, value = line.partition("=")
                data[name.strip()] = value
    if kind == "Secret":
        body = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        body = data
    behavior = gen.get("behavior", "create")
    existing = [r for r in resources if key(r) == (kind, gen["name"])]
    if behavior == "create":
        if existing:
            raise KustomizeError(f"{directory}: {kind} {gen['name']} already exists")
        generated: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": {"name": gen["name"]},
            "data": body,
        }
        if kind == "Secret":
            generated["type"] = gen.get("type", "Opaque")
        resources.append(generated)
        return
    if not existing:
        raise KustomizeError(f"{directory}: {behavior} of {kind} {gen['name']}, not in the base")
    target = existing[0]
    if behavior == "replace":
        target.pop("stringData", None)
        target["data"] = body
    elif behavior == "merge":
        target.setdefault("data", {}).update(body)
    else:
        raise KustomizeError(f"{directory}: unknown generator behavior {behavior}")


def _apply_patch(resources: list[dict[str, Any]], directory: Path, patch: dict[str, Any]) -> None:
    if set(patch) != {"path"}:
        raise KustomizeError(f"{directory}: only strategic-merge patches by path: {patch}")
    path = directory / patch["path"]
    if not path.is_file():
        raise KustomizeError(f"{directory}: patch {patch['path']} does not exist")
    for doc in load_documents(path):
        matches = [r for r in resources if key(r) == key(doc)]
        if not matches:
            raise KustomizeError(f"{path}: patches {key(doc)}, which is not in the base")
        if doc.get("apiVersion") != matches[0].get("apiVersion"):
            raise KustomizeError(f"{path}: apiVersion differs from the base's {key(doc)}")
        merged = strategic_merge(matches[0], doc)
        matches[0].clear()
        matches[0].update(merged)


def strategic_merge(base: Any, patch: Any, field: str = "") -> Any:
    """Maps merge key by key; lists with a merge key merge item by item; others replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for name, value in patch.items():
            out[name] = strategic_merge(base[name], value, name) if name in base else value
        return out
    if isinstance(base, list) and isinstance(patch, list) and MERGE_KEYS.get(field):
        merge_key = MERGE_KEYS[field]
        out = copy.deepcopy(base)
        for item in patch:
            same = [i for i, b in enumerate(out) if b.get(merge_key) == item.get(merge_key)]
            if same:
                out[same[0]] = strategic_merge(out[same[0]], item)
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def _apply_labels(resources: list[dict[str, Any]], group: dict[str, Any]) -> None:
    pairs = group.get("pairs", {})
    if group.get("includeSelectors", False) or group.get("includeTemplates", False):
        raise KustomizeError("labels with includeSelectors/includeTemplates are not used here")
    for r in resources:
        r["metadata"].setdefault("labels", {}).update(pairs)


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


def _apply_image(resources: list[dict[str, Any]], image: dict[str, Any]) -> None:
    for r in resources:
        for spec in pod_specs(r):
            for c in containers(spec):
                name = c["image"].split("@")[0]
                if ":" in name.rsplit("/", 1)[-1]:
                    name = name.rsplit(":", 1)[0]
                if name != image["name"]:
                    continue
                new_name = image.get("newName", name)
                c["image"] = f"{new_name}:{image['newTag']}" if "newTag" in image else new_name
