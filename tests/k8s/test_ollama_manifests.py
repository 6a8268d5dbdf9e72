"""The opt-in Ollama-on-a-GPU component: it renders, validates, and is reachable by the score
pool alone (k8s/components/ollama-gpu, rendered through k8s/overlays/production-gpu)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.k8s.test_manifests import (
    K8S,
    KEDA_KINDS,
    Doc,
    _offline_env,
    configmap,
    containers,
    deployments,
    keda_validators,
    kubernetes_validate,
    kustomize,
    of_kind,
    pod_labels,
    quantity,
    selects,
)

__all__ = ["keda_validators", "kubernetes_validate", "kustomize"]

pytestmark = pytest.mark.timeout(900)

GPU = "nvidia.com/gpu"
OLLAMA = "pvara-ollama"


def _render(kustomize: Path, folder: Path) -> list[Doc]:
    done = subprocess.run(
        [kustomize, "build", folder],
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"kustomize build {folder} failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def gpu(kustomize: Path) -> list[Doc]:
    return _render(kustomize, K8S / "overlays" / "production-gpu")


@pytest.fixture(scope="module")
def production(kustomize: Path) -> list[Doc]:
    return _render(kustomize, K8S / "overlays" / "production")


def _key(doc: Doc) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def test_the_gpu_overlay_validates_against_the_kubernetes_schemas(
    gpu: list[Doc], kubernetes_validate: ModuleType, keda_validators: dict[str, Any]
) -> None:
    errors = []
    for doc in gpu:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in KEDA_KINDS:
            errors += [
                f"{where}: {e.message}" for e in keda_validators[doc["kind"]].iter_errors(doc)
            ]
            continue
        try:
            kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{where}: {'.'.join(map(str, e.path))}: {e.message}")
    assert not errors, "\n".join(errors)


def test_the_component_adds_ollama_to_production_and_changes_only_the_host_setting(
    gpu: list[Doc], production: list[Doc]
) -> None:
    before = {_key(d): d for d in production if d["kind"] != "ConfigMap"}
    after = {_key(d): d for d in gpu if d["kind"] != "ConfigMap"}

    added = set(after) - set(before)
    assert added == {
        ("Deployment", OLLAMA),
        ("Service", OLLAMA),
        ("PersistentVolumeClaim", "pvara-ollama-models"),
        ("NetworkPolicy", OLLAMA),
        ("PodDisruptionBudget", OLLAMA),
    }
    # Every PVARA object is the same, apart from the new ConfigMap hash they reference.
    assert set(before) <= set(after)
    assert all(d["metadata"].get("namespace") == "pvara" for k, d in after.items() if k in added)
    old, new = configmap(production)["data"], configmap(gpu)["data"]
    assert {k: v for k, v in new.items() if k != "PVARA_OLLAMA_HOST"} == old
    assert new["PVARA_OLLAMA_HOST"] == "http://pvara-ollama:11434"


def test_ollama_runs_on_one_gpu_node_and_is_replaced_not_overlapped(gpu: list[Doc]) -> None:
    deployment = deployments(gpu)[OLLAMA]
    spec = deployment["spec"]
    (server,) = containers(deployment, init=False)

    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    requests, limits = server["resources"]["requests"], server["resources"]["limits"]
    assert quantity(requests[GPU]) == quantity(limits[GPU]) == 1
    for resource, amount in requests.items():
        assert quantity(amount) <= quantity(limits[resource]), resource
    tolerations = spec["template"]["spec"]["tolerations"]
    assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in tolerations
    assert server["image"].startswith("ollama/ollama:")
    env = {e["name"]: e["value"] for e in server["env"]}
    assert env["OLLAMA_HOST"] == "0.0.0.0:11434"
    assert env["OLLAMA_NUM_PARALLEL"] == "4"  # the price table's parallel_slots for GPU models


def test_ollama_pods_meet_the_restricted_pod_security_standard(gpu: list[Doc]) -> None:
    deployment = deployments(gpu)[OLLAMA]
    pod = deployment["spec"]["template"]["spec"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    for container in containers(deployment):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/models", "/tmp"} <= mounts, container["name"]


def test_only_the_score_pool_can_reach_ollama_through_its_service(gpu: list[Doc]) -> None:
    pods = pod_labels(deployments(gpu)[OLLAMA])
    service = of_kind(gpu, "Service")[OLLAMA]
    assert selects({"matchLabels": service["spec"]["selector"]}, pods)
    assert service["spec"]["ports"] == [{"name": "http", "port": 11434, "targetPort": "http"}]

    policy = of_kind(gpu, "NetworkPolicy")[OLLAMA]
    assert selects(policy["spec"]["podSelector"], pods)
    (rule,) = policy["spec"]["ingress"]
    allowed = [
        name
        for name, deployment in deployments(gpu).items()
        if any(selects(peer["podSelector"], pod_labels(deployment)) for peer in rule["from"])
    ]
    assert allowed == ["pvara-worker-score"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 11434}]
    # ... and the score pool's own egress policy lets it out to that port.
    score = pod_labels(deployments(gpu)["pvara-worker-score"])
    egress = [
        p
        for p in of_kind(gpu, "NetworkPolicy").values()
        if p["metadata"]["name"] != OLLAMA and selects(p["spec"]["podSelector"], score)
    ]
    ports = {
        (port["protocol"], port["port"])
        for p in egress
        for rule in p["spec"].get("egress", [])
        for port in rule.get("ports", [])
    }
    assert ("TCP", 11434) in ports
