"""The Kubernetes manifests render, validate offline, and keep the promises of k8s/README.md.

Both the base and the production overlay are rendered with kustomize, a Go build from the Go
module proxy kept in ``.pvara/tools/bin`` (built on first use). Every rendered document is then
validated without network: core kinds against the Kubernetes JSON schemas shipped in the
``kubernetes-validate`` wheel (strict: unknown fields fail), KEDA's ScaledObject and
TriggerAuthentication against the trimmed schemas in ``tests/k8s/schemas/``.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from core.events import APPLICATIONS_SUBMITTED
from core.queue import NAMESPACE as DRAMATIQ_NAMESPACE
from core.queue import POOLS

# The first run builds kustomize (1 to 4 minutes on a fresh machine, mostly module downloads);
# afterwards the whole module takes seconds.
pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
TOOLS_BIN = ROOT / ".pvara" / "tools" / "bin"

# v5.8.3 asks for Go 1.27; v5.8.2 is the newest that builds with this machine's Go 1.26.
KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.8.2"
# Also in pyproject's dev extra; installed here only when the venv lacks it.
KUBERNETES_VALIDATE = "kubernetes-validate>=1.37"
# The oldest Kubernetes the manifests promise to work on (preStop `sleep` needs 1.30); the
# newest schema kubernetes-validate ships is checked too.
OLDEST_KUBERNETES = "1.30"

RENDERS = {"base": K8S / "base", "production": K8S / "overlays" / "production"}
SECRET = "pvara-secrets"
# Keys every long-running process must get, or fail to start (k8s/README.md, "The Secret").
REQUIRED_SECRET_KEYS = {
    "PVARA_DATABASE_URL",
    "PVARA_REDIS_URL",
    "PVARA_ID_SECRET",
    "PVARA_WEBHOOK_SECRET",
    "PVARA_PII_KEYS",
    "PVARA_BLIND_INDEX_KEY",
}
API_SECRET_KEYS = {"PVARA_JWT_PRIVATE_KEY"}
OPTIONAL_SECRET_KEYS = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "PVARA_OPS_TOKEN"}
CLI_SUBCOMMANDS = {"api", "bridge", "scheduler", "worker", "migrate"}
# DNS, PostgreSQL, Redis, Kafka, HTTPS (LLM providers, webhooks).
REQUIRED_EGRESS = {
    ("UDP", 53),
    ("TCP", 53),
    ("TCP", 5432),
    ("TCP", 6379),
    ("TCP", 9092),
    ("TCP", 443),
}
OLLAMA = ("TCP", 11434)  # the score pool only
SMTP = {("TCP", 587), ("TCP", 465)}  # the notify pool only (e-mail)
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
SECRET_LIKE_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|PRIVATE_KEY|DATABASE_URL|REDIS_URL")
SECRET_LIKE_TEXT = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),  # OpenAI and Anthropic key shapes
    re.compile(r"://[^/\s:@]*:[^/\s@]+@"),  # a URL with [user]:password
)
Doc = dict[str, Any]


# --- tools ---------------------------------------------------------------------------------


def _kustomize_version(binary: Path) -> str | None:
    if not binary.exists():
        return None
    done = subprocess.run([binary, "version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


@pytest.fixture(scope="session")
def kustomize() -> Path:
    """kustomize at KUSTOMIZE_VERSION, built from the Go module proxy when missing."""
    binary = TOOLS_BIN / "kustomize"
    if _kustomize_version(binary) == KUSTOMIZE_VERSION:
        return binary
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is needed to build kustomize for the k8s tests (apt-get install golang)")
    TOOLS_BIN.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(TOOLS_BIN), "GOTOOLCHAIN": "local"}
    done = subprocess.run(
        [go, "install", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"go install {KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION} failed:\n{done.stderr}")
    assert _kustomize_version(binary) == KUSTOMIZE_VERSION
    return binary


@pytest.fixture(scope="session")
def kubernetes_validate() -> ModuleType:
    """The kubernetes-validate package (its schemas), pip-installed into the venv if absent."""
    try:
        return importlib.import_module("kubernetes_validate")
    except ImportError:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", KUBERNETES_VALIDATE],
            check=True,
            timeout=900,
        )
        importlib.invalidate_caches()
        return importlib.import_module("kubernetes_validate")


def _offline_env() -> dict[str, str]:
    """The environment for kustomize, with every network path pointed at a closed port."""
    dead = "http://127.0.0.1:9"
    env = {k: v for k, v in os.environ.items() if k.lower() != "no_proxy"}
    env.update(
        HTTP_PROXY=dead,
        HTTPS_PROXY=dead,
        http_proxy=dead,
        https_proxy=dead,
        GIT_TERMINAL_PROMPT="0",
        GOPROXY="off",
    )
    return env


@pytest.fixture(scope="session")
def renders(kustomize: Path) -> dict[str, list[Doc]]:
    rendered = {}
    for name, folder in RENDERS.items():
        done = subprocess.run(
            [kustomize, "build", folder],
            env=_offline_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"kustomize build {folder} failed:\n{done.stderr}"
        rendered[name] = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    return rendered


@pytest.fixture(params=sorted(RENDERS))
def docs(request: pytest.FixtureRequest, renders: dict[str, list[Doc]]) -> list[Doc]:
    """The documents of one render (the tests below run once for the base, once for prod)."""
    return renders[request.param]


@pytest.fixture(scope="session")
def keda_validators(kubernetes_validate: ModuleType) -> dict[str, Any]:
    import jsonschema  # a dependency of kubernetes-validate, so present once it is

    validators = {}
    for kind in KEDA_KINDS:
        schema = json.loads((SCHEMAS / f"{kind.lower()}-keda-v1alpha1.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        validators[kind] = jsonschema.Draft202012Validator(schema)
    return validators


# --- helpers -------------------------------------------------------------------------------


def of_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def deployments(docs: list[Doc]) -> dict[str, Doc]:
    return of_kind(docs, "Deployment")


def containers(deployment: Doc, *, init: bool = True) -> list[Doc]:
    spec = deployment["spec"]["template"]["spec"]
    return [*(spec.get("initContainers", []) if init else []), *spec["containers"]]


def pod_labels(deployment: Doc) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are used here"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def configmap(docs: list[Doc]) -> Doc:
    (settings,) = of_kind(docs, "ConfigMap").values()
    return settings


def autoscaled_targets(docs: list[Doc]) -> list[str]:
    """The Deployments named by an HPA or a ScaledObject (a name twice = two autoscalers)."""
    scalers = [*of_kind(docs, "HorizontalPodAutoscaler").values()]
    scalers += of_kind(docs, "ScaledObject").values()
    return [scaler["spec"]["scaleTargetRef"]["name"] for scaler in scalers]


_UNITS = {
    "m": Decimal("0.001"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
}


def quantity(value: str | int) -> Decimal:
    """A Kubernetes quantity ("250m", "1", "512Mi") as a number."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)", str(value))
    assert match and match.group(2) in _UNITS, f"unexpected quantity {value!r}"
    return Decimal(match.group(1)) * _UNITS[match.group(2)]


