"""`foundry.client`: the typed Python client of every service, what backend services and the CLI
use to call the suite. One class per service over the generated stubs; deadlines, retries on
UNAVAILABLE, the bearer token from settings, and failures raised as `foundry.runtime.errors`."""

from foundry.client.augmentation import AugmentationClient
from foundry.client.calls import RetryPolicy, ServiceClient
from foundry.client.errors import CallStatus, ServiceError, answered, call_status, error_from_rpc
from foundry.client.inference import InferenceClient
from foundry.client.ingestion import IngestionClient
from foundry.client.labeling import LabelingClient
from foundry.client.oip import OpenInferenceClient
from foundry.client.training import TrainingClient

__all__ = [
    "AugmentationClient",
    "CallStatus",
    "InferenceClient",
    "IngestionClient",
    "LabelingClient",
    "OpenInferenceClient",
    "RetryPolicy",
    "ServiceClient",
    "ServiceError",
    "TrainingClient",
    "answered",
    "call_status",
    "error_from_rpc",
]
