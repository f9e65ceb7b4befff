"""`TrainingClient`: jobs (submit, watch, cancel), model versions, base-model imports."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import grpc

from foundry.api.common.v1 import job_pb2, listing_pb2, model_pb2, refs_pb2, retention_pb2, training_spec_pb2
from foundry.api.training.v1 import base_model_pb2
from foundry.api.training.v1 import job_pb2 as training_job_pb2
from foundry.api.training.v1 import training_service_pb2 as pb
from foundry.api.training.v1 import training_service_pb2_grpc as pb_grpc
from foundry.client.calls import ServiceClient
from foundry.client.uploads import OnBytes, read_chunks
from foundry.runtime.errors import UnavailableError
from foundry.runtime.settings import ServiceName

#: how often a broken WatchJob stream is resumed (from the last event seen) before giving up
WATCH_RESUMES = 5
#: the longest wait before resuming it
WATCH_RESUME_MAX_WAIT_S = 10.0


class TrainingClient(ServiceClient):
    """The training service. SubmitJob is retried on UNAVAILABLE only with a request id (the
    service returns the same job for a repeated id); WatchJob resumes from the last event seen."""

    service = ServiceName.TRAINING

    def _bind(self, channel: grpc.Channel) -> None:
        self._stub = pb_grpc.TrainingServiceStub(channel)

    # --- jobs ---------------------------------------------------------------------------------------

    def submit_job(
        self, request: pb.SubmitJobRequest, *, timeout_s: float | None = None
    ) -> pb.SubmitJobResponse:
        """Submit a job; retried on UNAVAILABLE only when `request.request_id` is set."""
        return self._unary(self._stub.SubmitJob, request, timeout_s=timeout_s, retry=bool(request.request_id))

    def submit(self, spec: training_spec_pb2.JobSpec, request_id: str = "") -> training_job_pb2.Job:
        """Submit `spec` under `request_id` (default: a fresh UUID, so the submit may be retried)."""
        request = pb.SubmitJobRequest(request_id=request_id or str(uuid.uuid4()), spec=spec)
        return self.submit_job(request).job

    def get_job(self, request: pb.GetJobRequest, *, timeout_s: float | None = None) -> pb.GetJobResponse:
        return self._unary(self._stub.GetJob, request, timeout_s=timeout_s)

    def job(self, job_id: str) -> training_job_pb2.Job:
        return self.get_job(pb.GetJobRequest(job_id=job_id)).job

    def watch_job(
        self, request: pb.WatchJobRequest, *, timeout_s: float | None = None
    ) -> Iterator[pb.WatchJobResponse]:
        return self._stream(self._stub.WatchJob, request, timeout_s=timeout_s)

    def follow(self, job_id: str, after_seq: int = 0) -> Iterator[job_pb2.ProgressEvent]:
        """The job's progress events until its terminal one. A stream broken by UNAVAILABLE is
        resumed after the last event seen, up to WATCH_RESUMES times (waits of 2, 4, 8, 10 s...)."""
        resumes = 0
        while True:
            try:
                for response in self.watch_job(pb.WatchJobRequest(job_id=job_id, after_seq=after_seq)):
                    after_seq = response.event.seq
                    yield response.event
                return
            except UnavailableError:
                if resumes >= WATCH_RESUMES:
                    raise
                resumes += 1
                self._sleep(min(2.0**resumes, WATCH_RESUME_MAX_WAIT_S))

    def cancel_job(
        self, request: pb.CancelJobRequest, *, timeout_s: float | None = None
    ) -> pb.CancelJobResponse:
        return self._unary(self._stub.CancelJob, request, timeout_s=timeout_s)

    def list_jobs(
        self, request: pb.ListJobsRequest, *, timeout_s: float | None = None
    ) -> pb.ListJobsResponse:
        return self._unary(self._stub.ListJobs, request, timeout_s=timeout_s)

    # --- model versions -----------------------------------------------------------------------------

    def get_model(
        self, request: pb.GetModelRequest, *, timeout_s: float | None = None
    ) -> pb.GetModelResponse:
        return self._unary(self._stub.GetModel, request, timeout_s=timeout_s)

    def model_version(self, name: str, version_id: str = "") -> model_pb2.ModelVersion:
        """A model version (the latest promoted one when `version_id` is empty)."""
        ref = refs_pb2.ModelRef(name=name, version_id=version_id)
        return self.get_model(pb.GetModelRequest(model=ref)).model_version

    def list_models(
        self, request: pb.ListModelsRequest, *, timeout_s: float | None = None
    ) -> pb.ListModelsResponse:
        return self._unary(self._stub.ListModels, request, timeout_s=timeout_s)

    def all_models(
        self,
        name: str = "",
        include_rejected: bool = False,
        *,
        corrupt: list[listing_pb2.CorruptEntry] | None = None,
    ) -> list[model_pb2.ModelVersion]:
        """Every page of ListModels; the versions with a corrupt manifest go to `corrupt` if given."""
        out: list[model_pb2.ModelVersion] = []
        token = ""
        while True:
            request = pb.ListModelsRequest(name=name, include_rejected=include_rejected, page_token=token)
            page = self.list_models(request)
            out.extend(page.model_versions)
            if corrupt is not None:
                corrupt.extend(page.corrupt)
            if not (token := page.next_page_token):
                return out

    def delete_model_version(
        self, request: pb.DeleteModelVersionRequest, *, timeout_s: float | None = None
    ) -> pb.DeleteModelVersionResponse:
        """Delete one model version (FAILED_PRECONDITION naming its dependents unless `force`)."""
        return self._unary(
            self._stub.DeleteModelVersion, request, timeout_s=timeout_s, retry=False, long=True
        )

    def delete_model(
        self, name: str, version_id: str, *, force: bool = False, reason: str = ""
    ) -> retention_pb2.Tombstone:
        """Delete model version `name@version_id`; the tombstone left in its place."""
        ref = refs_pb2.ModelRef(name=name, version_id=version_id)
        request = pb.DeleteModelVersionRequest(model=ref, force=force, reason=reason)
        return self.delete_model_version(request).tombstone

    # --- base models --------------------------------------------------------------------------------

    def import_base_model(
        self, requests: Iterable[pb.ImportBaseModelRequest], *, timeout_s: float | None = None
    ) -> pb.ImportBaseModelResponse:
        """ImportBaseModel as it is on the wire: a header (the file list), then file chunks."""
        return self._upload(self._stub.ImportBaseModel, requests, timeout_s=timeout_s)

    def import_files(
        self,
        header: pb.ImportBaseModelHeader,
        folder: Path,
        paths: Sequence[Path],
        *,
        on_bytes: OnBytes | None = None,
        on_sent: Callable[[], None] | None = None,
        timeout_s: float | None = None,
    ) -> pb.ImportBaseModelResponse:
        """Import the files of `folder` that `header.files` lists, sent from `paths` in chunks."""

        def requests() -> Iterator[pb.ImportBaseModelRequest]:
            yield pb.ImportBaseModelRequest(header=header)
            for path in paths:
                rel = path.relative_to(folder).as_posix()
                offset = 0
                for chunk in read_chunks(path, on_bytes):
                    yield pb.ImportBaseModelRequest(chunk=pb.FileChunk(path=rel, offset=offset, data=chunk))
                    offset += len(chunk)
            if on_sent is not None:
                on_sent()

        return self.import_base_model(requests(), timeout_s=timeout_s)

    def list_base_models(
        self, request: pb.ListBaseModelsRequest, *, timeout_s: float | None = None
    ) -> pb.ListBaseModelsResponse:
        return self._unary(self._stub.ListBaseModels, request, timeout_s=timeout_s)

    def all_base_models(
        self, name: str = "", *, corrupt: list[listing_pb2.CorruptEntry] | None = None
    ) -> list[base_model_pb2.BaseModel]:
        """Every page of ListBaseModels; the versions with a corrupt manifest go to `corrupt` if given."""
        out: list[base_model_pb2.BaseModel] = []
        token = ""
        while True:
            page = self.list_base_models(pb.ListBaseModelsRequest(name=name, page_token=token))
            out.extend(page.base_models)
            if corrupt is not None:
                corrupt.extend(page.corrupt)
            if not (token := page.next_page_token):
                return out