def probes(container: Doc) -> Iterator[tuple[str, Doc]]:
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        if kind in container:
            yield kind, container[kind]


# --- schemas -------------------------------------------------------------------------------


@pytest.mark.parametrize("kubernetes_version", [OLDEST_KUBERNETES, "newest"])
def test_every_rendered_document_validates_against_its_schema(
    docs: list[Doc],
    kubernetes_version: str,
    kubernetes_validate: ModuleType,
    keda_validators: dict[str, Any],
) -> None:
    version = kubernetes_version
    if version == "newest":
        version = kubernetes_validate.latest_version()
    errors = []
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in KEDA_KINDS:
            errors += [
                f"{where}: {'.'.join(map(str, e.path))}: {e.message}"
                for e in keda_validators[doc["kind"]].iter_errors(doc)
            ]
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{where}: {'.'.join(map(str, e.path))}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            errors.append(f"{where}: no schema to validate against ({e.message})")
    assert not errors, "\n".join(errors)


def test_trimmed_keda_schemas_reject_typos_and_non_string_metadata(
    renders: dict[str, list[Doc]], keda_validators: dict[str, Any]
) -> None:
    scaled = copy.deepcopy(of_kind(renders["base"], "ScaledObject")["pvara-worker-parse"])
    scaled["spec"]["minReplicas"] = 1  # KEDA's field is minReplicaCount
    scaled["spec"]["triggers"][0]["metadata"]["listLength"] = 20  # metadata is string-only
    scaled["spec"]["triggers"][0]["metadata"]["listname"] = "dramatiq:parse"
    messages = [e.message for e in keda_validators["ScaledObject"].iter_errors(scaled)]
    assert any("minReplicas" in m for m in messages)
    assert any("listname" in m for m in messages)
    assert any("20 is not of type 'string'" in m for m in messages)

    auth = copy.deepcopy(of_kind(renders["base"], "TriggerAuthentication")["pvara-keda-redis"])
    auth["spec"]["secretTargetRefs"] = auth["spec"].pop("secretTargetRef")
    assert not keda_validators["TriggerAuthentication"].is_valid(auth)


