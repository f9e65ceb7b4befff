"""`TrainerConfig`: how trainer pods look (image, backend, nodes, GPUs, CPU, memory, scratch, node
selector, service account, Secret, priority, retries and deadlines), read from the `k8s_*`
settings; a missing image or a malformed node selector names its setting."""

from __future__ import annotations

from dataclasses import dataclass, field

from foundry.runtime.errors import FailedPreconditionError, FieldViolation
from foundry.training.settings import TrainingSettings


@dataclass(frozen=True)
class TrainerConfig:
    """How trainer pods look, from the `k8s_*` settings."""

    namespace: str
    image: str
    backend: str = "job"
    nodes: int = 1
    gpus_per_node: int = 1
    cpu_cores: float = 4.0
    memory_gib: float = 32.0
    shm_gib: float = 8.0
    scratch_gib: float = 50.0
    node_selector: dict[str, str] = field(default_factory=dict)
    service_account: str = "trainer"
    secret_name: str = "foundry-secrets"
    priority_class: str = ""
    backoff_limit: int = 3
    active_deadline_s: int = 7 * 24 * 3600
    ttl_after_finished_s: int = 24 * 3600
    rendezvous_port: int = 29500

    @classmethod
    def from_settings(cls, settings: TrainingSettings, namespace: str) -> TrainerConfig:
        if not settings.k8s_trainer_image:
            raise FailedPreconditionError(
                "the kubernetes executor needs FOUNDRY_K8S_TRAINER_IMAGE",
                reason="TRAINER_IMAGE_UNSET",
                violations=[
                    FieldViolation("k8s_trainer_image", "required with training_executor=kubernetes")
                ],
            )
        return cls(
            namespace=namespace,
            image=settings.k8s_trainer_image,
            backend=settings.k8s_trainer_backend,
            nodes=settings.k8s_trainer_nodes,
            gpus_per_node=settings.k8s_trainer_gpus_per_node,
            cpu_cores=settings.k8s_trainer_cpu_cores,
            memory_gib=settings.k8s_trainer_memory_gib,
            shm_gib=settings.k8s_trainer_shm_gib,
            scratch_gib=settings.k8s_trainer_scratch_gib,
            node_selector=parse_node_selector(settings.k8s_trainer_node_selector),
            service_account=settings.k8s_trainer_service_account,
            secret_name=settings.k8s_trainer_secret_name,
            priority_class=settings.k8s_trainer_priority_class,
            backoff_limit=settings.k8s_trainer_backoff_limit,
            active_deadline_s=settings.k8s_trainer_active_deadline_s,
            ttl_after_finished_s=settings.k8s_trainer_ttl_after_finished_s,
            rendezvous_port=settings.k8s_rendezvous_port,
        )


def parse_node_selector(text: str) -> dict[str, str]:
    """`key=value,key=value` → a dict; a malformed pair names the setting."""
    selector: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise FailedPreconditionError(
                f"FOUNDRY_K8S_TRAINER_NODE_SELECTOR: {pair!r} is not key=value",
                reason="BAD_NODE_SELECTOR",
                violations=[FieldViolation("k8s_trainer_node_selector", f"{pair!r} is not key=value")],
            )
        selector[key.strip()] = value.strip()
    return selector
