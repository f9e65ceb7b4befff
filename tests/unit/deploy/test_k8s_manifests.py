"""deploy/k8s: every overlay renders with `kubectl kustomize`, every object passes
`kubernetes-validate --strict`, and the policies hold over what is rendered."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from kubernetes_validate.utils import ValidationError
from netpol import Actor, allowed_connections
from podpolicy import LONG_RUNNING, image_problems, pod_problems, pod_specs, validate

from foundry.runtime.readiness import LIVENESS
from foundry.runtime.safety import insecure_defaults
from foundry.runtime.settings import DEFAULT_GRPC_PORTS, DEFAULT_METRICS_PORTS, ServiceName
from foundry.training.k8s import jobs
from foundry.training.k8s.config import TrainerConfig
from foundry.training.settings import TrainingSettings

Objects = list[dict[str, Any]]
SERVICES = [s.value for s in ServiceName]
NAMESPACE = "foundry"
TARGETS = ("base", "dev", "gpu", "cert-manager")  # conftest renders each
#: the kubelet's gRPC probes cannot speak TLS: they ask this plaintext, health-only port
HEALTH_PORT = 8086
CERT_MANAGER = "cert-manager.io/v1"


def of_kind(objects: Objects, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def config_settings(objects: Objects) -> TrainingSettings:
    """The settings a training pod of this rendering gets from its ConfigMap and Secret (the shared
    ones every pod gets, and the training service's own)."""
    env: dict[str, str] = {}
    for obj in objects:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].startswith("foundry-config"):
            env.update(obj["data"])
    secret = of_kind(objects, "Secret")["foundry-secrets"]
    env.update(secret.get("stringData", {}))

    env.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
    values = {k.removeprefix("FOUNDRY_").lower(): v for k, v in env.items()}
    return TrainingSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("target", TARGETS)
def test_overlay_renders_a_whole_deployment(rendered: dict[str, Objects], target: str) -> None:
    objects = rendered[target]
    assert set(of_kind(objects, "Deployment")) == set(SERVICES)
    assert set(of_kind(objects, "StatefulSet")) == {"minio"}
    assert set(of_kind(objects, "Job")) == {"minio-bootstrap"}
    assert set(of_kind(objects, "Namespace")) == {NAMESPACE}
    assert all(o["metadata"].get("namespace") == NAMESPACE for o in objects if o["kind"] != "Namespace")


@pytest.mark.parametrize("target", TARGETS)
def test_every_rendered_object_validates_strictly(rendered: dict[str, Objects], target: str) -> None:
    for obj in rendered[target]:
        if obj["apiVersion"] != CERT_MANAGER:  # no schema offline: checked by the cert-manager test
            validate(obj)