# --- workloads -----------------------------------------------------------------------------


def test_every_process_has_a_deployment_running_the_pvara_cli(docs: list[Doc]) -> None:
    expected = {"pvara-api", "pvara-bridge", "pvara-scheduler"}
    expected |= {f"pvara-worker-{pool}" for pool in POOLS}
    found = deployments(docs)
    assert set(found) == expected
    for name, deployment in found.items():
        for container in containers(deployment):
            assert container["image"].split(":")[0] == "pvara/pvara", name
            assert container["command"] == ["pvara"], name
            assert container["args"][0] in CLI_SUBCOMMANDS, name
    for pool in POOLS:
        (worker,) = containers(found[f"pvara-worker-{pool}"])
        assert worker["args"] == ["worker", "--pool", pool]


def test_every_container_has_requests_within_limits(docs: list[Doc]) -> None:
    for name, deployment in deployments(docs).items():
        for container in containers(deployment):
            where = f"{name}/{container['name']}"
            resources = container.get("resources", {})
            for resource in ("cpu", "memory"):
                request = resources.get("requests", {}).get(resource)
                limit = resources.get("limits", {}).get(resource)
                assert request and limit, f"{where} lacks a {resource} request or limit"
                assert 0 < quantity(request) <= quantity(limit), f"{where} {resource}"


def test_every_pod_meets_the_restricted_pod_security_standard(docs: list[Doc]) -> None:
    for name, deployment in deployments(docs).items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod), name
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["tmp"].get("emptyDir") is not None, name
        for volume in volumes.values():
            assert {"emptyDir", "persistentVolumeClaim"} & set(volume), f"{name}: {volume}"
        for container in containers(deployment):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts["/tmp"] == "tmp", f"{name}/{container['name']} needs a writable /tmp"


def test_api_probes_the_health_routes_on_its_named_port(docs: list[Doc]) -> None:
    (api,) = containers(deployments(docs)["pvara-api"], init=False)
    assert api["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert api["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert api["startupProbe"]["httpGet"]["path"] == "/health/live"


def test_probes_only_target_ports_the_container_declares(docs: list[Doc]) -> None:
    """Workers, bridge and scheduler have no port: an HTTP probe there would be dishonest."""
    for name, deployment in deployments(docs).items():
        for container in containers(deployment):
            ports = {p.get("name") for p in container.get("ports", [])}
            ports |= {p["containerPort"] for p in container.get("ports", [])}
            for kind, probe in probes(container):
                for handler in ("httpGet", "tcpSocket", "grpc"):
                    if handler in probe:
                        assert probe[handler]["port"] in ports, f"{name} {kind}"


def test_scheduler_is_one_replica_replaced_never_overlapped(docs: list[Doc]) -> None:
    scheduler = deployments(docs)["pvara-scheduler"]
    assert scheduler["spec"]["replicas"] == 1
    assert scheduler["spec"]["strategy"] == {"type": "Recreate"}
    assert "pvara-scheduler" not in autoscaled_targets(docs)


def test_autoscaled_deployments_leave_the_replica_count_to_their_autoscaler(
    docs: list[Doc],
) -> None:
    targets = autoscaled_targets(docs)
    assert len(targets) == len(set(targets)), "a Deployment has two autoscalers"
    found = deployments(docs)
    for target in targets:
        assert target in found, f"autoscaler targets a missing Deployment {target}"
        assert "replicas" not in found[target]["spec"], f"{target} fights its autoscaler"
    assert set(found) - set(targets) == {"pvara-scheduler"}


def test_api_scales_on_cpu(docs: list[Doc]) -> None:
    hpa = of_kind(docs, "HorizontalPodAutoscaler")["pvara-api"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "pvara-api",
    }
    assert hpa["spec"]["minReplicas"] >= 2, "one API pod cannot survive a disruption"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource"
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"


@pytest.mark.parametrize("pool", POOLS)
def test_each_pool_scales_on_its_dramatiq_queue_length(docs: list[Doc], pool: str) -> None:
    scaled = of_kind(docs, "ScaledObject")[f"pvara-worker-{pool}"]
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == f"pvara-worker-{pool}"
    # Workers also promote delayed messages (retries): a pool scaled to zero never retries.
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == f"{DRAMATIQ_NAMESPACE}:{pool}"
    assert int(trigger["metadata"]["listLength"]) > 0
    auth = of_kind(docs, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
    assert {"address", "password"} <= set(refs)
    assert all(r["name"] == SECRET for r in refs.values())


def test_bridge_scales_on_its_consumer_group_lag_up_to_the_partition_count(
    docs: list[Doc],
) -> None:
    spec = of_kind(docs, "ScaledObject")["pvara-bridge"]["spec"]
    assert spec["scaleTargetRef"]["name"] == "pvara-bridge"
    (trigger,) = spec["triggers"]
    meta = trigger["metadata"]
    assert trigger["type"] == "kafka"
    assert meta["consumerGroup"] == "bridge"
    assert meta["topic"] == APPLICATIONS_SUBMITTED
    assert int(meta["lagThreshold"]) > 0
    settings = configmap(docs)["data"]
    assert meta["bootstrapServersFromEnv"] in settings, "KEDA reads it from the bridge's env"
    bridge = deployments(docs)["pvara-bridge"]["spec"]["template"]["spec"]["containers"][0]
    assert {"configMapRef": {"name": configmap(docs)["metadata"]["name"]}} in bridge["envFrom"]
    assert spec["minReplicaCount"] >= 1
    assert spec["maxReplicaCount"] <= int(settings["PVARA_SUBMITTED_PARTITIONS"])


def test_disruption_budgets_cover_the_api_and_every_pool(docs: list[Doc]) -> None:
    budgets = of_kind(docs, "PodDisruptionBudget")
    found = deployments(docs)
    covered = set()
    for name, budget in budgets.items():
        selector = budget["spec"]["selector"]
        matched = [d for d, dep in found.items() if selects(selector, pod_labels(dep))]
        assert len(matched) == 1, f"{name} selects {matched}"
        covered.add(matched[0])
    assert {"pvara-api", *(f"pvara-worker-{pool}" for pool in POOLS)} <= covered


def test_api_service_exposes_port_8000_by_name(docs: list[Doc]) -> None:
    service = of_kind(docs, "Service")["pvara-api"]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
    ]
    api_pods = pod_labels(deployments(docs)["pvara-api"])
    assert selects({"matchLabels": service["spec"]["selector"]}, api_pods)


def test_every_reference_resolves_within_the_render(docs: list[Doc]) -> None:
    configmaps = set(of_kind(docs, "ConfigMap"))
    claims = set(of_kind(docs, "PersistentVolumeClaim"))
    accounts = set(of_kind(docs, "ServiceAccount"))
    auths = set(of_kind(docs, "TriggerAuthentication"))
    for name, deployment in deployments(docs).items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] in accounts, name
        for volume in pod["volumes"]:
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, name
        for container in containers(deployment):
            for source in container["envFrom"]:
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps, name
    for scaled in of_kind(docs, "ScaledObject").values():
        for trigger in scaled["spec"]["triggers"]:
            if "authenticationRef" in trigger:
                assert trigger["authenticationRef"]["name"] in auths