def test_the_validator_rejects_what_it_should(rendered: dict[str, Objects]) -> None:
    deployment = copy.deepcopy(of_kind(rendered["base"], "Deployment")["ingestion"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["grpcc"] = {"port": 1}
    with pytest.raises(ValidationError):
        validate(deployment)


@pytest.mark.parametrize("target", TARGETS)
def test_every_pod_is_restricted_and_sized(rendered: dict[str, Objects], target: str) -> None:
    problems = []
    for obj in rendered[target]:
        for where, pod in pod_specs([obj]):
            problems += pod_problems(where, pod, long_running=obj["kind"] in LONG_RUNNING)
    assert problems == []
    namespace = of_kind(rendered[target], "Namespace")[NAMESPACE]["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"


def test_pod_checks_catch_violations() -> None:
    pod = {"containers": [{"name": "c", "image": "busybox:latest", "securityContext": {}}]}
    found = " | ".join(pod_problems("x", pod, long_running=True))
    for expected in (
        "runAsNonRoot",
        "seccomp",
        "allowPrivilegeEscalation",
        "capabilities",
        "read-only",
        "cpu",
        "latest",
        "readinessProbe",
    ):
        assert expected in found
    assert image_problems("quay.io/minio/mc") == ["image quay.io/minio/mc has no tag"]
    assert image_problems("registry:5000/a/b:1.0") == []


@pytest.mark.parametrize("target", TARGETS)
def test_services_expose_grpc_and_metrics_with_native_grpc_probes(
    rendered: dict[str, Objects], target: str
) -> None:
    deployments, services = of_kind(rendered[target], "Deployment"), of_kind(rendered[target], "Service")
    for name in SERVICES:
        grpc, metrics = DEFAULT_GRPC_PORTS[ServiceName(name)], DEFAULT_METRICS_PORTS[ServiceName(name)]
        ports = {p["name"]: p["port"] for p in services[name]["spec"]["ports"]}
        assert ports == {"grpc": grpc, "metrics": metrics}
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == [f"foundry.{name}"]
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {**ports, "health": HEALTH_PORT}
        # readiness asks "" (follows the object store), startup and liveness ask "liveness"
        assert container["readinessProbe"]["grpc"] == {"port": HEALTH_PORT}
        for probe in ("startupProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": HEALTH_PORT, "service": LIVENESS}
    assert config_settings(rendered[target]).health_port == HEALTH_PORT


def tls_secret_of(deployment: dict[str, Any], mount_dir: str) -> str:
    """The Secret mounted read-only at `mount_dir` in the deployment's container."""
    pod = deployment["spec"]["template"]["spec"]
    mounts = [m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == mount_dir]
    assert len(mounts) == 1 and mounts[0]["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[0]["name"])
    name: str = volume["secret"]["secretName"]
    return name


@pytest.mark.parametrize("target", TARGETS)
def test_every_service_serves_mutual_tls_from_its_own_secret(
    rendered: dict[str, Objects], target: str
) -> None:
    settings = config_settings(rendered[target])
    assert settings.tls_client_auth is True
    files = (settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file)
    assert all(f is not None for f in files)
    mount_dir = str(files[0].parent)  # type: ignore[union-attr]
    assert {str(f) for f in files} == {f"{mount_dir}/{key}" for key in ("tls.crt", "tls.key", "ca.crt")}
    deployments = of_kind(rendered[target], "Deployment")
    assert {tls_secret_of(deployments[name], mount_dir) for name in SERVICES} == {
        f"{n}-tls" for n in SERVICES
    }


def test_cert_manager_makes_every_secret_the_base_mounts(rendered: dict[str, Objects]) -> None:
    objects = rendered["cert-manager"]
    certificates = {o["spec"]["secretName"]: o["spec"] for o in objects if o["kind"] == "Certificate"}
    issuers = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "Issuer"}
    assert {o["apiVersion"] for o in objects if o["kind"] in ("Certificate", "Issuer")} == {CERT_MANAGER}
    for name in SERVICES:
        cert = certificates[f"{name}-tls"]
        assert {name, f"{name}.{NAMESPACE}.svc", f"{name}.{NAMESPACE}.svc.cluster.local"} <= set(
            cert["dnsNames"]
        )
        assert {"server auth", "client auth"} <= set(cert["usages"])
        assert cert["issuerRef"]["kind"] == "Issuer"
        ca_secret = issuers[cert["issuerRef"]["name"]]["ca"]["secretName"]
        ca = certificates[ca_secret]
        assert ca["isCA"] is True
        assert "selfSigned" in issuers[ca["issuerRef"]["name"]]
    client = certificates["foundry-client-tls"]
    assert client["usages"] == ["client auth", "digital signature"] and "dnsNames" not in client
    known = {
        "secretName", "commonName", "dnsNames", "duration", "renewBefore", "privateKey", "usages",
        "issuerRef", "isCA",
    }  # fmt: skip
    for spec in certificates.values():
        assert set(spec) <= known, set(spec) - known
        assert spec["privateKey"]["algorithm"] == "ECDSA" and spec["privateKey"]["size"] == 256
    # the base alone makes none of these Secrets: they come from cert-manager or the operator
    assert not {f"{n}-tls" for n in SERVICES} & set(of_kind(rendered["base"], "Secret"))


@pytest.mark.parametrize("target", TARGETS)
def test_config_gives_every_service_what_it_needs(rendered: dict[str, Objects], target: str) -> None:
    settings = config_settings(rendered[target])
    assert settings.grpc_host == "0.0.0.0"
    assert settings.s3_endpoint == "minio:9000"
    assert settings.inference_address == "inference:50055"
    assert settings.auth_token is not None and settings.service_token is not None
    # safe defaults (runtime.safety): auth on, no secret at its built-in default, TLS: pods on
    # 0.0.0.0 start without FOUNDRY_INSECURE
    assert insecure_defaults(settings) == [] and not settings.insecure
    assert settings.training_executor == "kubernetes"
    minio = of_kind(rendered[target], "Secret")["minio-root"]["data"]
    secrets = of_kind(rendered[target], "Secret")["foundry-secrets"]["data"]
    assert minio["MINIO_ROOT_USER"] == secrets["FOUNDRY_S3_ACCESS_KEY"]
    assert minio["MINIO_ROOT_PASSWORD"] == secrets["FOUNDRY_S3_SECRET_KEY"]
    config_keys = {k for o in rendered[target] if o["kind"] == "ConfigMap" for k in o["data"]}
    assert not config_keys & set(secrets), "a secret is in the ConfigMap"


@pytest.mark.parametrize("target", TARGETS)
def test_rbac_lets_only_training_manage_jobs_in_its_namespace(
    rendered: dict[str, Objects], target: str
) -> None:
    objects = rendered[target]
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    role = of_kind(objects, "Role")["training-jobs"]
    jobs_rule = next(r for r in role["rules"] if r["apiGroups"] == ["batch"])
    assert jobs_rule["resources"] == ["jobs"] and {"create", "delete", "list"} <= set(jobs_rule["verbs"])
    binding = of_kind(objects, "RoleBinding")["training-jobs"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "training", "namespace": NAMESPACE}]
    for name, deployment in of_kind(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == ("training" if name == "training" else "foundry")
        assert pod["automountServiceAccountToken"] is (name == "training")
    accounts = of_kind(objects, "ServiceAccount")
    assert accounts["trainer"]["automountServiceAccountToken"] is False


@pytest.mark.parametrize("target", TARGETS)
def test_disruption_budgets_and_spread(rendered: dict[str, Objects], target: str) -> None:
    objects = rendered[target]
    budgets = {
        p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for p in of_kind(objects, "PodDisruptionBudget").values()
    }
    assert budgets == {*SERVICES, "minio"}
    for deployment in of_kind(objects, "Deployment").values():
        keys = {c["topologyKey"] for c in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]}
        assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}


def test_dev_overlay_is_small_with_a_cpu_trainer(rendered: dict[str, Objects]) -> None:
    objects = rendered["dev"]
    assert {d["spec"]["replicas"] for d in of_kind(objects, "Deployment").values()} == {1}
    assert of_kind(objects, "HorizontalPodAutoscaler") == {}
    settings = config_settings(objects)
    assert settings.k8s_trainer_gpus_per_node == 0
    job = jobs.build_job(TrainerConfig.from_settings(settings, NAMESPACE), settings, "a" * 32, 1)
    pod = job["spec"]["template"]["spec"]
    assert jobs.GPU_RESOURCE not in pod["containers"][0]["resources"]["limits"]
    assert "tolerations" not in pod
    validate(job)


def test_gpu_overlay_puts_trainers_and_inference_on_gpu_nodes(rendered: dict[str, Objects]) -> None:
    objects = rendered["gpu"]
    assert set(of_kind(objects, "HorizontalPodAutoscaler")) == {
        "inference",
        "ingestion",
        "augmentation",
        "labeling",
    }
    inference = of_kind(objects, "Deployment")["inference"]["spec"]["template"]["spec"]
    container = inference["containers"][0]
    assert container["image"].endswith("/inference:0.1.0")  # the onnxruntime-gpu build
    assert container["resources"]["limits"][jobs.GPU_RESOURCE] == "1"
    assert {"key": jobs.GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"} in inference[
        "tolerations"
    ]
    # the trainer Job the training service builds from this overlay's configuration
    settings = config_settings(objects)
    job = jobs.build_job(TrainerConfig.from_settings(settings, NAMESPACE), settings, "b" * 32, 1)
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"][jobs.GPU_RESOURCE] == "1"
    assert {"key": jobs.GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["serviceAccountName"] in of_kind(objects, "ServiceAccount")
    validate(job)
    assert pod_problems("trainer", pod, long_running=False) == []


# --- network policies --------------------------------------------------------------------------------


def actors(objects: Objects) -> list[Actor]:
    ns_labels = {
        **of_kind(objects, "Namespace")[NAMESPACE]["metadata"]["labels"],
        "kubernetes.io/metadata.name": NAMESPACE,
    }
    out = []
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            template = obj["spec"]["template"]
            ports = tuple(
                (p["containerPort"], p.get("protocol", "TCP"), p.get("name", ""))
                for c in template["spec"]["containers"]
                for p in c.get("ports", [])
            )
            out.append(
                Actor(obj["metadata"]["name"], NAMESPACE, template["metadata"]["labels"], ns_labels, ports)
            )
    trainer_labels = jobs.labels("c" * 32, 1)  # what the executor puts on trainer pods
    out += [
        Actor("trainer", NAMESPACE, trainer_labels, ns_labels, ((29500, "TCP", "rendezvous"),)),
        Actor("client-pod", NAMESPACE, {"foundry.dev/client": "true"}, ns_labels),
        Actor("other-pod", NAMESPACE, {"app": "something"}, ns_labels),
        Actor(
            "app-client",
            "apps",
            {"app": "backend"},
            {"kubernetes.io/metadata.name": "apps", "foundry.dev/client": "true"},
        ),
        Actor("app-other", "apps2", {"app": "backend"}, {"kubernetes.io/metadata.name": "apps2"}),
        Actor(
            "prometheus",
            "monitoring",
            {"app": "prometheus"},
            {"kubernetes.io/metadata.name": "monitoring", "foundry.dev/monitoring": "true"},
        ),
        Actor(
            "kube-dns",
            "kube-system",
            {"k8s-app": "kube-dns"},
            {"kubernetes.io/metadata.name": "kube-system"},
            ((53, "UDP", "dns"), (53, "TCP", "dns-tcp")),
        ),
        Actor("apiserver", "", None, ports=((443, "TCP", ""), (6443, "TCP", "")), ip="10.0.0.1"),
        Actor("internet", "", None, ports=((443, "TCP", ""), (80, "TCP", "")), ip="203.0.113.7"),
    ]
    return out


def expected_connections() -> set[tuple[str, str, int, str]]:
    grpc = {s.value: p for s, p in DEFAULT_GRPC_PORTS.items()}
    metrics = {s.value: p for s, p in DEFAULT_METRICS_PORTS.items()}
    in_namespace = [*SERVICES, "minio", "minio-bootstrap", "trainer", "client-pod", "other-pod"]
    expected = {(s, "minio", 9000, "TCP") for s in [*SERVICES, "trainer", "minio-bootstrap"]}
    expected |= {("labeling", "inference", 50055, "TCP"), ("augmentation", "inference", 50055, "TCP")}
    expected |= {(c, s, grpc[s], "TCP") for s in SERVICES for c in ("client-pod", "app-client")}
    expected |= {("prometheus", s, metrics[s], "TCP") for s in SERVICES}
    expected |= {(s, "kube-dns", 53, proto) for s in in_namespace for proto in ("UDP", "TCP")}
    expected |= {("training", "apiserver", 443, "TCP"), ("training", "apiserver", 6443, "TCP")}
    expected |= {("training", "internet", 443, "TCP")}  # the API server's ports, by port only (see README)
    expected |= {("trainer", "trainer", 29500, "TCP")}
    return expected


@pytest.mark.parametrize("target", TARGETS)
def test_network_policies_allow_exactly_the_needed_connections(
    rendered: dict[str, Objects], target: str
) -> None:
    objects = rendered[target]
    policies = list(of_kind(objects, "NetworkPolicy").values())
    allowed = allowed_connections(policies, actors(objects), NAMESPACE)
    expected = expected_connections()
    assert allowed == expected, {
        "unexpected": sorted(allowed - expected),
        "missing": sorted(expected - allowed),
    }


def test_without_the_policies_everything_would_be_open(rendered: dict[str, Objects]) -> None:
    objects = rendered["base"]
    everything = allowed_connections([], actors(objects), NAMESPACE)
    assert everything > expected_connections()