# --- secrets -------------------------------------------------------------------------------


def test_no_secret_value_is_in_the_manifests(docs: list[Doc]) -> None:
    assert not of_kind(docs, "Secret"), "the Secret is created outside the repository"
    text = yaml.safe_dump_all(docs)
    for pattern in SECRET_LIKE_TEXT:
        assert not pattern.search(text), pattern.pattern
    for key in configmap(docs)["data"]:
        assert not SECRET_LIKE_NAME.search(key), f"{key} belongs in the Secret"
    for name, deployment in deployments(docs).items():
        for container in containers(deployment):
            for var in container.get("env", []):
                if "value" in var:
                    assert not SECRET_LIKE_NAME.search(var["name"]), f"{name}: {var['name']}"
                else:
                    assert var["valueFrom"]["secretKeyRef"]["name"] == SECRET, name
            for source in container["envFrom"]:
                assert source.get("secretRef", {"name": SECRET})["name"] == SECRET, name


def test_every_process_refuses_to_start_without_its_required_secret_keys(
    docs: list[Doc],
) -> None:
    for name, deployment in deployments(docs).items():
        for container in containers(deployment, init=False):
            required = {
                var["valueFrom"]["secretKeyRef"]["key"]
                for var in container.get("env", [])
                if "secretKeyRef" in var.get("valueFrom", {})
                and not var["valueFrom"]["secretKeyRef"].get("optional", False)
            }
            expected = REQUIRED_SECRET_KEYS | (API_SECRET_KEYS if name == "pvara-api" else set())
            assert expected <= required, f"{name} misses {expected - required}"
            assert {"secretRef": {"name": SECRET}} in container["envFrom"], name


def test_readme_documents_every_secret_key(docs: list[Doc]) -> None:
    readme = (K8S / "README.md").read_text()
    keys = set(OPTIONAL_SECRET_KEYS)
    for deployment in deployments(docs).values():
        for container in containers(deployment):
            keys |= {
                var["valueFrom"]["secretKeyRef"]["key"]
                for var in container.get("env", [])
                if "valueFrom" in var
            }
    for auth in of_kind(docs, "TriggerAuthentication").values():
        keys |= {ref["key"] for ref in auth["spec"]["secretTargetRef"]}
    missing = sorted(key for key in keys if f"`{key}`" not in readme)
    assert not missing, f"k8s/README.md does not document {missing}"


# --- network -------------------------------------------------------------------------------


def test_network_policy_denies_ingress_except_the_api_port(docs: list[Doc]) -> None:
    policies = of_kind(docs, "NetworkPolicy")
    pods = {name: pod_labels(d) for name, d in deployments(docs).items()}
    deny_all = [
        p
        for p in policies.values()
        if "Ingress" in p["spec"]["policyTypes"]
        and not p["spec"].get("ingress")
        and all(selects(p["spec"]["podSelector"], labels) for labels in pods.values())
    ]
    assert deny_all, "no default-deny ingress policy covers every PVARA pod"
    opened = {}
    for policy in policies.values():
        for rule in policy["spec"].get("ingress", []):
            for name, labels in pods.items():
                if selects(policy["spec"]["podSelector"], labels):
                    opened.setdefault(name, []).extend(rule["ports"])
    assert opened == {"pvara-api": [{"protocol": "TCP", "port": 8000}]}


def test_network_policy_limits_egress_to_dns_datastores_and_https(docs: list[Doc]) -> None:
    pods = [pod_labels(d) for d in deployments(docs).values()]
    everyone = [
        p
        for p in of_kind(docs, "NetworkPolicy").values()
        if "Egress" in p["spec"]["policyTypes"]
        and all(selects(p["spec"]["podSelector"], labels) for labels in pods)
    ]
    assert everyone, "no egress policy covers every PVARA pod"
    allowed = set()
    for policy in of_kind(docs, "NetworkPolicy").values():
        for rule in policy["spec"].get("egress", []):
            assert rule.get("ports"), f"{policy['metadata']['name']} allows every port"
            allowed |= {(p["protocol"], p["port"]) for p in rule["ports"]}
    assert allowed >= REQUIRED_EGRESS
    assert not allowed - REQUIRED_EGRESS - {OLLAMA} - SMTP, "an unexpected egress port"


# --- production overlay ----------------------------------------------------------------------


def test_production_sets_namespace_and_pins_one_image_tag(renders: dict[str, list[Doc]]) -> None:
    prod = renders["production"]
    (namespace,) = of_kind(prod, "Namespace").values()
    assert namespace["metadata"]["name"] == "pvara"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in prod:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "pvara", doc["metadata"]["name"]
    images = {c["image"] for d in deployments(prod).values() for c in containers(d)}
    assert len(images) == 1
    (image,) = images
    name, _, tag = image.partition(":")
    assert name == "pvara/pvara"
    assert tag and tag != "latest"
    base_images = {c["image"] for d in deployments(renders["base"]).values() for c in containers(d)}
    assert base_images == {"pvara/pvara"}, "the base leaves the tag to overlays"


def test_production_raises_floors_ceilings_and_sizes(renders: dict[str, list[Doc]]) -> None:
    base, prod = renders["base"], renders["production"]
    raised = 0
    for kind, low, high in (
        ("HorizontalPodAutoscaler", "minReplicas", "maxReplicas"),
        ("ScaledObject", "minReplicaCount", "maxReplicaCount"),
    ):
        for name, doc in of_kind(base, kind).items():
            before, after = doc["spec"], of_kind(prod, kind)[name]["spec"]
            assert after[low] >= before[low] and after[high] >= before[high], name
            raised += (after[low], after[high]) != (before[low], before[high])
    assert raised >= 5, "production should scale further than the base"
    grown = 0
    for name, deployment in deployments(base).items():
        prod_containers = {c["name"]: c for c in containers(deployments(prod)[name])}
        for container in containers(deployment):
            for section in ("requests", "limits"):
                for resource, value in container["resources"][section].items():
                    after = prod_containers[container["name"]]["resources"][section][resource]
                    assert quantity(after) >= quantity(value), f"{name} {section} {resource}"
                    grown += quantity(after) > quantity(value)
    assert grown > 0
    assert configmap(prod)["data"] != configmap(base)["data"]
    assert configmap(prod)["metadata"]["name"] != configmap(base)["metadata"]["name"]


#: The liveness file each process role refreshes (core/liveness.py) under PVARA_LIVENESS_DIR.
LIVENESS_FILES = {
    "pvara-bridge": "/tmp/pvara/live/bridge",
    "pvara-scheduler": "/tmp/pvara/live/scheduler",
    **{f"pvara-worker-{pool}": "/tmp/pvara/live/worker" for pool in POOLS},
}


def test_processes_without_a_port_have_a_liveness_probe_on_their_liveness_file(
    docs: list[Doc],
) -> None:
    config = (K8S / "base" / "config.env").read_text()
    assert "PVARA_LIVENESS_DIR=/tmp/pvara/live" in config.splitlines()
    found = deployments(docs)
    for name, path in LIVENESS_FILES.items():
        (container,) = containers(found[name], init=False)
        liveness = " ".join(container["livenessProbe"]["exec"]["command"])
        startup = " ".join(container["startupProbe"]["exec"]["command"])
        assert path in liveness and path in startup, name


def _probe_exit(command: list[str], path: Path) -> int:
    argv = [part.replace("/tmp/pvara/live/", f"{path.parent}/") for part in command]
    return subprocess.run(argv, capture_output=True, timeout=10).returncode


def test_the_liveness_command_fails_on_a_stale_or_missing_file_and_passes_on_a_fresh_one(
    docs: list[Doc], tmp_path: Path
) -> None:
    (bridge,) = containers(deployments(docs)["pvara-bridge"], init=False)
    command = bridge["livenessProbe"]["exec"]["command"]
    live = tmp_path / "bridge"
    assert _probe_exit(command, live) != 0  # no file: the process never went round
    live.touch()
    assert _probe_exit(command, live) == 0
    stale = time.time() - 120
    os.utime(live, (stale, stale))
    assert _probe_exit(command, live) != 0
